"""Exact integer kernel: a converted hls4ml project computed with native integers, bit for bit.

hls4ml's C-simulation computes every layer with ``ap_fixed`` arithmetic (about 11 ns per
multiply-accumulate for the 6-bit jet MLP). :func:`build_int_kernel` generates C++ that computes
the same graph on plain integers instead: every value is held as an integer count of its type's
LSB (``int32_t`` or ``int64_t``, chosen from the value ranges), and each step of hls4ml's
templates is replayed exactly:

* inputs: ``nnet::convert_data`` (``input_t(double)``: exact rounding and overflow of the double);
* Dense (``nnet_dense_latency.h``): every product ``data * weight`` cast to ``accum_t``, the bias
  cast to ``accum_t``, the sum accumulated in ``accum_t`` (bias first, then inputs in order, each
  addition cast back to ``accum_t``), the sum cast to the result type;
* ReLU / linear activations (including the quantizer-only activations of QActivation): ``x > 0 ?
  x : 0`` / ``x`` cast to the result type.

A cast rounds with the target's quantization mode (AP_TRN, AP_TRN_ZERO, AP_RND, AP_RND_ZERO,
AP_RND_INF, AP_RND_MIN_INF, AP_RND_CONV) and then applies its overflow mode (AP_WRAP, AP_SAT,
AP_SAT_ZERO, AP_SAT_SYM), as ``ap_fixed_base`` does. Wrapping accumulators are summed and wrapped
once (modular arithmetic), and overflow checks are dropped where the value ranges (the types and
the actual weights) show they cannot trigger. Weights are read the way the compiled project reads
them: hls4ml's printed text, parsed as a double, converted to the weight type.

Lookup-table activations (softmax, sigmoid, ...) are not emulated: a trailing table head is
left out, the kernel stops at the layer feeding it (:attr:`IntKernel.last_layer`, the logits) and
names the head (:attr:`IntKernel.head`). Convolutions, pooling, padding, upsampling and the
merges (io_parallel and io_stream) are :mod:`hls.int_kernel_layers`; the types, casts and the
Dense code both use are :mod:`hls.int_kernel_steps`. Anything else (other layer classes,
non-fixed types, Resource strategy) is a one-line :class:`ConversionError`: use the batch
harness (hls/batch.py) for those projects.

Usage::

    kernel = build_int_kernel(hls_model, build_dir)      # g++ -O3 -march=native, cached by source
    values = kernel.run(x, layers="all", threads=2)      # {layer: (n, size) float64}
    logits = kernel.run(x)[kernel.last_layer]
"""

from __future__ import annotations

import ctypes
import hashlib
import itertools
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from nanotrig.hls.int_kernel_steps import (
    HARNESS,
    FixedType,
    Step,
    cast_expr,
    cast_range,
    ctype,
    dense_code,
)

from nanotrig.errors import ConversionError, DataError, ToolMissingError

__all__ = ["FixedType", "IntKernel", "build_int_kernel", "kernel_source", "supports"]

_CXX = "g++"
_CXX_FLAGS = ("-O3", "-march=native", "-fPIC", "-shared", "-std=c++17")
#: Activations computed by a lookup table or float math: left out when they end the model.
_HEADS = ("softmax", "sigmoid", "tanh", "softsign", "softplus", "elu", "selu", "hard_sigmoid")


# --- the plan: one step per emulated layer ------------------------------------------------------


@dataclass
class _Plan:
    steps: list[Step]
    head: str | None


def _plan(hls_model) -> _Plan:
    from hls4ml.model import layers as hl
    from nanotrig.hls.int_kernel_layers import spatial_step

    io_type = hls_model.config.get_config_value("IOType")
    if io_type not in ("io_parallel", "io_stream"):
        raise ConversionError(f"the integer kernel needs io_parallel or io_stream, not {io_type}: "
                              f"{HARNESS}")  # fmt: skip
    if len(hls_model.get_input_variables()) != 1 or len(hls_model.get_output_variables()) != 1:
        raise ConversionError(f"the integer kernel needs one input and one output: {HARNESS}")
    layers = list(hls_model.get_layers())
    steps: list[Step] = []
    at: dict[str, int] = {}  # hls4ml output name -> the step computing it
    head = None
    for k, layer in enumerate(layers):
        what = f"layer {layer.name!r} ({layer.class_name})"
        out = FixedType.of(layer.get_output_variable().type.precision, what)
        size = int(layer.get_output_variable().size())
        if k == 0:
            if not isinstance(layer, hl.Input):
                raise ConversionError(f"{what} is not an Input layer: {HARNESS}")
            steps.append(Step(layer.name, "input", size, out))
            at[layer.outputs[0]] = 0
            continue
        missing = [name for name in layer.inputs if name not in at]
        if missing:
            raise ConversionError(f"{what} reads {missing[0]!r}, which the integer kernel does "
                                  f"not compute: {HARNESS}")  # fmt: skip
        srcs = tuple(at[name] for name in layer.inputs)
        prev = steps[srcs[0]]
        act = str(layer.get_attr("activation", "") or "").lower()
        plain_act = isinstance(layer, hl.Activation) and not isinstance(
            layer, (hl.Softmax, hl.ParametrizedActivation, hl.HardActivation)
        )
        fn = str(layer.get_attr("function_cpp", "") or "")
        if layer.class_name == "Clone" and out == prev.out:  # io_stream fan-out: copies
            at.update((name, srcs[0]) for name in layer.outputs)
            continue
        if isinstance(layer, hl.Reshape) and size == prev.size:
            at[layer.outputs[0]] = srcs[0]  # a view of the same values (row-major order)
            continue
        step = spatial_step(layer, [steps[i] for i in srcs], out, size, what)
        if step is not None:
            pass
        elif isinstance(layer, hl.Dense) and (not fn or "nnet::dense<" in fn):
            step = _dense_step(layer, prev, out, size, what)
        elif isinstance(layer, hl.BatchNormalization) and size == prev.size:
            step = _scale_step(layer, prev, out, size, what)
        elif plain_act and act in ("relu", "linear") and size == prev.size:
            if fn and f"nnet::{act}<" not in fn:
                raise ConversionError(f"{what} runs {fn.split('(')[0]}: not emulated, {HARNESS}")
            step = Step(layer.name, act, size, out, src=prev.out)
        elif (isinstance(layer, hl.Softmax) or act in _HEADS) and k == len(layers) - 1:
            if srcs[0] != len(steps) - 1:
                raise ConversionError(f"{what} does not read the last layer: {HARNESS}")
            head = layer.name
            break
        else:
            raise ConversionError(f"{what} is not supported by the integer kernel: {HARNESS}")
        if len(srcs) > 1 and step.kind not in ("add", "multiply", "subtract"):
            raise ConversionError(f"{what} has {len(srcs)} inputs: {HARNESS}")
        step.inputs = srcs
        steps.append(step)
        at[layer.outputs[0]] = len(steps) - 1
    if len(steps) < 2:
        raise ConversionError(f"the model has no layer the integer kernel emulates: {HARNESS}")
    last = at.get(hls_model.outputs[0]) if head is None else len(steps) - 1
    if last != len(steps) - 1:
        raise ConversionError(f"the model's output is not its last layer: {HARNESS}")
    return _Plan(steps, head)


def _dense_step(layer, prev: Step, out: FixedType, size: int, what: str) -> Step:
    n_in, n_out = int(layer.get_attr("n_in")), int(layer.get_attr("n_out"))
    if n_in != prev.size or n_out != size:
        raise ConversionError(
            f"{what} maps {n_in} -> {n_out} values on a {prev.size}-value input: "
            f"the integer kernel cannot emulate it, {HARNESS}"
        )
    accum = FixedType.of(layer.get_attr("accum_t").precision, f"{what} accum_t")
    strategy = str(layer.get_attr("strategy", "latency")).lower()
    if strategy != "latency":
        raise ConversionError(f"{what} uses strategy {strategy}: the integer kernel emulates "
                              f"the Latency dense only, {HARNESS}")  # fmt: skip
    wvar, bvar = layer.weights["weight"], layer.weights.get("bias")
    wtype = FixedType.of(wvar.type.precision, f"{what} weights")
    # the compiled project reads hls4ml's printed text as doubles (load_weights_from_txt)
    w = [wtype.from_float(float(s)) for s in wvar]
    weights = np.array(w, dtype=object).reshape(n_in, n_out)
    if bvar is not None:
        btype = FixedType.of(bvar.type.precision, f"{what} biases")
        bias = [accum.from_value(btype.from_float(float(s)), btype.frac) for s in bvar]
    else:
        bias = [0] * n_out
    if len(bias) != n_out:
        raise ConversionError(f"{what} has {len(bias)} biases for {n_out} outputs: {HARNESS}")
    return Step(layer.name, "dense", size, out, src=prev.out, accum=accum, weights=weights,
                 wfrac=wtype.frac, bias=bias)  # fmt: skip


def _scale_step(layer, prev: Step, out: FixedType, size: int, what: str) -> Step:
    """``x * scale + bias`` per element or channel (hls4ml's ``normalize``, and ApplyAlpha: the
    exact product plus the bias, cast once to the result type); as a diagonal Dense with the sum
    at the exact fractional bits ``max(src + scale, bias)``."""
    svar, bvar = layer.weights["scale"], layer.weights.get("bias")
    stype = FixedType.of(svar.type.precision, f"{what} scale")
    scale = [stype.from_float(float(v)) for v in svar]
    if bvar is not None:
        btype = FixedType.of(bvar.type.precision, f"{what} bias")
        bias, bfrac = [btype.from_float(float(v)) for v in bvar], btype.frac
    else:
        bias, bfrac = [0] * len(scale), 0
    n_filt = int(layer.get_attr("n_filt", -1))
    if n_filt not in (-1, len(scale)) or (n_filt > 0 and size % n_filt):
        raise ConversionError(f"{what} has {len(scale)} scales for {n_filt} channels: {HARNESS}")
    if n_filt > 0:  # per channel (hls4ml's normalize: index % n_filt)
        scale, bias = (
            [scale[k % n_filt] for k in range(size)],
            [bias[k % n_filt] for k in range(size)],
        )
    if len(scale) != size or len(bias) != size:
        raise ConversionError(f"{what} has {len(scale)} scales for {size} values: {HARNESS}")
    frac = max(prev.out.frac + stype.frac, bfrac)
    up = 1 << (frac - prev.out.frac - stype.frac)
    return Step(layer.name, "scale", size, out, src=prev.out, weights=np.array(
        [v * up for v in scale], dtype=object), wfrac=frac,
        bias=[b << (frac - bfrac) for b in bias])  # fmt: skip


def supports(hls_model) -> str | None:
    """``None`` when :func:`build_int_kernel` can emulate ``hls_model``, else the reason."""
    try:
        _source(_plan(hls_model))
    except ConversionError as err:
        return str(err)
    return None


# --- code generation ----------------------------------------------------------------------------

_PRELUDE = r"""// Generated by nanotrig (hls/int_kernel.py): exact integer emulation of hls4ml.
#include <cmath>
#include <cstdint>

namespace nk {
// Q: 0 TRN, 1 TRN_ZERO, 2 RND, 3 RND_ZERO, 4 RND_INF, 5 RND_MIN_INF, 6 RND_CONV
// O: 0 WRAP, 1 SAT, 2 SAT_ZERO, 3 SAT_SYM
template <int W, bool SG, int O> static inline int64_t ovf(int64_t v) {
    constexpr int64_t HI = SG ? (int64_t(1) << (W - 1)) - 1 : (int64_t(1) << W) - 1;
    constexpr int64_t LO = SG ? -(int64_t(1) << (W - 1)) : 0;
    if constexpr (O == 0) {
        if constexpr (SG) return int64_t(uint64_t(v) << (64 - W)) >> (64 - W);
        else return v & HI;
    } else if constexpr (O == 2) {
        return (v > HI || v < LO) ? 0 : v;
    } else {
        constexpr int64_t L = (O == 3 && SG) ? -HI : LO;
        return v > HI ? HI : (v < L ? L : v);
    }
}
// v in units 2^-(F + S) -> units 2^-F, rounded with Q (S > 0: bits dropped)
template <int S, int Q> static inline int64_t rnd(int64_t v) {
    if constexpr (S <= 0) {
        return v * (int64_t(1) << -S);
    } else {
        const int64_t fl = v >> S;
        const int64_t rem = v & ((int64_t(1) << S) - 1);
        constexpr int64_t H = int64_t(1) << (S - 1);
        if constexpr (Q == 0) return fl;
        else if constexpr (Q == 1) return fl + (v < 0 && rem != 0);
        else if constexpr (Q == 2) return fl + (rem >= H);
        else if constexpr (Q == 3) return fl + (rem > H || (rem == H && v < 0));
        else if constexpr (Q == 4) return fl + (rem > H || (rem == H && v > 0));
        else if constexpr (Q == 5) return fl + (rem > H);
        else return fl + (rem > H || (rem == H && (fl & 1)));
    }
}
// cast v (units 2^-(F + S)) to ap_fixed<W, ., Q, O> (units 2^-F); CHK: overflow possible
template <int S, int W, bool SG, int Q, int O, bool CHK> static inline int64_t cvt(int64_t v) {
    const int64_t r = rnd<S, Q>(v);
    if constexpr (CHK) return ovf<W, SG, O>(r);
    else return r;
}
// 2^F, a normal double for |F| <= 1022
template <int F> constexpr double pow2() {
    double r = 1.0;
    for (int i = 0; i < (F < 0 ? -F : F); ++i) r = F < 0 ? r * 0.5 : r * 2.0;
    return r;
}
// ap_fixed<W, W - F, Q, O>(double d), exact
template <int F, int W, bool SG, int Q, int O> static inline int64_t from_double(double d) {
    const double t = d * pow2<F>();  // = std::ldexp(d, F): one correctly rounded product
    if (!(std::fabs(t) < 4611686018427387904.0)) {  // |t| >= 2^62: an integer already
        if constexpr (O == 0) {
            if (std::isinf(t)) return 0;  // the exact value is a multiple of 2^W
            return ovf<W, SG, O>(int64_t(std::fmod(t, std::ldexp(1.0, W))));
        }
        else return ovf<W, SG, O>(t > 0 ? INT64_MAX / 2 : -(INT64_MAX / 2));
    }
    const double fl = std::floor(t);
    const int64_t v = int64_t(fl);
    bool gt, eq;
    if (t > -0.5 && t < 0) {  // t - fl is not exact here; the true fraction is in (0.5, 1)
        gt = true;
        eq = false;
    } else {
        const double fr = t - fl;  // exact (Sterbenz)
        gt = fr > 0.5;
        eq = fr == 0.5;
    }
    const bool nz = t != fl;
    int64_t r = v;
    if constexpr (Q == 1) r += (t < 0 && nz);
    else if constexpr (Q == 2) r += (gt || eq);
    else if constexpr (Q == 3) r += (gt || (eq && t < 0));
    else if constexpr (Q == 4) r += (gt || (eq && t > 0));
    else if constexpr (Q == 5) r += gt;
    else if constexpr (Q == 6) r += (gt || (eq && (v & 1)));
    return ovf<W, SG, O>(r);
}
} // namespace nk
"""


def _scale_code(
    step: Step, idx: int, xr: tuple[int, int], src: int
) -> tuple[str, str, tuple[int, int]]:
    """(constants, body, result range) of a scale step (sums in units ``2**-step.wfrac``)."""
    assert step.weights is not None
    xlo, xhi = xr
    sc, bias = [int(v) for v in step.weights], [int(b) for b in step.bias]
    lo = min(min(v * xlo, v * xhi) + b for v, b in zip(sc, bias, strict=True))
    hi = max(max(v * xlo, v * xhi) + b for v, b in zip(sc, bias, strict=True))
    bound = max(abs(lo), abs(hi), max(abs(v) for v in sc), max(abs(b) for b in bias))
    if bound >= (1 << 62):
        raise ConversionError(f"layer {step.name!r}: values exceed 62 bits, {HARNESS}")
    out = step.out
    shift = step.wfrac - out.frac
    res = cast_expr(f"int64_t(v{src}[k]) * S{idx}[k] + C{idx}[k]", out, shift, lo, hi)
    consts = "".join(
        f"static const int64_t {n}{idx}[{step.size}] = {{{', '.join(map(str, vals))}}};\n"
        for n, vals in (("S", sc), ("C", bias))
    )
    body = f"""    // {step.name}: x * scale + bias
    for (int k = 0; k < {step.size}; ++k) v{idx}[k] = {res};
"""
    rng = cast_range(out, lo, hi, shift)
    return consts, body, (min(rng[0], 0), max(rng[1], 0))


def kernel_source(hls_model) -> str:
    """The C++ of the kernel: ``int nk_run(const double *x, long n, double *const *outs)``.

    ``x``: ``n`` events side by side; ``outs[k]``: ``(n, size)`` doubles for the ``k``-th
    emulated layer (input first) or null to skip it.
    """
    return _source(_plan(hls_model))


def _decl(ct: str, idx: int, size: int) -> str:
    """The array of step ``idx``: on the stack, or thread-local when large (feature maps)."""
    store = "static thread_local " if size > 4096 else ""
    return f"    {store}{ct} v{idx}[{size}];\n"


def _source(plan: _Plan) -> str:
    from nanotrig.hls.int_kernel_layers import SPATIAL_KINDS, spatial_code

    steps = plan.steps
    consts, body = [], []
    ranges: list[tuple[int, int]] = []
    ctypes_: list[str] = []
    for idx, step in enumerate(steps):
        t = step.out
        ct = ctype(max(abs(t.lo), t.hi) + 1)
        ctypes_.append(ct)
        s = step.inputs[0] if step.inputs else idx - 1
        if step.kind == "input":
            body.append(f"""    // {step.name}: input conversion (nnet::convert_data)
{_decl(ct, 0, step.size)}    for (int k = 0; k < {step.size}; ++k)
        v0[k] = nk::from_double<{t.frac}, {t.cpp_args()}>(x[k]);
""")
            ranges.append((t.lo, t.hi))
        elif step.kind in SPATIAL_KINDS:
            c, b, rng = spatial_code(step, idx, ranges, ctypes_)
            consts.append(c)
            body.append(_decl(ct, idx, step.size) + b)
            ranges.append(rng)
        elif step.kind == "scale":
            c, b, rng = _scale_code(step, idx, ranges[s], s)
            consts.append(c)
            body.append(_decl(ct, idx, step.size) + b)
            ranges.append(rng)
        elif step.kind == "dense":
            c, b = dense_code(step, idx, ranges[s], xin=f"v{s}")
            consts.append(c)
            body.append(_decl(ct, idx, step.size) + b)
            ranges.append((t.lo, t.hi))
        else:
            src = step.src
            assert src is not None
            lo, hi = ranges[s]
            shift = src.frac - t.frac
            if step.kind == "relu":
                cast = cast_expr(f"v{s}[k]", t, shift, max(lo, 1), max(hi, 1))
                expr = f"v{s}[k] > 0 ? {cast} : 0"
                rng = cast_range(t, max(lo, 0), max(hi, 0), shift)
            else:
                expr = cast_expr(f"v{s}[k]", t, shift, lo, hi)
                rng = cast_range(t, lo, hi, shift)
            body.append(f"""    // {step.name}: {step.kind}
{_decl(ct, idx, step.size)}    for (int k = 0; k < {step.size}; ++k) v{idx}[k] = {expr};
""")
            ranges.append((min(rng[0], 0), max(rng[1], 0)))
        body.append(f"""    if (outs[{idx}]) {{
        double *o = outs[{idx}] + e * {step.size}L;
        for (int k = 0; k < {step.size}; ++k) o[k] = double(v{idx}[k]) * {2.0**-t.frac!r};
    }}
""")
    n_in = steps[0].size
    return (
        _PRELUDE
        + "\nnamespace {\n"
        + "".join(consts)
        + f"""
static inline void event(const double *x, double *const *outs, long e) {{
{"".join(body)}}}
}} // namespace

extern "C" int nk_run(const double *x, long n, double *const *outs) {{
    for (long e = 0; e < n; ++e) event(x + e * {n_in}L, outs, e);
    return 0;
}}
"""
    )


# --- the compiled kernel ------------------------------------------------------------------------


class IntKernel:
    """A compiled integer kernel. :meth:`run` maps float64 events to per-layer float64 values.

    ``layers``: the emulated layers in order (the input layer first: its values are the
    converted inputs); ``sizes`` / ``types``: their output sizes and :class:`FixedType`;
    ``last_layer``: the last emulated layer (the model's output, or the logits before
    ``head``); ``head``: the lookup-table activation left out, or ``None``.
    """

    def __init__(self, lib_path: Path, plan: _Plan) -> None:
        self.lib_path = Path(lib_path)
        self.layers: tuple[str, ...] = tuple(s.name for s in plan.steps)
        self.sizes: dict[str, int] = {s.name: s.size for s in plan.steps}
        self.types: dict[str, FixedType] = {s.name: s.out for s in plan.steps}
        self.n_in: int = plan.steps[0].size
        self.head: str | None = plan.head
        self._fn = ctypes.CDLL(str(self.lib_path)).nk_run
        self._fn.argtypes = [ctypes.c_void_p, ctypes.c_long, ctypes.c_void_p]
        self._fn.restype = ctypes.c_int

    @property
    def last_layer(self) -> str:
        return self.layers[-1]

    def run(
        self, x: np.ndarray, layers: str | Sequence[str] | None = None, threads: int = 1,
        chunk_size: int = 65_536,
    ) -> dict[str, np.ndarray]:  # fmt: skip
        """``{layer: (n, size) float64}`` for events ``x`` (``(n, n_in)``, any float dtype).

        ``layers``: ``None`` for :attr:`last_layer` only, ``"all"`` for every emulated layer, or
        a list of names. Events go through in chunks of ``chunk_size``, split over ``threads``
        threads (the kernel holds no state; ctypes releases the GIL). Values equal the batch
        harness's outputs and taps bit for bit.
        """
        names = [self.last_layer] if layers is None else list(self.layers) if layers == "all" \
            else [layers] if isinstance(layers, str) else list(layers)  # fmt: skip
        unknown = [n for n in names if n not in self.sizes]
        if unknown:
            raise DataError(f"layer {unknown[0]!r} is not emulated: the kernel computes "
                            f"{', '.join(self.layers)}")  # fmt: skip
        xs = np.asarray(x)
        n = len(xs)
        xs = xs.reshape(n, -1)
        if xs.shape[1] != self.n_in:
            raise DataError(f"events have {xs.shape[1]} values: the project takes {self.n_in}")
        outs = {name: np.empty((n, self.sizes[name]), dtype=np.float64) for name in names}
        slots = [outs.get(name) for name in self.layers]
        bounds = [*range(0, n, max(1, chunk_size)), n]

        def work(a: int, b: int) -> None:
            xc = np.ascontiguousarray(xs[a:b], dtype=np.float64)
            ptrs = (ctypes.c_void_p * len(slots))(
                *[None if o is None else o.ctypes.data + a * o.shape[1] * 8 for o in slots]
            )
            self._fn(xc.ctypes.data, b - a, ptrs)

        parts: list[tuple[int, int]] = []
        k = max(1, min(int(threads), n // 1024 or 1))
        for a, b in itertools.pairwise(bounds):
            cuts = np.linspace(a, b, k + 1).astype(int)
            parts += [(int(c), int(d)) for c, d in itertools.pairwise(cuts) if d > c]
        if k == 1:
            for a, b in parts:
                work(a, b)
        else:
            with ThreadPoolExecutor(k) as pool:
                list(pool.map(lambda p: work(*p), parts))
        return outs


def build_int_kernel(hls_model, build_dir: Path) -> IntKernel:
    """Generate and compile (g++ -O3 -march=native) the integer kernel of ``hls_model``.

    :class:`ConversionError` (one line) when the project cannot be emulated (see
    :func:`supports`); the library is reused when ``build_dir`` holds one of the same source.
    """
    if shutil.which(_CXX) is None:
        raise ToolMissingError("g++ not found: install a C++ compiler (e.g. apt-get install g++)")
    return _compile_plan(_plan(hls_model), Path(build_dir))


def _compile_plan(plan: _Plan, build_dir: Path) -> IntKernel:
    """Compile a plan's kernel into ``build_dir`` (reused when the source is the same)."""
    src = _source(plan)
    digest = hashlib.sha256(src.encode()).hexdigest()[:16]
    build = Path(build_dir)
    build.mkdir(parents=True, exist_ok=True)
    lib = build / f"int_kernel_{digest}.so"
    if not lib.is_file():
        cpp = build / f"int_kernel_{digest}.cpp"
        cpp.write_text(src)
        tmp = lib.with_suffix(".so.tmp")
        cmd = [_CXX, *_CXX_FLAGS, str(cpp), "-o", str(tmp)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            lines = [ln for ln in done.stderr.splitlines() if "error" in ln.lower()]
            first = (lines or done.stderr.strip().splitlines() or ["unknown error"])[0]
            raise ConversionError(f"integer kernel failed to compile: {first.strip()}")
        tmp.replace(lib)
    return IntKernel(lib, plan)
