"""The exact fixed-point description of a converted io_parallel project, layer by layer.

:func:`read_layers` walks the hls4ml graph (as :mod:`hls.int_kernel` does) and returns one
:class:`Layer` per computed layer: the input type, then Dense (integer weights in units of the
weight type, biases already cast to ``accum_t``), ReLU and linear (quantizer) activations with
their result types. A trailing lookup-table activation (softmax, sigmoid...) is left out and
named: the RTL stops at the logits. Conv1D/Conv2D (weights ``(fh, fw, c_in, c_out)``, the
geometry in ``geom``), Max/AveragePooling1D/2D and the merges ``Add``, ``Subtract`` and
``Multiply`` of two equal-sized arrays (``Multiply([x, x])``: the square) are read too; each
layer names the layers it reads (``srcs``), so branches that merge again are traced.
Flatten/Reshape are no-ops on the flat channels-last arrays. Any other layer is refused in one
line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from nanotrig.hls.fixed_type import FixedType

from nanotrig.errors import ConversionError

__all__ = ["HEADS", "Layer", "Layers", "read_layers"]

#: Activations computed with lookup tables: left out when they end the model.
HEADS = ("softmax", "sigmoid", "tanh", "softsign", "softplus", "elu", "selu", "hard_sigmoid")
_NOT_YET = "is not supported by nanotrig rtl yet"


@dataclass
class Layer:
    """One computed layer: ``kind`` input | dense | conv | maxpool | avgpool | square | add |
    subtract | multiply | scale | relu | linear, with its result type and the computed layers
    it reads (``srcs``; default: the layer before it). A scale layer keeps its per-element
    ``weights`` (scales) and ``bias`` as floats; conv and pooling layers their geometry in
    ``geom``."""

    name: str
    kind: str
    size: int
    out: FixedType
    accum: FixedType | None = None
    weights: np.ndarray | None = None  # int, (n_in, n_out), units of 2**-wfrac
    wfrac: int = 0
    bias: list = field(default_factory=list)  # units of accum's LSB (scale: float values)
    geom: dict = field(default_factory=dict)  # conv/pool: ih iw c fh fw sh sw pt pl oh ow (n)
    srcs: tuple[str, ...] = ()


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
    alias: dict[str, str] = {}  # hls4ml layer -> the computed layer whose values it holds
    for k, layer in enumerate(graph):
        what = f"layer {layer.name!r} ({layer.class_name})"
        act = str(layer.get_attr("activation", "") or "").lower()
        if (isinstance(layer, hl.Softmax) or act in HEADS) and k == len(graph) - 1 and out:
            head = layer.name
            node = layer.get_input_node(layer.inputs[0])
            if node is None or alias.get(node.name) != out[-1].name:
                raise ConversionError(f"{what} does not read the last computed layer: {_NOT_YET}")
            continue
        plain_act = isinstance(layer, hl.Activation) and not isinstance(
            layer, (hl.Softmax, hl.ParametrizedActivation, hl.HardActivation)
        )
        cls = layer.class_name
        is_dense = isinstance(layer, hl.Dense)
        is_scale = cls == "ApplyAlpha"  # the input standardisation: x*scale+bias
        is_conv = cls in ("Conv1D", "Conv2D")
        is_pool = cls in ("Pooling1D", "Pooling2D")
        merge = str(layer.get_attr("op", "")).lower() if cls == "Merge" else ""
        is_merge = merge in ("add", "subtract", "multiply")
        if k == 0 and not isinstance(layer, hl.Input):
            raise ConversionError(f"{what} is not an Input layer: {_NOT_YET}")
        known = is_dense or is_scale or is_conv or is_pool or is_merge or cls == "Reshape"
        if k > 0 and not (known or (plain_act and act in ("relu", "linear"))):
            raise ConversionError(f"{what} {_NOT_YET} (it handles Dense, Conv1D/2D, pooling, "
                                  "Flatten, Add/Subtract/Multiply, the input standardisation, "
                                  "ReLU and quantizers)")  # fmt: skip
        result = _type(layer.get_output_variable().type.precision, what)
        size = int(layer.get_output_variable().size())
        if k == 0:
            out.append(Layer(layer.name, "input", size, result))
            alias[layer.name] = layer.name
            continue
        nodes = [layer.get_input_node(n) for n in layer.inputs]
        if not nodes or any(s is None or s.name not in alias for s in nodes):
            raise ConversionError(f"{what} reads a layer nanotrig rtl did not compute: {_NOT_YET}")
        srcs = tuple(alias[s.name] for s in nodes)
        prev = next(la for la in out if la.name == srcs[0])
        strategy = str(layer.get_attr("strategy", "latency") or "latency").lower()
        if strategy != "latency":
            raise ConversionError(f"{what} uses strategy {strategy}: {_NOT_YET}")
        if cls == "Reshape":
            if size != prev.size or result != prev.out:
                raise ConversionError(f"{what} changes the size or type: {_NOT_YET}")
            alias[layer.name] = srcs[0]
            continue
        alias[layer.name] = layer.name
        if is_merge != (len(srcs) == 2):
            raise ConversionError(f"{what} reads {len(srcs)} inputs: {_NOT_YET}")
        if is_dense:
            out.append(_dense(layer, prev, result, size, what))
        elif is_conv:
            out.append(_conv(layer, prev, result, size, what))
        elif is_pool:
            out.append(_pool(layer, prev, result, size, what))
        elif is_scale:
            out.append(_scale(layer, result, size, what))
        elif size != prev.size:
            raise ConversionError(f"{what} maps {prev.size} values to {size}: {_NOT_YET}")
        elif is_merge:
            other = next(la for la in out if la.name == srcs[1])
            if other.size != size:
                raise ConversionError(f"{what} merges {prev.size} and {other.size} values: "
                                      f"{_NOT_YET}")  # fmt: skip
            kind = "square" if merge == "multiply" and srcs[0] == srcs[1] else merge
            out.append(Layer(layer.name, kind, size, result))
        else:
            out.append(Layer(layer.name, act, size, result))
        out[-1].srcs = srcs
    if len(out) < 2:
        raise ConversionError("the model has no layer nanotrig rtl computes")
    if head is None and alias.get(hls_model.outputs[0]) != out[-1].name:
        raise ConversionError(f"the model's output {hls_model.outputs[0]!r} is not its last "
                              f"layer: {_NOT_YET}")  # fmt: skip
    return Layers(out, head)


def _weights(layer, what: str):
    """The integer weights (units of the weight type, hls4ml's shape), their fraction bits and
    the biases in units of ``accum_t``'s LSB."""
    accum = _type(layer.get_attr("accum_t").precision, f"{what} accum_t")
    wvar, bvar = layer.weights["weight"], layer.weights.get("bias")
    wtype = _type(wvar.type.precision, f"{what} weights")
    # the compiled project reads hls4ml's printed text as doubles (load_weights_from_txt)
    weights = np.array([wtype.from_float(float(s)) for s in wvar], dtype=object)
    n_out = int(np.shape(wvar.data)[-1])
    if bvar is not None:
        btype = _type(bvar.type.precision, f"{what} biases")
        bias = [accum.from_value(btype.from_float(float(s)), btype.frac) for s in bvar]
    else:
        bias = [0] * n_out
    if len(bias) != n_out:
        raise ConversionError(f"{what} has {len(bias)} biases for {n_out} outputs: {_NOT_YET}")
    return weights.reshape(np.shape(wvar.data)), wtype.frac, bias, accum


def _geom(layer, conv: bool) -> dict:
    """Channels-last geometry; a 1D layer is a 2D one of height 1."""
    g = layer.get_attr
    two = layer.class_name.endswith("2D")
    f = "filt" if conv else "pool"
    geom = {
        "ih": int(g("in_height")) if two else 1,
        "iw": int(g("in_width") if (two or conv) else g("n_in")),
        "c": int(g("n_chan") if conv else g("n_filt")),
        "fh": int(g(f"{f}_height")) if two else 1,
        "fw": int(g(f"{f}_width")),
        "sh": int(g("stride_height")) if two else 1,
        "sw": int(g("stride_width")),
        "pt": int(g("pad_top", 0) or 0) if two else 0,
        "pl": int(g("pad_left", 0) or 0),
        "oh": int(g("out_height")) if two else 1,
        "ow": int(g("out_width") if (two or conv) else g("n_out")),
    }
    if conv:
        geom["n"] = int(g("n_filt"))
    return geom


def _conv(layer, prev: Layer, result: FixedType, size: int, what: str) -> Layer:
    geom = _geom(layer, conv=True)
    weights, wfrac, bias, accum = _weights(layer, what)
    fh, fw, c, n = geom["fh"], geom["fw"], geom["c"], geom["n"]
    if geom["ih"] * geom["iw"] * c != prev.size or geom["oh"] * geom["ow"] * n != size:
        raise ConversionError(f"{what} does not fit its {prev.size}-value input: {_NOT_YET}")
    if weights.size != fh * fw * c * n or len(bias) != n:
        raise ConversionError(f"{what} has {weights.size} weights for a {fh}x{fw}x{c}x{n} "
                              f"kernel: {_NOT_YET}")  # fmt: skip
    if int(layer.get_attr("dilation", 1) or 1) != 1:
        raise ConversionError(f"{what} is dilated: {_NOT_YET}")
    return Layer(layer.name, "conv", size, result, accum=accum,
                 weights=weights.reshape(fh, fw, c, n), wfrac=wfrac, bias=bias,
                 geom=geom)  # fmt: skip


def _pool(layer, prev: Layer, result: FixedType, size: int, what: str) -> Layer:
    geom = _geom(layer, conv=False)
    op = str(layer.get_attr("pool_op", "")).lower()
    if op not in ("max", "average"):
        raise ConversionError(f"{what} pools with {op!r}: {_NOT_YET}")
    if (
        geom["ih"] * geom["iw"] * geom["c"] != prev.size
        or geom["oh"] * geom["ow"] * geom["c"] != size
    ):
        raise ConversionError(f"{what} does not fit its {prev.size}-value input: {_NOT_YET}")
    geom["count_pad"] = bool(layer.get_attr("count_pad", False))
    accum = _type(layer.get_attr("accum_t").precision, f"{what} accum_t")
    kind = "maxpool" if op == "max" else "avgpool"
    return Layer(layer.name, kind, size, result, accum=accum, geom=geom)


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
