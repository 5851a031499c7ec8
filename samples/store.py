"""HDF5 layout of a jet sample: deterministic writing and validated loading.

Layout (format 2): datasets ``features`` (N, 16) float32, ``labels`` (N,) int64, ``jet_pt``,
``jet_eta``, ``jet_mass`` (N,) float32, and the low-level parts ``images`` (N, S, S) float32
(pT fraction per eta x phi pixel), ``constituents`` (N, M, 5) float32 (``CONSTITUENT_FEATURES``,
pT-ordered, zero-padded) and ``n_constituents`` (N,) int32; attributes ``feature_names``,
``class_names``, ``constituent_feature_names``, ``image_extent`` and ``manifest`` (JSON).
Low-level parts are loaded only when asked for (``load_jets(path, parts=("images",))``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nanotrig.errors import DataError, OutputExistsError

__all__ = [
    "FORMAT_VERSION",
    "JET_PARTS",
    "REGENERATE",
    "JetSample",
    "check_output",
    "load_jets",
    "open_sample",
    "strings",
    "write_array",
    "write_jets",
]

#: How a user makes (or remakes) a sample: the hint of every sample-file error.
REGENERATE = "regenerate it with 'nanotrig generate' (--force to overwrite)"
_FIX = REGENERATE

FORMAT_VERSION = 2
_KIN = ("jet_pt", "jet_eta", "jet_mass")
#: Optional parts of a jet file, loadable on request.
JET_PARTS = ("images", "constituents")


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
    images: np.ndarray | None = None  #: (N, S, S) float32 if loaded: pT fraction, [eta, phi]
    constituents: np.ndarray | None = None  #: (N, M, 5) float32 if loaded
    n_constituents: np.ndarray | None = None  #: (N,) int32 filled rows, with ``constituents``
    constituent_feature_names: tuple[str, ...] = ()
    image_extent: float | None = None  #: images span [-extent, extent) around the jet axis

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
    *,
    images: np.ndarray | None = None,
    constituents: np.ndarray | None = None,
    n_constituents: np.ndarray | None = None,
    image_extent: float | None = None,
) -> None:
    """Write the datasets and attributes; byte-identical for identical inputs (no timestamps)."""
    import h5py
    from nanotrig.samples.jet_images import CONSTITUENT_FEATURES

    str_dt = h5py.string_dtype()
    with h5py.File(path, "w", libver="earliest", track_order=False) as f:
        f.create_dataset("features", data=features.astype(np.float32), track_times=False)
        f.create_dataset("labels", data=labels.astype(np.int64), track_times=False)
        for name in _KIN:
            f.create_dataset(name, data=kinematics[name].astype(np.float32), track_times=False)
        if images is not None:
            write_array(f, "images", images.astype(np.float32))
            f.attrs["image_extent"] = float(image_extent if image_extent is not None else 0.8)
        if constituents is not None:
            write_array(f, "constituents", constituents.astype(np.float32))
            counts = n_constituents if n_constituents is not None else np.zeros(len(labels))
            f.create_dataset("n_constituents", data=counts.astype(np.int32), track_times=False)
            names = np.array(CONSTITUENT_FEATURES, dtype=object)
            f.attrs.create("constituent_feature_names", names, dtype=str_dt)
        f.attrs.create("feature_names", np.array(feature_names, dtype=object), dtype=str_dt)
        f.attrs.create("class_names", np.array(class_names, dtype=object), dtype=str_dt)
        f.attrs["manifest"] = json.dumps(manifest, sort_keys=True)


def write_array(f: Any, name: str, data: np.ndarray) -> None:
    """A gzip-compressed, chunked dataset (deterministic: fixed chunks, no timestamps)."""
    chunks = (min(max(len(data), 1), 256), *data.shape[1:]) if data.size else None
    f.create_dataset(
        name,
        data=data,
        track_times=False,
        chunks=chunks,
        compression="gzip" if data.size else None,
        compression_opts=4 if data.size else None,
        shuffle=bool(data.size),
    )


def strings(values: Any) -> tuple[str, ...]:
    """A string attribute (array of bytes or str) as a tuple of str."""
    return tuple(v.decode() if isinstance(v, bytes) else str(v) for v in np.atleast_1d(values))


def check_output(path: Path, what: str, force: bool) -> Path:
    """Refuse to overwrite an existing sample file unless ``force``."""
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(
            f"{what} {path} already exists: pass --force to overwrite it "
            "or choose another output path"
        )
    return path


def open_sample(path: str | Path, what: str) -> Any:
    """Open an HDF5 sample for reading, or raise a one-line ``DataError``."""
    import h5py

    p = Path(path)
    if not p.is_file():
        raise DataError(f"{what} {p} not found: make it with 'nanotrig generate' or fix the path")
    try:
        return h5py.File(p, "r")
    except OSError:
        raise DataError(f"{what} {p} is not a readable HDF5 file: {REGENERATE}") from None


def load_jets(path: str | Path, parts: tuple[str, ...] | list[str] = ()) -> JetSample:
    """Load and validate a sample written by ``generate_jets``; raise ``DataError`` if unusable.

    ``parts`` names the optional low-level arrays to load as well: ``"images"`` and/or
    ``"constituents"`` (with ``n_constituents``); by default only the 16 features.
    """
    unknown = [x for x in parts if x not in JET_PARTS]
    if unknown or isinstance(parts, str):
        raise DataError(f"unknown jet sample part(s) {unknown or parts!r}: choose from {JET_PARTS}")
    p = Path(path)
    with open_sample(p, "jet sample") as f:
        missing = [k for k in ("features", "labels", *_KIN) if k not in f]
        missing += [k for k in ("feature_names", "class_names", "manifest") if k not in f.attrs]
        missing += [k for k in parts if k not in f]
        if missing:
            raise DataError(f"jet sample {p} lacks {', '.join(missing)}: {_FIX}")
        try:
            features = np.asarray(f["features"][()], dtype=np.float32)
            labels = np.asarray(f["labels"][()], dtype=np.int64)
            kin = {k: np.asarray(f[k][()], dtype=np.float32) for k in _KIN}
            feature_names = strings(f.attrs["feature_names"])
            class_names = strings(f.attrs["class_names"])
            manifest = json.loads(f.attrs["manifest"])
            low = _load_parts(f, parts)
        except (OSError, ValueError, TypeError, KeyError) as err:
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
    _check_parts(p, low, n)
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
        **low,
    )


def _load_parts(f: Any, parts: tuple[str, ...] | list[str]) -> dict[str, Any]:
    low: dict[str, Any] = {}
    if "images" in parts:
        low["images"] = np.asarray(f["images"][()], dtype=np.float32)
        low["image_extent"] = float(f.attrs["image_extent"])
    if "constituents" in parts:
        low["constituents"] = np.asarray(f["constituents"][()], dtype=np.float32)
        low["n_constituents"] = np.asarray(f["n_constituents"][()], dtype=np.int32)
        low["constituent_feature_names"] = strings(f.attrs["constituent_feature_names"])
    return low


def _check_parts(p: Path, low: dict[str, Any], n: int) -> None:
    img = low.get("images")
    if img is not None:
        if img.ndim != 3 or img.shape[0] != n or img.shape[1] != img.shape[2]:
            raise DataError(
                f"jet sample {p}: images have shape {img.shape}, not ({n}, S, S): {_FIX}"
            )
        if not np.isfinite(img).all() or (img < 0).any():
            raise DataError(f"jet sample {p}: images hold NaN/inf or negative pixels: {_FIX}")
    cons = low.get("constituents")
    if cons is not None:
        nf = len(low["constituent_feature_names"])
        if cons.ndim != 3 or cons.shape[0] != n or cons.shape[2] != nf:
            raise DataError(
                f"jet sample {p}: constituents have shape {cons.shape}, not ({n}, M, {nf}): {_FIX}"
            )
        counts = low["n_constituents"]
        if counts.shape != (n,) or (counts < 0).any() or (counts > cons.shape[1]).any():
            raise DataError(f"jet sample {p}: n_constituents not in 0..{cons.shape[1]}: {_FIX}")
        if not np.isfinite(cons).all():
            raise DataError(f"jet sample {p}: constituents hold NaN/inf: {_FIX}")
