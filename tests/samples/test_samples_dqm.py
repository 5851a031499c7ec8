"""DQM occupancy maps: faults where the labels say, reproducible, validated settings."""

from __future__ import annotations

import numpy as np
import pytest
from nanotrig.samples import generate_sample, load_dqm, load_sample

from nanotrig.config import DQMConfig, parse_config
from nanotrig.errors import ConfigError, DataError, OutputExistsError

CFG = DQMConfig(n_runs=30, lumisections_per_run=8, shape=(16, 32), chunk_size=4)


@pytest.fixture(scope="module")
def dqm(tmp_path_factory):
    path = tmp_path_factory.mktemp("dqm") / "dqm.h5"
    record = generate_sample(CFG, 7, path, progress=False)
    return record, load_dqm(path)


def _maps_of(s, fault: str):
    sel = s.fault_type == s.fault_names.index(fault)
    return s.maps[sel], s.fault_mask[sel].astype(bool)


def test_layout(dqm) -> None:
    record, s = dqm
    n = CFG.n_runs * CFG.lumisections_per_run
    assert s.maps.shape == (n, 16, 32) and s.maps.dtype == np.int32
    assert s.fault_mask.shape == s.maps.shape and s.fault_type.shape == (n,)
    assert s.fault_names[0] == "none" and len(s.fault_names) == 6
    np.testing.assert_allclose(s.maps_normalized.mean(axis=(1, 2)), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(s.run, np.repeat(np.arange(CFG.n_runs), 8))
    assert (np.diff(s.luminosity.reshape(CFG.n_runs, 8), axis=1) < 0).all()
    assert (s.fault_mask[s.fault_type == 0] == 0).all()
    assert (s.fault_mask[s.fault_type > 0].sum(axis=(1, 2)) > 0).all()
    assert record["maps_per_fault"]["none"] == int((s.fault_type == 0).sum())
    assert load_sample(record["path"]).manifest["kind"] == "dqm"
    # every fault type occurs with 30 runs at fault_fraction 0.5 for this seed
    assert set(np.unique(s.fault_type)) == set(range(6))


def test_dead_cells_are_empty(dqm) -> None:
    _, s = dqm
    for fault in ("dead_channel", "dead_region"):
        maps, mask = _maps_of(s, fault)
        assert len(maps) and (maps[mask] == 0).all()
        assert (maps[~mask] > 0).mean() > 0.99


def _neighbour_median(m: np.ndarray, i: int, j: int) -> float:
    block = m[max(i - 1, 0) : i + 2, max(j - 1, 0) : j + 2].astype(float).ravel()
    return float(np.median(block[block != m[i, j]]))


def test_hot_cells_stand_out(dqm) -> None:
    _, s = dqm
    maps, mask = _maps_of(s, "hot_channel")
    assert len(maps)
    for m, k in zip(maps, mask, strict=True):
        (i,), (j,) = np.nonzero(k)
        assert m[i, j] > 3 * _neighbour_median(m, i, j)


def test_sag_and_noise(dqm) -> None:
    _, s = dqm
    ref = s.maps[s.fault_type == 0].mean(axis=0) / s.luminosity[s.fault_type == 0].mean()
    maps, mask = _maps_of(s, "hv_sag")
    lumi = s.luminosity[s.fault_type == s.fault_names.index("hv_sag")]
    ratio = [(m[k] / lu).sum() / ref[k].sum() for m, k, lu in zip(maps, mask, lumi, strict=True)]
    assert max(ratio) < 0.8, ratio
    maps, mask = _maps_of(s, "noisy_region")
    lumi = s.luminosity[s.fault_type == s.fault_names.index("noisy_region")]
    excess = [(m[k] / lu).sum() / ref[k].sum() for m, k, lu in zip(maps, mask, lumi, strict=True)]
    assert np.median(excess) > 1.5, excess


def test_same_seed_same_file(tmp_path, dqm) -> None:
    record, _ = dqm
    one = generate_sample(
        CFG.model_copy(update={"workers": 1}), 7, tmp_path / "a.h5", progress=False
    )
    assert one["sha256"] == record["sha256"]
    other = generate_sample(CFG, 8, tmp_path / "b.h5", progress=False)
    assert other["sha256"] != record["sha256"]
    with pytest.raises(OutputExistsError, match="--force"):
        generate_sample(CFG, 7, tmp_path / "a.h5", progress=False)


@pytest.mark.parametrize(
    ("samples", "match"),
    [
        ({"kind": "dqm", "n_runs": -1}, r"samples\.n_runs.*greater than 0"),
        ({"kind": "dqm", "shape": [4, 64]}, r"samples\.shape.*8\.\.512"),
        ({"kind": "dqm", "faults": ["melted"]}, r"samples\.faults"),
        ({"kind": "dqm", "faults": []}, r"needs at least one fault"),
        ({"kind": "dqm", "lumi": 3}, r"samples\.lumi.*unknown key"),
        ({"kind": "calo"}, r"unknown sample kind 'calo'"),
    ],
)
def test_bad_settings_one_line(samples, match) -> None:
    with pytest.raises(ConfigError, match=match) as exc:
        parse_config({"name": "x", "samples": samples})
    assert "\n" not in str(exc.value)


def test_load_errors(tmp_path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_dqm(tmp_path / "none.h5")
    bad = tmp_path / "bad.h5"
    bad.write_text("no")
    with pytest.raises(DataError, match="not a readable HDF5"):
        load_sample(bad)
