"""Helpers shared by the hls tests: quantizers and seeded weights for tiny QKeras models."""

from __future__ import annotations

import numpy as np


def qb(bits: int, integer: int = 0):
    """``quantized_bits(bits, integer, alpha=1)``: the quantizer hls4ml maps bit-exactly."""
    from qkeras import quantized_bits

    return quantized_bits(bits, integer, alpha=1)


def seeded(model, seed: int = 0):
    """Give every weight of ``model`` seeded normal(0, 0.5) values (non-trivial layers)."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.5, w.shape) for w in model.get_weights()])
    return model
