"""The training stage: sample HDF5 -> float Keras model + split + scaler + metrics + plots.

The model family picks the inputs: ``jet_mlp`` the 16 high-level features standardised by a
scaler fitted on the training jets, ``jet_cnn`` the jet images as they are (pT fractions).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from nanotrig.models.data import Scaler, make_split, sample_inputs, save_split
from nanotrig.models.jet_cnn import build_jet_cnn
from nanotrig.models.jet_mlp import build_jet_mlp
from nanotrig.models.metrics import classification_metrics, roc_curves
from nanotrig.models.plots import plot_loss, plot_roc
from nanotrig.models.train import fit, seed_everything

from nanotrig.config import ModelConfig
from nanotrig.fileio import atomic_path, file_sha256, prepare_output_dir, write_json

__all__ = ["MODEL_FILE", "build_model", "train_model"]

log = logging.getLogger(__name__)
MODEL_FILE = "model.h5"
_TITLES = {"jet_mlp": "jet MLP", "jet_cnn": "jet CNN"}


def build_model(cfg: ModelConfig, input_shape: tuple[int, ...], n_classes: int):
    """The float Keras model of ``cfg.family`` for inputs of ``input_shape`` (no batch axis)."""
    if cfg.family == "jet_cnn":
        return build_jet_cnn(
            input_shape[0], n_classes, cfg.conv_filters, cfg.dense, cfg.kernel_size,
            cfg.pool_size,
        )  # fmt: skip
    return build_jet_mlp(input_shape[0], n_classes, cfg.hidden)


def train_model(
    sample_path: Path, cfg: ModelConfig, seed: int, out_dir: Path, force: bool = False
) -> dict:
    """Train the float model of ``cfg.family`` on a generated sample; write ``out_dir``.

    Writes model.h5, split.npz, inputs.json, scaler.json (features only), history.json,
    metrics.json, roc.png, loss.png and returns the artifact record (also artifact.json).
    """
    from nanotrig.samples import load_jets

    if cfg.family == "jet_garnet":
        from nanotrig.errors import ConfigError

        raise ConfigError(
            "train_model trains the jet_mlp and jet_cnn families, not jet_garnet: use "
            "'nanotrig train' with the jet_garnet config (nanotrig/families/jet_garnet.py)"
        )
    kind = cfg.inputs
    sample = load_jets(sample_path, parts=("images",) if kind == "images" else ())
    raw = sample_inputs(sample, kind)
    out_dir = prepare_output_dir(out_dir, force)
    t0 = time.perf_counter()
    split = make_split(sample.labels, cfg.val_fraction, cfg.test_fraction, seed)
    if kind == "features":
        scaler = Scaler.fit(raw[split["train"]], sample.feature_names)
        x = scaler.transform(raw)
    else:  # images: pT fractions in [0, 1], already on a fixed scale
        scaler, x = None, np.asarray(raw, dtype=np.float32)
    save_split(out_dir, split, scaler, kind, x.shape[1:])
    y = sample.labels.astype(np.int64)

    seed_everything(seed)  # before the model exists: its initial weights are drawn here
    model = build_model(cfg, x.shape[1:], len(sample.class_names))
    history = fit(
        model, x[split["train"]], y[split["train"]], x[split["val"]], y[split["val"]],
        epochs=cfg.epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
        patience=cfg.patience, seed=seed,
    )  # fmt: skip
    scores = model.predict(x[split["test"]], batch_size=4096, verbose=0)
    metrics = classification_metrics(y[split["test"]], scores, sample.class_names)
    log.info("float model: test accuracy %.4f", metrics["accuracy"])

    with atomic_path(out_dir / MODEL_FILE) as tmp:
        model.save(tmp, save_format="h5")
    write_json(out_dir / "history.json", history)
    write_json(out_dir / "metrics.json", metrics)
    title = f"Float {_TITLES[cfg.family]}"
    plot_loss(history, out_dir / "loss.png", title=title)
    plot_roc(
        {"float": roc_curves(y[split["test"]], scores, sample.class_names)},
        out_dir / "roc.png", title=f"{title}: ROC (test jets)",
    )  # fmt: skip
    record = {
        "stage": "train",
        "model": str(out_dir / MODEL_FILE),
        "sha256": file_sha256(out_dir / MODEL_FILE),
        "sample": str(sample_path),
        "config": cfg.model_dump(mode="json"),
        "seed": seed,
        "inputs": {"kind": kind, "shape": list(x.shape[1:])},
        "parameters": int(model.count_params()),
        "sizes": {k: len(v) for k, v in split.items()},
        "epochs_run": len(history["loss"]),
        "metrics": metrics,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    write_json(out_dir / "artifact.json", record)
    return record
