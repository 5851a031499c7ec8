"""Train/validation/test split and input standardisation, stored beside the model.

The split indices and the scaler are written once by the training stage and read back by
every later stage, so all of them see exactly the same test jets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nanotrig.errors import DataError
from nanotrig.fileio import atomic_path, write_json

__all__ = ["Dataset", "Scaler", "load_dataset", "make_split", "save_split"]

SPLIT_FILE = "split.npz"
SCALER_FILE = "scaler.json"


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


@dataclass(frozen=True)
class Dataset:
    """Standardised features and integer labels for the three splits."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    scaler: Scaler

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


def save_split(out_dir: Path, split: dict[str, np.ndarray], scaler: Scaler) -> None:
    """Write the split indices and the scaler into the model directory."""
    with atomic_path(out_dir / SPLIT_FILE) as tmp, open(tmp, "wb") as f:
        np.savez(f, **split)
    write_json(out_dir / SCALER_FILE, scaler.to_dict())


def load_dataset(features: np.ndarray, labels: np.ndarray, class_names, model_dir: Path) -> Dataset:
    """Rebuild the standardised splits from a sample and the split/scaler in ``model_dir``."""
    split_path, scaler_path = model_dir / SPLIT_FILE, model_dir / SCALER_FILE
    if not split_path.is_file() or not scaler_path.is_file():
        raise DataError(
            f"{model_dir} has no {SPLIT_FILE}/{SCALER_FILE}: run 'nanotrig train' into it first"
        )
    scaler = Scaler.from_dict(json.loads(scaler_path.read_text()))
    with np.load(split_path) as s:
        split = {k: s[k] for k in ("train", "val", "test")}
    if max(int(v.max()) for v in split.values()) >= len(labels):
        raise DataError(
            f"split in {model_dir} indexes beyond the sample ({len(labels)} jets): "
            "train and quantize on the same sample file"
        )
    x = scaler.transform(features)
    y = labels.astype(np.int64)
    return Dataset(
        x[split["train"]], y[split["train"]],
        x[split["val"]], y[split["val"]],
        x[split["test"]], y[split["test"]],
        tuple(class_names), scaler,
    )  # fmt: skip
