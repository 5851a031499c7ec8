"""The session's g++ cache (tests/cxx_cache.py): a hit only for the same code and weights."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SHIM = Path(__file__).resolve().parent / "cxx_cache.py"
SOURCE = """#include <fstream>
#include <string>
extern "C" int first_weight() {
    std::ifstream f(std::string(WEIGHTS_DIR) + "/w.txt");
    int w = -1;
    f >> w;
    return w * SCALE;
}
"""

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")


def _project(root: Path, weight: int) -> Path:
    (root / "weights").mkdir(parents=True)
    (root / "weights" / "w.txt").write_text(f"{weight}\n")
    (root / "lib.cpp").write_text(SOURCE)
    return root


def _compile(root: Path, store: Path, log: Path, scale: int = 1) -> int:
    """Compile ``root/lib.cpp`` through the cache as hls4ml does; the library's answer."""
    real = os.environ.get("NANOTRIG_TEST_CXX") or shutil.which("g++")
    env = {**os.environ, "NANOTRIG_TEST_CXX": real, "NANOTRIG_TEST_CXX_CACHE": str(store),
           "NANOTRIG_TEST_CXX_LOG": str(log)}  # fmt: skip
    cmd = [sys.executable, "-S", str(SHIM), "-O1", "-fPIC", "-shared", f"-DSCALE={scale}",
           "-D", f'WEIGHTS_DIR="{root / "weights"}"', "lib.cpp", "-o", "lib.so"]  # fmt: skip
    subprocess.run(cmd, cwd=root, env=env, check=True)
    lib = ctypes.CDLL(str(root / "lib.so"))
    return lib.first_weight()


def test_identical_compile_is_reused_and_reads_equal_weights(tmp_path):
    store, log = tmp_path / "store", tmp_path / "log"
    store.mkdir()
    assert _compile(_project(tmp_path / "a", 7), store, log) == 7
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    (tmp_path / "b" / "lib.so").unlink()
    shutil.rmtree(tmp_path / "a")  # the reused library must not read a's weights
    assert _compile(tmp_path / "b", store, log) == 7
    assert _compile(_project(tmp_path / "c", 9), store, log) == 9  # other weights: compiled
    assert _compile(_project(tmp_path / "d", 9), store, log, scale=2) == 18  # other -D
    hits = [line.split()[0] for line in log.read_text().splitlines()]
    assert hits == ["miss", "hit", "miss", "miss"]


def test_uncacheable_commands_run_the_compiler(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    env = {**os.environ, "NANOTRIG_TEST_CXX": os.environ.get("NANOTRIG_TEST_CXX") or "g++",
           "NANOTRIG_TEST_CXX_CACHE": str(store)}  # fmt: skip
    cmd = [sys.executable, "-S", str(SHIM), "-fsyntax-only", "-xc++", "-"]
    assert subprocess.run(cmd, input=b"int x;", env=env, check=False).returncode == 0
    bad = subprocess.run(cmd, input=b"int x = ;", env=env, capture_output=True, check=False)
    assert bad.returncode != 0 and b"error" in bad.stderr
    assert not list(store.iterdir())
