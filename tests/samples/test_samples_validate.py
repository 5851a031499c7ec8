"""validate_sample writes plots and a summary for every sample kind."""

from __future__ import annotations

import json

import pytest
from nanotrig.samples import generate_sample, validate_sample

from nanotrig.config import DQMConfig
from nanotrig.errors import DataError


def test_dqm_validation(tmp_path) -> None:
    cfg = DQMConfig(n_runs=12, lumisections_per_run=4, shape=(16, 16))
    generate_sample(cfg, 2, tmp_path / "d.h5", progress=False)
    rec = validate_sample(tmp_path / "d.h5", tmp_path / "plots")
    assert rec["kind"] == "dqm" and rec["n"] == 48
    assert all((tmp_path / "plots" / p).exists() for p in rec["plots"])
    assert json.loads((tmp_path / "plots" / "validation.json").read_text())["n"] == 48
    dead = rec["per_fault"].get("dead_channel", {})
    assert dead.get("faulty_over_good_occupancy", 0.0) == 0.0


def test_validation_of_a_broken_file(tmp_path) -> None:
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    with pytest.raises(DataError, match="not a readable HDF5"):
        validate_sample(bad, tmp_path / "out")
