"""BatchNormalization at ``convert``: folded exactly as QKeras' QConv2DBatchnorm would, or refused.

hls4ml leaves a float BatchNormalization after a QDense unfused (its fusion pass skips quantized
weights) and computes ``x * scale + bias`` in fixed point, which TensorFlow's float32 does not
reproduce: convert folds it instead, so the reference is the folded QKeras model and C-sim
matches it bit for bit. Every other BatchNormalization is refused before anything is written.
"""

from __future__ import annotations

import json
import re

import keras
import numpy as np
import pytest
from nanotrig.hls import convert_model, load_qkeras_model, verify_project
from qkeras import QActivation, QBatchNormalization, QDense, quantized_relu
from qmodels import qb, seeded
from typer.testing import CliRunner

from nanotrig.cli import app
from nanotrig.config import HlsConfig
from nanotrig.errors import ModelError

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
N_IN = 8


def _bn_stats(model, seed: int):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if type(layer).__name__.endswith("BatchNormalization"):
            n = layer.get_weights()[0].shape
            gamma, beta, mean = rng.uniform(0.3, 0.9, n), rng.normal(0, 0.3, n), rng.normal(0, 1, n)
            layer.set_weights([gamma, beta, mean, rng.uniform(1.0, 3.0, n)])
    return model


def _qdense_bn(bn=keras.layers.BatchNormalization, fused=None, between=False):
    inp = keras.Input((N_IN,), name="x")
    x = QActivation(qb(8, 2), name="qin")(inp)
    x = QDense(16, kernel_quantizer=qb(6), bias_quantizer=qb(6), activation=fused, name="fc1")(x)
    if between:
        x = QActivation(quantized_relu(6, 2), name="relu0")(x)
    x = bn(name="bn1")(x)
    x = QActivation(quantized_relu(6, 2), name="relu1")(x)
    x = QDense(4, kernel_quantizer=qb(6), bias_quantizer=qb(6), name="fc2")(x)
    return _bn_stats(seeded(keras.Model(inp, x, name="qbn"), seed=1), seed=2)


def test_float_bn_after_qdense_folds_and_is_exact(tmp_path):
    model = _qdense_bn()
    path = tmp_path / "m.h5"
    model.save(path)
    x = np.random.default_rng(3).uniform(-4.4, 4.4, (300, N_IN)).astype(np.float32)
    rec = convert_model(path, tmp_path / "out", HlsConfig(n_test_vectors=50), test_inputs=x)
    (fold,) = rec["batchnorm"]["folded"]
    assert fold["layer"] == "bn1" and fold["folded_into"] == "fc1"
    assert 0 <= fold["saturated_weights"] < 1
    change = rec["batchnorm"]["change_vs_given_model"]
    assert change["n_events"] == 50 and change["max_abs_diff"] >= 0
    assert (
        json.loads((tmp_path / "out" / "conversion.json").read_text())["batchnorm"]
        == rec["batchnorm"]
    )
    assert "bn1" not in rec["precisions"]

    ref = load_qkeras_model(tmp_path / "out" / "keras_model.h5")
    assert "bn1" not in [layer.name for layer in ref.layers]
    # QConv2DBatchnorm's folding: inv = gamma / sqrt(var + eps), kernel * inv, (b - mean) * inv
    kernel, bias = model.get_layer("fc1").get_weights()
    gamma, beta, mean, var = model.get_layer("bn1").get_weights()
    inv = gamma / np.sqrt(var + 1e-3)
    k_ref, b_ref = ref.get_layer("fc1").get_weights()
    np.testing.assert_allclose(k_ref, kernel * inv, rtol=1e-6)
    np.testing.assert_allclose(b_ref, (bias - mean) * inv + beta, rtol=1e-6, atol=1e-7)

    result = verify_project(tmp_path / "out", x)
    assert result.ok and result.n_events == 300
    rows = {r["keras_layer"]: r for r in result.layers if r["kind"] == "exact"}
    assert set(rows) == {"fc1", "relu1", "fc2"}
    assert all(r["n_mismatch"] == 0 and r["max_abs_diff"] == 0 for r in rows.values())
    assert np.unique(ref.predict(x, verbose=0)).size > 50  # not a constant output


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bn": QBatchNormalization}, "'bn1' is a QBatchNormalization, which hls4ml does not"),
        ({"between": True}, r"'bn1' \(BatchNormalization\) follows 'relu0' \(QActivation\)"),
        ({"fused": quantized_relu(6, 2)}, "follows 'fc1', whose activation 'quantized_relu"),
    ],
)
def test_unfoldable_bn_refused_before_writing(tmp_path, kwargs, message):
    path = tmp_path / "m.h5"
    _qdense_bn(**kwargs).save(path)
    with pytest.raises(ModelError, match=message):
        convert_model(path, tmp_path / "out", HlsConfig())
    assert not (tmp_path / "out").exists()


def test_convert_float_model_names_the_ptq_command(tmp_path):
    path = tmp_path / "plain.h5"
    keras.Sequential([keras.Input((N_IN,)), keras.layers.Dense(3, name="dense")]).save(path)
    result = CliRunner().invoke(app, ["convert", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert re.fullmatch(
        rf"nanotrig: error: float layer 'dense' \(Dense\): quantize the model first with "
        rf"`nanotrig quantize --ptq {re.escape(str(path))} --out qmodel/` and convert "
        r"qmodel/qmodel.h5",
        line,
    ), line
    assert not (tmp_path / "out").exists()
