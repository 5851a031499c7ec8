"""The DQM autoencoder's quantization stage: float autoencoder -> QKeras model trained with QAT.

The QKeras model comes from :func:`quantize.qmodel.build_qmodel` (QConv2D, quantized_relu,
UpSampling2D/MaxPooling2D as they are, input quantizer first). The last layer, the linear
QConv2D ``output``, needs no activation quantizer: its value is the exact fixed-point
accumulator, which hls4ml's bit-exact pass sizes to hold. QAT minimises the same MSE on the
same good maps as the float training; the metrics compare both on the test runs.

Writes qmodel.h5, history.json, metrics.json (float and quantized), loss.png, fault_roc.png,
example_<fault>.png, test_inputs.npy (the test maps as the model takes them, raw counts or
normalised maps, (n, H, W, 1)), verify_inputs.npy (every
map of the sample, test maps first: what the firmware check reads) and artifact.json.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from nanotrig.models.dqm_metrics import fault_roc_curves
from nanotrig.models.dqm_plots import plot_ae_loss, plot_fault_roc
from nanotrig.models.dqm_stage import (
    MODEL_FILE,
    SPLIT_FILE,
    evaluate_ae,
    fit_autoencoder,
    load_dqm_data,
    model_shift,
    plot_examples,
)
from nanotrig.models.train import seed_everything
from nanotrig.quantize.qmodel import build_qmodel, check_overrides
from nanotrig.quantize.stage import QMODEL_FILE, load_keras_model, quantize_record

from nanotrig.config import QuantizeConfig
from nanotrig.errors import ModelError
from nanotrig.fileio import atomic_path, prepare_output_dir, write_json

__all__ = ["quantize_dqm_ae"]

log = logging.getLogger(__name__)


def _save_npy(dest: Path, arr: np.ndarray) -> None:
    with atomic_path(dest) as tmp, open(tmp, "wb") as f:
        np.save(f, arr)


def quantize_dqm_ae(
    model_dir: Path, sample_path: Path, cfg: QuantizeConfig, seed: int, out_dir: Path,
    batch_size: int = 64, force: bool = False,
) -> dict:  # fmt: skip
    """Build the QKeras autoencoder from ``model_dir/model.h5`` and train it with QAT."""
    model_dir = Path(model_dir)
    float_model = load_keras_model(model_dir / MODEL_FILE)
    with np.load(model_dir / SPLIT_FILE) as f:
        split = {k: f[k] for k in f.files}
    shift = model_shift(float_model)  # a model on raw counts: the same inputs and scale
    data = load_dqm_data(sample_path, split, shift=shift,
                         normalise="per_map" if shift is None else "po2_scale")  # fmt: skip
    if tuple(float_model.input_shape[1:]) != data.x.shape[1:]:
        raise ModelError(
            f"model {model_dir / MODEL_FILE} takes maps of shape "
            f"{tuple(float_model.input_shape[1:])}, the sample gives {data.x.shape[1:]}: "
            "train and quantize on the same sample"
        )
    check_overrides(float_model, cfg)
    out_dir = prepare_output_dir(out_dir, force)
    t0 = time.perf_counter()
    seed_everything(seed)
    if cfg.init == "float":
        qmodel = build_qmodel(float_model, cfg)
    else:
        from tensorflow import keras

        qmodel = build_qmodel(keras.models.clone_model(float_model), cfg)
    history = fit_autoencoder(
        qmodel, data.good("train"), data.good("val"), epochs=cfg.epochs, batch_size=batch_size,
        learning_rate=cfg.learning_rate, patience=cfg.patience, seed=seed,
        y_train=data.good_target("train"), y_val=data.good_target("val"),
    )  # fmt: skip
    q_metrics, q_arrays = evaluate_ae(qmodel, data)
    f_metrics, f_arrays = evaluate_ae(float_model, data)
    log.info(
        "AUC any fault: float %s, quantized %s",
        f_metrics["auc_any_fault"], q_metrics["auc_any_fault"],
    )  # fmt: skip
    with atomic_path(out_dir / QMODEL_FILE) as tmp:
        qmodel.save(tmp, save_format="h5")
    test = split["test"]
    _save_npy(out_dir / "test_inputs.npy", data.x[test])
    _save_npy(out_dir / "test_fault_type.npy", data.fault_type[test])  # 0: good
    rest = np.setdiff1d(np.arange(len(data.x)), test)
    _save_npy(out_dir / "verify_inputs.npy", data.x[np.concatenate([test, rest])])
    metrics = {"float": f_metrics, "quantized": q_metrics}
    write_json(out_dir / "history.json", history)
    write_json(out_dir / "metrics.json", metrics)
    plot_ae_loss(history, out_dir / "loss.png", title="QKeras DQM autoencoder (QAT)")
    ftype = data.fault_type[test]
    curves = {
        "float": fault_roc_curves(f_arrays["per_map"], ftype, data.fault_names),
        "QKeras": fault_roc_curves(q_arrays["per_map"], ftype, data.fault_names),
    }
    plot_fault_roc(curves, out_dir / "fault_roc.png", title="Float vs QKeras: fault ROC")
    examples = plot_examples(data, q_arrays, out_dir, "QKeras")
    record = {
        **quantize_record(qmodel, cfg, seed, model_dir, out_dir, data.x.shape[1:]),
        "epochs_run": len(history["loss"]),
        "metrics": metrics,
        "plots": {"loss": "loss.png", "fault_roc": "fault_roc.png", "examples": examples},
        "seconds": round(time.perf_counter() - t0, 2),
    }
    write_json(out_dir / "artifact.json", record)
    return record
