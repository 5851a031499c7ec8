"""Generating in forked workers after TensorFlow is loaded (a notebook, the test suite, a run
chain) must work: a child that garbage-collects TensorFlow objects inherited from the parent
segfaults, which samples/pool.py prevents with gc.freeze()."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    from pathlib import Path
    import numpy as np
    from tensorflow import keras
    for _ in range(30):  # leave collectable TensorFlow objects behind in the parent
        model = keras.Sequential([keras.layers.Dense(4, input_shape=(3,))])
        model.predict(np.zeros((2, 3)), verbose=0)
        del model
    from nanotrig.config import L1EventConfig
    from nanotrig.samples.l1_sample import generate_l1
    cfg = L1EventConfig(
        n_events=60, n_signal=5, signals=("A_4l",), workers=2, chunk_size=50,
        fractions={"W": 0.6, "Z": 0.4, "ttbar": 0.0, "QCD": 0.0},
    )
    generate_l1(cfg, 1, Path(sys.argv[1]), progress=False)
    print("generated")
    """
)


@pytest.mark.slow
def test_generate_after_tensorflow_is_loaded(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "l1.h5")],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and "generated" in done.stdout, done.stderr[-2000:]
    assert (tmp_path / "l1.h5").is_file()
