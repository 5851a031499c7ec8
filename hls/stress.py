"""Stress events generated on demand: a large batched check without its input file.

:class:`StressEvents` behaves as a read-only array of ``n`` events resampled from source events
with Gaussian smearing (the recipe of :func:`hls.inputs.stress_inputs`), computed block by block
when sliced: a million 32x64 DQM maps (8 GB as float32) are verified in constant memory. Block
``k`` (:data:`BLOCK` events) is drawn from ``numpy.random.default_rng([seed, k])``, so any
slice is the same whichever order or size the reader takes.
"""

from __future__ import annotations

import numpy as np

from nanotrig.errors import DataError

__all__ = ["BLOCK", "StressEvents"]

#: Events per generated block.
BLOCK = 4096


class StressEvents:
    """``n`` events ``(n, *x.shape[1:])`` float32: each a random event of ``x`` with every value
    moved by ``smear`` times that value's standard deviation over ``x`` times a standard normal.
    Supports ``len``, ``shape``, ``dtype`` and indexing by a slice or an integer array."""

    def __init__(self, x: np.ndarray, n: int, smear: float = 0.05, seed: int = 0) -> None:
        x = np.asarray(x, dtype=np.float32)
        if len(x) == 0 or n <= 0:
            raise DataError("stress events need at least one source event and n > 0")
        self._flat = x.reshape(len(x), -1)
        self._scale = (smear * self._flat.std(axis=0)).astype(np.float32)
        self._seed, self._n = int(seed), int(n)
        self.shape: tuple[int, ...] = (self._n, *x.shape[1:])
        self.dtype = np.dtype(np.float32)
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        """The size the events would take as a float32 array."""
        return self._n * self._flat.shape[1] * 4

    def block(self, k: int) -> np.ndarray:
        """Events ``k * BLOCK`` to ``(k + 1) * BLOCK`` (fewer in the last block), flat."""
        size = min(BLOCK, self._n - k * BLOCK)
        rng = np.random.default_rng([self._seed, k])
        pick = self._flat[rng.integers(0, len(self._flat), size)]
        noise = rng.standard_normal((size, self._flat.shape[1]), dtype=np.float32)
        return pick + self._scale * noise

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._n)
            if step != 1:
                raise DataError("stress events are read in contiguous slices")
            rows = np.arange(start, stop)
        else:
            rows = np.asarray(index, dtype=np.int64).reshape(-1)
            if rows.size and (rows.min() < 0 or rows.max() >= self._n):
                raise DataError(f"stress event index out of range 0-{self._n - 1}")
        out = np.empty((len(rows), self._flat.shape[1]), dtype=np.float32)
        blocks = rows // BLOCK
        for k in np.unique(blocks):
            sel = blocks == k
            out[sel] = self.block(int(k))[rows[sel] - k * BLOCK]
        return out.reshape(len(rows), *self.shape[1:])
