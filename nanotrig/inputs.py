"""Input arrays for every stage that takes events from a file (verify, convert, export, infer)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nanotrig.errors import DataError

__all__ = ["check_inputs", "load_inputs"]


def check_inputs(x: np.ndarray, shape: tuple[int | None, ...], what: str) -> np.ndarray:
    """``x`` as float32 if it is (N, *shape) with N > 0 and finite; else a one-line DataError
    naming ``what`` (the model the inputs are for)."""
    x = np.asarray(x)
    expected = tuple(shape)
    ok_shape = x.ndim == len(expected) + 1 and all(
        e is None or e == s for e, s in zip(expected, x.shape[1:], strict=False)
    )
    if not ok_shape or len(x) == 0:
        dims = ", ".join("?" if e is None else str(e) for e in expected)
        raise DataError(
            f"inputs have shape {x.shape}, {what} expects (N, {dims}) with N > 0: "
            "pass inputs of that shape"
        )
    if x.dtype.kind not in "fiu":
        raise DataError(f"inputs hold {x.dtype} data: {what} needs numbers")
    x = x.astype(np.float32, copy=False)
    bad = ~np.isfinite(x).reshape(len(x), -1).all(axis=1)
    if bad.any():
        raise DataError(
            f"inputs contain NaN or inf in {int(bad.sum())} of {len(x)} events "
            f"(first: event {int(np.flatnonzero(bad)[0])}): clean or drop them"
        )
    return x


def load_inputs(path: str | Path, dataset: str = "features") -> np.ndarray:
    """Read events (float32) from ``.npy`` or the ``features`` dataset of an ``.h5`` file."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"input file {p} not found: give a .npy file or an .h5 with '{dataset}'")
    suffix = p.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise DataError(f"input file {p} is not a readable .npy array: {err}") from None
    elif suffix in (".h5", ".hdf5"):
        import h5py

        if not h5py.is_hdf5(p):
            raise DataError(f"input file {p} is not an HDF5 file")
        try:
            with h5py.File(p, "r") as f:
                if dataset not in f or not isinstance(f[dataset], h5py.Dataset):
                    raise DataError(
                        f"input file {p} has no dataset '{dataset}': "
                        f"it holds {', '.join(sorted(f.keys())) or 'nothing'}"
                    )
                arr = f[dataset][()]
        except OSError as err:
            raise DataError(f"cannot read input file {p}: {err}") from None
    else:
        raise DataError(f"input file {p} has unknown suffix {p.suffix!r}: use .npy or .h5")
    arr = np.asarray(arr)
    if arr.dtype.kind not in "fiu" or arr.ndim < 2:
        raise DataError(
            f"input file {p} holds {arr.dtype} data of shape {arr.shape}: "
            "need a numeric array (events, features...)"
        )
    return arr.astype(np.float32, copy=False)
