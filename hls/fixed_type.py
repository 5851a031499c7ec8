"""``ap_fixed`` on integers: one :class:`FixedType` for every exact emulator of the project.

A value of ``ap_(u)fixed<width, integer, Q, O>`` is held as the integer ``q`` meaning
``q * 2**-frac``. The scalar methods (:meth:`FixedType.round_shift`, :meth:`~FixedType.clip`,
:meth:`~FixedType.from_value`, :meth:`~FixedType.from_float`) work on Python integers of any
size, as the integer kernel's range analysis needs; the vectorised ones
(:meth:`~FixedType.cast`, :meth:`~FixedType.clip_counts`, :meth:`~FixedType.quantize`) on int64
arrays, as the table and GarNet emulators need. Every rounding and overflow mode of ``ap_fixed``
is covered by both, and ``tests/hls/test_int_kernel.py`` checks them against the C++ headers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from nanotrig.errors import ConversionError

__all__ = ["HARNESS", "O_MODES", "Q_MODES", "FixedType"]

#: Quantization and overflow modes, numbered as in the integer kernel's generated C++.
Q_MODES = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
O_MODES = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")
#: The fix named when the integer kernel does not cover a project.
HARNESS = "use the batch harness (hls/batch.py)"

_TYPE_RE = re.compile(r"\s*ap_(u?)(fixed|int)<([^>]*)>\s*")


@dataclass(frozen=True)
class FixedType:
    """``ap_(u)fixed<width, integer, Q, O>`` (``ap_(u)int<w>``: ``integer == width``)."""

    width: int
    integer: int
    signed: bool = True
    rounding: str = "TRN"
    overflow: str = "WRAP"

    @property
    def frac(self) -> int:
        return self.width - self.integer

    @property
    def lo(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def hi(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    # --- construction ---------------------------------------------------------------------------

    @classmethod
    def of(cls, precision, what: str) -> FixedType:
        """The type of an hls4ml ``FixedPrecisionType`` (the integer kernel's strict reading:
        :class:`ConversionError` for any other type, saturation bits or widths above 62)."""
        from hls4ml.model.types import FixedPrecisionType

        if not isinstance(precision, FixedPrecisionType):
            raise ConversionError(
                f"{what} has type {precision}, not ap_fixed: the integer kernel cannot "
                f"emulate it, {HARNESS}"
            )
        if precision.saturation_bits or precision.width > 62:
            raise ConversionError(
                f"{what} has type {precision} (saturation bits or width > 62): the integer "
                f"kernel cannot emulate it, {HARNESS}"
            )
        return cls(int(precision.width), int(precision.integer), bool(precision.signed),
                   precision.rounding_mode.name, precision.saturation_mode.name)  # fmt: skip

    @classmethod
    def from_precision(cls, precision) -> FixedType:
        """From an hls4ml ``FixedPrecisionType`` or ``IntegerPrecisionType`` (no width limit)."""
        rounding = getattr(precision, "rounding_mode", None)
        overflow = getattr(precision, "saturation_mode", None)
        r = "TRN" if rounding is None else str(rounding).split(".")[-1].removeprefix("AP_")
        o = "WRAP" if overflow is None else str(overflow).split(".")[-1].removeprefix("AP_")
        integer = getattr(precision, "integer", precision.width)
        return cls(int(precision.width), int(integer), bool(precision.signed), r, o)

    @classmethod
    def parse(cls, text: str) -> FixedType:
        """Parse ``ap_fixed<16,6>``, ``ap_ufixed<10,0,AP_RND,AP_SAT>``, ``ap_uint<6>``..."""
        m = _TYPE_RE.fullmatch(text)
        if m is None:
            raise ConversionError(f"not an ap_fixed/ap_int type: {text!r}")
        args = [a.strip() for a in m.group(3).split(",")]
        is_int = m.group(2) == "int"
        width = int(args[0])
        integer = width if is_int else int(args[1])
        rest = args[1:] if is_int else args[2:]
        rounding = rest[0].removeprefix("AP_") if rest else "TRN"
        overflow = rest[1].removeprefix("AP_") if len(rest) > 1 else "WRAP"
        if rounding not in Q_MODES or overflow not in O_MODES:
            raise ConversionError(f"unknown rounding or overflow mode in {text!r}")
        return cls(width, integer, m.group(1) == "", rounding, overflow)

    # --- C++ ------------------------------------------------------------------------------------

    def cpp(self) -> str:
        """The C++ type: ``ap_fixed<12,4,AP_TRN,AP_SAT>``, ``ap_uint<6>``..."""
        u = "" if self.signed else "u"
        if self.frac == 0 and self.rounding == "TRN" and self.overflow == "WRAP":
            return f"ap_{u}int<{self.width}>"
        modes = "" if (self.rounding, self.overflow) == ("TRN", "WRAP") else (
            f",AP_{self.rounding},AP_{self.overflow}"
        )  # fmt: skip
        return f"ap_{u}fixed<{self.width},{self.integer}{modes}>"

    def cpp_args(self) -> str:
        """The template arguments ``W, SIGNED, Q, O`` of the integer kernel's C++ helpers."""
        q, o = Q_MODES.index(self.rounding), O_MODES.index(self.overflow)
        return f"{self.width}, {str(self.signed).lower()}, {q}, {o}"

    # --- scalar (Python integers of any size) ---------------------------------------------------

    def round_shift(self, v: int, s: int) -> int:
        """``v`` (units ``2**-(frac + s)``) in units of this type's LSB, rounded (no overflow)."""
        if s <= 0:
            return v << -s
        floor = v >> s
        rem, half = v - (floor << s), 1 << (s - 1)
        up = {
            "TRN": False,
            "TRN_ZERO": v < 0 and rem != 0,
            "RND": rem >= half,
            "RND_ZERO": rem > half or (rem == half and v < 0),
            "RND_INF": rem > half or (rem == half and v > 0),
            "RND_MIN_INF": rem > half,
            "RND_CONV": rem > half or (rem == half and floor & 1 == 1),
        }[self.rounding]
        return floor + int(up)

    def clip(self, v: int) -> int:
        """Apply the overflow mode to an integer in units of this type's LSB."""
        low = -self.hi if self.overflow == "SAT_SYM" and self.signed else self.lo
        if low <= v <= self.hi:
            return v
        if self.overflow == "WRAP":
            v &= (1 << self.width) - 1
            return v - (1 << self.width) if self.signed and v > self.hi else v
        if self.overflow == "SAT_ZERO":
            return 0
        return self.hi if v > self.hi else low

    def from_value(self, v: int, frac: int) -> int:
        """Cast ``v * 2**-frac`` to this type (round, then overflow), as ``ap_fixed`` does."""
        return self.clip(self.round_shift(v, frac - self.frac))

    def from_float(self, d: float) -> int:
        """``T(d)`` for a double ``d`` (exact)."""
        num, den = float(d).as_integer_ratio()
        return self.from_value(num, den.bit_length() - 1)

    # --- vectorised (int64 arrays) --------------------------------------------------------------

    def cast(self, v: np.ndarray, frac: int) -> np.ndarray:
        """This type's counts of ``v * 2**-frac`` (int64 ``v``): rounded, then overflowed."""
        v = np.asarray(v, dtype=np.int64)
        s = frac - self.frac
        if s <= 0:
            return self.clip_counts(v << -s)
        floor = v >> s
        rem, half = v - (floor << s), np.int64(1) << (s - 1)
        up = {
            "TRN": np.zeros_like(v, dtype=bool),
            "TRN_ZERO": (v < 0) & (rem != 0),
            "RND": rem >= half,
            "RND_ZERO": (rem > half) | ((rem == half) & (v < 0)),
            "RND_INF": (rem > half) | ((rem == half) & (v > 0)),
            "RND_MIN_INF": rem > half,
            "RND_CONV": (rem > half) | ((rem == half) & (floor & 1 == 1)),
        }[self.rounding]
        return self.clip_counts(floor + up)

    def clip_counts(self, q: np.ndarray) -> np.ndarray:
        """Apply the overflow mode to int64 counts of this type's LSB."""
        q = np.asarray(q, dtype=np.int64)
        low = -self.hi if self.overflow == "SAT_SYM" and self.signed else self.lo
        out = (q < low) | (q > self.hi)
        if not out.any():
            return q
        if self.overflow == "WRAP":
            w = q & ((np.int64(1) << self.width) - 1)
            return np.where(w > self.hi, w - (np.int64(1) << self.width), w) if self.signed else w
        if self.overflow == "SAT_ZERO":
            return np.where(out, 0, q)
        return np.clip(q, low, self.hi)

    def quantize(self, x) -> np.ndarray:
        """Counts of ``T(d)`` for each double ``d`` (``ap_fixed``'s double constructor; exact
        for |d * 2**frac| below 2**62, which covers every finite input of widths up to 48)."""
        scaled = np.asarray(x, dtype=np.float64) * float(2**self.frac)
        floor = np.floor(scaled)
        rem = scaled - floor  # exact: in [0, 1)
        odd = np.fmod(floor, 2.0) != 0
        up = {
            "TRN": np.zeros(scaled.shape, dtype=bool),
            "TRN_ZERO": (scaled < 0) & (rem != 0),
            "RND": rem >= 0.5,
            "RND_ZERO": (rem > 0.5) | ((rem == 0.5) & (scaled < 0)),
            "RND_INF": (rem > 0.5) | ((rem == 0.5) & (scaled > 0)),
            "RND_MIN_INF": rem > 0.5,
            "RND_CONV": (rem > 0.5) | ((rem == 0.5) & odd),
        }[self.rounding]
        limit = float(2**62)
        q = np.clip(floor, -limit, limit).astype(np.int64) + up
        return self.clip_counts(q)

    def to_float(self, raw: np.ndarray) -> np.ndarray:
        """The values of counts ``raw`` as doubles."""
        return np.asarray(raw, dtype=np.float64) / float(2**self.frac)
