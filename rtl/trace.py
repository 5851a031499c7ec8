"""The da4ml trace of a converted project: the same fixed-point arithmetic as its HLS C++.

Each Dense layer is a constant matrix-vector product (da4ml's CMVM adder graph, exact at full
precision) plus the biases cast to ``accum_t``, then the cast to the result type. That equals
hls4ml's product-by-product accumulation in ``accum_t`` when no product needs rounding and no
partial sum (bias first, inputs in order) can leave ``accum_t``, or ``accum_t`` wraps (modular
sums); otherwise the layer is refused. ReLU is ``x > 0 ? T(x) : 0`` and a quantizer is
``T(x)``, with every cast done by :func:`rtl.casts.cast`.
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


def _dense(x, layer: Layer, mutate: str | None):
    """``cast(x @ W + b)`` with hls4ml's ``accum_t`` checks; ``x``: a FixedVariableArray."""
    acc, w = layer.accum, layer.weights
    assert acc is not None and w is not None
    what = f"layer {layer.name!r} (Dense)"
    src_f = max(int(v.kif[2]) for v in x._vars.ravel())
    if src_f + layer.wfrac > acc.frac:
        raise ConversionError(f"{what}: products are rounded to accum_t {acc.width},"
                              f"{acc.integer} (product-wise rounding is not supported by "
                              "nanotrig rtl yet)")  # fmt: skip
    wf = w.astype(np.float64) * 2.0**-layer.wfrac
    if mutate == "flip_weight":
        wf = wf.copy()
        wf[0, 0] = -wf[0, 0] if wf[0, 0] else 2.0**-layer.wfrac
    bias = np.array(layer.bias, dtype=np.float64) * 2.0**-acc.frac
    lo = np.array([float(v.low) for v in x._vars.ravel()])[:, None]
    hi = np.array([float(v.high) for v in x._vars.ravel()])[:, None]
    plo, phi = np.minimum(wf * lo, wf * hi), np.maximum(wf * lo, wf * hi)
    s_lo = bias + np.minimum(plo, 0).sum(axis=0)
    s_hi = bias + np.maximum(phi, 0).sum(axis=0)
    lsb = 2.0**-acc.frac
    fits = s_lo.min() >= acc.lo * lsb and s_hi.max() <= acc.hi * lsb
    if not fits and acc.overflow != "WRAP":
        raise ConversionError(f"{what}: partial sums may saturate accum_t ({acc.overflow}): "
                              "not supported by nanotrig rtl yet")  # fmt: skip
    y = x @ wf
    y = y + bias
    out = []
    for v in y._vars.ravel():
        if not fits:
            v = cast(v, acc, f"{what} accum_t")
        out.append(cast(v, layer.out, what))
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
    for layer in layers.layers[1:]:
        if mutate == "rounding":
            layer = _with_trn(layer)
        vars_ = x._vars.ravel()
        if layer.kind == "dense":
            out = _dense(x, layer, "flip_weight" if mutate == "flip_weight" and not flipped
                         else None)  # fmt: skip
            flipped = True
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
    comb = comb_trace(inp, x, keep_dead_inputs=True)
    return Trace(comb, layers, time.perf_counter() - t0)


def _with_trn(layer: Layer) -> Layer:
    from dataclasses import replace

    return replace(layer, out=replace(layer.out, rounding="TRN"))
