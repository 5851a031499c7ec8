"""Session fixtures shared by tests/ and firmware_tests/.

``mini_run`` runs the whole chain once on a small version of configs/jet_mlp.yml (a few
hundred Pythia jets per class, short training) and every test that needs a real sample,
model or HLS project reads it instead of making its own.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["TF_USE_LEGACY_KERAS"] = "0"  # see nanotrig/__init__.py

REPO = Path(__file__).resolve().parent


def _cache_cxx() -> None:
    """Put tests/cxx_cache.py first on PATH as ``g++`` for this session (subprocesses and
    notebook kernels too): an identical compile reuses the earlier output (see that module).
    ``NANOTRIG_TEST_CXX_CACHE=0`` turns it off."""
    real = shutil.which("g++")
    if real is None or os.environ.get("NANOTRIG_TEST_CXX_CACHE") == "0":
        return
    root = Path(tempfile.mkdtemp(prefix="nanotrig_test_cxx_"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    (root / "store").mkdir()
    shim = root / "bin" / "g++"
    shim.parent.mkdir()
    shim.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" -S "{REPO / "tests" / "cxx_cache.py"}" "$@"\n'
    )
    shim.chmod(0o755)
    version = subprocess.run([real, "--version"], capture_output=True, text=True).stdout
    os.environ.update(
        NANOTRIG_TEST_CXX=real,
        NANOTRIG_TEST_CXX_ID=f"{real}\n{version}",
        NANOTRIG_TEST_CXX_CACHE=str(root / "store"),
        PATH=f"{shim.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )


_cache_cxx()
DEMO_CONFIG = REPO / "configs" / "jet_mlp.yml"
CNN_CONFIG = REPO / "configs" / "jet_cnn.yml"


def small_config(out_root: Path, name: str = "mini", n_per_class: int = 300):
    """configs/jet_mlp.yml shrunk for tests: same settings, fewer jets and epochs."""
    import yaml

    from nanotrig.config import parse_config

    data = yaml.safe_load(DEMO_CONFIG.read_text())
    data["name"] = name
    data["out_root"] = str(out_root)
    data["samples"]["n_per_class"] = n_per_class
    data["samples"]["chunk_size"] = 100
    data["model"].update(epochs=12, patience=4)
    data["quantize"].update(epochs=12, patience=4)
    data["verify"]["n_events"] = 200
    data["verify"]["stress_events"] = 30_000  # the batched large check, at test size
    return parse_config(data, source="test config")


@pytest.fixture(scope="session")
def mini_run(tmp_path_factory) -> dict:
    """Run ``nanotrig run`` once (library call) and return its report plus the run dir."""
    from nanotrig.runner import run_chain

    cfg = small_config(tmp_path_factory.mktemp("runs"))
    report = run_chain(cfg, progress=False)
    report["run_dir"] = Path(cfg.out_root) / cfg.name
    return report


def small_cnn_config(out_root: Path, name: str = "mini_cnn", n_per_class: int = 250):
    """configs/jet_cnn.yml shrunk for tests: same settings, fewer jets and epochs.

    Every test-set image is verified by the pipeline (n_events covers the test split)."""
    import yaml

    from nanotrig.config import parse_config

    data = yaml.safe_load(CNN_CONFIG.read_text())
    data["name"] = name
    data["out_root"] = str(out_root)
    data["samples"]["n_per_class"] = n_per_class
    data["samples"]["chunk_size"] = 125
    data["model"].update(epochs=30, patience=5)  # epochs of 750 images take ~0.1 s
    data["quantize"].update(epochs=15, patience=5)
    data["verify"]["n_events"] = n_per_class * len(data["samples"]["classes"])
    return parse_config(data, source="test CNN config")


@pytest.fixture(scope="session")
def mini_cnn_run(tmp_path_factory) -> dict:
    """``nanotrig run`` once on a tiny jet-CNN config; its report plus the run dir."""
    from nanotrig.runner import run_chain

    cfg = small_cnn_config(tmp_path_factory.mktemp("cnn_runs"))
    report = run_chain(cfg, progress=False)
    report["run_dir"] = Path(cfg.out_root) / cfg.name
    return report
