"""The GarNet tagger's Dense head in firmware: a bit-exact integer emulation of hls4ml's
``dense_latency`` with ``HEAD_PRECISIONS`` (weights put on the ``ap_fixed<16,6>`` grid by
``quantize.garnet_stage.round_head_weights``).

With those types (``hls.garnet_convert.HEAD_PRECISIONS``) ``fc1`` is exact: a GarNet output
(16 fractional bits) times a weight (10) has 26 fractional bits, inside the 28 of ``accum_t``.
In ``output`` a ReLU value (up to 28 fractional bits) times a weight has up to 38, and hls4ml
stores each product in ``accum_t`` (``mult[i]`` is ``accum_t``, ``nnet_dense_latency.h``), so
each product is truncated (floor) to 28 fractional bits before the sum; the emulator does the
same on int64 raw values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from nanotrig.quantize.garnet_stage import HEAD_LAYERS
from nanotrig.quantize.garnet_stage import HEAD_WEIGHT_FRAC as _W_FRAC

__all__ = ["GarnetTaggerEmulator"]

_ACC_FRAC = 28  # ap_fixed<48,20>
_ACC_MAX = 2**47 - 1


def _raw(v: np.ndarray, frac: int) -> np.ndarray:
    r = np.asarray(v, dtype=np.float64) * 2.0**frac
    if not np.array_equal(r, np.round(r)):
        raise ValueError(f"values are not on the 2**-{frac} grid")
    return r.astype(np.int64)


def _dense(a: np.ndarray, a_frac: int, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``accum_t`` raw result of ``dense_latency``: products floored to 28 fractional bits."""
    shift = a_frac + _W_FRAC - _ACC_FRAC
    prods = a[:, :, None] * w[None]
    prods = prods >> shift if shift > 0 else prods << -shift
    acc = prods.sum(axis=1) + (b << (_ACC_FRAC - _W_FRAC))[None]
    if np.abs(acc).max(initial=0) > _ACC_MAX:
        raise OverflowError("Dense head sum beyond ap_fixed<48,20>")
    return acc


@dataclass(frozen=True)
class GarnetTaggerEmulator:
    """GarNet emulator followed by the fixed-point Dense head: ``predict(x, n)`` -> logits."""

    garnet: object  # hls.garnet_emulator.GarnetEmulator
    weights: tuple[np.ndarray, ...]  # raw fc1 kernel, fc1 bias, output kernel, output bias

    @classmethod
    def from_model(cls, garnet_emulator, model) -> GarnetTaggerEmulator:
        w = []
        for name in HEAD_LAYERS:
            kernel, bias = model.get_layer(name).get_weights()
            w += [_raw(kernel, _W_FRAC), _raw(bias, _W_FRAC)]
        return cls(garnet_emulator, tuple(w))

    def predict(self, x: np.ndarray, n: np.ndarray) -> np.ndarray:
        g = self.garnet
        raw = np.asarray(g.predict_raw(x, n), dtype=np.int64).reshape(len(x), -1)
        w1, b1, w2, b2 = self.weights
        h = np.maximum(_dense(raw, g.output_t.frac, w1, b1), 0)
        out = _dense(h, _ACC_FRAC, w2, b2)
        return out.astype(np.float64) / 2.0**_ACC_FRAC
