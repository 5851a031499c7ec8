"""A small command sequence is quiet: ``train`` then ``quantize`` on a tiny synthetic sample,
in one Python process whose real stderr (file descriptor 2: TensorFlow's C++ logging too) is
captured, print a few summary lines on stdout and a few log lines on stderr."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

#: Log lines allowed on stderr for train + quantize (two per stage today: the training line and
#: the accuracy line); per-epoch lines, TensorFlow banners or warnings would break it.
MAX_STDERR_LINES = 6
MAX_STDOUT_LINES = 7


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    from nanotrig.samples.jet_features import FEATURE_NAMES
    from nanotrig.samples.store import write_jets

    tmp = tmp_path_factory.mktemp("quiet")
    n, rng = 400, np.random.default_rng(3)
    labels = np.arange(n) % 5
    feats = (rng.normal(scale=1.5, size=(5, 16))[labels] + rng.normal(size=(n, 16))).astype(
        np.float32
    )
    kin = {k: np.ones(n, np.float32) for k in ("jet_pt", "jet_eta", "jet_mass")}
    write_jets(tmp / "s.h5", feats, labels, kin, FEATURE_NAMES, ("g", "q", "W", "Z", "t"), {})
    (tmp / "c.yml").write_text(
        "name: quiet\nmodel: {hidden: [8], epochs: 12, patience: 20, batch_size: 64}\n"
        "quantize: {epochs: 4, patience: 20}\n"
    )
    return tmp


def test_train_and_quantize_are_quiet(sample):
    script = textwrap.dedent(
        f"""
        from nanotrig.cli import app
        d = {str(sample)!r}
        for args in (
            ["train", d + "/c.yml", "--data", d + "/s.h5", "--out", d + "/m"],
            ["quantize", d + "/c.yml", "--model", d + "/m", "--data", d + "/s.h5",
             "--out", d + "/q"],
        ):
            assert app(args, prog_name="nanotrig", standalone_mode=False) is None
        """
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(sample)}  # no TF_CPP_MIN_LOG_LEVEL from pytest
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=170, env=env
    )
    assert proc.returncode == 0, proc.stderr
    out, err = proc.stdout.splitlines(), proc.stderr.splitlines()
    assert out[0] == f"wrote {sample}/m/model.h5 (12 epochs, " + out[0].split(", ", 1)[1]
    assert any(line.startswith(f"wrote {sample}/q/qmodel.h5") for line in out), out
    assert len(out) <= MAX_STDOUT_LINES, proc.stdout
    assert len(err) <= MAX_STDERR_LINES, proc.stderr
    assert sum("training: 12 epochs" in line for line in err) == 1, proc.stderr
    assert not any("epoch 1:" in line or "tensorflow" in line.lower() for line in err), err
