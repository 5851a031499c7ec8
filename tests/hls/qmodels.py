"""Helpers shared by the hls tests: quantizers and seeded weights for tiny QKeras models."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "csim_bench.py"


def csim_bench():
    """``benchmarks/csim_bench.py`` as a module: its seeded 6-bit jet MLP, inputs, conversion."""
    if "csim_bench" not in sys.modules:
        spec = importlib.util.spec_from_file_location("csim_bench", BENCH)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        sys.modules["csim_bench"] = mod
    return sys.modules["csim_bench"]


def qb(bits: int, integer: int = 0):
    """``quantized_bits(bits, integer, alpha=1)``: the quantizer hls4ml maps bit-exactly."""
    from qkeras import quantized_bits

    return quantized_bits(bits, integer, alpha=1)


def seeded(model, seed: int = 0):
    """Give every weight of ``model`` seeded normal(0, 0.5) values (non-trivial layers)."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.5, w.shape) for w in model.get_weights()])
    return model
