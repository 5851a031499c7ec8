"""Fixed-point emulator of hls4ml 1.3's lookup-table activations, bit for bit, in numpy.

The templates of ``nnet_utils/nnet_activation.h`` are replayed step by step:

* **softmax** ``latency`` / ``stable``: the exp table holds ``exp_table_t(expf(x))`` sampled at
  the values whose top ``log2(exp_table_size)`` bits are the index (``stable``: of
  ``inp_norm_t``, negated; ``latency``: of the input type); the index of an input is the top bits
  of its (normalised) value; the table values are cast to ``accum_t`` and summed with the
  balanced adder tree of ``nnet::reduce`` (each sum cast to ``accum_t``); the sum is cast to
  ``inv_inp_t``, whose top bits index the inverse table ``inv_table_t(1 / x)``; the result is
  ``res_T(exp_res * inv_sum)``.
* softmax ``argmax`` (one-hot of the first maximum) and ``legacy`` (the ±8 exp table and the
  0..64 inverse table of ``table_t``, indexed by ``x * size / 16`` truncated toward zero).
* **sigmoid** (table over ±8) and **tanh** (table over ±4) of ``table_t``, indexed by
  ``x * table_size / 16`` (``/ 8``) truncated toward zero, clamped, cast to the result type.

Every setting (implementation, table sizes, ``exp_scale``, every type) is read from the layer's
generated C++ config (``config_cpp`` of the converted graph), so the emulator runs the table the
firmware runs. Values are held as integer counts of their type's LSB (``int64``); casts follow
``ap_fixed`` (:class:`hls.fixed_type.FixedType`). The float functions are computed as the C++
does (``expf`` in float, ``1.0 / float`` in double), rounded to float32 where the C++ holds a
float, then cast to the table type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from nanotrig.hls.fixed_type import FixedType

from nanotrig.errors import ConversionError

__all__ = [
    "TABLE_ACTIVATIONS",
    "TableSpec",
    "emulate",
    "float_reference",
    "table_spec",
]

#: Activations this module emulates (hls4ml layer ``activation`` attribute).
TABLE_ACTIVATIONS = ("softmax", "sigmoid", "tanh")
#: ``nnet::activ_config::table_t`` (the softmax config inherits it; ``legacy`` uses it).
_ACTIV_TABLE_T = FixedType(18, 8, True)


@dataclass(frozen=True)
class TableSpec:
    """One table layer as the firmware computes it (sizes, implementation and types)."""

    name: str
    activation: str
    n_in: int
    in_t: FixedType
    out_t: FixedType
    implementation: str = ""
    table_size: int = 1024
    exp_table_size: int = 1024
    inv_table_size: int = 1024
    exp_scale: float = 1.0
    table_t: FixedType | None = None
    exp_table_t: FixedType | None = None
    inv_table_t: FixedType | None = None
    accum_t: FixedType | None = None
    inv_inp_t: FixedType | None = None
    inp_norm_t: FixedType | None = None

    def with_(self, **changes) -> TableSpec:
        """A copy with some settings changed (the table search, mutation tests)."""
        return replace(self, **changes)


def table_spec(layer) -> TableSpec:
    """The :class:`TableSpec` of an hls4ml layer (a converted, written or deserialized graph).

    :class:`ConversionError` for a layer this module does not emulate."""
    act = str(layer.get_attr("activation", "") or "").lower()
    if layer.class_name == "Softmax":
        act = "softmax"
    if act not in TABLE_ACTIVATIONS:
        raise ConversionError(f"layer {layer.name!r} ({act}) has no table emulator")
    cfg = layer.get_attr("config_cpp", None)
    if not cfg:
        raise ConversionError(f"layer {layer.name!r} has no generated config to read")
    ints = {k: int(v) for k, v in re.findall(r"unsigned (\w+) = (-?\d+);", cfg)}
    if ints.get("n_inner", 1) != 1 or ints.get("n_outer", 1) != 1:
        raise ConversionError(f"layer {layer.name!r}: multi-dimensional softmax is not emulated")
    named = {
        value.name: value.precision
        for value in layer.attributes.values()
        if hasattr(value, "precision") and hasattr(value, "name")
    }
    types = {}
    for cpp, alias in re.findall(r"typedef (.+?) (\w+);", cfg):
        prec = named.get(cpp.strip())
        what = f"layer {layer.name!r} {alias}"
        types[alias] = FixedType.of(prec, what) if prec is not None else _parse_type(cpp, what)
    impl = re.search(r"softmax_implementation::(\w+)", cfg)
    scale = re.search(r"exp_scale = ([^;]+);", cfg)
    return TableSpec(
        name=layer.name,
        activation=act,
        n_in=ints["n_in"],
        in_t=FixedType.of(layer.get_input_variable().type.precision, f"{layer.name} input"),
        out_t=_result_type(layer),
        implementation=impl.group(1) if impl else "",
        table_size=ints.get("table_size", 1024),
        exp_table_size=ints.get("exp_table_size", 1024),
        inv_table_size=ints.get("inv_table_size", 1024),
        exp_scale=float(scale.group(1).rstrip("f")) if scale else 1.0,
        **{k: types.get(k) for k in ("table_t", "exp_table_t", "inv_table_t", "accum_t",
                                     "inv_inp_t", "inp_norm_t")},
    )  # fmt: skip


def _result_type(layer) -> FixedType:
    """The result type, of any width (hls4ml's bit-exact pass gives sigmoid ``ufixed<127,1>``)."""
    p = layer.get_output_variable().type.precision
    if getattr(p, "width", 0) > 62 and not getattr(p, "saturation_bits", 0):
        return FixedType(int(p.width), int(p.integer), bool(p.signed),
                         p.rounding_mode.name, p.saturation_mode.name)  # fmt: skip
    return FixedType.of(p, f"layer {layer.name!r} result")


def _parse_type(cpp: str, what: str) -> FixedType:
    try:
        return FixedType.parse(cpp)
    except ConversionError:
        raise ConversionError(f"{what} has type {cpp}: the table emulator needs ap_fixed") from None


# --- vectorised ap_fixed arithmetic on integer counts of the LSB --------------------------------


def _from_doubles(values: np.ndarray, t: FixedType) -> np.ndarray:
    """``t(double)`` of each value (exact, as ``ap_fixed_base(double)``; inf as 2**1024)."""
    out = np.empty(len(values), dtype=np.int64)
    for i, d in enumerate(np.asarray(values, dtype=np.float64)):
        if np.isinf(d):
            out[i] = t.from_value(1 if d > 0 else -1, -1024)
        else:
            out[i] = t.from_float(float(d))
    return out


def _to_counts(x: np.ndarray, t: FixedType, what: str) -> np.ndarray:
    """Firmware values (float64, on t's grid) as int64 counts of t's LSB."""
    scaled = np.asarray(x, dtype=np.float64) * 2.0**t.frac
    q = np.rint(scaled)
    if not np.array_equal(q, scaled):
        raise ConversionError(f"{what}: values are not on the grid of its input type")
    return q.astype(np.int64)


def _top_bits(v: np.ndarray, t: FixedType, size: int) -> np.ndarray:
    """``x(W-1, W-N)``: the top ``N = ceil(log2(size))`` bits of t's bit pattern."""
    n = max(0, int(size - 1).bit_length())
    pattern = v & ((np.int64(1) << t.width) - 1)
    return pattern >> (t.width - n)


def _value_of_index(t: FixedType, size: int) -> np.ndarray:
    """``softmax_real_val_from_idx``: the float32 value whose top bits are each index."""
    n = max(0, int(size - 1).bit_length())
    pattern = np.arange(size, dtype=np.int64) << (t.width - n)
    if t.signed:
        pattern = np.where(pattern > t.hi, pattern - (np.int64(1) << t.width), pattern)
    return (pattern * 2.0**-t.frac).astype(np.float32)


def _expf(x: np.ndarray) -> np.ndarray:
    """``std::exp(float)`` (correctly rounded float32)."""
    with np.errstate(over="ignore"):
        return np.exp(np.asarray(x, dtype=np.float64)).astype(np.float32)


def _tdiv(a: np.ndarray, b: int) -> np.ndarray:
    """Integer division truncated toward zero (C, ``ap_int::sdiv``)."""
    q = np.abs(a) // b
    return np.where(a < 0, -q, q)


def _reduce_add(v: np.ndarray, t: FixedType) -> np.ndarray:
    """``nnet::reduce<T, N, Op_add<T>>``: the balanced tree, each sum cast to T (same LSB)."""
    n = v.shape[1]
    if n == 1:
        return v[:, 0]
    if n == 2:
        return t.clip_counts(v[:, 0] + v[:, 1])
    left = 1 << ((n - 2).bit_length() - 1) if n > 2 else 0
    return t.clip_counts(_reduce_add(v[:, :left], t) + _reduce_add(v[:, left:], t))


# --- tables (cached: the same spec builds the same table) ---------------------------------------


@lru_cache(maxsize=64)
def _exp_table(spec: TableSpec) -> np.ndarray:
    addr = spec.inp_norm_t if spec.implementation == "stable" else spec.in_t
    x = _value_of_index(addr, spec.exp_table_size) * np.float32(spec.exp_scale)
    if spec.implementation == "stable":
        x = -x
    return _from_doubles(_expf(x), spec.exp_table_t)


@lru_cache(maxsize=64)
def _inv_table(spec: TableSpec) -> np.ndarray:
    x = _value_of_index(spec.inv_inp_t, spec.inv_table_size)
    with np.errstate(divide="ignore"):
        inv = (np.float32(1) / x).astype(np.float32)
    return _from_doubles(inv, spec.inv_table_t)


@lru_cache(maxsize=64)
def _unary_table(spec: TableSpec) -> np.ndarray:
    n = spec.table_size
    half_range = 8.0 if spec.activation == "sigmoid" else 4.0
    in_val = (2 * half_range * (np.arange(n) - n / 2.0) / n).astype(np.float32)
    if spec.activation == "sigmoid":
        vals = 1.0 / (np.float32(1) + _expf(-in_val)).astype(np.float64)
    else:
        vals = np.tanh(in_val.astype(np.float64))
    return _from_doubles(vals, spec.table_t)


@lru_cache(maxsize=64)
def _legacy_tables(spec: TableSpec) -> tuple[np.ndarray, np.ndarray]:
    ne, ni = spec.exp_table_size, spec.inv_table_size
    e_in = (2 * 8.0 * (np.arange(ne) - ne / 2.0) / ne).astype(np.float32)
    i_in = (64.0 * np.arange(ni) / ni).astype(np.float32).astype(np.float64)
    with np.errstate(divide="ignore"):
        inv = np.where(i_in > 0, 1.0 / np.where(i_in > 0, i_in, 1.0), 0.0)
    t = spec.table_t or _ACTIV_TABLE_T
    return _from_doubles(_expf(e_in), t), _from_doubles(inv, t)


# --- the activations ---------------------------------------------------------------------------


def emulate(spec: TableSpec, x: np.ndarray) -> np.ndarray:
    """The firmware's output (float64, ``(n, n_in)``) of table layer ``spec`` on its input ``x``
    (the firmware's own input to the layer: values of ``spec.in_t``)."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    v = _to_counts(x, spec.in_t, f"layer {spec.name!r}")
    if spec.activation == "softmax":
        fn = {"stable": _softmax_table, "latency": _softmax_table, "argmax": _softmax_argmax,
              "legacy": _softmax_legacy}.get(spec.implementation)  # fmt: skip
        if fn is None:
            raise ConversionError(f"softmax implementation {spec.implementation!r} not emulated")
        q, frac = fn(spec, v)
    else:
        q, frac = _unary(spec, v)
    return _result(q, frac, spec.out_t)


def _result(q: np.ndarray, frac: int, t: FixedType) -> np.ndarray:
    """``res_T(q * 2**-frac)`` as float64; result types wider than int64 take the float path
    (exact: no rounding when t has at least ``frac`` fractional bits, values of few bits)."""
    if t.width <= 62:
        return t.cast(q, frac) * 2.0**-t.frac
    if t.frac < frac:
        raise ConversionError(f"result type {t} narrower than its table: not emulated")
    v = q * 2.0**-frac
    lo, hi = t.lo * 2.0**-t.frac, t.hi * 2.0**-t.frac
    out = (v < lo) | (v > hi)
    if not out.any():
        return v
    if t.overflow != "WRAP":
        return np.clip(v, lo, hi)
    span = 2.0**t.integer
    return np.mod(v - lo, span) + lo


def _softmax_table(spec: TableSpec, v: np.ndarray) -> tuple[np.ndarray, int]:
    exp_t, acc_t, inv_t, inp_t = spec.exp_table_t, spec.accum_t, spec.inv_table_t, spec.inv_inp_t
    if spec.implementation == "stable":
        d = v.max(axis=1, keepdims=True) - v  # x_max - x (exact), cast to inp_norm_t
        idx = _top_bits(spec.inp_norm_t.cast(d, spec.in_t.frac), spec.inp_norm_t,
                        spec.exp_table_size)  # fmt: skip
    else:
        idx = _top_bits(v, spec.in_t, spec.exp_table_size)
    exp_res = acc_t.cast(_exp_table(spec)[idx], exp_t.frac)
    exp_sum = inp_t.cast(_reduce_add(exp_res, acc_t), acc_t.frac)
    inv = _inv_table(spec)[_top_bits(exp_sum, inp_t, spec.inv_table_size)]
    return exp_res * inv[:, None], acc_t.frac + inv_t.frac


def _softmax_argmax(spec: TableSpec, v: np.ndarray) -> tuple[np.ndarray, int]:
    res = np.zeros_like(v)
    res[np.arange(len(v)), np.argmax(v, axis=1)] = 1  # the first maximum, as the C++ loop
    return res, 0


def _softmax_legacy(spec: TableSpec, v: np.ndarray) -> tuple[np.ndarray, int]:
    exp_table, inv_table = _legacy_tables(spec)
    t, f = spec.table_t or _ACTIV_TABLE_T, spec.in_t.frac
    ne, ni = spec.exp_table_size, spec.inv_table_size
    n = v.shape[1]
    acc = np.zeros_like(v)
    for i in range(n):
        for j in range(n):
            if i == j:
                term = np.full(len(v), 1 << t.frac, dtype=np.int64)
            else:
                k = _tdiv((v[:, j] - v[:, i]) * ne, 16 << f) + 8 * ne // 16
                term = exp_table[np.clip(k, 0, ne - 1)]
            acc[:, i] = t.clip_counts(acc[:, i] + term)
    k = _tdiv(acc * ni, 64 << t.frac)
    return inv_table[np.clip(k, 0, ni - 1)], t.frac


def _unary(spec: TableSpec, v: np.ndarray) -> tuple[np.ndarray, int]:
    n = spec.table_size
    span = 16 if spec.activation == "sigmoid" else 8
    half = (span // 2) * n // span
    k = _tdiv(v * n, span << spec.in_t.frac) + half
    return _unary_table(spec)[np.clip(k, 0, n - 1)], spec.table_t.frac


def float_reference(activation: str, x: np.ndarray) -> np.ndarray:
    """The float function (float64) of a table activation, for the table error."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if activation == "softmax":
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    return np.tanh(x)
