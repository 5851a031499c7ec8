"""The DQM autoencoder's training stage: DQM sample -> float autoencoder + split + metrics.

Inputs (``model.normalise``): ``per_map`` (default, below) or ``po2_scale``, which gives the
model the raw occupancy counts ``maps`` as (H, W, 1), as the detector sends them; its first
layer ``standardise`` multiplies them by one power of two, ``2**-shift`` with ``shift =
round(log2(mean count))`` over the good training maps (exact: a wire shift in firmware), and the
quantized model rounds the result to its input type. The autoencoder reconstructs the scaled
counts. The scale is fixed, so a global occupancy change (luminosity, pile-up) reaches the model
as a change of every cell: maps at a luminosity outside the training range reconstruct worse and
score as more faulty (measured on the tiny firmware-test run: any-fault AUC 0.74, HV sag 0.62,
below the 0.8 floor that ``per_map`` passes). ``per_map`` gives it ``maps_normalized`` (counts x
cells / total: mean 1 per map, so the luminosity drops out), a per-map division with no exact
power-of-two form that stays preprocessing outside the model. The split is by run (all
lumisections of a run land in one part: neighbouring lumisections are near copies). The model
learns to reconstruct good maps only: the training and validation parts keep their fault-free
maps; the test part keeps every map, faulty ones included, and is scored with
:mod:`models.dqm_metrics`.

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

from nanotrig.config import ModelConfig, QuantBits, QuantizeConfig
from nanotrig.errors import DataError
from nanotrig.fileio import atomic_path, file_sha256, prepare_output_dir, write_json

__all__ = [
    "DQMData",
    "count_shift",
    "evaluate_ae",
    "fit_autoencoder",
    "load_dqm_data",
    "model_shift",
    "split_runs",
    "train_dqm_ae",
]

log = logging.getLogger(__name__)
MODEL_FILE = "model.h5"
SPLIT_FILE = "split.npz"


@dataclass(frozen=True, eq=False)
class DQMData:
    """A DQM sample as the autoencoder sees it, with its split (map indices)."""

    x: np.ndarray  #: (N, H, W, 1) float32 model inputs: raw counts or normalised maps
    fault_type: np.ndarray  #: (N,)
    fault_mask: np.ndarray  #: (N, H, W)
    fault_names: tuple[str, ...]
    split: dict[str, np.ndarray]
    #: po2_scale: the model scales ``x`` by ``2**-shift`` inside; None: per-map normalised
    shift: int | None = None

    @property
    def target(self) -> np.ndarray:
        """What the autoencoder reconstructs: the inputs as scaled inside the model."""
        return self.x if self.shift is None else np.ldexp(self.x, -self.shift)

    def part(self, name: str) -> np.ndarray:
        return self.x[self.split[name]]

    def good(self, name: str) -> np.ndarray:
        """The fault-free maps of a part (what the autoencoder trains on)."""
        idx = self.split[name]
        return self.x[idx[self.fault_type[idx] == 0]]

    def good_target(self, name: str) -> np.ndarray:
        """The reconstruction targets of :meth:`good`."""
        idx = self.split[name]
        return self.target[idx[self.fault_type[idx] == 0]]


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


def count_shift(counts: np.ndarray) -> int:
    """The po2_scale shift: ``round(log2(mean count))`` of the training maps (0 if empty)."""
    mean = float(np.mean(counts)) if np.size(counts) else 0.0
    return int(np.rint(np.log2(mean))) if mean > 0 else 0


def model_shift(model) -> int | None:
    """The shift of a model that scales raw counts inside (its ``Po2Standardise``), else None."""
    for layer in model.layers:
        if type(layer).__name__ == "Po2Standardise":
            return int(layer.shifts[0])
    return None


def load_dqm_data(sample_path: Path, split: dict[str, np.ndarray] | None = None, *,
                  val_fraction: float = 0.2, test_fraction: float = 0.2,
                  seed: int = 0, normalise: str = "per_map",
                  shift: int | None = None) -> DQMData:  # fmt: skip
    """Load a DQM sample; split it by run unless ``split`` is given. ``normalise``: the model
    inputs (``po2_scale``: raw counts, ``shift`` fitted on the good training maps unless
    given; ``per_map``: normalised maps)."""
    from nanotrig.samples import load_dqm

    s = load_dqm(sample_path)
    if split is None:
        split = split_runs(s.run, val_fraction, test_fraction, seed)
    for name in ("train", "val"):
        idx = split[name]
        if not (s.fault_type[idx] == 0).any():
            raise DataError(f"the {name} runs hold no fault-free map: generate more runs")
    if normalise == "per_map":
        x, shift = s.maps_normalized[..., None], None
    else:
        x = s.maps[..., None].astype(np.float32)
        if shift is None:
            idx = split["train"]
            shift = count_shift(s.maps[idx[s.fault_type[idx] == 0]])
    return DQMData(
        x=x, fault_type=s.fault_type, fault_mask=s.fault_mask, fault_names=s.fault_names,
        split=split, shift=shift,
    )  # fmt: skip


def fit_autoencoder(model, x_train: np.ndarray, x_val: np.ndarray, *, epochs: int,
                    batch_size: int, learning_rate: float, patience: int, seed: int,
                    y_train: np.ndarray | None = None,
                    y_val: np.ndarray | None = None) -> dict[str, list[float]]:  # fmt: skip
    """Train ``model`` to reconstruct its input (MSE; ``y_*``: the input as scaled inside the
    model, default the input itself), early stopping on the validation loss."""
    import tensorflow as tf

    seed_everything(seed)
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
    stop = tf.keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=patience, restore_best_weights=True
    )
    y_train = x_train if y_train is None else y_train
    y_val = x_val if y_val is None else y_val
    hist = model.fit(
        x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=batch_size,
        shuffle=True, callbacks=[stop, EpochProgress()], verbose=0,
    )  # fmt: skip
    return {k: [float(v) for v in vals] for k, vals in hist.history.items()}


def evaluate_ae(model, data: DQMData, part: str = "test") -> tuple[dict, dict]:
    """(metrics, arrays) of ``model`` on a part: arrays holds recon, per_map, per_cell."""
    idx = data.split[part]
    x = data.target[idx]
    recon = np.asarray(model.predict(data.x[idx], batch_size=1024, verbose=0))
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
            data.target[idx[r], ..., 0], arrays["recon"][r, ..., 0], arrays["per_cell"][r],
            data.fault_mask[idx[r]].astype(bool),
            f"{label}: {name} (map loss {arrays['per_map'][r]:.3g}; red: fault, x: max loss)",
            dest,
        )  # fmt: skip
        plots[name] = dest.name
    return plots


def _standardise(data: DQMData, raw: QuantBits, model_input: QuantBits):
    """The po2_scale layer: ``counts * 2**-shift`` (offset 0), recording the raw counts."""
    from nanotrig.models.stage import raw_type
    from nanotrig.models.standardise import Po2Scaling, po2_standardise_layer

    good = data.good("train").astype(np.float64)
    scaling = Po2Scaling((0.0,), (int(data.shift),), (float(good.mean()),), (float(good.std()),))
    spec = {"dataset": "maps", "units": ["count"], "input_type": raw_type(raw),
            "note": "the sample's 'maps' (N, H, W) with a channel axis: (N, H, W, 1)"}  # fmt: skip
    return po2_standardise_layer(scaling, spec, model_input)


def train_dqm_ae(
    sample_path: Path, cfg: ModelConfig, seed: int, out_dir: Path, force: bool = False,
    raw_input: QuantBits | None = None, model_input: QuantBits | None = None,
) -> dict:  # fmt: skip
    """Train the float autoencoder on the good maps of a DQM sample; write ``out_dir``.
    ``po2_scale``: the model takes raw counts of type ``raw_input`` and scales them inside
    (clipped to the range of ``model_input``, the quantized model's input type)."""
    qdefault = QuantizeConfig()
    raw_input, model_input = raw_input or qdefault.raw_input, model_input or qdefault.input
    data = load_dqm_data(
        sample_path, val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction, seed=seed,
        normalise=cfg.normalise,
    )  # fmt: skip
    standardise = None if data.shift is None else _standardise(data, raw_input, model_input)
    out_dir = prepare_output_dir(out_dir, force)
    t0 = time.perf_counter()
    with atomic_path(out_dir / SPLIT_FILE) as tmp, open(tmp, "wb") as f:
        np.savez(f, **data.split)
    seed_everything(seed)
    model = build_dqm_ae(data.x.shape[1:3], cfg.conv_filters, cfg.kernel_size, cfg.pool_size,
                         standardise)  # fmt: skip
    history = fit_autoencoder(
        model, data.good("train"), data.good("val"), epochs=cfg.epochs,
        batch_size=cfg.batch_size, learning_rate=cfg.learning_rate, patience=cfg.patience,
        seed=seed, y_train=data.good_target("train"), y_val=data.good_target("val"),
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
        "inputs": {
            "kind": "maps",
            "shape": list(data.x.shape[1:]),
            "normalise": cfg.normalise,
            "raw": data.shift is not None,
            "shift": data.shift,
        },
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
