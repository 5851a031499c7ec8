"""The exact integer kernel's building blocks, shared by :mod:`hls.int_kernel` (the plan, the
chain layers and the compiled kernel) and :mod:`hls.int_kernel_layers` (spatial and merge
layers): the plan's steps and the C++ of the casts and of hls4ml's Latency Dense (the
``ap_fixed`` types are :class:`hls.fixed_type.FixedType`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from nanotrig.hls.fixed_type import HARNESS, O_MODES, Q_MODES, FixedType

from nanotrig.errors import ConversionError

__all__ = [
    "HARNESS", "O_MODES", "Q_MODES", "DenseParts", "FixedType", "Step", "cast_expr", "cast_range",
    "ctype", "dense_code", "dense_parts", "may_overflow",
]  # fmt: skip


@dataclass
class Step:
    """One emulated layer of the plan."""

    name: str
    kind: str  # input | scale | dense | relu | linear
    size: int
    out: FixedType
    src: FixedType | None = None
    accum: FixedType | None = None
    weights: np.ndarray | None = None  # int, (n_in, n_out), units of the weight type
    wfrac: int = 0
    bias: list[int] = field(default_factory=list)  # accum units
    inputs: tuple[int, ...] = ()  # indices of the source steps (the previous one when empty)
    geom: dict[str, int] = field(default_factory=dict)  # spatial layers: shapes, strides, pads


def ctype(bound: int) -> str:
    return "int32_t" if bound < (1 << 31) else "int64_t"


def may_overflow(t: FixedType, lo: int, hi: int) -> bool:
    return lo < t.lo or hi > t.hi or (t.overflow == "SAT_SYM" and t.signed and lo <= t.lo)


def cast_range(t: FixedType, lo: int, hi: int, shift: int) -> tuple[int, int]:
    """Range after casting values in ``[lo, hi]`` (units ``2**-(t.frac + shift)``) to ``t``."""
    rlo, rhi = t.round_shift(lo, shift), t.round_shift(hi, shift)
    if may_overflow(t, rlo, rhi):
        lo_t = -t.hi if t.overflow == "SAT_SYM" and t.signed else t.lo
        return (min(lo_t, 0), max(t.hi, 0)) if t.overflow != "WRAP" else (t.lo, t.hi)
    return rlo, rhi


def cast_expr(expr: str, t: FixedType, shift: int, lo: int, hi: int) -> str:
    rlo, rhi = t.round_shift(lo, shift), t.round_shift(hi, shift)
    chk = str(may_overflow(t, rlo, rhi)).lower()
    return f"nk::cvt<{shift}, {t.cpp_args()}, {chk}>({expr})"


@dataclass
class DenseParts:
    """The pieces of a Latency Dense's C++ shared by the Dense and convolution loops: the integer
    type ``ct``, the constants ``W{idx}[n_in][n_out]`` / ``B{idx}[n_out]`` (weights pre-scaled to
    accum units when no rounding is needed) and the expressions of one accumulation step and of
    the result cast. ``ordered``: the sum must be taken in hls4ml's order (a saturating
    accumulator that may overflow); otherwise any order gives the same value."""

    ct: str
    consts: str
    n_in: int
    n_out: int
    ordered: bool
    _prod: str  # with {x} and {w}
    _add: str  # with {acc} and {prod}
    _final: str  # with {acc}
    _res: str  # with {final}

    def add(self, acc: str, x: str, w: str) -> str:
        """``acc`` plus the product of ``x`` and weight ``w``, cast as hls4ml does."""
        return self._add.format(acc=acc, prod=self._prod.format(x=x, w=w))

    def result(self, acc: str) -> str:
        """The accumulated ``acc`` cast to the result type."""
        return self._res.format(final=self._final.format(acc=acc))


def dense_parts(step: Step, idx: int, xr: tuple[int, int], any_order: bool = False) -> DenseParts:
    """Analyse a Dense (or convolution) step on inputs in ``xr``: types, constants, casts.
    ``any_order``: bound the partial sums of every summation order, not only hls4ml's."""
    acc, src, out = step.accum, step.src, step.out
    assert acc is not None and src is not None and step.weights is not None
    shift = src.frac + step.wfrac - acc.frac  # product units -> accum units
    w = step.weights
    wp = w if shift > 0 else w * (1 << -shift)  # pre-scaled: no rounding when shift <= 0
    pshift = max(shift, 0)
    n_in, n_out = w.shape
    xlo, xhi = xr
    # product ranges per weight (after the cast's rounding), then the prefix sums per output
    p_a, p_b = wp * xlo, wp * xhi
    plo = np.minimum(p_a, p_b)
    phi = np.maximum(p_a, p_b)
    raw_bound = int(max(np.max(np.abs(plo)), np.max(np.abs(phi)), 1))
    rlo = np.vectorize(lambda v: acc.round_shift(int(v), pshift), otypes=[object])(plo)
    rhi = np.vectorize(lambda v: acc.round_shift(int(v), pshift), otypes=[object])(phi)
    wrap = acc.overflow == "WRAP"
    prod_chk = may_overflow(acc, int(np.min(rlo)), int(np.max(rhi)))
    bias = np.array(step.bias, dtype=object)
    if prod_chk and not wrap:  # saturating product casts: the sum sees clipped products
        clo, chi = cast_range(acc, int(np.min(plo)), int(np.max(phi)), pshift)
        rlo, rhi = np.full_like(rlo, clo), np.full_like(rhi, chi)
    if any_order:  # every partial sum: the bias plus some of the terms, in any order
        s_lo = int(np.min(bias + np.sum(np.minimum(rlo, 0), axis=0)))
        s_hi = int(np.max(bias + np.sum(np.maximum(rhi, 0), axis=0)))
    else:  # the bias, then the terms in order
        s_lo = int(np.min(np.vstack([bias, bias + np.cumsum(rlo, axis=0)])))
        s_hi = int(np.max(np.vstack([bias, bias + np.cumsum(rhi, axis=0)])))
    sum_chk = may_overflow(acc, s_lo, s_hi)
    step_chk = sum_chk and not wrap  # saturating accumulator: clip after every addition
    s_bound = 2 * max(abs(acc.lo), acc.hi) + 2 if step_chk else max(abs(s_lo), abs(s_hi))
    if raw_bound >= (1 << 62):
        raise ConversionError(f"layer {step.name!r}: products exceed 62 bits, {HARNESS}")
    if s_bound >= (1 << 62):
        if not wrap:
            raise ConversionError(f"layer {step.name!r}: sums exceed 62 bits, {HARNESS}")
        step_chk = prod_chk = True  # wrap every product and every addition: stays in range
        s_bound = 1 << acc.width
    ct = ctype(max(s_bound, raw_bound, int(np.max(np.abs(wp)))))
    flat = ", ".join(str(int(v)) for v in wp.ravel())
    consts = f"alignas(64) static const {ct} W{idx}[{n_in}][{n_out}] = {{{flat}}};\n"
    consts += f"alignas(64) static const {ct} B{idx}[{n_out}] = {{{', '.join(map(str, bias))}}};\n"
    prod = "{x} * {w}"
    if pshift > 0 or (prod_chk and (not wrap or step_chk)):
        chk = "true" if prod_chk and (not wrap or step_chk) else "false"
        prod = f"nk::cvt<{pshift}, {acc.cpp_args()}, {chk}>({prod})"
    add = "{acc} + {prod}"
    acc_o = f"{acc.width}, {str(acc.signed).lower()}"
    if step_chk:
        add = f"nk::ovf<{acc_o}, {O_MODES.index(acc.overflow)}>({add})"
    final = "{acc}"
    if sum_chk and wrap and not step_chk:
        final = f"nk::ovf<{acc_o}, 0>({final})"
    # result cast: the accumulated value lies in the accum range (or the bounded sums)
    alo, ahi = (acc.lo, acc.hi) if sum_chk else (s_lo, s_hi)
    res = cast_expr("{final}", out, acc.frac - out.frac, alo, ahi)
    return DenseParts(ct, consts, n_in, n_out, step_chk, prod, add, final, res)


def dense_code(
    step: Step, idx: int, xr: tuple[int, int], xin: str = "", yout: str = ""
) -> tuple[str, str]:
    """(constants, body) of a Dense step; the body reads ``xin`` (default ``v{idx-1}``) and
    writes ``yout`` (default ``v{idx}``): C++ arrays or pointers."""
    xin, yout = xin or f"v{idx - 1}", yout or f"v{idx}"
    d = dense_parts(step, idx, xr)
    ct, n_in, n_out = d.ct, d.n_in, d.n_out
    body = f"""    // {step.name}: Dense {n_in} -> {n_out}
    {ct} acc{idx}[{n_out}];
    {{
        {ct} *acc = acc{idx};
        for (int j = 0; j < {n_out}; ++j) acc[j] = B{idx}[j];
        for (int i = 0; i < {n_in}; ++i) {{
            const {ct} xi = {xin}[i];
            if (xi == 0) continue;  // a zero adds nothing (every cast keeps 0)
            for (int j = 0; j < {n_out}; ++j) acc[j] = {d.add("acc[j]", "xi", f"W{idx}[i][j]")};
        }}
        for (int j = 0; j < {n_out}; ++j) {yout}[j] = {d.result("acc[j]")};
    }}
"""
    return d.consts, body
