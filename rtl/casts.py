"""``ap_fixed`` casts on da4ml trace variables, bit for bit.

da4ml's ``quantize`` rounds with TRN or RND only, has no SAT_ZERO, and narrows the integer bits
of a wrapping signed -> unsigned cast to the source's range (``ap_ufixed<8,6>(-1)`` is 63, its
wrap gives 15). :func:`cast` therefore rounds itself, as ``ap_fixed_base`` does, by adding a
constant (and, for the sign- and parity-dependent modes, one bit of the value) before da4ml's
truncation, and offsets such wrapping casts by a multiple of the target's range first. With
``v`` in units of its own LSB ``u`` and ``h`` half the target's LSB::

    TRN          v                      RND          v + h
    TRN_ZERO     v + s * (2h - u)       RND_MIN_INF  v + h - u
    RND_ZERO     v + h - u + s * u      RND_INF      v + h - s * u
    RND_CONV     v + h - u + b * u      (s: sign bit, b: the target's LSB bit of v)

then truncation, then WRAP, SAT or SAT_SYM as da4ml implements them.
"""

from __future__ import annotations

from decimal import Decimal

from nanotrig.hls.fixed_type import FixedType

from nanotrig.errors import ConversionError

__all__ = ["OVERFLOW", "ROUNDING", "cast", "kif"]

ROUNDING = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
OVERFLOW = ("WRAP", "SAT", "SAT_SYM")


def kif(t: FixedType) -> tuple[int, int, int]:
    """da4ml's ``(k, i, f)`` of a type: sign bit, integer bits without it, fraction bits."""
    return int(t.signed), t.integer - int(t.signed), t.frac


def _bit(v, f: int):
    """The bit of weight ``2**-f`` of ``v`` (two's complement) as a 0 / ``2**-f`` variable."""
    _, i, _ = v.kif
    if i < 1 - f:  # keep da4ml from narrowing the wrap: make the value positive and wide
        top = max(i, 1 - f) + 1
        v = v + Decimal(2) ** top
    return v.quantize(0, 1 - f, f)


def _sign(v):
    """1 where ``v`` < 0, else 0 (a variable, or a constant int)."""
    neg = v.is_negative()
    return int(neg) if isinstance(neg, bool) else neg


def cast(v, t: FixedType, what: str = "a value"):
    """``t(v)`` for a da4ml ``FixedVariable`` ``v``: round, then overflow, as ``ap_fixed``."""
    if t.overflow not in OVERFLOW:
        raise ConversionError(f"{what} casts to {t.overflow} overflow: nanotrig rtl supports "
                              f"{', '.join(OVERFLOW)} only")  # fmt: skip
    if t.rounding not in ROUNDING:
        raise ConversionError(f"{what} rounds with {t.rounding}: not supported by nanotrig rtl")
    k, i, f = kif(t)
    if v.low == v.high == 0:
        return v
    src_f = v.kif[2]
    if src_f > f and t.rounding != "TRN":
        u, h = Decimal(2) ** -src_f, Decimal(2) ** (-f - 1)
        q = t.rounding
        if q == "RND":
            v = v + h
        elif q == "RND_MIN_INF":
            v = v + (h - u)
        elif q == "RND_CONV":
            v = v + (h - u) + _bit(v, f) * float(2.0 ** (f - src_f))
        else:
            s = _sign(v)
            if q == "TRN_ZERO":
                v = v + s * float(2 * h - u)
            elif q == "RND_ZERO":
                v = v + (h - u) + s * float(u)
            else:  # RND_INF
                v = v + h - s * float(u)
    if t.overflow == "WRAP" and not t.signed and v.low < 0 and i > v.kif[1] + 1:
        v = v + Decimal(2) ** i  # a multiple of the range: same result, no narrowing
    return v.quantize(k, i, f, overflow_mode=t.overflow, round_mode="TRN")
