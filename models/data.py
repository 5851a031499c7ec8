"""Train/validation/test split and what the model reads, stored beside the model.

The split indices and what the model reads (``inputs.json``: the raw features, which the model
standardises inside, or the jet images) are written once by the training stage and read back by
every later stage, so all of them see exactly the same test jets. Model directories written
before the standardisation moved into the model hold a ``scaler.json`` instead (``raw``
absent): their features are still standardised here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nanotrig.errors import DataError
from nanotrig.fileio import atomic_path, write_json

__all__ = [
    "INPUTS_FILE",
    "Dataset",
    "Scaler",
    "load_dataset",
    "load_sample_dataset",
    "make_split",
    "sample_inputs",
    "save_split",
]

SPLIT_FILE = "split.npz"
SCALER_FILE = "scaler.json"
INPUTS_FILE = "inputs.json"
INPUT_KINDS = ("features", "images")


@dataclass(frozen=True)
class Scaler:
    """Per-feature standardisation ``(x - mean) / scale`` fitted on the training jets."""

    mean: np.ndarray
    scale: np.ndarray
    feature_names: tuple[str, ...]

    @classmethod
    def fit(cls, x: np.ndarray, feature_names: tuple[str, ...]) -> Scaler:
        mean = x.mean(axis=0)
        scale = x.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        return cls(mean.astype(np.float64), scale.astype(np.float64), tuple(feature_names))

    def transform(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 2 or x.shape[1] != self.mean.shape[0]:
            raise DataError(
                f"features have shape {x.shape}, expected (N, {self.mean.shape[0]}): "
                "use a sample made with the same feature set"
            )
        return ((x - self.mean) / self.scale).astype(np.float32)

    def to_dict(self) -> dict:
        return {
            "feature_names": list(self.feature_names),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Scaler:
        return cls(np.asarray(d["mean"]), np.asarray(d["scale"]), tuple(d["feature_names"]))


def sample_inputs(sample, kind: str) -> np.ndarray:
    """The raw model inputs of a :class:`samples.JetSample`: ``features`` (N, 16) or ``images``
    as (N, S, S, 1) channels-last float32 (pT fractions; the sample must be loaded with
    ``parts=("images",)``)."""
    if kind == "features":
        return sample.features
    if kind == "images":
        if sample.images is None:
            raise DataError(
                "the jet sample was loaded without its images: load it with parts=('images',)"
            )
        return np.asarray(sample.images, dtype=np.float32)[..., np.newaxis]
    raise DataError(f"unknown model input kind {kind!r}: choose one of {', '.join(INPUT_KINDS)}")


@dataclass(frozen=True)
class Dataset:
    """Model inputs (raw features, or images; standardised features for model directories
    with a ``scaler.json``) and integer labels for the three splits; ``scaler`` is None
    unless the features were standardised here."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    scaler: Scaler | None

    @property
    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


def make_split(
    labels: np.ndarray, val_fraction: float, test_fraction: float, seed: int
) -> dict[str, np.ndarray]:
    """Stratified, seeded split into train/val/test index arrays."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        rng.shuffle(idx)
        n_test = round(test_fraction * len(idx))
        n_val = round(val_fraction * len(idx))
        parts["test"].append(idx[:n_test])
        parts["val"].append(idx[n_test : n_test + n_val])
        parts["train"].append(idx[n_test + n_val :])
    out = {k: np.sort(np.concatenate(v)) for k, v in parts.items()}
    if any(len(v) == 0 for v in out.values()):
        raise DataError(
            f"sample too small to split ({len(labels)} jets): generate more jets per class"
        )
    return out


def save_split(
    out_dir: Path,
    split: dict[str, np.ndarray],
    scaler: Scaler | None,
    kind: str = "features",
    input_shape: tuple[int, ...] | None = None,
    raw: bool = False,
) -> None:
    """Write the split indices, ``inputs.json`` and (standardised features only) the scaler.

    ``raw``: the model takes the features as they are (it standardises them inside)."""
    if kind not in INPUT_KINDS:
        raise DataError(f"unknown model input kind {kind!r}: choose one of {INPUT_KINDS}")
    if (scaler is None) != (kind == "images" or raw):
        raise DataError("standardised features need a scaler; raw features and images take none")
    with atomic_path(out_dir / SPLIT_FILE) as tmp, open(tmp, "wb") as f:
        np.savez(f, **split)
    shape = None if input_shape is None else [int(d) for d in input_shape]
    write_json(out_dir / INPUTS_FILE, {"kind": kind, "shape": shape, "raw": raw})
    if scaler is not None:
        write_json(out_dir / SCALER_FILE, scaler.to_dict())


def input_record(model_dir: Path) -> dict:
    """``inputs.json`` of a model directory; model dirs written before it existed took features."""
    path = Path(model_dir) / INPUTS_FILE
    if not path.is_file():
        return {"kind": "features", "shape": None}
    return json.loads(path.read_text())


def load_dataset(x: np.ndarray, labels: np.ndarray, class_names, model_dir: Path) -> Dataset:
    """Rebuild the model-ready splits from a sample's raw inputs (features or images, as
    ``inputs.json`` in ``model_dir`` says) and the split (and scaler) in ``model_dir``."""
    rec = input_record(model_dir)
    split_path, scaler_path = model_dir / SPLIT_FILE, model_dir / SCALER_FILE
    scaled = rec["kind"] == "features" and not rec.get("raw", False)
    need = [SPLIT_FILE] + ([SCALER_FILE] if scaled else [])
    if not split_path.is_file() or (scaled and not scaler_path.is_file()):
        raise DataError(f"{model_dir} has no {'/'.join(need)}: run 'nanotrig train' into it first")
    with np.load(split_path) as s:
        split = {k: s[k] for k in ("train", "val", "test")}
    if max(int(v.max()) for v in split.values()) >= len(labels):
        raise DataError(
            f"split in {model_dir} indexes beyond the sample ({len(labels)} jets): "
            "train and quantize on the same sample file"
        )
    if rec["shape"] is not None and tuple(x.shape[1:]) != tuple(rec["shape"]):
        raise DataError(
            f"sample {rec['kind']} have shape {tuple(x.shape[1:])} per jet, the model in "
            f"{model_dir} takes {tuple(rec['shape'])}: use a sample made with the same settings"
        )
    scaler = None
    if scaled:
        scaler = Scaler.from_dict(json.loads(scaler_path.read_text()))
        x = scaler.transform(x)
    else:
        x = np.asarray(x, dtype=np.float32)
    y = labels.astype(np.int64)
    return Dataset(
        x[split["train"]], y[split["train"]],
        x[split["val"]], y[split["val"]],
        x[split["test"]], y[split["test"]],
        tuple(class_names), scaler,
    )  # fmt: skip


def load_sample_dataset(sample_path: Path, model_dir: Path) -> Dataset:
    """:func:`load_dataset` from a jet-sample file: reads the parts the model in ``model_dir``
    takes (images only when it is an image model)."""
    from nanotrig.samples import load_jets

    kind = input_record(model_dir)["kind"]
    sample = load_jets(sample_path, parts=("images",) if kind == "images" else ())
    x = sample_inputs(sample, kind)
    return load_dataset(x, sample.labels, sample.class_names, model_dir)
