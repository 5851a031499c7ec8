"""The quantization stage: float model + sample -> QKeras model trained with QAT."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from nanotrig.models import MODEL_FILE, classification_metrics, load_sample_dataset, roc_curves
from nanotrig.models.metrics import paired_accuracy_change, write_test_scores
from nanotrig.models.plots import plot_loss, plot_roc
from nanotrig.models.train import fit, seed_everything
from nanotrig.quantize.qmodel import build_qmodel, check_overrides, quantizer_strings
from nanotrig.quantize.scan_train import (
    layer_sparsities,
    stripped_qmodel,
    weight_sparsity,
    with_pruning,
)

from nanotrig.config import QuantizeConfig
from nanotrig.errors import ModelError
from nanotrig.fileio import atomic_path, file_sha256, prepare_output_dir, write_json

__all__ = [
    "QMODEL_FILE",
    "layer_quantizers",
    "load_keras_model",
    "quantize_model",
    "quantize_record",
]

log = logging.getLogger(__name__)
QMODEL_FILE = "qmodel.h5"


def load_keras_model(path: Path):
    """Load a Keras 2 .h5 model (QKeras layers allowed); ModelError if missing or unreadable."""
    from nanotrig.models.standardise import standardise_class
    from qkeras.utils import _add_supported_quantized_objects
    from tensorflow import keras

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {path} not found: give the path of a Keras .h5 model")
    custom: dict = {standardise_class().__name__: standardise_class()}
    _add_supported_quantized_objects(custom)
    try:
        return keras.models.load_model(path, custom_objects=custom, compile=False)
    except Exception as err:  # h5py/keras raise many types for a bad file
        raise ModelError(
            f"cannot read Keras model {path} ({type(err).__name__}): "
            "give a Keras 2 .h5 file saved with model.save()"
        ) from None


def quantize_model(
    model_dir: Path, sample_path: Path, cfg: QuantizeConfig, seed: int, out_dir: Path,
    force: bool = False,
) -> dict:  # fmt: skip
    """Build the QKeras model from ``model_dir/model.h5`` and train it with QAT.

    Writes qmodel.h5, history.json, metrics.json (quantized beside float), test_scores.npz
    (float and quantized class scores of the test jets), roc.png, loss.png,
    test_inputs.npy (the test jets as the model takes them, what the firmware sees: raw
    features (n, 16) in physical units, or images (n, S, S, 1)) and artifact.json.
    """
    model_dir = Path(model_dir)
    float_model = load_keras_model(model_dir / MODEL_FILE)
    data = load_sample_dataset(sample_path, model_dir)
    if tuple(float_model.input_shape[1:]) != data.x_test.shape[1:]:
        raise ModelError(
            f"model {model_dir / MODEL_FILE} takes inputs of shape "
            f"{tuple(float_model.input_shape[1:])}, the sample gives {data.x_test.shape[1:]}: "
            "train and quantize on the same sample"
        )
    check_overrides(float_model, cfg)  # before anything is written
    out_dir = prepare_output_dir(out_dir, force)
    t0 = time.perf_counter()
    seed_everything(seed)
    if cfg.init == "float":
        qmodel = build_qmodel(float_model, cfg)
    else:  # same architecture, fresh seeded initial weights
        from tensorflow import keras

        qmodel = build_qmodel(keras.models.clone_model(float_model), cfg)
    trained, prune_steps = with_pruning(qmodel, cfg.sparsity, layer_sparsities(cfg))
    history = fit(
        trained, data.x_train, data.y_train, data.x_val, data.y_val,
        epochs=cfg.epochs, batch_size=256, learning_rate=cfg.learning_rate,
        patience=cfg.patience, seed=seed, callbacks=prune_steps,
    )  # fmt: skip
    if prune_steps:
        qmodel = stripped_qmodel(trained, float_model, cfg)
    q_scores = qmodel.predict(data.x_test, batch_size=4096, verbose=0)
    f_scores = float_model.predict(data.x_test, batch_size=4096, verbose=0)
    q_metrics = classification_metrics(data.y_test, q_scores, data.class_names)
    f_metrics = classification_metrics(data.y_test, f_scores, data.class_names)
    log.info("accuracy: float %.4f, quantized %.4f", f_metrics["accuracy"], q_metrics["accuracy"])

    with atomic_path(out_dir / QMODEL_FILE) as tmp:
        qmodel.save(tmp, save_format="h5")
    with atomic_path(out_dir / "test_inputs.npy") as tmp, open(tmp, "wb") as f:
        np.save(f, data.x_test)
    with atomic_path(out_dir / "test_labels.npy") as tmp, open(tmp, "wb") as f:
        np.save(f, data.y_test)
    write_test_scores(
        out_dir, data.y_test, data.class_names, {"float": f_scores, "quantized": q_scores}
    )
    metrics = {"float": f_metrics, "quantized": q_metrics}
    write_json(out_dir / "history.json", history)
    write_json(out_dir / "metrics.json", metrics)
    what = float_model.name.replace("jet_", "jet ").replace("mlp", "MLP").replace("cnn", "CNN")
    plot_loss(history, out_dir / "loss.png", title=f"QKeras {what} (QAT)")
    plot_roc(
        {
            "float": roc_curves(data.y_test, f_scores, data.class_names),
            "QKeras": roc_curves(data.y_test, q_scores, data.class_names),
        },
        out_dir / "roc.png", title="Float vs quantized: ROC (test jets)",
    )  # fmt: skip
    record = {
        **quantize_record(qmodel, cfg, seed, model_dir, out_dir, data.x_test.shape[1:]),
        "weight_sparsity": weight_sparsity(qmodel),
        "epochs_run": len(history["loss"]),
        "metrics": metrics,
        "accuracy_drop": f_metrics["accuracy"] - q_metrics["accuracy"],
        "accuracy_change": paired_accuracy_change(data.y_test, f_scores, q_scores),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    write_json(out_dir / "artifact.json", record)
    return record


def layer_quantizers(qmodel, cfg: QuantizeConfig) -> dict[str, dict[str, str]]:
    """The quantizer expressions of every QDense/QConv layer of ``qmodel`` (for reports)."""
    return {
        layer.name: quantizer_strings(cfg, layer.name)
        for layer in qmodel.layers
        if type(layer).__name__ in {"QDense", "QConv1D", "QConv2D"}
    }


def quantize_record(
    qmodel, cfg: QuantizeConfig, seed: int, model_dir: Path, out_dir: Path, input_shape,
    quantizers: dict | None = None,
) -> dict:  # fmt: skip
    """The head of every family's quantize artifact record: files, config, seed, quantizers."""
    return {
        "stage": "quantize",
        "model": str(out_dir / QMODEL_FILE),
        "sha256": file_sha256(out_dir / QMODEL_FILE),
        "float_model": str(Path(model_dir) / MODEL_FILE),
        "config": cfg.model_dump(mode="json"),
        "seed": seed,
        "input_shape": list(input_shape),
        "quantizers": layer_quantizers(qmodel, cfg) if quantizers is None else quantizers,
    }
