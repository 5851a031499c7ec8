"""GarNet ``quantize_transforms``: what hls4ml's converter does, and the ``QGarNet`` handler fix.

No g++ needed: the weights are read from the converted hls4ml graph before any compilation.
"""

from __future__ import annotations

import numpy as np
import pytest

N_V, N_F, N_AGG, N_OUT, N_PROP = 32, 4, 4, 8, 8


def _model(quantized: str | None, total_bits: int = 8, int_bits: int = 2):
    """GarNet tagger body with weights of order 1 (so ternary and quantized_bits differ)."""
    from hls4ml.contrib.garnet import GarNet
    from nanotrig.quantize.garnet import QGarNet
    from tensorflow import keras

    kw = dict(simplified=True, collapse="mean", input_format="xn", output_activation=None)
    if quantized == "contrib":
        layer = GarNet(N_AGG, N_OUT, N_PROP, quantize_transforms=True, total_bits=total_bits,
                       int_bits=int_bits, name="garnet", **kw)  # fmt: skip
    elif quantized == "qgarnet":
        layer = QGarNet(N_AGG, N_OUT, N_PROP, total_bits=total_bits, int_bits=int_bits,
                        name="garnet", **kw)  # fmt: skip
    else:
        layer = GarNet(N_AGG, N_OUT, N_PROP, name="garnet", **kw)
    x = keras.Input((N_V, N_F), name="constituents")
    n = keras.Input((1,), name="n_vertices")
    model = keras.Model([x, n], layer([x, n]))
    rng = np.random.default_rng(5)
    layer.set_weights([rng.uniform(-1.5, 1.5, w.shape) for w in layer.get_weights()])
    return model


def _contract(w: dict) -> tuple[np.ndarray, np.ndarray]:
    """hls4ml's contraction (``GarNet._make_input_transform_weights``): (o, a, x) and (o, a)."""
    fout = w["Fout_kernel"].reshape(N_AGG, N_PROP, N_OUT)
    kernel = np.dot(w["FLR_kernel"], fout).transpose((2, 1, 0))
    bias = np.dot(w["FLR_bias"], fout).transpose((1, 0))
    return kernel, bias


def _weights(model) -> dict:
    layer = model.get_layer("garnet")
    names = ("FLR_kernel", "FLR_bias", "S_kernel", "S_bias", "Fout_kernel", "Fout_bias")
    return {k: np.asarray(v, np.float64) for k, v in zip(names, layer.get_weights(), strict=True)}


def _convert(model, tmp_path):
    import hls4ml
    from nanotrig.hls.garnet_convert import garnet_hls_config

    cfg = garnet_hls_config(model)
    return hls4ml.converters.convert_from_keras_model(
        model, hls_config=cfg, backend="Vitis", output_dir=str(tmp_path / "prj")
    )


def test_hls4ml_makes_quantized_transforms_ternary(tmp_path):
    from hls4ml.model.types import IntegerPrecisionType
    from nanotrig.quantize.garnet import transform_quantizer

    model = _model("contrib")
    node = _convert(model, tmp_path).graph["garnet"]
    w = _weights(model)
    ternary = {k: np.where(v > 0.5, 1.0, np.where(v <= -0.5, -1.0, 0.0)) for k, v in w.items()}
    kernel, _ = _contract(ternary)
    got = np.asarray(node.weights["input_transform_weights"].data)
    np.testing.assert_array_equal(got, kernel)  # what hls4ml uses: ternary weights
    assert isinstance(node.weights["input_transform_weights"].type.precision, IntegerPrecisionType)
    q = transform_quantizer(8, 2)
    keras_side = {k: np.asarray(q(v.astype(np.float32))) for k, v in w.items()}
    assert np.abs(got - _contract(keras_side)[0]).max() > 1.0  # what Keras uses: quantized_bits


def test_contrib_garnet_config_drops_bit_widths():
    from hls4ml.contrib.garnet import GarNet

    config = _model("contrib").get_layer("garnet").get_config()
    assert "total_bits" not in config and config["quantize_transforms"]
    with pytest.raises(TypeError):
        GarNet.from_config(config)


def test_qgarnet_handler_keeps_quantized_bits(tmp_path):
    from nanotrig.hls.fixed_type import FixedType
    from nanotrig.quantize.garnet import QGarNet, transform_quantizer

    model = _model("qgarnet")
    layer = model.get_layer("garnet")
    assert QGarNet.from_config(layer.get_config()).get_config()["total_bits"] == 8
    node = _convert(model, tmp_path).graph["garnet"]
    q = transform_quantizer(8, 2)
    w = {k: np.asarray(q(v.astype(np.float32)), np.float64) for k, v in _weights(model).items()}
    kernel, bias = _contract(w)
    for name, want in (("input_transform_weights", kernel), ("input_transform_biases", bias)):
        var = node.weights[name]
        np.testing.assert_array_equal(np.asarray(var.data), want)
        t = FixedType.from_precision(var.type.precision)
        text = np.array([float(var.precision_fmt.format(v)) for v in want.ravel()])
        # the C++ constants hold the quantized_bits contraction exactly (2 * 5 <= 10 frac bits)
        np.testing.assert_array_equal(t.to_float(t.quantize(text)), want.ravel())


def test_qgarnet_with_too_many_fraction_bits_is_refused(tmp_path):
    from nanotrig.errors import ConversionError

    with pytest.raises(ConversionError, match="total_bits - int_bits - 1 <= 5"):
        _convert(_model("qgarnet", total_bits=10, int_bits=2), tmp_path)
