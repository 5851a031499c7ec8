"""The da4ml trace of a converted project: the same fixed-point arithmetic as its HLS C++.

Each Dense layer (and each output pixel of a convolution) is a constant matrix-vector product
(da4ml's CMVM adder graph, exact at full precision) plus the biases cast to ``accum_t``, then
the cast to the result type. That equals
hls4ml's product-by-product accumulation in ``accum_t`` when no product needs rounding and no
partial sum (bias first, inputs in order) can leave ``accum_t``, or ``accum_t`` wraps (modular
sums); otherwise the layer is refused. ReLU is ``x > 0 ? T(x) : 0`` and a quantizer is
``T(x)``, max pooling ``T(accum_t(max))``, average pooling the ``accum_t`` sum divided by a
power-of-two window size as ``ap_fixed`` divides (truncation toward zero), the merges
``T(a + b)``, ``T(a - b)``, ``T(a * b)`` (full precision, then one cast: ``nnet::add`` ...),
with every cast done by :func:`rtl.casts.cast`. Each layer reads the layers it names
(``Layer.srcs``), so a branch that merges again is traced as a graph.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from nanotrig.rtl.casts import cast, kif
from nanotrig.rtl.layers import Layer, Layers

from nanotrig.errors import ConversionError

__all__ = ["SOLVER_OPTIONS", "Trace", "trace_layers"]

#: da4ml CMVM solver options: depth at most 2 adders beyond the minimum, one decomposition
#: (searching all of them took 30 s instead of 2 s for the jet MLP's 64x32 layer, here).
SOLVER_OPTIONS = {"hard_dc": 2, "search_all_decompose_dc": False}


#: The two-input merges: the exact sum, difference or product (cast afterwards).
_MERGES = {"add": lambda a, b: a + b, "subtract": lambda a, b: a - b,
           "multiply": lambda a, b: a * b}  # fmt: skip


@dataclass
class Trace:
    """A traced network: da4ml's ``CombLogic`` from the input type's codes to the last layer."""

    comb: object  # da4ml.cmvm.types.CombLogic
    layers: Layers
    seconds: float

    @property
    def n_in(self) -> int:
        return self.layers.input.size

    @property
    def n_out(self) -> int:
        return self.layers.last.size


def _matvec(vars_: list, wf: np.ndarray, layer: Layer, what: str, options) -> list:
    """``cast(x @ wf + b)`` with hls4ml's ``accum_t`` checks for one Dense layer or one output
    pixel of a convolution; ``vars_``: the input variables, ``wf``: float weights."""
    from da4ml.trace import FixedVariableArray

    acc = layer.accum
    assert acc is not None
    src_f = max(int(v.kif[2]) for v in vars_)
    if src_f + layer.wfrac > acc.frac:
        raise ConversionError(f"{what}: products are rounded to accum_t {acc.width},"
                              f"{acc.integer} (product-wise rounding is not supported by "
                              "nanotrig rtl yet)")  # fmt: skip
    bias = np.array(layer.bias, dtype=np.float64) * 2.0**-acc.frac
    lo = np.array([float(v.low) for v in vars_])[:, None]
    hi = np.array([float(v.high) for v in vars_])[:, None]
    plo, phi = np.minimum(wf * lo, wf * hi), np.maximum(wf * lo, wf * hi)
    s_lo = bias + np.minimum(plo, 0).sum(axis=0)
    s_hi = bias + np.maximum(phi, 0).sum(axis=0)
    lsb = 2.0**-acc.frac
    fits = s_lo.min() >= acc.lo * lsb and s_hi.max() <= acc.hi * lsb
    if not fits and acc.overflow != "WRAP":
        raise ConversionError(f"{what}: partial sums may saturate accum_t ({acc.overflow}): "
                              "not supported by nanotrig rtl yet")  # fmt: skip
    y = FixedVariableArray(np.array(vars_, dtype=object), options) @ wf
    y = y + bias
    out = []
    for v in y._vars.ravel():
        if not fits:
            v = cast(v, acc, f"{what} accum_t")
        out.append(cast(v, layer.out, what))
    return out


def _weights(layer: Layer, mutate: str | None) -> np.ndarray:
    w = layer.weights
    assert w is not None
    wf = w.astype(np.float64) * 2.0**-layer.wfrac
    if mutate == "flip_weight":
        wf = wf.copy()
        first = (0,) * wf.ndim
        wf[first] = -wf[first] if wf[first] else 2.0**-layer.wfrac
    return wf


def _windows(g: dict):
    """``(out_index, [(in_index, ky, kx)])`` per output pixel of a channels-last layer: the
    window's positions inside the input (padding positions are left out)."""
    for oy in range(g["oh"]):
        for ox in range(g["ow"]):
            taps = []
            for ky in range(g["fh"]):
                iy = oy * g["sh"] + ky - g["pt"]
                for kx in range(g["fw"]):
                    ix = ox * g["sw"] + kx - g["pl"]
                    if 0 <= iy < g["ih"] and 0 <= ix < g["iw"]:
                        taps.append((iy * g["iw"] + ix, ky, kx))
            yield oy * g["ow"] + ox, taps


def _conv(vars_: list, layer: Layer, mutate: str | None, options) -> list:
    """Per output pixel, the window's values times the kernel: one CMVM each."""
    g, what = layer.geom, f"layer {layer.name!r} (Conv)"
    wf = _weights(layer, mutate)  # (fh, fw, c, n)
    c, n = g["c"], g["n"]
    out: list = [None] * (g["oh"] * g["ow"] * n)
    for o, taps in _windows(g):
        if not taps:  # a window entirely in the padding: the bias alone
            raise ConversionError(f"{what} has a window entirely in the padding: not supported "
                                  "by nanotrig rtl yet")  # fmt: skip
        xs = [vars_[i * c + ch] for i, _, _ in taps for ch in range(c)]
        w = np.concatenate([wf[ky, kx] for _, ky, kx in taps], axis=0)
        out[o * n : (o + 1) * n] = _matvec(xs, w, layer, what, options)
    return out


def _pool(vars_: list, layer: Layer, src: Layer) -> list:
    """hls4ml's ``pooling*_cl``: the maximum (cast to ``accum_t``, then the result type), or the
    sum in ``accum_t`` divided by the window size (truncated toward zero at ``accum_t``'s LSB);
    a window size that is not a power of two is refused."""
    from dataclasses import replace

    g, acc = layer.geom, layer.accum
    assert acc is not None
    what = f"layer {layer.name!r} ({'Max' if layer.kind == 'maxpool' else 'Average'}Pooling)"
    c = g["c"]
    out: list = [None] * (g["oh"] * g["ow"] * c)
    full = g["fh"] * g["fw"]
    for o, taps in _windows(g):
        if layer.kind == "maxpool" and len(taps) < full and not src.out.signed:
            raise ConversionError(f"{what} pads an unsigned input (hls4ml pads with its top "
                                  "bit set): not supported by nanotrig rtl yet")  # fmt: skip
        n = full if g["count_pad"] else len(taps)
        if layer.kind == "avgpool" and (n & (n - 1) or not taps):
            raise ConversionError(f"{what} averages {n} values, not a power of two: not "
                                  "supported by nanotrig rtl yet")  # fmt: skip
        for ch in range(c):
            xs = [vars_[i * c + ch] for i, _, _ in taps]
            if layer.kind == "maxpool":
                m = xs[0]
                for v in xs[1:]:
                    m = m.max_of(v)
                v = cast(m, acc, f"{what} accum_t")
            else:
                if src.out.frac > acc.frac:
                    raise ConversionError(f"{what}: the sum is rounded to accum_t: not "
                                          "supported by nanotrig rtl yet")  # fmt: skip
                total = xs[0]
                for v in xs[1:]:
                    total = total + v
                lo = min(0.0, float(src.out.lo) * 2.0**-src.out.frac) * len(xs)
                hi = max(0.0, float(src.out.hi) * 2.0**-src.out.frac) * len(xs)
                lsb = 2.0**-acc.frac
                if (lo < acc.lo * lsb or hi > acc.hi * lsb) and acc.overflow != "WRAP":
                    raise ConversionError(f"{what}: partial sums may saturate accum_t: not "
                                          "supported by nanotrig rtl yet")  # fmt: skip
                total = cast(total, acc, f"{what} accum_t")
                v = cast(total * (1.0 / n), replace(acc, rounding="TRN_ZERO"), what)
            out[o * c + ch] = cast(v, layer.out, what)
    return out


def trace_layers(
    layers: Layers, mutate: str | None = None, solver_options: dict | None = None
) -> Trace:
    """da4ml ``CombLogic`` of ``layers`` (see the module docstring).

    ``solver_options`` update :data:`SOLVER_OPTIONS`. ``mutate`` (tests only):
    ``"flip_weight"`` negates the first weight of the first Dense layer, ``"rounding"`` casts
    every result with TRN instead of its rounding mode.
    """
    from da4ml.trace import FixedVariableArray, FixedVariableArrayInput, comb_trace

    t0 = time.perf_counter()
    options = {**SOLVER_OPTIONS, **(solver_options or {})}
    inp = FixedVariableArrayInput(layers.input.size, solver_options=options)
    x = inp.quantize(*kif(layers.input.out))
    flipped = False
    values = {layers.input.name: x._vars.ravel()}
    by_name = {la.name: la for la in layers.layers}
    for before, layer in zip(layers.layers, layers.layers[1:], strict=False):
        src = by_name[layer.srcs[0]] if layer.srcs else before
        if mutate == "rounding":
            layer = _with_trn(layer)
        vars_ = values[src.name]
        if layer.kind in ("dense", "conv"):
            flip = "flip_weight" if mutate == "flip_weight" and not flipped else None
            flipped = True
            if layer.kind == "dense":
                what = f"layer {layer.name!r} (Dense)"
                out = _matvec(list(vars_), _weights(layer, flip), layer, what, x.solver_options)
            else:
                out = _conv(list(vars_), layer, flip, x.solver_options)
        elif layer.kind in ("maxpool", "avgpool"):
            out = _pool(list(vars_), layer, src)
        elif layer.kind == "square":  # hls4ml's Multiply: the full product, cast once
            what = f"layer {layer.name!r} (Multiply)"
            out = [cast(v * v, layer.out, what) for v in vars_]
        elif layer.kind in ("add", "subtract", "multiply"):  # nnet::add ...: exact, cast once
            what = f"layer {layer.name!r} ({layer.kind.capitalize()})"
            op = _MERGES[layer.kind]
            out = [cast(op(a, b), layer.out, what)
                   for a, b in zip(vars_, values[layer.srcs[1]], strict=True)]  # fmt: skip
        elif layer.kind == "scale":  # exact: the scales and biases are on power-of-two grids
            what = f"layer {layer.name!r} (input standardisation)"
            out = [cast(v * float(sc) + float(b), layer.out, what)
                   for v, sc, b in zip(vars_, layer.weights, layer.bias, strict=True)]  # fmt: skip
        elif layer.kind == "relu":
            what = f"layer {layer.name!r} (ReLU)"
            out = [cast(v.relu(), layer.out, what) for v in vars_]
        else:
            what = f"layer {layer.name!r} (quantizer)"
            out = [cast(v, layer.out, what) for v in vars_]
        x = FixedVariableArray(np.array(out, dtype=object), x.solver_options)
        values[layer.name] = x._vars.ravel()
    comb = comb_trace(inp, x, keep_dead_inputs=True)
    return Trace(comb, layers, time.perf_counter() - t0)


def _with_trn(layer: Layer) -> Layer:
    from dataclasses import replace

    return replace(layer, out=replace(layer.out, rounding="TRN"))
