"""The exact fixed-point description of a converted io_parallel project, layer by layer.

:func:`read_layers` walks the hls4ml graph (as :mod:`hls.int_kernel` does) and returns one
:class:`Layer` per computed layer: the input type, then Dense (integer weights in units of the
weight type, biases already cast to ``accum_t``), ReLU and linear (quantizer) activations with
their result types. A trailing lookup-table activation (softmax, sigmoid...) is left out and
named: the RTL stops at the logits. Any other layer is refused in one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from nanotrig.hls.int_kernel import FixedType

from nanotrig.errors import ConversionError

__all__ = ["HEADS", "Layer", "Layers", "read_layers"]

#: Activations computed with lookup tables: left out when they end the model.
HEADS = ("softmax", "sigmoid", "tanh", "softsign", "softplus", "elu", "selu", "hard_sigmoid")
_NOT_YET = "is not supported by nanotrig rtl yet"


@dataclass
class Layer:
    """One computed layer: ``kind`` input | dense | scale | relu | linear, with its result
    type. A scale layer keeps its per-element ``weights`` (scales) and ``bias`` as floats."""

    name: str
    kind: str
    size: int
    out: FixedType
    accum: FixedType | None = None
    weights: np.ndarray | None = None  # int, (n_in, n_out), units of 2**-wfrac
    wfrac: int = 0
    bias: list = field(default_factory=list)  # units of accum's LSB (scale: float values)


@dataclass
class Layers:
    """The computed layers in order (input first) and the table head left out, if any."""

    layers: list[Layer]
    head: str | None

    @property
    def input(self) -> Layer:
        return self.layers[0]

    @property
    def last(self) -> Layer:
        return self.layers[-1]


def _type(precision, what: str) -> FixedType:
    try:
        return FixedType.of(precision, what)
    except ConversionError:
        raise ConversionError(f"{what} has type {precision}: nanotrig rtl needs ap_fixed types "
                              "of at most 62 bits without saturation bits") from None  # fmt: skip


def read_layers(hls_model) -> Layers:
    """The layers of an io_parallel hls4ml model; :class:`ConversionError` (one line) else."""
    from hls4ml.model import layers as hl

    io_type = hls_model.config.get_config_value("IOType")
    if io_type != "io_parallel":
        raise ConversionError(f"nanotrig rtl needs an io_parallel project, not {io_type}")
    if len(hls_model.get_input_variables()) != 1 or len(hls_model.get_output_variables()) != 1:
        raise ConversionError("nanotrig rtl needs a model with one input and one output")
    graph = list(hls_model.get_layers())
    out: list[Layer] = []
    head = None
    for k, layer in enumerate(graph):
        what = f"layer {layer.name!r} ({layer.class_name})"
        act = str(layer.get_attr("activation", "") or "").lower()
        if (isinstance(layer, hl.Softmax) or act in HEADS) and k == len(graph) - 1 and out:
            head = layer.name
            continue
        plain_act = isinstance(layer, hl.Activation) and not isinstance(
            layer, (hl.Softmax, hl.ParametrizedActivation, hl.HardActivation)
        )
        is_dense = isinstance(layer, hl.Dense)
        is_scale = layer.class_name == "ApplyAlpha"  # the input standardisation: x*scale+bias
        if k == 0 and not isinstance(layer, hl.Input):
            raise ConversionError(f"{what} is not an Input layer: {_NOT_YET}")
        if k > 0 and not (is_dense or is_scale or (plain_act and act in ("relu", "linear"))):
            raise ConversionError(f"{what} {_NOT_YET} (it handles Dense, the input "
                                  "standardisation, ReLU and quantizers)")  # fmt: skip
        result = _type(layer.get_output_variable().type.precision, what)
        size = int(layer.get_output_variable().size())
        if k == 0:
            out.append(Layer(layer.name, "input", size, result))
            continue
        prev = out[-1]
        src = layer.get_input_node()
        if src is None or src.name != prev.name:
            raise ConversionError(f"{what} does not follow {prev.name!r}: nanotrig rtl needs a "
                                  "chain of layers")  # fmt: skip
        strategy = str(layer.get_attr("strategy", "latency") or "latency").lower()
        if strategy != "latency":
            raise ConversionError(f"{what} uses strategy {strategy}: {_NOT_YET}")
        if is_dense:
            out.append(_dense(layer, prev, result, size, what))
        elif is_scale:
            out.append(_scale(layer, result, size, what))
        elif size != prev.size:
            raise ConversionError(f"{what} maps {prev.size} values to {size}: {_NOT_YET}")
        else:
            out.append(Layer(layer.name, act, size, result))
    if len(out) < 2:
        raise ConversionError("the model has no layer nanotrig rtl computes")
    return Layers(out, head)


def _dense(layer, prev: Layer, result: FixedType, size: int, what: str) -> Layer:
    n_in, n_out = int(layer.get_attr("n_in")), int(layer.get_attr("n_out"))
    if n_in != prev.size or n_out != size:
        raise ConversionError(f"{what} maps {n_in} -> {n_out} values on a {prev.size}-value "
                              f"input: {_NOT_YET}")  # fmt: skip
    accum = _type(layer.get_attr("accum_t").precision, f"{what} accum_t")
    wvar, bvar = layer.weights["weight"], layer.weights.get("bias")
    wtype = _type(wvar.type.precision, f"{what} weights")
    # the compiled project reads hls4ml's printed text as doubles (load_weights_from_txt)
    weights = np.array([wtype.from_float(float(s)) for s in wvar], dtype=object)
    if bvar is not None:
        btype = _type(bvar.type.precision, f"{what} biases")
        bias = [accum.from_value(btype.from_float(float(s)), btype.frac) for s in bvar]
    else:
        bias = [0] * n_out
    if len(bias) != n_out or weights.size != n_in * n_out:
        raise ConversionError(f"{what} has {weights.size} weights and {len(bias)} biases for "
                              f"{n_in} -> {n_out}: {_NOT_YET}")  # fmt: skip
    return Layer(layer.name, "dense", size, result, accum=accum,
                 weights=weights.reshape(n_in, n_out), wfrac=wtype.frac, bias=bias)  # fmt: skip


def _scale(layer, result: FixedType, size: int, what: str) -> Layer:
    """hls4ml's ``normalize`` (ApplyAlpha): the exact product ``x * scale`` plus the bias, cast
    once to the result type (the integer kernel's scale step)."""
    if int(layer.get_attr("n_filt", -1)) != -1:
        raise ConversionError(f"{what} scales per channel: {_NOT_YET}")
    svar, bvar = layer.weights["scale"], layer.weights.get("bias")
    stype = _type(svar.type.precision, f"{what} scale")
    scale = [stype.from_float(float(v)) * 2.0**-stype.frac for v in svar]
    bias = [0.0] * size
    if bvar is not None:
        btype = _type(bvar.type.precision, f"{what} bias")
        bias = [btype.from_float(float(v)) * 2.0**-btype.frac for v in bvar]
    if len(scale) != size or len(bias) != size:
        raise ConversionError(f"{what} has {len(scale)} scales for {size} values: {_NOT_YET}")
    return Layer(layer.name, "scale", size, result, weights=np.array(scale), bias=bias)
