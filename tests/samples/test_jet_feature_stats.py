"""benchmarks/jet_feature_stats.py: its box figures are matplotlib's, its published table is
self-consistent, and it prints every feature (no Pythia; well under a second)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import h5py
import numpy as np
import pytest
from nanotrig.samples import FEATURE_NAMES

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "jet_feature_stats.py"


@pytest.fixture(scope="module")
def mod():
    spec = importlib.util.spec_from_file_location("jet_feature_stats", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_box_is_matplotlibs(mod) -> None:
    """The published figures are matplotlib box plots: ours must be drawn the same way."""
    from matplotlib.cbook import boxplot_stats

    x = np.random.default_rng(3).lognormal(3.0, 0.8, 5000)  # skewed, like the groomed mass
    ref = boxplot_stats(x)[0]
    ours = mod.box(x)
    np.testing.assert_allclose(
        ours, [ref["whislo"], ref["q1"], ref["med"], ref["q3"], ref["whishi"]]
    )


def test_published_table_is_consistent(mod) -> None:
    """Every feature has a box; each box is ordered; and where both plots give a feature, the raw
    lower whisker lands on the standardised one (the readings agree with each other)."""
    assert tuple(mod.PUBLISHED_BOX) == FEATURE_NAMES
    for name, b in {**mod.PUBLISHED_BOX, **mod.PUBLISHED_RAW}.items():
        assert list(b) == sorted(b), name
    for name, raw in mod.PUBLISHED_RAW.items():
        std_box = mod.PUBLISHED_BOX[name]
        std = (raw[3] - raw[1]) / (std_box[3] - std_box[1])
        mean = raw[2] - std_box[2] * std
        assert abs((raw[0] - mean) / std - std_box[0]) < 0.1, name
        assert abs((raw[4] - mean) / std - std_box[4]) < 0.1, name


def test_prints_every_feature(mod, tmp_path, capsys) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "jets.h5"
    with h5py.File(path, "w") as f:
        f["features"] = rng.normal(size=(50, 16)).astype(np.float32)
        f["labels"] = np.repeat(np.arange(5), 10)
        f.attrs["feature_names"] = np.array(FEATURE_NAMES, dtype=object)
        f.attrs["class_names"] = np.array(["g", "q", "W", "Z", "t"], dtype=object)
    assert mod.main([str(path), "--n-per-class", "8"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: 40 jets, per class [8, 8, 8, 8, 8]")
    for name in FEATURE_NAMES:  # raw statistics and box rows; raw-unit rows for two of them
        assert out.count(f"| {name} |") == 2 + (name in mod.PUBLISHED_RAW), name
