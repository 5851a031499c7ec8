"""HDF5 layout of a jet sample: deterministic writing and validated loading."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nanotrig.errors import DataError

__all__ = ["FORMAT_VERSION", "JetSample", "load_jets", "write_jets"]

FORMAT_VERSION = 1
_KIN = ("jet_pt", "jet_eta", "jet_mass")
_FIX = "regenerate it with generate_jets (CLI: --force to overwrite)"


@dataclass(frozen=True, eq=False)
class JetSample:
    """A loaded jet sample: one row per jet."""

    features: np.ndarray  #: (N, 16) float32, columns as ``feature_names``
    labels: np.ndarray  #: (N,) int64, index into ``class_names``
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]
    manifest: dict[str, Any]
    jet_pt: np.ndarray  #: (N,) float32, ungroomed leading jet [GeV]
    jet_eta: np.ndarray  #: (N,) float32
    jet_mass: np.ndarray  #: (N,) float32, ungroomed [GeV]
    path: str = field(default="")

    def __len__(self) -> int:
        return len(self.labels)


def write_jets(
    path: Path,
    features: np.ndarray,
    labels: np.ndarray,
    kinematics: dict[str, np.ndarray],
    feature_names: tuple[str, ...],
    class_names: tuple[str, ...],
    manifest: dict[str, Any],
) -> None:
    """Write the datasets and attributes; byte-identical for identical inputs (no timestamps)."""
    import h5py

    str_dt = h5py.string_dtype()
    with h5py.File(path, "w", libver="earliest", track_order=False) as f:
        f.create_dataset("features", data=features.astype(np.float32), track_times=False)
        f.create_dataset("labels", data=labels.astype(np.int64), track_times=False)
        for name in _KIN:
            f.create_dataset(name, data=kinematics[name].astype(np.float32), track_times=False)
        f.attrs.create("feature_names", np.array(feature_names, dtype=object), dtype=str_dt)
        f.attrs.create("class_names", np.array(class_names, dtype=object), dtype=str_dt)
        f.attrs["manifest"] = json.dumps(manifest, sort_keys=True)


def _strings(values: Any) -> tuple[str, ...]:
    return tuple(v.decode() if isinstance(v, bytes) else str(v) for v in np.atleast_1d(values))


def load_jets(path: str | Path) -> JetSample:
    """Load and validate a sample written by ``generate_jets``; raise ``DataError`` if unusable."""
    import h5py

    p = Path(path)
    if not p.is_file():
        raise DataError(
            f"jet sample {p} not found: generate it first (generate_jets) or fix the path"
        )
    try:
        f = h5py.File(p, "r")
    except OSError:
        raise DataError(f"jet sample {p} is not a readable HDF5 file: {_FIX}") from None
    with f:
        missing = [k for k in ("features", "labels", *_KIN) if k not in f]
        missing += [k for k in ("feature_names", "class_names", "manifest") if k not in f.attrs]
        if missing:
            raise DataError(f"jet sample {p} lacks {', '.join(missing)}: {_FIX}")
        try:
            features = np.asarray(f["features"][()], dtype=np.float32)
            labels = np.asarray(f["labels"][()], dtype=np.int64)
            kin = {k: np.asarray(f[k][()], dtype=np.float32) for k in _KIN}
            feature_names = _strings(f.attrs["feature_names"])
            class_names = _strings(f.attrs["class_names"])
            manifest = json.loads(f.attrs["manifest"])
        except (OSError, ValueError, TypeError) as err:
            raise DataError(f"jet sample {p} is corrupt ({err}): {_FIX}") from None
    n = len(labels)
    if features.ndim != 2 or features.shape != (n, len(feature_names)) or len(feature_names) != 16:
        raise DataError(
            f"jet sample {p}: features have shape {features.shape}, expected ({n}, 16) "
            f"matching {len(feature_names)} feature names and {n} labels: {_FIX}"
        )
    bad_kin = [k for k, v in kin.items() if v.shape != (n,)]
    if labels.ndim != 1 or bad_kin:
        raise DataError(f"jet sample {p}: labels/{bad_kin} are not ({n},) vectors: {_FIX}")
    if n and (labels.min() < 0 or labels.max() >= len(class_names)):
        raise DataError(f"jet sample {p}: labels outside 0..{len(class_names) - 1}: {_FIX}")
    finite = np.isfinite(features)
    if not finite.all():
        rows = int((~finite.all(axis=1)).sum())
        raise DataError(f"jet sample {p}: {rows} jets have NaN/inf features: {_FIX}")
    return JetSample(
        features=features,
        labels=labels,
        feature_names=feature_names,
        class_names=class_names,
        manifest=manifest,
        jet_pt=kin["jet_pt"],
        jet_eta=kin["jet_eta"],
        jet_mass=kin["jet_mass"],
        path=str(p),
    )
