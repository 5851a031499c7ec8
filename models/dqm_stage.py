"""The DQM autoencoder's training stage: DQM sample -> float autoencoder + split + metrics.

Inputs are the sample's ``maps_normalized`` (counts x cells / total: mean 1 per map, so the
luminosity drops out) as (H, W, 1). The split is by run (all lumisections of a run land in one
part: neighbouring lumisections are near copies). The model learns to reconstruct good maps only:
the training and validation parts keep their fault-free maps; the test part keeps every map,
faulty ones included, and is scored with :mod:`models.dqm_metrics`.

Writes model.h5, split.npz (map indices train/val/test), history.json, metrics.json, loss.png,
fault_roc.png, example_<fault>.png and artifact.json.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from nanotrig.models.dqm_ae import build_dqm_ae
from nanotrig.models.dqm_metrics import fault_metrics, fault_roc_curves, reconstruction_losses
from nanotrig.models.dqm_plots import plot_ae_loss, plot_fault_example, plot_fault_roc
from nanotrig.models.train import EpochProgress, seed_everything

from nanotrig.config import ModelConfig
from nanotrig.errors import DataError
from nanotrig.fileio import atomic_path, file_sha256, prepare_output_dir, write_json

__all__ = [
    "DQMData",
    "evaluate_ae",
    "fit_autoencoder",
    "load_dqm_data",
    "split_runs",
    "train_dqm_ae",
]

log = logging.getLogger(__name__)
MODEL_FILE = "model.h5"
SPLIT_FILE = "split.npz"


@dataclass(frozen=True, eq=False)
class DQMData:
    """A DQM sample as the autoencoder sees it, with its split (map indices)."""

    x: np.ndarray  #: (N, H, W, 1) float32 normalised maps
    fault_type: np.ndarray  #: (N,)
    fault_mask: np.ndarray  #: (N, H, W)
    fault_names: tuple[str, ...]
    split: dict[str, np.ndarray]

    def part(self, name: str) -> np.ndarray:
        return self.x[self.split[name]]

    def good(self, name: str) -> np.ndarray:
        """The fault-free maps of a part (what the autoencoder trains on)."""
        idx = self.split[name]
        return self.x[idx[self.fault_type[idx] == 0]]


def split_runs(run: np.ndarray, val_fraction: float, test_fraction: float, seed: int) -> dict:
    """Map indices of train/val/test, whole runs to each part (shuffled with ``seed``)."""
    runs = np.unique(run)
    if len(runs) < 3:
        raise DataError(f"the sample holds {len(runs)} runs: the run-wise split needs at least 3")
    order = np.random.default_rng(seed).permutation(runs)
    n_test = max(1, round(test_fraction * len(runs)))
    n_val = max(1, round(val_fraction * len(runs)))
    parts = {"test": order[:n_test], "val": order[n_test : n_test + n_val]}
    parts["train"] = order[n_test + n_val :]
    if len(parts["train"]) == 0:
        raise DataError(f"no run left for training out of {len(runs)}: lower the fractions")
    return {k: np.flatnonzero(np.isin(run, v)) for k, v in parts.items()}


def load_dqm_data(sample_path: Path, split: dict[str, np.ndarray] | None = None, *,
                  val_fraction: float = 0.2, test_fraction: float = 0.2,
                  seed: int = 0) -> DQMData:  # fmt: skip
    """Load a DQM sample; split it by run unless ``split`` is given."""
    from nanotrig.samples import load_dqm

    s = load_dqm(sample_path)
    if split is None:
        split = split_runs(s.run, val_fraction, test_fraction, seed)
    for name in ("train", "val"):
        idx = split[name]
        if not (s.fault_type[idx] == 0).any():
            raise DataError(f"the {name} runs hold no fault-free map: generate more runs")
    return DQMData(
        x=s.maps_normalized[..., None], fault_type=s.fault_type, fault_mask=s.fault_mask,
        fault_names=s.fault_names, split=split,
    )  # fmt: skip


def fit_autoencoder(model, x_train: np.ndarray, x_val: np.ndarray, *, epochs: int,
                    batch_size: int, learning_rate: float, patience: int,
                    seed: int) -> dict[str, list[float]]:  # fmt: skip
    """Train ``model`` to reconstruct its input (MSE), early stopping on the validation loss."""
    import tensorflow as tf

    seed_everything(seed)
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
    stop = tf.keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=patience, restore_best_weights=True
    )
    hist = model.fit(
        x_train, x_train, validation_data=(x_val, x_val), epochs=epochs, batch_size=batch_size,
        shuffle=True, callbacks=[stop, EpochProgress()], verbose=0,
    )  # fmt: skip
    return {k: [float(v) for v in vals] for k, vals in hist.history.items()}


def evaluate_ae(model, data: DQMData, part: str = "test") -> tuple[dict, dict]:
    """(metrics, arrays) of ``model`` on a part: arrays holds recon, per_map, per_cell."""
    idx = data.split[part]
    x = data.x[idx]
    recon = np.asarray(model.predict(x, batch_size=1024, verbose=0))
    per_map, per_cell = reconstruction_losses(x, recon)
    metrics = fault_metrics(
        per_map, per_cell, data.fault_type[idx], data.fault_mask[idx], data.fault_names
    )
    metrics["n_maps"] = len(idx)
    return metrics, {"recon": recon, "per_map": per_map, "per_cell": per_cell}


def plot_examples(data: DQMData, arrays: dict, out_dir: Path, label: str) -> dict[str, str]:
    """example_<fault>.png for each fault type in the test part: its median-loss map."""
    idx = data.split["test"]
    ftype = data.fault_type[idx]
    plots = {}
    for k, name in enumerate(data.fault_names):
        rows = np.flatnonzero(ftype == k)
        if k == 0 or not len(rows):
            continue
        r = rows[np.argsort(arrays["per_map"][rows])[len(rows) // 2]]
        dest = out_dir / f"example_{name}.png"
        plot_fault_example(
            data.x[idx[r], ..., 0], arrays["recon"][r, ..., 0], arrays["per_cell"][r],
            data.fault_mask[idx[r]].astype(bool),
            f"{label}: {name} (map loss {arrays['per_map'][r]:.3g}; red: fault, x: max loss)",
            dest,
        )  # fmt: skip
        plots[name] = dest.name
    return plots


def train_dqm_ae(
    sample_path: Path, cfg: ModelConfig, seed: int, out_dir: Path, force: bool = False
) -> dict:
    """Train the float autoencoder on the good maps of a DQM sample; write ``out_dir``."""
    data = load_dqm_data(
        sample_path, val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction, seed=seed
    )
    out_dir = prepare_output_dir(out_dir, force)
    t0 = time.perf_counter()
    with atomic_path(out_dir / SPLIT_FILE) as tmp, open(tmp, "wb") as f:
        np.savez(f, **data.split)
    seed_everything(seed)
    model = build_dqm_ae(data.x.shape[1:3], cfg.conv_filters, cfg.kernel_size, cfg.pool_size)
    history = fit_autoencoder(
        model, data.good("train"), data.good("val"), epochs=cfg.epochs,
        batch_size=cfg.batch_size, learning_rate=cfg.learning_rate, patience=cfg.patience,
        seed=seed,
    )  # fmt: skip
    metrics, arrays = evaluate_ae(model, data)
    log.info(
        "float autoencoder: AUC any fault %s, localisation %s",
        metrics["auc_any_fault"], metrics["localisation"],
    )  # fmt: skip
    with atomic_path(out_dir / MODEL_FILE) as tmp:
        model.save(tmp, save_format="h5")
    write_json(out_dir / "history.json", history)
    write_json(out_dir / "metrics.json", metrics)
    plot_ae_loss(history, out_dir / "loss.png", title="Float DQM autoencoder")
    curves = {"float": fault_roc_curves(arrays["per_map"], data.fault_type[data.split["test"]],
                                        data.fault_names)}  # fmt: skip
    plot_fault_roc(curves, out_dir / "fault_roc.png", title="Float DQM autoencoder: fault ROC")
    examples = plot_examples(data, arrays, out_dir, "float")
    record = {
        "stage": "train",
        "model": str(out_dir / MODEL_FILE),
        "sha256": file_sha256(out_dir / MODEL_FILE),
        "sample": str(sample_path),
        "config": cfg.model_dump(mode="json"),
        "seed": seed,
        "inputs": {"kind": "maps", "shape": list(data.x.shape[1:])},
        "sizes": {k: len(v) for k, v in data.split.items()},
        "trained_on": {k: len(data.good(k)) for k in ("train", "val")},
        "parameters": int(model.count_params()),
        "epochs_run": len(history["loss"]),
        "metrics": metrics,
        "plots": {"loss": "loss.png", "fault_roc": "fault_roc.png", "examples": examples},
        "seconds": round(time.perf_counter() - t0, 2),
    }
    write_json(out_dir / "artifact.json", record)
    return record
