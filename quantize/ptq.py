"""Post-training quantization: a float Keras model -> the QKeras model the exact chain takes.

No training: each BatchNormalization is folded into the Dense/Conv before it
(:mod:`nanotrig.quantize.bn_fold`, QKeras' ``QConv2DBatchnorm`` folding), then every layer is
mapped by :func:`nanotrig.quantize.qmodel.build_qmodel` with the bit widths of a
:class:`QuantizeConfig` (global defaults and per-layer overrides, as in a run config's
``quantize`` section), with an input quantizer. Given labelled inputs, the record gives the
accuracy of both models and the paired change; given inputs alone, how often they agree.

Output directory::

    qmodel.h5       the QKeras model (``nanotrig convert`` takes it)
    artifact.json   bit widths per layer, folds, saturated weights, accuracy change, versions
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from nanotrig.models.metrics import paired_accuracy_change
from nanotrig.quantize.bn_fold import fold_batchnorm
from nanotrig.quantize.qmodel import build_qmodel, layer_bits
from nanotrig.quantize.stage import QMODEL_FILE, layer_quantizers, load_keras_model

from nanotrig.config import QuantizeConfig
from nanotrig.errors import ConfigError, DataError, ModelError
from nanotrig.fileio import (
    atomic_path,
    check_output_dir,
    file_sha256,
    package_versions,
    prepare_output_dir,
    write_json,
)
from nanotrig.inputs import check_inputs

__all__ = ["load_labels", "ptq_model"]

log = logging.getLogger(__name__)
_QUANTIZED_PREFIX = "Q"


def ptq_model(
    model_path: Path,
    out_dir: Path,
    cfg: QuantizeConfig,
    inputs: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Quantize the float Keras model at ``model_path`` into ``out_dir``; return the record.

    The model, the bit widths, the inputs and the labels are checked before ``out_dir`` is
    touched. Raises ModelError, ConfigError, DataError, OutputExistsError.
    """
    t0 = time.perf_counter()
    model_path, out_dir = Path(model_path), Path(out_dir)
    if labels is not None and inputs is None:
        raise ConfigError("labels given without inputs: pass --inputs with --labels")
    model = load_keras_model(model_path)
    quantized = [
        layer.name for layer in model.layers if type(layer).__name__.startswith(_QUANTIZED_PREFIX)
    ]
    if quantized:
        raise ModelError(
            f"model {model_path} already has QKeras layers ({', '.join(quantized[:3])}): "
            "convert it directly with `nanotrig convert`"
        )
    folded, folds = fold_batchnorm(model)
    qmodel = build_qmodel(folded, cfg)
    x = y = None
    if inputs is not None:
        x = check_inputs(inputs, model.input_shape[1:], f"model {model_path.name}")
        y = None if labels is None else _check_labels(labels, len(x), model.output_shape)
    check_output_dir(out_dir, force)  # refuse before any work is written

    record: dict[str, Any] = {
        "stage": "quantize",
        "mode": "ptq",
        "float_model": str(model_path),
        "float_model_sha256": file_sha256(model_path),
        "config": cfg.model_dump(mode="json"),
        "input_quantizer": {"bits": cfg.input.bits, "integer": cfg.input.integer},
        "quantizers": layer_quantizers(qmodel, cfg),
        "batchnorm_folded": folds,
        "saturated_weights": _saturated(folded, cfg),
        "saturated_activations": None if x is None else _saturated_activations(model, cfg, x),
        **_comparison(model, qmodel, x, y),
    }
    for name, frac in record["saturated_weights"].items():
        if frac > 0:
            log.warning(
                "layer %s: %.1f%% of its weights lie outside the quantizer's range and "
                "saturate: give it more integer bits (quantize.layers.%s.weights)",
                name, 100 * frac, name,
            )  # fmt: skip
    for name, frac in (record["saturated_activations"] or {}).items():
        if frac > 0:
            log.warning(
                "%s: %.1f%% of its values on the given inputs exceed the quantizer's range and "
                "saturate: give it more integer bits", name, 100 * frac,
            )  # fmt: skip
    out = prepare_output_dir(out_dir, force)
    with atomic_path(out / QMODEL_FILE) as tmp:
        qmodel.save(tmp, save_format="h5")
    record.update(
        model=str(out / QMODEL_FILE),
        sha256=file_sha256(out / QMODEL_FILE),
        versions=package_versions(),
        seconds=round(time.perf_counter() - t0, 2),
    )
    write_json(out / "artifact.json", record)
    return record


def _comparison(model, qmodel, x, y) -> dict[str, Any]:
    """Float vs quantized on the given events: accuracy and paired change, or agreement."""
    if x is None:
        return {"n_events": 0, "accuracy": None, "accuracy_change": None, "agreement": None}
    f = np.asarray(model.predict(x, batch_size=1024, verbose=0), np.float64)
    q = np.asarray(qmodel.predict(x, batch_size=1024, verbose=0), np.float64)
    f2, q2 = f.reshape(len(x), -1), q.reshape(len(x), -1)
    agreement = {"max_abs_diff": float(np.max(np.abs(f2 - q2)))}
    if f2.shape[1] > 1:
        agreement["argmax_agreement"] = float(np.mean(f2.argmax(1) == q2.argmax(1)))
    out: dict[str, Any] = {"n_events": len(x), "accuracy": None, "accuracy_change": None}
    if y is not None:
        out["accuracy"] = {
            "float": float(np.mean(f2.argmax(1) == y)),
            "quantized": float(np.mean(q2.argmax(1) == y)),
        }
        out["accuracy_change"] = paired_accuracy_change(y, f2, q2)
    return {**out, "agreement": agreement}


def _check_labels(labels: np.ndarray, n: int, output_shape) -> np.ndarray:
    """Class indices (N,) from integer labels or one-hot rows; DataError naming the problem."""
    n_classes = int(np.prod(output_shape[1:]))
    if n_classes < 2:
        raise DataError(
            f"the model has {n_classes} output: --labels needs a classifier with one score per "
            "class; leave --labels out to compare the outputs only"
        )
    y = np.asarray(labels)
    if y.ndim == 2 and y.shape[1] == n_classes:
        y = y.argmax(axis=1)
    if y.ndim != 1 or len(y) != n:
        raise DataError(
            f"labels have shape {np.shape(labels)}, the inputs {n} events: give one class index "
            f"(or one-hot row of {n_classes}) per event"
        )
    if y.dtype.kind == "f" and not np.all(y == np.round(y)):
        raise DataError("labels are not whole numbers: give class indices 0..C-1")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= n_classes:
        raise DataError(
            f"labels span {y.min()}..{y.max()}, the model has {n_classes} classes: "
            f"give class indices 0..{n_classes - 1}"
        )
    return y


def load_labels(path: str | Path, dataset: str = "labels") -> np.ndarray:
    """Labels from ``.npy`` or the ``labels`` dataset of an ``.h5`` file (class indices or
    one-hot rows); DataError if missing or unreadable."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"labels file {p} not found: give a .npy file or an .h5 with '{dataset}'")
    if p.suffix.lower() == ".npy":
        try:
            return np.load(p, allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise DataError(f"labels file {p} is not a readable .npy array: {err}") from None
    if p.suffix.lower() in (".h5", ".hdf5"):
        import h5py

        try:
            with h5py.File(p, "r") as f:
                if dataset not in f:
                    raise DataError(f"labels file {p} has no dataset '{dataset}'")
                return f[dataset][()]
        except OSError as err:
            raise DataError(f"cannot read labels file {p}: {err}") from None
    raise DataError(f"labels file {p} has unknown suffix {p.suffix!r}: use .npy or .h5")


def _saturated_activations(model, cfg: QuantizeConfig, x: np.ndarray) -> dict[str, float]:
    """On the given inputs: the fraction of values at or above the range of the input quantizer
    (``input``) and of each relu quantizer (the float model's values, before quantization)."""
    import keras

    top = 2.0**cfg.input.integer
    out = {"input": float(np.mean((x >= top) | (x < -top)))}
    relus = []
    for layer in model.layers:
        cls, conf = type(layer).__name__, layer.get_config()
        if cls == "ReLU" or (
            cls in ("Activation", *_WEIGHTED) and conf.get("activation") == "relu"
        ):
            relus.append(layer)
    if relus:
        # node 0: the layer's call in ``model`` (fold_batchnorm calls some layers again)
        probe = keras.Model(model.inputs, [layer.get_output_at(0) for layer in relus])
        values = probe.predict(x, batch_size=1024, verbose=0)
        for layer, v in zip(relus, values if len(relus) > 1 else [values], strict=True):
            a = layer_bits(cfg, layer.name)[2]
            out[layer.name] = float(np.mean(np.asarray(v) >= 2.0**a.integer))
    return out


_WEIGHTED = ("Dense", "Conv1D", "Conv2D")


def _saturated(model, cfg: QuantizeConfig) -> dict[str, float]:
    """Per Dense/Conv: the fraction of kernel and bias values outside the quantizer's range."""
    out = {}
    for layer in model.layers:
        if type(layer).__name__ not in _WEIGHTED:
            continue
        w, b, _ = layer_bits(cfg, layer.name)
        values = layer.get_weights()
        n = sum(v.size for v in values)
        bad = int(np.sum(np.abs(values[0]) >= 2.0**w.integer))
        if len(values) > 1:
            bad += int(np.sum(np.abs(values[1]) >= 2.0**b.integer))
        out[layer.name] = bad / n if n else 0.0
    return out
