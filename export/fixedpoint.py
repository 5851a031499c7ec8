"""QKeras quantizers as fixed-point formats: integer range, power-of-two scale, ONNX type.

QKeras ``quantized_bits(bits, integer, alpha=1)`` computes ``clip(round(x * 2**f), qmin, qmax)
/ 2**f`` with ``f = bits - 1 - integer`` (signed) and ``quantized_relu(bits, integer)`` the same
with ``f = bits - integer`` and ``qmin = 0``. ``tf.round`` rounds half to even, like ONNX
``QuantizeLinear``, and a power-of-two scale makes ``x / scale`` exact in float32, so a
``Clip`` + ``QuantizeLinear`` pair reproduces the integer QKeras computes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nanotrig.errors import ModelError

__all__ = ["FixedPoint", "fixed_point_of"]


@dataclass(frozen=True)
class FixedPoint:
    """A signed or unsigned fixed-point format with ``bits`` bits, ``integer`` of them integer."""

    bits: int
    integer: int
    signed: bool
    symmetric: bool = False

    @property
    def frac(self) -> int:
        """Fractional bits: the value is ``q * 2**-frac``."""
        return self.bits - self.integer - int(self.signed)

    @property
    def scale(self) -> float:
        return 2.0**-self.frac

    @property
    def qmin(self) -> int:
        if not self.signed:
            return 0
        return -(2 ** (self.bits - 1)) + int(self.symmetric)

    @property
    def qmax(self) -> int:
        return 2 ** (self.bits - 1) - 1 if self.signed else 2**self.bits - 1

    @property
    def storage(self) -> str:
        """Smallest numpy integer dtype holding the range: int8/uint8/int16/uint16."""
        width = 8 if self.bits <= 8 else 16
        return f"{'' if self.signed else 'u'}int{width}"

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """The integers QKeras computes for ``x`` (round half to even, then saturate)."""
        q = np.clip(np.round(np.asarray(x, np.float64) * 2.0**self.frac), self.qmin, self.qmax)
        return q.astype(self.storage)

    def __str__(self) -> str:
        kind = "int" if self.signed else "uint"
        return f"{kind}{self.bits} (scale 2^{-self.frac}, range [{self.qmin}, {self.qmax}])"


def fixed_point_of(quantizer, where: str) -> FixedPoint:
    """The FixedPoint a QKeras quantizer object implements; ModelError if it has none.

    ``where`` names the layer for the error message.
    """
    name = type(quantizer).__name__
    bits = int(getattr(quantizer, "bits", 0))
    integer = int(np.asarray(getattr(quantizer, "integer", 0)))
    if bits > 16:
        raise ModelError(
            f"layer {where}: {name} with {bits} bits has no ONNX integer type here: use <= 16 bits"
        )
    if getattr(quantizer, "use_stochastic_rounding", False):
        raise ModelError(f"layer {where}: stochastic rounding cannot be exported: turn it off")
    if name == "quantized_bits":
        if quantizer.alpha not in (1, 1.0, None):
            raise ModelError(
                f"layer {where}: quantized_bits alpha={quantizer.alpha!r} (per-channel scale) "
                "is not supported: use alpha=1"
            )
        signed = bool(quantizer.keep_negative)
        if bits - int(signed) < 1:
            raise ModelError(f"layer {where}: 1-bit (binary) quantized_bits is not supported")
        return FixedPoint(bits, integer, signed, bool(quantizer.symmetric) and signed)
    if name == "quantized_relu":
        if quantizer.use_sigmoid or quantizer.negative_slope:
            raise ModelError(
                f"layer {where}: quantized_relu with use_sigmoid/negative_slope is not "
                "supported: use plain quantized_relu(bits, integer)"
            )
        upper = quantizer.relu_upper_bound
        if upper is not None and not quantizer.is_quantized_clip:
            raise ModelError(f"layer {where}: quantized_relu relu_upper_bound is not supported")
        return FixedPoint(bits, integer, signed=False)
    raise ModelError(
        f"layer {where}: quantizer {name} is not supported for ONNX export: "
        "use quantized_bits(bits, integer, alpha=1) or quantized_relu(bits, integer)"
    )
