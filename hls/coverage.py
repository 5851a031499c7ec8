"""Layer rules: which QKeras layers and quantizers convert bit-exactly, and one-line refusals.

``convert`` checks every layer against these rules before any work. A rule is one registered
function of a Keras layer that returns ``None`` (fine) or the reason and the fix, in one line;
the first refusal becomes a :class:`ModelError` naming the layer. Each refusal says whether the
limit is hls4ml's or ours. ``docs/byom-coverage.md`` lists the topology classes and their
status, and ``tests/hls/test_peer_topologies.py`` checks it through the CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nanotrig.quantize.bn_fold import inbound_layers

from nanotrig.errors import ModelError

__all__ = [
    "RECURRENT_LAYERS",
    "check_layer_rules",
    "layer_refusal",
    "layer_rule",
    "refusal_for_class",
]

Rule = Callable[[Any], "str | None"]
_RULES: list[Rule] = []

#: Recurrent layers: hls4ml 1.3's bit-exact pass has no rule for them.
RECURRENT_LAYERS = frozenset({"QSimpleRNN", "QLSTM", "QGRU", "SimpleRNN", "LSTM", "GRU"})
#: QKeras layers with a batch normalization folded in at training time.
FOLDED_BN_LAYERS = frozenset({"QConv2DBatchnorm", "QDepthwiseConv2DBatchnorm", "QDenseBatchnorm"})
#: Layers with weights and a bias quantizer.
_BIASED = frozenset(
    {"QDense", "QConv1D", "QConv2D", "QDepthwiseConv2D", "QSeparableConv1D", "QSeparableConv2D"}
)
#: Weight quantizer attributes of the layers above.
_WEIGHT_QUANTIZERS = ("kernel_quantizer", "depthwise_quantizer", "pointwise_quantizer")
#: QKeras quantizers hls4ml maps (others: refused).
_MAPPED = frozenset(
    {
        "quantized_bits",
        "quantized_relu",
        "quantized_tanh",
        "quantized_sigmoid",
        "quantized_po2",
        "binary",
        "ternary",
    }
)


def layer_rule(fn: Rule) -> Rule:
    """Register a rule (a function of a Keras layer returning a refusal or ``None``)."""
    if fn in _RULES:
        raise ValueError(f"layer rule {fn.__name__} registered twice")
    _RULES.append(fn)
    return fn


def layer_refusal(layer) -> str | None:
    """The first rule's refusal of ``layer`` (reason and fix), or ``None``."""
    for rule in _RULES:
        why = rule(layer)
        if why:
            return why
    return None


def refusal_for_class(cls: str) -> str | None:
    """The refusal of a layer class that needs no instance (e.g. one Keras cannot load)."""
    if cls == "TFOpLambda":
        from nanotrig.keras_choice import MIXED_KERAS_FIX

        return MIXED_KERAS_FIX
    if cls in RECURRENT_LAYERS:
        return (
            f"{cls} is a recurrent layer: hls4ml 1.3's bit-exact precision pass has no rule for "
            "it and computes its tanh/sigmoid by lookup tables (an hls4ml limitation), so no "
            "exact firmware can be promised; fix: unroll the time steps into QDense/QConv1D "
            "layers, or convert it with hls4ml directly and accept a tolerance"
        )
    if cls in FOLDED_BN_LAYERS:
        return (
            f"{cls} folds its batch normalization while it trains; nanotrig does not yet read "
            "its folded weights (ours, not hls4ml's); fix: save the same weights as the plain "
            "layer followed by a float BatchNormalization (QConv2D + BatchNormalization), which "
            "convert folds exactly the way QKeras computes it at inference"
        )
    return None


def check_layer_rules(model) -> None:
    """:class:`ModelError` naming the first layer a rule refuses, with the reason and the fix."""
    for layer in model.layers:
        why = layer_refusal(layer)
        if why:
            raise ModelError(f"layer {layer.name!r} ({type(layer).__name__}): {why}")
    body = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if body and all(_is_bits_quantizer(layer) for layer in body):
        raise ModelError(
            f"layer {body[-1].name!r} (QActivation): the model is only quantized_bits "
            "quantizers, which hls4ml folds into the input type, leaving no layer (its C++ then "
            "defines the input twice: an hls4ml limitation); fix: convert a model with at least "
            "one computing layer (QDense, QConv, an activation) after the quantizer"
        )


def _is_bits_quantizer(layer) -> bool:
    return type(layer).__name__ == "QActivation" and _qname(_quantizer(layer.quantizer)) == (
        "quantized_bits"
    )


def _qname(q) -> str:
    """A quantizer's class name (QKeras quantizers are objects or, e.g. binary_tanh, functions)."""
    if q is None:
        return ""
    if isinstance(q, str):
        from qkeras.quantizers import get_quantizer

        q = get_quantizer(q)
    return getattr(q, "__name__", None) or type(q).__name__


def _quantizer(q):
    if isinstance(q, str):
        from qkeras.quantizers import get_quantizer

        return get_quantizer(q)
    return q


def _layer_quantizer(layer, attr: str):
    """The quantizer object of ``layer.<attr>`` (QKeras keeps it in ``<attr>_internal``; the
    attribute itself may hold its config after loading)."""
    q = getattr(layer, f"{attr}_internal", None)
    return q if q is not None else _quantizer(getattr(layer, attr, None))


def _activation_quantizers(layer) -> list[tuple[str, Any]]:
    cls = type(layer).__name__
    if cls == "QActivation":
        return [("activation", _quantizer(layer.quantizer))]
    if cls in _BIASED:
        act = getattr(layer, "activation", None)
        if _is_qkeras(act):
            return [("activation", act)]
    return []


def _is_qkeras(obj) -> bool:
    return obj is not None and "qkeras" in (getattr(obj, "__module__", "") or "")


@layer_rule
def _recurrent(layer) -> str | None:
    return refusal_for_class(type(layer).__name__)


@layer_rule
def _float_bias(layer) -> str | None:
    if type(layer).__name__ not in _BIASED or not getattr(layer, "use_bias", False):
        return None
    if _layer_quantizer(layer, "bias_quantizer") is None:
        return (
            "its bias has no quantizer, so QKeras adds a float32 bias and rounds the sum in "
            "float32, which no fixed-point type reproduces (ours: exact means exact); fix: give "
            "it bias_quantizer=quantized_bits(...) (or use_bias=False) and retrain or re-quantize"
        )
    return None


@layer_rule
def _weight_quantizers(layer) -> str | None:
    if type(layer).__name__ not in _BIASED:
        return None
    for attr in (*_WEIGHT_QUANTIZERS, "bias_quantizer"):
        q = _layer_quantizer(layer, attr)
        if q is None:
            continue
        name = _qname(q)
        if name not in _MAPPED:
            return (
                f"its {attr} {name} is not one hls4ml maps to firmware (an hls4ml limitation); "
                "fix: use quantized_bits, quantized_po2, binary or ternary"
            )
        alpha = getattr(q, "alpha", None)
        if name in ("quantized_bits", "binary", "ternary") and alpha not in (
            None,
            1,
            1.0,
            "auto_po2",
        ):
            return (
                f"its {attr} has alpha={alpha!r}: a scale that is not a power of two is a "
                "float32 factor QKeras rounds in float32, which no fixed-point type reproduces "
                "(ours: exact means exact); fix: alpha=1 or alpha='auto_po2'"
            )
    return None


@layer_rule
def _activations(layer) -> str | None:
    for _, q in _activation_quantizers(layer):
        name = _qname(q)
        if name == "binary_tanh":
            return (
                "binary_tanh gives -1 at exactly 0 in QKeras and +1 in hls4ml's binary_tanh (an "
                "hls4ml difference); fix: use binary(alpha=1), which both compute alike"
            )
        if name not in _MAPPED and name:
            return (
                f"activation {name} is not one hls4ml maps to firmware (an hls4ml limitation); "
                "fix: use quantized_relu, quantized_bits, quantized_tanh, quantized_sigmoid, "
                "binary or ternary"
            )
        if name == "quantized_relu" and getattr(q, "negative_slope", 0):
            return (
                "quantized_relu with negative_slope maps to hls4ml's leaky_relu, which lacks "
                "QKeras' rounding and clipping of the negative side (an hls4ml limitation); fix: "
                "negative_slope=0"
            )
    return None


def _scaled_weights(layer) -> bool:
    """Weights with a scale hls4ml factors out (binary/ternary, alpha='auto_po2'), or a BN."""
    if "BatchNormalization" in type(layer).__name__:
        return True
    for attr in _WEIGHT_QUANTIZERS:
        q = _layer_quantizer(layer, attr)
        name = _qname(q)
        if name in ("binary", "ternary") or getattr(q, "alpha", None) == "auto_po2":
            return True
    return False


@layer_rule
def _binary_after_scale(layer) -> str | None:
    acts = [_qname(q) for _, q in _activation_quantizers(layer)]
    if "binary" not in acts:
        return None
    before = [layer] if type(layer).__name__ != "QActivation" else inbound_layers(layer)
    if any(_scaled_weights(src) for src in before):
        return (
            "a binary activation after a scaled layer (binary/ternary or alpha='auto_po2' "
            "weights, or a batch normalization) is fused by hls4ml into a one-bit XNOR layer "
            "(bnbt) whose type its model serialization cannot reload (XnorPrecisionType, an "
            "hls4ml limitation); fix: quantized_bits(..., alpha=1) weights before the binary "
            "activation, or a ternary activation"
        )
    return None


_MERGES = frozenset({"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"})


@layer_rule
def _two_input_merge(layer) -> str | None:
    if type(layer).__name__ not in _MERGES or len(inbound_layers(layer)) <= 2:
        return None
    return (
        f"it merges {len(inbound_layers(layer))} tensors and hls4ml merges two at a time (an "
        "hls4ml limitation: 'Merging more than two tensors is not yet supported'); fix: chain "
        "two-input merges"
    )
