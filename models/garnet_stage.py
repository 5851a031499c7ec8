"""Train stage of the ``jet_garnet`` family: constituents -> float GarNet tagger, metrics, plots.

Writes ``model.h5`` (custom objects ``GarNet``), ``split.npz`` (train/val/test jet indices),
``history.json``, ``metrics.json``, ``loss.png`` and ``artifact.json`` under ``out_dir``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nanotrig.config import ModelConfig
from nanotrig.fileio import prepare_output_dir, write_json

__all__ = ["GarnetData", "load_garnet_data", "train_garnet_stage"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GarnetData:
    """The tagger's inputs for every jet, labels, class names and a seeded split."""

    x: np.ndarray  # (jets, N, 4) float32
    n: np.ndarray  # (jets, 1) float32 vertex counts
    labels: np.ndarray
    class_names: tuple[str, ...]
    split: dict[str, np.ndarray]  # train / val / test indices

    def part(self, name: str) -> tuple[list[np.ndarray], np.ndarray]:
        idx = self.split[name]
        return [self.x[idx], self.n[idx]], self.labels[idx]


def load_garnet_data(data_path: Path, model_cfg: ModelConfig, seed: int) -> GarnetData:
    """Load the constituents and split them with ``val_fraction``/``test_fraction``: the seeded,
    stratified split of the MLP and CNN taggers (``models.data.make_split``), so the same sample
    and seed give all three the same test jets."""
    from nanotrig.models.data import make_split
    from nanotrig.models.garnet import garnet_inputs
    from nanotrig.samples import load_jets

    sample = load_jets(data_path, parts=("constituents",))
    x, n = garnet_inputs(sample.constituents, sample.n_constituents)
    labels = np.asarray(sample.labels)
    split = make_split(labels, model_cfg.val_fraction, model_cfg.test_fraction, seed)
    return GarnetData(x, n, labels, tuple(sample.class_names), split)


def train_garnet_stage(
    data: GarnetData, model_cfg: ModelConfig, seed: int, out_dir: Path, force: bool = False
):
    """Train the float tagger on ``data``; return ``(model, record)``."""
    from nanotrig.models.garnet import build_garnet_tagger
    from nanotrig.models.metrics import classification_metrics
    from nanotrig.models.plots import plot_loss
    from nanotrig.models.train import fit, seed_everything

    out_dir = prepare_output_dir(out_dir, force)
    seed_everything(seed)  # before the model exists: its initial weights are drawn here
    model = build_garnet_tagger(data.x.shape[1], data.x.shape[2], len(data.class_names))
    x_tr, y_tr = data.part("train")
    x_va, y_va = data.part("val")
    history = fit(
        model, x_tr, y_tr, x_va, y_va, epochs=model_cfg.epochs, batch_size=model_cfg.batch_size,
        learning_rate=model_cfg.learning_rate, patience=model_cfg.patience, seed=seed,
    )  # fmt: skip
    x_te, y_te = data.part("test")
    scores = model.predict(x_te, batch_size=1024, verbose=0)
    metrics = classification_metrics(y_te, scores, data.class_names)
    log.info("float GarNet tagger: test accuracy %.3f", metrics["accuracy"])
    model.save(out_dir / "model.h5")
    np.savez(out_dir / "split.npz", **data.split)
    write_json(out_dir / "history.json", history)
    write_json(out_dir / "metrics.json", metrics)
    plot_loss(history, out_dir / "loss.png", title="Float GarNet tagger")
    record = {
        "stage": "train",
        "model": str(out_dir / "model.h5"),
        "inputs": {"shape": list(data.x.shape[1:]), "vertex_count": "n_vertices (jets, 1)"},
        "parameters": int(model.count_params()),
        "sizes": {k: len(v) for k, v in data.split.items()},
        "epochs_run": len(history.get("loss", [])),
        "metrics": metrics,
    }
    write_json(out_dir / "artifact.json", record)
    return model, record
