"""Spatial and merge layers of the exact integer kernel (hls/int_kernel.py), both io types.

Each layer is replayed as hls4ml's templates compute it (the values are row-major, channels
last, in both io types), on integers in units of each type's LSB:

* Conv1D / Conv2D (Latency strategy; ``nnet_conv*_latency.h``, the line buffers of
  ``nnet_conv*_stream.h``, pointwise convolutions): every output pixel is the Latency Dense of
  its window (kernel rows, kernel columns, channels in that order), with the zeros of the
  padding; products cast to ``accum_t``, the bias first, the sum cast to the result type;
* MaxPooling1D/2D without padding: the maximum of the window, cast to ``accum_t`` and then to
  the result type (``reduce_pool`` / ``pool_op``); AveragePooling1D/2D without padding: the
  sum in ``accum_t``, divided by the window size with the quotient truncated toward zero (an
  ``ap_fixed`` divided by an integer), cast to the result type (accum_t must hold the input's
  fractional bits and the sum, else the harness);
* ZeroPadding1D/2D: the values moved, the border set to zero; UpSampling (hls4ml Resize,
  nearest): every value repeated ``new / old`` times along each axis;
* Merge ``multiply``, ``add``, ``subtract`` (``nnet_merge.h``): the exact product, sum or
  difference of the two inputs (element ``k`` of input ``i``: ``k % n_elem_i``), cast once.

Anything else (other Merge ops, dilated or Resource-strategy convolutions, depthwise and
separable convolutions, bilinear resizing, padded pooling) is a one-line ``ConversionError``.
"""

from __future__ import annotations

import numpy as np
from nanotrig.hls.int_kernel_steps import (
    HARNESS,
    FixedType,
    Step,
    cast_expr,
    cast_range,
    dense_parts,
    may_overflow,
)

from nanotrig.errors import ConversionError

__all__ = ["SPATIAL_KINDS", "spatial_code", "spatial_step"]

#: Step kinds generated here.
SPATIAL_KINDS = ("conv", "maxpool", "avgpool", "zeropad", "resize", "multiply", "add", "subtract")
_MERGES = ("multiply", "add", "subtract")


def _geom(layer, one_d: bool, keys: tuple[str, ...]) -> dict[str, int]:
    """The layer's geometry as 2D: the height axis of a 1D layer has size 1, no padding."""
    names = {"in_height": "in_width", "out_height": "out_width"}
    g: dict[str, int] = {}
    for key in keys:
        if one_d and ("height" in key or key in ("pad_top", "pad_bottom")):
            g[key] = 0 if key.startswith("pad") else 1
            continue
        value = layer.get_attr(key)
        if value is None and one_d and key in ("in_width", "out_width"):  # Pooling1D: n_in/n_out
            value = layer.get_attr({"in_width": "n_in", "out_width": "n_out"}[key])
        if value is None:
            raise ConversionError(f"layer {layer.name!r} has no {names.get(key, key)}: "
                                  "use the batch harness (hls/batch.py)")  # fmt: skip
        g[key] = int(value)
    return g


_CONV = ("in_height", "in_width", "n_chan", "out_height", "out_width", "n_filt", "filt_height",
         "filt_width", "stride_height", "stride_width", "pad_top", "pad_bottom", "pad_left",
         "pad_right")  # fmt: skip
_POOL = ("in_height", "in_width", "n_filt", "out_height", "out_width", "pool_height",
         "pool_width", "stride_height", "stride_width", "pad_top", "pad_bottom", "pad_left",
         "pad_right")  # fmt: skip
_PAD = ("in_height", "in_width", "n_chan", "out_height", "out_width", "pad_top", "pad_bottom",
        "pad_left", "pad_right")  # fmt: skip
_RESIZE = ("in_height", "in_width", "n_chan", "out_height", "out_width")


def spatial_step(layer, srcs: list, out, size: int, what: str):
    """The kernel step of a spatial or merge layer, ``None`` for other layers (see module doc)."""
    from hls4ml.model import layers as hl

    prev = srcs[0]
    cls = layer.class_name
    if isinstance(layer, (hl.Conv1D, hl.Conv2D)):
        if cls not in ("Conv1D", "Conv2D", "PointwiseConv1D", "PointwiseConv2D"):
            raise ConversionError(f"{what}: {cls} is not emulated, {HARNESS}")
        return _conv_step(layer, prev, out, size, what, isinstance(layer, hl.Conv1D))
    if isinstance(layer, (hl.Pooling1D, hl.Pooling2D)):
        g = _geom(layer, isinstance(layer, hl.Pooling1D), _POOL)
        op = layer.get_attr("pool_op")
        if op not in ("Max", "Average") or any(g[k] for k in _POOL[-4:]):
            raise ConversionError(f"{what}: only max and average pooling without padding are "
                                  f"emulated, {HARNESS}")  # fmt: skip
        g["n_chan"] = g["n_filt"]
        accum = _fixed(layer.get_attr("accum_t"), f"{what} accum_t")
        kind = "maxpool" if op == "Max" else "avgpool"
        if kind == "avgpool" and accum.frac < prev.out.frac:
            raise ConversionError(f"{what}: its accum_t has fewer fractional bits than its "
                                  f"input (the sum would round): {HARNESS}")  # fmt: skip
        return _checked(Step(layer.name, kind, size, out, src=prev.out, accum=accum, geom=g),
                        prev, what)  # fmt: skip
    if isinstance(layer, (hl.ZeroPadding1D, hl.ZeroPadding2D)):
        g = _geom(layer, isinstance(layer, hl.ZeroPadding1D), _PAD)
        return _checked(Step(layer.name, "zeropad", size, out, src=prev.out, geom=g), prev, what)
    if isinstance(layer, hl.Resize):
        g = _geom(layer, layer.get_attr("in_height") is None, _RESIZE)
        algo = layer.get_attr("algorithm", "nearest")
        if algo != "nearest" or g["out_height"] % g["in_height"] or g["out_width"] % g["in_width"]:
            raise ConversionError(f"{what}: only nearest resizing by whole factors is emulated, "
                                  f"{HARNESS}")  # fmt: skip
        return _checked(Step(layer.name, "resize", size, out, src=prev.out, geom=g), prev, what)
    if isinstance(layer, hl.Merge):
        op = str(layer.get_attr("op", "")).lower()
        if op not in _MERGES or len(srcs) != 2:
            raise ConversionError(f"{what}: merge {op!r} is not emulated, {HARNESS}")
        a, b = srcs
        if size % a.size or size % b.size:
            raise ConversionError(f"{what} merges {a.size} and {b.size} values into {size}: "
                                  f"{HARNESS}")  # fmt: skip
        # src, accum: the types of the two inputs
        return Step(layer.name, op, size, out, src=a.out, accum=b.out,
                     geom={"n1": a.size, "n2": b.size})  # fmt: skip
    return None


def _fixed(attr, what: str):

    return FixedType.of(getattr(attr, "precision", attr), what)


def _checked(step, prev, what: str):
    g = step.geom
    if g["in_height"] * g["in_width"] * g["n_chan"] != prev.size or (
        g["out_height"] * g["out_width"] * g["n_chan"] != step.size
    ):
        raise ConversionError(f"{what}: its shape does not match its input's {prev.size} values: "
                              "use the batch harness (hls/batch.py)")  # fmt: skip
    return step


def _conv_step(layer, prev, out, size: int, what: str, one_d: bool):

    g = _geom(layer, one_d, _CONV)
    if int(layer.get_attr("dilation", 1) or 1) != 1:
        raise ConversionError(f"{what} is dilated: not emulated, {HARNESS}")
    strategy = str(layer.get_attr("strategy", "latency")).lower()
    if strategy != "latency":
        raise ConversionError(f"{what} uses strategy {strategy}: the integer kernel emulates "
                              f"the Latency convolution only, {HARNESS}")  # fmt: skip
    n_in = g["filt_height"] * g["filt_width"] * g["n_chan"]
    n_out = g["n_filt"]
    accum = FixedType.of(layer.get_attr("accum_t").precision, f"{what} accum_t")
    wvar, bvar = layer.weights["weight"], layer.weights.get("bias")
    wtype = FixedType.of(wvar.type.precision, f"{what} weights")
    w = [wtype.from_float(float(s)) for s in wvar]
    if len(w) != n_in * n_out:
        raise ConversionError(f"{what} has {len(w)} weights for a {n_in} x {n_out} window: "
                              f"{HARNESS}")  # fmt: skip
    if bvar is not None:
        btype = FixedType.of(bvar.type.precision, f"{what} biases")
        bias = [accum.from_value(btype.from_float(float(s)), btype.frac) for s in bvar]
    else:
        bias = [0] * n_out
    step = Step(layer.name, "conv", size, out, src=prev.out, accum=accum,
                 weights=np.array(w, dtype=object).reshape(n_in, n_out), wfrac=wtype.frac,
                 bias=bias, geom=g)  # fmt: skip
    if g["in_height"] * g["in_width"] * g["n_chan"] != prev.size or (
        g["out_height"] * g["out_width"] * n_out != size
    ):
        raise ConversionError(f"{what}: its shape does not match its input's {prev.size} values: "
                              f"{HARNESS}")  # fmt: skip
    return step


# --- code generation ----------------------------------------------------------------------------


def spatial_code(
    step, idx: int, ranges: list[tuple[int, int]], ctypes_: list[str]
) -> tuple[str, str, tuple[int, int]]:
    """``(constants, body, value range)`` of a spatial or merge step writing ``v{idx}``."""

    s = step.inputs[0]
    g, out = step.geom, step.out
    lo, hi = ranges[s]
    if step.kind == "conv":
        xr = (min(lo, 0), max(hi, 0))  # the padding's zeros
        parts = dense_parts(step, idx, xr, any_order=True)
        if not parts.ordered and _offsets_cost(g, parts.n_out) < _pixels_cost(g, parts.n_out):
            body = _conv_offsets_code(step, idx, parts, ctypes_[s])
        else:
            parts = dense_parts(step, idx, xr)  # hls4ml's order
            body = _conv_pixels_code(step, idx, parts, ctypes_[s])
        return parts.consts, body, (out.lo, out.hi)
    if step.kind in _MERGES:
        return _merge_code(step, idx, ranges)
    src, rng = step.src, (lo, hi)
    if step.kind == "maxpool":
        acc = step.accum
        sh = src.frac - acc.frac
        alo, ahi = cast_range(acc, lo, hi, sh)
        if acc.overflow == "WRAP" and may_overflow(
            acc, acc.round_shift(lo, sh), acc.round_shift(hi, sh)
        ):
            raise ConversionError(f"layer {step.name!r}: the pooling accumulator may wrap: "
                                  "use the batch harness (hls/batch.py)")  # fmt: skip
        expr = cast_expr(cast_expr("m", acc, sh, lo, hi), out, acc.frac - out.frac, alo, ahi)
        rng = cast_range(out, alo, ahi, acc.frac - out.frac)
        at = f"v{s}[((oh * {g['stride_height']} + kh) * {g['in_width']} + ow * {g['stride_width']} + kw) * {g['n_chan']} + c]"  # noqa: E501
        body = f"""    // {step.name}: max pooling {g["pool_height"]}x{g["pool_width"]}
    for (int oh = 0; oh < {g["out_height"]}; ++oh) for (int ow = 0; ow < {g["out_width"]}; ++ow)
    for (int c = 0; c < {g["n_chan"]}; ++c) {{
        int64_t m = INT64_MIN;
        for (int kh = 0; kh < {g["pool_height"]}; ++kh)
        for (int kw = 0; kw < {g["pool_width"]}; ++kw)
            m = {at} > m ? {at} : m;
        v{idx}[(oh * {g["out_width"]} + ow) * {g["n_chan"]} + c] = {expr};
    }}
"""
        return "", body, (min(rng[0], 0), max(rng[1], 0))
    if step.kind == "avgpool":
        return _avgpool_code(step, idx, (lo, hi))
    sh = src.frac - out.frac
    cast = cast_expr("x", out, sh, lo, hi)
    rng = cast_range(out, lo, hi, sh)
    if step.kind == "zeropad":
        body = f"""    // {step.name}: zero padding
    for (int oh = 0; oh < {g["out_height"]}; ++oh) for (int ow = 0; ow < {g["out_width"]}; ++ow) {{
        const int ih = oh - {g["pad_top"]}, iw = ow - {g["pad_left"]};
        const bool in = ih >= 0 && ih < {g["in_height"]} && iw >= 0 && iw < {g["in_width"]};
        for (int c = 0; c < {g["n_chan"]}; ++c) {{
            const int64_t x = in ? v{s}[(ih * {g["in_width"]} + iw) * {g["n_chan"]} + c] : 0;
            v{idx}[(oh * {g["out_width"]} + ow) * {g["n_chan"]} + c] = {cast};
        }}
    }}
"""
    else:  # resize, nearest, whole factors
        rh, rw = g["out_height"] // g["in_height"], g["out_width"] // g["in_width"]
        body = f"""    // {step.name}: nearest resize x{rh}, x{rw}
    for (int oh = 0; oh < {g["out_height"]}; ++oh) for (int ow = 0; ow < {g["out_width"]}; ++ow)
    for (int c = 0; c < {g["n_chan"]}; ++c) {{
        const int64_t x = v{s}[((oh / {rh}) * {g["in_width"]} + ow / {rw}) * {g["n_chan"]} + c];
        v{idx}[(oh * {g["out_width"]} + ow) * {g["n_chan"]} + c] = {cast};
    }}
"""
    return "", body, (min(rng[0], 0), max(rng[1], 0))


def _avgpool_code(step, idx: int, xr: tuple[int, int]) -> tuple[str, str, tuple[int, int]]:
    """Average pooling as hls4ml computes it (``avg`` of nnet_pooling.h, ``reduce_pool`` of
    nnet_pooling_stream.h): the window's values summed in ``accum_t``, the sum divided by the
    window size (``ap_fixed`` by an integer: the quotient truncated toward zero, in accum
    units), cast to the result type. Exact when no cast in the sum rounds (accum_t has at least
    the input's fractional bits, checked in the plan) or overflows (checked here)."""
    s, g, src, acc, out = step.inputs[0], step.geom, step.src, step.accum, step.out
    n = g["pool_height"] * g["pool_width"]
    up = 1 << (acc.frac - src.frac)
    lo, hi = xr[0] * up, xr[1] * up
    slo, shi = min(lo, n * lo), max(hi, n * hi)  # every value and partial sum
    if may_overflow(acc, slo, shi):
        raise ConversionError(f"layer {step.name!r}: the pooling sum may overflow its accum_t: "
                              f"{HARNESS}")  # fmt: skip
    qlo, qhi = (v // n if v >= 0 else -(-v // n) for v in (slo, shi))  # toward zero, as C++
    expr = cast_expr("sum / " + str(n), out, acc.frac - out.frac, qlo, qhi)
    rng = cast_range(out, qlo, qhi, acc.frac - out.frac)
    at = (f"v{s}[((oh * {g['stride_height']} + kh) * {g['in_width']} + ow * "
          f"{g['stride_width']} + kw) * {g['n_chan']} + c]")  # fmt: skip
    body = f"""    // {step.name}: average pooling {g["pool_height"]}x{g["pool_width"]}
    for (int oh = 0; oh < {g["out_height"]}; ++oh) for (int ow = 0; ow < {g["out_width"]}; ++ow)
    for (int c = 0; c < {g["n_chan"]}; ++c) {{
        int64_t sum = 0;
        for (int kh = 0; kh < {g["pool_height"]}; ++kh)
        for (int kw = 0; kw < {g["pool_width"]}; ++kw) sum += int64_t({at}) * {up};
        v{idx}[(oh * {g["out_width"]} + ow) * {g["n_chan"]} + c] = {expr};
    }}
"""
    return "", body, (min(rng[0], 0), max(rng[1], 0))


def _merge_code(step, idx: int, ranges) -> tuple[str, str, tuple[int, int]]:

    a, b = step.inputs
    ta, tb, out = step.src, step.accum, step.out  # the two input types
    (alo, ahi), (blo, bhi) = ranges[a], ranges[b]
    if step.kind == "multiply":
        frac = ta.frac + tb.frac
        corners = [alo * blo, alo * bhi, ahi * blo, ahi * bhi]
        expr = f"int64_t(v{a}[k % {step.geom['n1']}]) * v{b}[k % {step.geom['n2']}]"
    else:
        frac = max(ta.frac, tb.frac)
        ua, ub = 1 << (frac - ta.frac), 1 << (frac - tb.frac)
        sign = "+" if step.kind == "add" else "-"
        blo2, bhi2 = (blo, bhi) if step.kind == "add" else (-bhi, -blo)
        corners = [alo * ua + blo2 * ub, ahi * ua + bhi2 * ub]
        expr = (f"int64_t(v{a}[k % {step.geom['n1']}]) * {ua} {sign} "
                f"int64_t(v{b}[k % {step.geom['n2']}]) * {ub}")  # fmt: skip
    lo, hi = min(corners), max(corners)
    if max(abs(lo), abs(hi)) >= 1 << 62:
        raise ConversionError(f"layer {step.name!r}: values exceed 62 bits: use the batch harness")
    sh = frac - out.frac
    cast = cast_expr(expr, out, sh, lo, hi)
    rng = cast_range(out, lo, hi, sh)
    body = f"""    // {step.name}: merge {step.kind}
    for (int k = 0; k < {step.size}; ++k) v{idx}[k] = {cast};
"""
    return "", body, (min(rng[0], 0), max(rng[1], 0))


#: Values per vector register (AVX2, 32-bit), for choosing a convolution's loop order.
_LANES = 8
#: Channels from which the pixel loop skips zero inputs (a branch per input value).
_SKIP_CHANNELS = 2


def _pixels_cost(g: dict[str, int], nf: int) -> int:
    """Vector operations of :func:`_conv_pixels_code` (the filters innermost)."""
    k = g["filt_height"] * g["filt_width"] * g["n_chan"]
    return g["out_height"] * g["out_width"] * k * -(-nf // _LANES)


def _offsets_cost(g: dict[str, int], nf: int) -> int:
    """Vector operations of :func:`_conv_offsets_code` (an image row innermost), plus one per
    row for the loop around it."""
    k = g["filt_height"] * g["filt_width"] * g["n_chan"]
    return k * nf * g["out_height"] * (-(-g["out_width"] // _LANES) + 1)


def _padded(step, idx: int, xt: str, planes: bool) -> tuple[str, int, int]:
    """C++ copying the input into a zero-bordered buffer ``xp{idx}``: channel planes
    ``[c][y][x]`` (``planes``) or pixels ``[y][x][c]``; returns the code and its height, width."""
    s, g = step.inputs[0], step.geom
    ih, iw, nc = g["in_height"], g["in_width"], g["n_chan"]
    pt, pl = g["pad_top"], g["pad_left"]
    hp = max(ih + pt, (g["out_height"] - 1) * g["stride_height"] + g["filt_height"])
    wp = max(iw + pl, (g["out_width"] - 1) * g["stride_width"] + g["filt_width"])
    dims, at = (f"[{nc}][{hp}][{wp}]", "[c][y + {pt}][x + {pl}]") if planes else (
        f"[{hp}][{wp}][{nc}]", "[y + {pt}][x + {pl}][c]")  # fmt: skip
    at = at.format(pt=pt, pl=pl)
    code = f"""    static thread_local {xt} xp{idx}{dims};  // zero-initialised: border stays 0
    for (int y = 0; y < {ih}; ++y) for (int x = 0; x < {iw}; ++x) for (int c = 0; c < {nc}; ++c)
        xp{idx}{at} = v{s}[(y * {iw} + x) * {nc} + c];
"""
    return code, hp, wp


def _conv_pixels_code(step, idx: int, d, xt: str) -> str:
    """A convolution pixel by pixel: each output pixel is the Latency Dense of its window
    (kernel rows, kernel columns, channels: hls4ml's order), read in place from the padded
    input (no window copy), the filters innermost."""
    g = step.geom
    nc, nf, ow = g["n_chan"], g["n_filt"], g["out_width"]
    fh, fw, sh, sw = g["filt_height"], g["filt_width"], g["stride_height"], g["stride_width"]
    pad, _, _ = _padded(step, idx, xt, planes=False)
    ct = d.ct
    # zeros add nothing (every cast keeps 0): skipped where a channel loop makes it pay
    skip = "\n                if (xi == 0) continue;" if nc >= _SKIP_CHANNELS else ""
    return f"""    // {step.name}: convolution {fh}x{fw}, pixel by pixel
{pad}    for (int oy = 0; oy < {g["out_height"]}; ++oy) for (int ox = 0; ox < {ow}; ++ox) {{
        {ct} acc[{nf}];
        for (int j = 0; j < {nf}; ++j) acc[j] = B{idx}[j];
        for (int kh = 0; kh < {fh}; ++kh) for (int kw = 0; kw < {fw}; ++kw) {{
            const {xt} *xw = xp{idx}[oy * {sh} + kh][ox * {sw} + kw];
            const {ct} (*wk)[{nf}] = W{idx} + (kh * {fw} + kw) * {nc};
            for (int c = 0; c < {nc}; ++c) {{
                const {ct} xi = xw[c];{skip}
                for (int j = 0; j < {nf}; ++j) acc[j] = {d.add("acc[j]", "xi", "wk[c][j]")};
            }}
        }}
        for (int j = 0; j < {nf}; ++j) v{idx}[(oy * {ow} + ox) * {nf} + j] = {d.result("acc[j]")};
    }}
"""


def _conv_offsets_code(step, idx: int, d, xt: str) -> str:
    """A convolution summed over the kernel offsets: for each (kh, kw, channel, filter), a
    shifted plane of the input times one weight is added to that filter's plane of sums. No
    window is copied and the innermost loop runs along an image row (vectorised). The terms of
    each sum are hls4ml's (the same products, cast the same way) in another order, which gives
    the same integer wherever no saturating cast sits between the additions
    (``DenseParts.ordered`` false, from the value ranges)."""
    g = step.geom
    nc, nf = g["n_chan"], g["n_filt"]
    oh, ow, fh, fw = g["out_height"], g["out_width"], g["filt_height"], g["filt_width"]
    sh, sw = g["stride_height"], g["stride_width"]
    pad, _, _ = _padded(step, idx, xt, planes=True)
    ct = d.ct
    return f"""    // {step.name}: convolution {fh}x{fw}, summed over the kernel offsets
{pad}    static thread_local {ct} acc{idx}[{nf}][{oh * ow}];
    for (int j = 0; j < {nf}; ++j) for (int p = 0; p < {oh * ow}; ++p) acc{idx}[j][p] = B{idx}[j];
    for (int kh = 0; kh < {fh}; ++kh) for (int kw = 0; kw < {fw}; ++kw)
    for (int c = 0; c < {nc}; ++c) for (int j = 0; j < {nf}; ++j) {{
        const {ct} w = W{idx}[(kh * {fw} + kw) * {nc} + c][j];
        if (w == 0) continue;  // adds zeros (every cast keeps 0)
        for (int y = 0; y < {oh}; ++y) {{
            const {xt} *row = &xp{idx}[c][y * {sh} + kh][kw];
            {ct} *a = &acc{idx}[j][y * {ow}];
            for (int x = 0; x < {ow}; ++x) a[x] = {d.add("a[x]", f"{ct}(row[x * {sw}])", "w")};
        }}
    }}
    for (int p = 0; p < {oh * ow}; ++p) for (int j = 0; j < {nf}; ++j)
        v{idx}[p * {nf} + j] = {d.result(f"acc{idx}[j][p]")};
"""
