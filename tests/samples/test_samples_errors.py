"""Bad inputs give one-line DataError / OutputExistsError messages naming the fix."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from nanotrig.samples import FEATURE_NAMES, generate_jets, load_jets
from nanotrig.samples.pythia_jets import pythia_settings
from nanotrig.samples.store import write_jets

from nanotrig.config import JetSampleConfig
from nanotrig.errors import ConfigError, DataError, OutputExistsError


def _write(path, n: int = 10, features=None) -> None:
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(n, 16)) if features is None else features
    kin = {k: np.ones(n) for k in ("jet_pt", "jet_eta", "jet_mass")}
    write_jets(path, feats, np.arange(n) % 2, kin, FEATURE_NAMES, ("q", "W"), {"seed": 0})


def test_roundtrip(tmp_path) -> None:
    _write(tmp_path / "ok.h5")
    s = load_jets(tmp_path / "ok.h5")
    assert s.features.shape == (10, 16) and s.manifest == {"seed": 0}
    assert s.feature_names == FEATURE_NAMES and s.class_names == ("q", "W")


def test_missing_file(tmp_path) -> None:
    with pytest.raises(DataError, match=r"nope\.h5 not found"):
        load_jets(tmp_path / "nope.h5")


def test_not_hdf5(tmp_path) -> None:
    p = tmp_path / "text.h5"
    p.write_text("hello, not HDF5\n")
    with pytest.raises(DataError, match="not a readable HDF5 file"):
        load_jets(p)


def test_missing_features(tmp_path) -> None:
    p = tmp_path / "nofeat.h5"
    _write(p)
    with h5py.File(p, "a") as f:
        del f["features"]
    with pytest.raises(DataError, match="lacks features"):
        load_jets(p)


def test_wrong_shape(tmp_path) -> None:
    p = tmp_path / "shape.h5"
    _write(p)
    with h5py.File(p, "a") as f:
        del f["labels"]
        f["labels"] = np.zeros(7, dtype=np.int64)
    with pytest.raises(DataError, match="expected"):
        load_jets(p)


def test_nan_features(tmp_path) -> None:
    feats = np.zeros((10, 16))
    feats[3, 5] = np.nan
    feats[4, 0] = np.inf
    p = tmp_path / "nan.h5"
    _write(p, features=feats)
    with pytest.raises(DataError, match="2 jets have NaN/inf"):
        load_jets(p)


def test_existing_output_needs_force(tmp_path) -> None:
    p = tmp_path / "jets.h5"
    p.write_bytes(b"old contents")
    with pytest.raises(OutputExistsError, match="--force"):
        generate_jets(JetSampleConfig(n_per_class=1), 1, p, progress=False)
    assert p.read_bytes() == b"old contents"


def test_pythia_settings() -> None:
    cfg = JetSampleConfig(pthat_range_gev=(500.0, 600.0))
    lines = pythia_settings("t", cfg, seed=42)
    assert "Top:gg2ttbar = on" in lines and "24:onIfAny = 1 2 3 4 5" in lines
    assert "PhaseSpace:pTHatMin = 500.000" in lines and "Random:seed = 42" in lines
    with pytest.raises(ConfigError, match="outside"):
        pythia_settings("W", cfg, seed=0)


def test_parts_roundtrip_and_errors(tmp_path) -> None:
    p = tmp_path / "low.h5"
    n = 6
    kin = {k: np.ones(n) for k in ("jet_pt", "jet_eta", "jet_mass")}
    cons = np.zeros((n, 4, 5))
    cons[:, 0] = [10.0, 0.1, 0.1, 12.0, 0.1414]
    write_jets(
        p, np.zeros((n, 16)), np.arange(n) % 2, kin, FEATURE_NAMES, ("q", "W"), {},
        images=np.full((n, 8, 8), 1 / 64), constituents=cons,
        n_constituents=np.ones(n), image_extent=0.8,
    )  # fmt: skip
    s = load_jets(p, parts=("images", "constituents"))
    assert s.images.shape == (n, 8, 8) and s.image_extent == 0.8
    assert s.constituents.shape == (n, 4, 5) and list(s.n_constituents) == [1] * n
    assert load_jets(p).images is None
    with pytest.raises(DataError, match="unknown jet sample part"):
        load_jets(p, parts=("pictures",))
    _write(tmp_path / "hl.h5")
    with pytest.raises(DataError, match="lacks images"):
        load_jets(tmp_path / "hl.h5", parts=("images",))
    with h5py.File(p, "a") as f:
        del f["n_constituents"]
        f["n_constituents"] = np.full(n, 9, dtype=np.int32)
    with pytest.raises(DataError, match=r"n_constituents not in 0\.\.4"):
        load_jets(p, parts=("constituents",))
