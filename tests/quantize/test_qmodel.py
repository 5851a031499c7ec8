"""The QKeras counterpart: same layers and names, quantizers from the config, errors named."""

from __future__ import annotations

import numpy as np
import pytest
from nanotrig.models import build_jet_mlp
from nanotrig.quantize import INPUT_QUANT_NAME, build_qmodel

from nanotrig.config import QuantizeConfig
from nanotrig.errors import ConfigError, ModelError


@pytest.fixture(scope="module")
def float_model():
    return build_jet_mlp(16, 5, (64, 32, 32))


def test_mirrors_float_model(float_model):
    q = build_qmodel(float_model, QuantizeConfig())
    names = [layer.name for layer in q.layers]
    assert names == ["input", INPUT_QUANT_NAME] + [layer.name for layer in float_model.layers[1:]]
    kinds = {layer.name: type(layer).__name__ for layer in q.layers}
    assert kinds["fc1"] == "QDense" and kinds["relu1"] == "QActivation"
    assert kinds["softmax"] == "Activation"
    # weights copied from the float model
    np.testing.assert_array_equal(
        q.get_layer("fc2").get_weights()[0], float_model.get_layer("fc2").get_weights()[0]
    )


def test_per_layer_override(float_model):
    cfg = QuantizeConfig.model_validate(
        {
            "layers": {
                "fc1": {"weights": {"bits": 4, "integer": 1}},
                "relu2": {"activation": {"bits": 8, "integer": 2}},
            }
        }
    )
    q = build_qmodel(float_model, cfg)
    wq = q.get_layer("fc1").kernel_quantizer_internal
    assert (wq.bits, wq.integer) == (4, 1)
    assert (q.get_layer("fc2").kernel_quantizer_internal.bits) == 6
    aq = q.get_layer("relu2").quantizer
    assert (aq.bits, aq.integer) == (8, 2)
    # quantized kernel values lie on the 4-bit grid: step 2^-(4-1-1), range [-2, 2)
    k = np.asarray(wq(q.get_layer("fc1").kernel))
    step = 2.0 ** -(4 - 1 - 1)
    np.testing.assert_array_equal(k / step, np.round(k / step))
    assert k.min() >= -2 and k.max() <= 2 - step


def test_unknown_layer_override(float_model):
    cfg = QuantizeConfig.model_validate({"layers": {"fc7": {"weights": {"bits": 4}}}})
    with pytest.raises(ConfigError, match=r"unknown layer 'fc7'.*fc1, fc2"):
        build_qmodel(float_model, cfg)


def test_override_kind_mismatch(float_model):
    cfg = QuantizeConfig.model_validate({"layers": {"relu1": {"weights": {"bits": 4}}}})
    with pytest.raises(ConfigError, match="activation layer"):
        build_qmodel(float_model, cfg)


def test_unsupported_layer():
    from tensorflow import keras

    inp = keras.Input((8, 4))
    x = keras.layers.LSTM(4, name="lstm")(inp)
    m = keras.Model(inp, keras.layers.Dense(2, name="d")(x))
    with pytest.raises(ModelError, match=r"lstm \(LSTM\) has no QKeras counterpart"):
        build_qmodel(m, QuantizeConfig())
