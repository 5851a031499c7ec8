"""The GarNet tagger's inputs and builder (no Pythia: synthetic constituent arrays)."""

from __future__ import annotations

import numpy as np
import pytest
from nanotrig.models.garnet import GARNET_FEATURES, build_garnet_tagger, garnet_inputs

from nanotrig.errors import ConfigError, DataError


def _constituents(n_jets: int = 6, m: int = 32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    c = np.zeros((n_jets, m, 5), dtype=np.float32)
    n = rng.integers(0, m + 1, size=n_jets).astype(np.int32)
    n[0], n[1] = 0, m
    for i, k in enumerate(n):
        c[i, :k] = np.column_stack(
            [rng.uniform(0.5, 500, k), rng.normal(0, 0.3, k), rng.normal(0, 0.3, k),
             rng.uniform(1, 900, k), rng.uniform(0, 0.8, k)]
        )  # fmt: skip
    return c, n


def test_inputs_shape_range_and_padding():
    c, n = _constituents()
    x, nv = garnet_inputs(c, n)
    assert x.shape == (6, 32, len(GARNET_FEATURES)) and x.dtype == np.float32
    assert nv.shape == (6, 1) and nv[:, 0].tolist() == n.tolist()
    assert np.abs(x).max() <= 16.0  # inside ap_fixed<16,6>
    for i, k in enumerate(n):
        assert not x[i, k:].any()  # rows past the vertex count are zero
    np.testing.assert_allclose(x[1, :, 0], np.log(c[1, :, 0]), rtol=1e-6)


def test_inputs_refuse_bad_arrays():
    c, n = _constituents()
    with pytest.raises(DataError, match=r"\(jets, M, 5\)"):
        garnet_inputs(c[..., :4], n)
    bad = n.copy()
    bad[2] = 33
    with pytest.raises(DataError, match=r"n_constituents must lie in \[0, 32\]"):
        garnet_inputs(c, bad)
    c[3, 0, 1] = np.nan
    with pytest.raises(DataError, match="NaN"):
        garnet_inputs(c, n)


def test_builder_layers_and_power_of_two():
    model = build_garnet_tagger(16, 4, 5)
    assert [t.shape[1:] for t in model.inputs] == [(16, 4), (1,)]
    assert model.output_shape == (None, 5)
    assert model.get_layer("garnet").get_config()["collapse"] == "mean"
    with pytest.raises(ConfigError, match="power-of-two"):
        build_garnet_tagger(30, 4, 5)


def test_input_record_refuses_other_preprocessing():
    """GarNet takes preprocessed constituents (ln pT is not foldable): the record states the
    rule and the training statistics, and arrays with raw pT, extra rows or another shape are
    refused with the rule as the fix."""
    from nanotrig.models.garnet_input_record import check_garnet_inputs, garnet_input_spec

    c, n = _constituents(n_jets=40)
    x, nv = garnet_inputs(c, n)
    spec = garnet_input_spec(32, x, nv)
    assert spec["raw"] is False and spec["shape"] == [[32, 4], [1]]
    assert spec["feature_names"] == list(GARNET_FEATURES) and len(spec["train_mean"]) == 4
    check_garnet_inputs(x, nv, spec, "ok.npz")  # its own inputs pass
    raw_pt = x.copy()
    raw_pt[..., 0] = np.where(x[..., 0] != 0, np.exp(x[..., 0]), 0.0)
    with pytest.raises(DataError, match=r"log_pt has mean .*pass the tagger's inputs: per "):
        check_garnet_inputs(raw_pt, nv, spec, "raw.npz")
    past = x.copy()
    past[0, 31] = 1.0  # jet 0 has no constituents
    with pytest.raises(DataError, match="nonzero constituents past the vertex count"):
        check_garnet_inputs(past, nv, spec, "past.npz")
    with pytest.raises(DataError, match=r"takes \(jets, 32, 4\)"):
        check_garnet_inputs(x[:, :16], nv, spec, "short.npz")
