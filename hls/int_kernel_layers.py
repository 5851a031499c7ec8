"""Spatial and merge layers of the exact integer kernel (hls/int_kernel.py), both io types.

Each layer is replayed as hls4ml's templates compute it (the values are row-major, channels
last, in both io types), on integers in units of each type's LSB:

* Conv1D / Conv2D (Latency strategy; ``nnet_conv*_latency.h``, the line buffers of
  ``nnet_conv*_stream.h``, pointwise convolutions): every output pixel is the Latency Dense of
  its window (kernel rows, kernel columns, channels in that order), with the zeros of the
  padding; products cast to ``accum_t``, the bias first, the sum cast to the result type;
* MaxPooling1D/2D without padding: the maximum of the window, cast to ``accum_t`` and then to
  the result type (``reduce_pool`` / ``pool_op``); average pooling divides in ``ap_fixed``
  and is left to the harness;
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
    dense_code,
    may_overflow,
)

from nanotrig.errors import ConversionError

__all__ = ["SPATIAL_KINDS", "spatial_code", "spatial_step"]

#: Step kinds generated here.
SPATIAL_KINDS = ("conv", "maxpool", "zeropad", "resize", "multiply", "add", "subtract")
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
        if layer.get_attr("pool_op") != "Max" or any(g[k] for k in _POOL[-4:]):
            raise ConversionError(f"{what}: only MaxPooling without padding is emulated "
                                  f"(average pooling divides in ap_fixed), {HARNESS}")  # fmt: skip
        g["n_chan"] = g["n_filt"]
        accum = _fixed(layer.get_attr("accum_t"), f"{what} accum_t")
        return _checked(Step(layer.name, "maxpool", size, out, src=prev.out, accum=accum,
                              geom=g), prev, what)  # fmt: skip
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
        n_in = g["filt_height"] * g["filt_width"] * g["n_chan"]
        consts, dense = dense_code(step, idx, xr, xin="xw", yout=f"(v{idx} + p * {g['n_filt']})")
        body = f"""    // {step.name}: convolution {g["filt_height"]}x{g["filt_width"]}
    for (int oh = 0; oh < {g["out_height"]}; ++oh) for (int ow = 0; ow < {g["out_width"]}; ++ow) {{
        const int p = oh * {g["out_width"]} + ow;
        {ctypes_[s]} xw[{n_in}];
        for (int kh = 0; kh < {g["filt_height"]}; ++kh)
        for (int kw = 0; kw < {g["filt_width"]}; ++kw) {{
            const int ih = oh * {g["stride_height"]} + kh - {g["pad_top"]};
            const int iw = ow * {g["stride_width"]} + kw - {g["pad_left"]};
            const bool in = ih >= 0 && ih < {g["in_height"]} && iw >= 0 && iw < {g["in_width"]};
            for (int c = 0; c < {g["n_chan"]}; ++c)
                xw[(kh * {g["filt_width"]} + kw) * {g["n_chan"]} + c] =
                    in ? v{s}[(ih * {g["in_width"]} + iw) * {g["n_chan"]} + c] : 0;
        }}
{_indent(dense)}    }}
"""
        return consts, body, (out.lo, out.hi)
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


def _indent(code: str) -> str:
    return "".join("    " + line if line.strip() else line for line in code.splitlines(True))
