"""Build the QKeras counterpart of a float Keras model from a bit-width config.

The float model's layers are walked in order and mapped one to one, keeping their names:
Dense -> QDense, Conv1D/Conv2D -> QConv1D/QConv2D (weights and bias quantizers),
Activation("relu") / ReLU -> QActivation(quantized_relu) (a fused activation becomes its own
layer after the QKeras one); an input quantizer
QActivation(quantized_bits) named ``input_quant`` is inserted after the input so that the
firmware's input type is part of the model. A model that standardises its raw inputs inside
(first layer ``Po2Standardise``) gets ``raw_input_quant`` (the raw type) before that layer and
``input_quant`` after it. Softmax/sigmoid and shape layers are kept as they are.
"""

from __future__ import annotations

from nanotrig.config import LayerBits, QuantBits, QuantizeConfig
from nanotrig.errors import ConfigError, ModelError

__all__ = [
    "INPUT_QUANT_NAME",
    "RAW_QUANT_NAME",
    "build_qmodel",
    "check_overrides",
    "layer_bits",
    "quantizer_strings",
]

INPUT_QUANT_NAME = "input_quant"
RAW_QUANT_NAME = "raw_input_quant"
_WEIGHTED = {"Dense": "QDense", "Conv1D": "QConv1D", "Conv2D": "QConv2D"}
_PASSTHROUGH = {
    "Flatten", "Reshape", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D",
    "AveragePooling2D", "Dropout", "UpSampling1D", "UpSampling2D", "GlobalMaxPooling1D",
    "GlobalMaxPooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
}  # fmt: skip
_KEPT_ACTIVATIONS = {"softmax", "sigmoid", "linear"}


def _bits_str(q: QuantBits) -> str:
    return f"quantized_bits({q.bits},{q.integer},alpha=1)"


def _relu_str(q: QuantBits) -> str:
    return f"quantized_relu({q.bits},{q.integer})"


def layer_bits(cfg: QuantizeConfig, name: str) -> tuple[QuantBits, QuantBits, QuantBits]:
    """(weights, bias, activation) bit widths for a layer: override if given, else default."""
    o = cfg.layers.get(name, LayerBits())
    return (o.weights or cfg.weights, o.bias or cfg.bias, o.activation or cfg.activation)


def quantizer_strings(cfg: QuantizeConfig, name: str) -> dict[str, str]:
    """The QKeras quantizer expressions used for layer ``name`` (for reports)."""
    w, b, a = layer_bits(cfg, name)
    return {"weights": _bits_str(w), "bias": _bits_str(b), "activation": _relu_str(a)}


def check_overrides(model, cfg: QuantizeConfig) -> None:
    """Raise ConfigError if a per-layer override names an unknown or mismatched layer."""
    kinds = {}
    for layer in model.layers:
        cls = type(layer).__name__
        if cls in _WEIGHTED:
            fused_relu = layer.get_config().get("activation") == "relu"
            kinds[layer.name] = "weighted+relu" if fused_relu else "weighted"
        elif cls == "ReLU" or (cls == "Activation" and layer.get_config()["activation"] == "relu"):
            kinds[layer.name] = "activation"
    for name, over in cfg.layers.items():
        if name not in kinds:
            raise ConfigError(
                f"quantize.layers names unknown layer {name!r}: "
                f"quantizable layers are {', '.join(sorted(kinds)) or 'none'}"
            )
        if kinds[name] == "activation" and (over.weights or over.bias):
            raise ConfigError(
                f"quantize.layers.{name} sets weights/bias on an activation layer: "
                "set 'activation' there, weights on the Dense/Conv layer"
            )
        if kinds[name] == "activation" and over.sparsity is not None:
            raise ConfigError(
                f"quantize.layers.{name} sets 'sparsity' on an activation layer: "
                "set it on the Dense/Conv layer before it"
            )
        if kinds[name] == "weighted" and over.activation:  # a fused relu takes it
            raise ConfigError(
                f"quantize.layers.{name} sets 'activation' on a Dense/Conv layer: "
                "set it on the activation layer that follows"
            )


def build_qmodel(model, cfg: QuantizeConfig):
    """Return a QKeras model mirroring ``model`` (a chain of layers), weights copied over.

    A Dense/Conv with a fused activation becomes the QKeras layer followed by that activation,
    named ``<layer>_<activation>`` (a fused relu takes the layer's ``activation`` bits).
    """
    from qkeras import QActivation, QConv1D, QConv2D, QDense
    from tensorflow import keras

    qclasses = {"QDense": QDense, "QConv1D": QConv1D, "QConv2D": QConv2D}
    check_overrides(model, cfg)
    inp = keras.Input(shape=model.input_shape[1:], name=model._input_layers[0].name)
    x = inp
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if layers and type(layers[0]).__name__ == "Po2Standardise":
        # raw inputs on their own grid, standardised exactly, then the model's input type (the
        # clip only has to cover that type's range: the quantizer saturates there)
        x = QActivation(_bits_str(cfg.raw_input), name=RAW_QUANT_NAME)(x)
        conf = {**layers[0].get_config(), "clip": 2.0**cfg.input.integer}
        x = type(layers[0]).from_config(conf)(x)
        layers = layers[1:]
    x = QActivation(_bits_str(cfg.input), name=INPUT_QUANT_NAME)(x)
    copies: list[tuple[str, list]] = []
    for layer in layers:
        cls = type(layer).__name__
        if cls == "InputLayer":
            continue
        conf = layer.get_config()
        if cls in _WEIGHTED:
            w, b, a = layer_bits(cfg, layer.name)
            conf.update(kernel_quantizer=_bits_str(w), bias_quantizer=_bits_str(b))
            fused = conf.get("activation", "linear")
            if fused not in ("linear", "relu", *_KEPT_ACTIVATIONS):
                raise ModelError(
                    f"layer {layer.name} has a fused activation {fused!r} with no QKeras "
                    "counterpart here: use relu, softmax, sigmoid or linear"
                )
            conf["activation"] = "linear"
            for key in ("kernel_constraint", "bias_constraint"):
                conf.pop(key, None)
            x = qclasses[_WEIGHTED[cls]].from_config(conf)(x)
            copies.append((layer.name, layer.get_weights()))
            if fused == "relu":
                x = QActivation(_relu_str(a), name=f"{layer.name}_relu")(x)
            elif fused != "linear":
                x = keras.layers.Activation(fused, name=f"{layer.name}_{fused}")(x)
        elif cls == "ReLU" or (cls == "Activation" and conf["activation"] == "relu"):
            _check_plain_relu(layer, conf)
            _, _, a = layer_bits(cfg, layer.name)
            x = QActivation(_relu_str(a), name=layer.name)(x)
        elif (cls == "Activation" and conf["activation"] in _KEPT_ACTIVATIONS) or (
            cls in _PASSTHROUGH
        ):
            x = type(layer).from_config(conf)(x)
        else:
            raise ModelError(
                f"layer {layer.name} ({cls}) has no QKeras counterpart here: supported are "
                f"Dense, Conv1D, Conv2D, ReLU, softmax/sigmoid, {', '.join(sorted(_PASSTHROUGH))}"
            )
    qmodel = keras.Model(inp, x, name=f"q_{model.name}")
    for name, weights in copies:
        qmodel.get_layer(name).set_weights(weights)
    return qmodel


def _check_plain_relu(layer, conf: dict) -> None:
    """quantized_relu is max(x, 0): a ReLU with a cap, slope or threshold is refused."""
    if (
        conf.get("max_value") is not None
        or conf.get("negative_slope", 0)
        or conf.get("threshold", 0)
    ):
        raise ModelError(
            f"layer {layer.name} is a ReLU with max_value/negative_slope/threshold, which "
            "quantized_relu does not compute: use a plain ReLU"
        )
