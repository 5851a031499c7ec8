"""ONNX export of the float model: agreement with Keras and clean errors."""

from __future__ import annotations

import numpy as np
import pytest
from nanotrig.export import OnnxModel, export_model
from nanotrig.models import build_jet_mlp

from nanotrig.config import ExportConfig
from nanotrig.errors import DataError, ModelError, OutputExistsError


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx")
    model = build_jet_mlp(16, 5)
    model.save(d / "model.h5")
    x = np.random.default_rng(1).normal(size=(2000, 16)).astype(np.float32)
    rec = export_model(d / "model.h5", x, ExportConfig(), d / "out")
    return d, rec, x, model


def test_onnx_agrees_with_keras(exported):
    import onnx

    _, rec, x, model = exported
    onnx.checker.check_model(rec["onnx"])
    y = OnnxModel(rec["onnx"]).predict(x, batch_size=333)  # several batches
    np.testing.assert_allclose(y, model.predict(x, verbose=0), atol=1e-5, rtol=0)
    assert rec["agrees"] and rec["max_abs_diff"] <= 1e-5 and rec["argmax_agreement"] == 1.0


def test_wrong_input_shape(exported):
    _, rec, _, _ = exported
    with pytest.raises(DataError, match=r"expects \(N, 16\)"):
        OnnxModel(rec["onnx"]).predict(np.zeros((4, 15), np.float32))


def test_nan_input(exported):
    _, rec, _, _ = exported
    x = np.zeros((4, 16), np.float32)
    x[2, 3] = np.nan
    with pytest.raises(DataError, match="NaN"):
        OnnxModel(rec["onnx"]).predict(x)


def test_corrupt_onnx(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(ModelError, match="not a valid ONNX model"):
        OnnxModel(bad)


def test_existing_out_dir(exported):
    d, _, x, _ = exported
    before = sorted(p.name for p in (d / "out").iterdir())
    with pytest.raises(OutputExistsError):
        export_model(d / "model.h5", x, ExportConfig(), d / "out")
    assert sorted(p.name for p in (d / "out").iterdir()) == before
