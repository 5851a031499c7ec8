"""``build_rtl`` on a tiny CNN with the anomaly score: Conv2D ('same' padding), max and average
pooling, Flatten, Dense, the square ``Multiply([mu, mu])`` and the all-ones score Dense.

The integer kernel does not emulate these layers, so the RTL is compared with hls4ml's
C-simulation, QKeras and da4ml's logic on edge and random events (combinational, so the
Verilator build stays small). A 3-value average pooling is refused in one line before anything
is written.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from rtl_projects import convert_io_parallel as _convert

from nanotrig.errors import ConversionError

pytestmark = [
    pytest.mark.skipif(shutil.which("g++") is None, reason="Verilator needs g++"),
    pytest.mark.filterwarnings("ignore:The `keras.constraints.serialize:UserWarning"),
]


def _qb(bits: int, integer: int = 0):
    from qkeras import quantized_bits

    return quantized_bits(bits, integer, alpha=1)


def _tiny_cnn_score(seed: int = 0):
    import keras
    from qkeras import QActivation, QConv2D, QDense, quantized_relu

    rng = np.random.default_rng(seed)
    inp = keras.Input((4, 4, 1), name="input_1")
    x = QActivation(_qb(8, 2), name="input_quant")(inp)
    x = QConv2D(2, 3, padding="same", kernel_quantizer=_qb(6), bias_quantizer=_qb(6),
                name="conv1")(x)  # fmt: skip
    x = QActivation(quantized_relu(6, 0), name="relu_c1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.AveragePooling2D(2, name="pool2")(x)
    x = QActivation(_qb(8, 0), name="pool2_q")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    mu = QDense(2, kernel_quantizer=_qb(6), bias_quantizer=_qb(6), name="mu")(x)
    sq = keras.layers.Multiply(name="mu_sq")([mu, mu])
    sq = QActivation(_qb(12, 4), name="mu_sq_q")(sq)
    score = QDense(1, use_bias=False, kernel_quantizer=_qb(2, 1), name="score")(sq)
    model = keras.Model(inp, score, name="tiny_cnn_score")
    weights = [rng.normal(0, 0.5, w.shape) for w in model.get_weights()]
    weights[-1] = np.ones_like(weights[-1])
    model.set_weights(weights)
    return model


def test_cnn_and_score_bit_exact(tmp_path):
    from nanotrig.hls import edge_inputs, load_qkeras_model
    from nanotrig.rtl import build_rtl

    project = _convert(_tiny_cnn_score(), tmp_path / "cnn")
    rng = np.random.default_rng(2)
    x = np.concatenate([edge_inputs(project).reshape(-1, 4, 4, 1),
                        rng.normal(0, 2.0, (600, 4, 4, 1)).astype(np.float32)])  # fmt: skip
    rec = build_rtl(project, tmp_path / "out", x, pipeline=False, synth=False, threads=2)
    kinds = ["input", "conv", "relu", "maxpool", "avgpool", "dense", "square", "dense"]
    assert [la["kind"] for la in rec["layers"]] == kinds
    v = rec["verification"]
    assert set(v["against"]) == {"qkeras", "int_kernel", "comb_logic"}  # avgpool emulated
    assert v["ok"] and all(r["mismatching_events"] == 0 for r in v["against"].values())
    y_rtl = np.load(tmp_path / "out" / "rtl_outputs.npy")
    y_keras = load_qkeras_model(project / "keras_model.h5").predict(x, verbose=0)
    np.testing.assert_array_equal(y_rtl, y_keras.astype(np.float64))
    assert np.unique(y_rtl).size > 50, "scores nearly constant: the test would be weak"


def test_average_of_three_refused(tmp_path):
    import keras
    from nanotrig.rtl import build_rtl
    from qkeras import QActivation, QConv1D

    inp = keras.Input((9, 2), name="input_1")
    x = QActivation(_qb(8, 2), name="input_quant")(inp)
    x = QConv1D(2, 3, kernel_quantizer=_qb(6), bias_quantizer=_qb(6), name="conv")(x)
    x = keras.layers.AveragePooling1D(3, name="avg3")(x)
    project = _convert(keras.Model(inp, keras.layers.Flatten(name="flat")(x)), tmp_path / "p")
    with pytest.raises(ConversionError, match=r"^layer 'avg3' \(AveragePooling\) averages 3 "
                       "values, not a power of two"):  # fmt: skip
        build_rtl(project, tmp_path / "out", synth=False)
    assert not (tmp_path / "out").exists()
