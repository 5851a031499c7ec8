"""Refuse an input file that does not hold what a model expects (its :func:`input_spec`).

Checked before anything is written: the HDF5 dataset and its ``feature_names`` (where the file
has them), the shape per event, and, for a model on raw features, that the values look like
the raw features it was trained on, not standardised ones (the common mistake: feeding a model
that standardises inside the output of an external scaler). Events without the model's last
axis of 1 (DQM maps (N, H, W) for a (H, W, 1) model) are accepted: the reader adds it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nanotrig.errors import DataError

__all__ = ["MIN_EVENTS_FOR_VALUES", "check_input_file", "check_input_values"]

#: Fewer events than this: the value checks are skipped (means too noisy).
MIN_EVENTS_FOR_VALUES = 20
#: Events read for the value checks.
_SAMPLE_EVENTS = 100_000
#: A feature is off when its mean lies this many training standard deviations away.
_OFF_SIGMAS = 3.0
#: The summed feature spreads may differ from the training ones by at most this factor.
_SPREAD_RATIO = 8.0


def check_input_file(path: str | Path, spec: dict | None, dataset: str = "features") -> None:
    """DataError (one line, with the fix) unless ``path`` holds inputs ``spec`` describes;
    only models that record their raw inputs (``spec["raw"]``) are checked here."""
    p = Path(path)
    if not spec or not spec.get("raw") or not p.is_file():
        return  # a model that does not record its inputs; a missing file: the loader's error
    names = None
    if p.suffix.lower() in (".h5", ".hdf5"):
        want_ds = spec.get("dataset")
        if want_ds and dataset != want_ds:
            raise DataError(
                f"the model takes the dataset '{want_ds}' of an HDF5 file, not '{dataset}': "
                f"pass --dataset {want_ds} (or a file with it)"
            )
        x, names = _read_h5(p, dataset)
    else:
        try:
            x = np.load(p, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError):
            return  # not a readable .npy (or another suffix): the loader gives its own error
        if not isinstance(x, np.ndarray) or x.ndim < 2:
            return
    want = spec.get("feature_names")
    if names is not None and want and list(names) != list(want):
        diff = next((i for i, (a, b) in enumerate(zip(names, want, strict=False)) if a != b),
                    min(len(names), len(want)))  # fmt: skip
        got = names[diff] if diff < len(names) else "nothing"
        raise DataError(
            f"{p} holds the features {len(names)} {list(names)[:3]}..., the model takes "
            f"{len(want)} features (column {diff}: '{want[diff] if diff < len(want) else '-'}'"
            f", file: '{got}'): pass a file with the model's features, in its order"
        )
    shape = tuple(spec.get("shape") or ())
    if shape and tuple(x.shape[1:]) != shape and (*x.shape[1:], 1) != shape:
        raise DataError(
            f"{p} holds events of shape {tuple(x.shape[1:])}, the model takes {shape}: pass "
            "inputs of that shape"
        )
    check_input_values(np.asarray(x[:_SAMPLE_EVENTS], dtype=np.float64), spec, str(p))


def check_input_values(x: np.ndarray, spec: dict, what: str) -> None:
    """For a raw-input model: DataError if ``x`` looks standardised, or unlike the raw features
    the model was trained on (summed spread off by more than 8x, as inputs scaled outside the
    model are, or most feature means beyond 3 training standard deviations)."""
    mean, std = spec.get("train_mean"), spec.get("train_std")
    if not spec.get("raw") or mean is None or std is None or len(x) < MIN_EVENTS_FOR_VALUES:
        return
    x = x.reshape(len(x), -1) if len(mean) > 1 else x.reshape(-1, 1)  # one scale: all values
    if x.shape[1] != len(mean):
        return
    m, s = x.mean(axis=0), x.std(axis=0)
    looks_std = bool(np.all(np.abs(m) < 0.25) and np.all((s > 0.5) & (s < 2.0)))
    mean, std = np.asarray(mean), np.asarray(std)
    trained_std = bool(np.all(np.abs(mean) < 0.25) and np.all((std > 0.5) & (std < 2.0)))
    if looks_std and not trained_std:
        raise DataError(
            f"{what} holds standardised-looking values (mean ~0, std ~1 in every feature), but "
            "the model takes the raw features in their physical units and standardises them "
            "inside: pass the raw features (a jet sample's 'features' dataset)"
        )
    spread = float(s.sum() / std.sum()) if std.sum() > 0 else 1.0
    if not 1 / _SPREAD_RATIO <= spread <= _SPREAD_RATIO:
        raise DataError(
            f"{what} does not look like the model's raw features: their spread is {spread:.3g} "
            "times the training features' (summed standard deviations), as if scaled outside "
            "the model: pass the raw features in the units the model was trained on (it "
            "scales them inside)"
        )
    z = np.abs(m - mean) / np.where(std > 0, std, 1.0)
    off = np.flatnonzero(z > _OFF_SIGMAS)
    if len(off) >= max(1, len(mean) // 4):
        names = spec.get("feature_names") or [f"feature {i}" for i in range(len(mean))]
        i = int(off[np.argmax(z[off])])
        raise DataError(
            f"{what} does not look like the model's raw features: {len(off)} of {len(mean)} "
            f"feature means lie beyond {_OFF_SIGMAS:g} training standard deviations (e.g. "
            f"{names[i]}: {m[i]:.4g}, trained on {mean[i]:.4g} +- {std[i]:.3g}): pass the raw "
            "features in the units the model was trained on"
        )


def _read_h5(p: Path, dataset: str) -> tuple[np.ndarray, list[str] | None]:
    import h5py

    if not p.is_file() or not h5py.is_hdf5(p):
        raise DataError(f"input file {p} is not a readable HDF5 file: give a jet sample .h5")
    with h5py.File(p, "r") as f:
        if dataset not in f or not isinstance(f[dataset], h5py.Dataset):
            raise DataError(
                f"input file {p} has no dataset '{dataset}': it holds "
                f"{', '.join(sorted(f.keys())) or 'nothing'}"
            )
        x = f[dataset][:_SAMPLE_EVENTS]
        names = None
        if dataset == "features" and "feature_names" in f.attrs:
            names = [n.decode() if isinstance(n, bytes) else str(n)
                     for n in f.attrs["feature_names"]]  # fmt: skip
    return x, names
