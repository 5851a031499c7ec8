"""Read and validate input arrays for conversion testbenches and C-simulation checks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nanotrig.errors import DataError
from nanotrig.inputs import load_inputs

__all__ = [
    "edge_inputs",
    "load_inputs",
    "reference_exact_limit",
    "stress_inputs",
    "validate_inputs",
]


def validate_inputs(x: np.ndarray, input_shape: Sequence[int]) -> np.ndarray:
    """Return ``x`` as float32 of shape ``(n, *input_shape)``; :class:`DataError` otherwise.

    Accepts ``(n, *input_shape)`` or the flattened ``(n, prod(input_shape))``. The model computes
    in float32, so the inputs are cast once here and both sides see the same values.
    """
    shape = tuple(int(d) for d in input_shape)
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiu":
        raise DataError(f"inputs have dtype {arr.dtype}: need a numeric array")
    width = int(np.prod(shape))
    if arr.ndim == 2 and arr.shape[1] == width:
        arr = arr.reshape((arr.shape[0], *shape))
    elif arr.shape[1:] != shape:
        raise DataError(
            f"inputs have shape {arr.shape}: the model takes (n, {width})"
            + (f" or (n, {', '.join(map(str, shape))})" if len(shape) > 1 else "")
        )
    if arr.shape[0] == 0:
        raise DataError("inputs hold no events")
    arr = arr.astype(np.float32)
    bad = ~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1)
    if bad.any():
        raise DataError(
            f"inputs hold NaN or inf in {int(bad.sum())} events (first: event "
            f"{int(np.argmax(bad))}): remove or fix them"
        )
    return arr


def reference_exact_limit(frac_bits: int) -> float:
    """Largest |input| for which QKeras's float32 input quantizer lands exactly on its grid."""
    return 2.0 ** (23 - frac_bits)


def edge_inputs(project_dir: str | Path, n_random: int = 64, seed: int = 0) -> np.ndarray:
    """Inputs at the edges of a converted project's input type ``ap_fixed<W,I>``.

    Reads the input quantizer from ``conversion.json`` and returns float32 events: zeros, the
    largest and smallest representable values, values far outside the range (the input type
    saturates), one and half a least-significant bit (rounding ties, half to even in both
    QKeras and ``RND_CONV``), and random values on and between the grid across the full range.

    The largest magnitude is ``2**(23 - F)`` (``F`` fractional bits): beyond it QKeras's float32
    straight-through form ``x + stop_gradient(q(x) - x)`` rounds ``q(x)`` off the grid, so the
    Keras reference itself stops being exact (the C-simulation still saturates correctly).
    """
    import json

    path = Path(project_dir) / "conversion.json"
    if not path.is_file():
        raise DataError(f"{project_dir} is not a converted project (no conversion.json)")
    record = json.loads(path.read_text())
    bits, integer = record["input_quantizer"]["bits"], record["input_quantizer"]["integer"]
    shape = tuple(record["input_shape"])
    width = int(np.prod(shape))
    frac = bits - 1 - integer
    lsb = 2.0**-frac
    top, bottom = 2.0**integer - lsb, -(2.0**integer)
    far = max(reference_exact_limit(frac), 4 * top)
    scalars = [0.0, top, bottom, 2 * top, 2 * bottom, far, -far, lsb, -lsb, lsb / 2, -lsb / 2,
               1.5 * lsb, -1.5 * lsb, top + lsb / 2, bottom - lsb / 2, top - lsb / 2]  # fmt: skip
    rows = [np.full(width, v) for v in scalars]
    rows.append(np.where(np.arange(width) % 2 == 0, top, bottom))
    rows.append(np.where(np.arange(width) % 2 == 0, bottom, top))
    rng = np.random.default_rng(seed)
    grid = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), size=(n_random, width)) * lsb
    between = rng.uniform(2 * bottom, 2 * top, size=(n_random, width))
    x = np.concatenate([np.stack(rows), grid, between]).astype(np.float32)
    return x.reshape((len(x), *shape))


def stress_inputs(
    x: np.ndarray, n_events: int, path: str | Path, smear: float = 0.05, seed: int = 0
) -> Path:
    """Write ``n_events`` inputs resampled from ``x`` to the ``.npy`` file ``path``.

    The events of :class:`hls.stress.StressEvents` (each a random event of ``x`` with every
    value moved by Gaussian noise of ``smear`` times that value's standard deviation over ``x``:
    the distribution of real events, densely covering the values between them, rare input
    combinations included), for a large batched C-simulation check. Written block by block
    (constant memory), seeded, atomically; the file equals the generated events. Returns
    ``path``.
    """
    from nanotrig.hls.stress import BLOCK, StressEvents

    from nanotrig.fileio import atomic_path

    events = StressEvents(x, n_events, smear, seed)
    with atomic_path(Path(path)) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=events.shape)
        flat_out = out.reshape(n_events, -1)
        for k in range(0, -(-n_events // BLOCK)):
            block = events.block(k)
            flat_out[k * BLOCK : k * BLOCK + len(block)] = block
        out.flush()
        del out, flat_out
    return Path(path)
