"""The training stage: sample HDF5 -> float Keras model + split + metrics + plots.

The model family picks the inputs: ``jet_mlp`` the 16 high-level features as the trigger sends
them (physical units), standardised inside the model by its first layer (a power-of-two
standardisation fitted on the training jets, :mod:`nanotrig.models.standardise`), ``jet_cnn``
the jet images as they are (pT fractions).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from nanotrig.models.data import make_split, sample_inputs, save_split
from nanotrig.models.jet_cnn import build_jet_cnn
from nanotrig.models.jet_mlp import build_jet_mlp
from nanotrig.models.metrics import classification_metrics, roc_curves
from nanotrig.models.plots import plot_loss, plot_roc
from nanotrig.models.standardise import Po2Scaling, po2_standardise_layer
from nanotrig.models.train import fit, seed_everything

from nanotrig.config import ModelConfig, QuantBits, QuantizeConfig
from nanotrig.fileio import atomic_path, file_sha256, prepare_output_dir, write_json

__all__ = ["MODEL_FILE", "build_model", "feature_units", "raw_type", "train_model"]

log = logging.getLogger(__name__)
MODEL_FILE = "model.h5"
_TITLES = {"jet_mlp": "jet MLP", "jet_cnn": "jet CNN"}


def feature_units(names) -> list[str]:
    """Unit of each jet feature: GeV for masses, a count for the multiplicity, else none."""
    return ["GeV" if "mass" in n else "count" if "multiplicity" in n else "1" for n in names]


def raw_type(bits: QuantBits) -> dict:
    """The raw input type as recorded: quantizer, ap_fixed type, range and LSB."""
    frac = bits.bits - 1 - bits.integer
    return {
        "quantizer": f"quantized_bits({bits.bits},{bits.integer},alpha=1)",
        "ap_type": f"ap_fixed<{bits.bits},{bits.integer + 1},AP_RND_CONV,AP_SAT>",
        "range": [-(2.0**bits.integer), 2.0**bits.integer - 2.0**-frac],
        "lsb": 2.0**-frac,
    }


def build_model(cfg: ModelConfig, input_shape: tuple[int, ...], n_classes: int, standardise=None):
    """The float Keras model of ``cfg.family`` for inputs of ``input_shape`` (no batch axis);
    ``standardise``: the jet MLP's input standardisation layer."""
    if cfg.family == "jet_cnn":
        return build_jet_cnn(
            input_shape[0], n_classes, cfg.conv_filters, cfg.dense, cfg.kernel_size,
            cfg.pool_size,
        )  # fmt: skip
    return build_jet_mlp(input_shape[0], n_classes, cfg.hidden, standardise)


_QDEFAULT = QuantizeConfig()


def train_model(
    sample_path: Path, cfg: ModelConfig, seed: int, out_dir: Path, force: bool = False,
    raw_input: QuantBits = _QDEFAULT.raw_input, model_input: QuantBits = _QDEFAULT.input,
) -> dict:  # fmt: skip
    """Train the float model of ``cfg.family`` on a generated sample; write ``out_dir``.

    Features: the model takes them raw (type ``raw_input`` once quantized) and standardises
    them inside, clipped to the range of ``model_input`` (the quantized model's input type).
    Writes model.h5, split.npz, inputs.json, history.json, metrics.json, roc.png, loss.png and
    returns the artifact record (also artifact.json).
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
    x = np.asarray(raw, dtype=np.float32)  # features in physical units; images pT fractions
    standardise = None
    if kind == "features":
        scaling = Po2Scaling.fit(x[split["train"]], raw_input)
        spec = {"dataset": "features", "feature_names": list(sample.feature_names),
                "units": feature_units(sample.feature_names),
                "input_type": raw_type(raw_input)}  # fmt: skip
        standardise = po2_standardise_layer(scaling, spec, model_input)
    save_split(out_dir, split, None, kind, x.shape[1:], raw=kind == "features")
    y = sample.labels.astype(np.int64)

    seed_everything(seed)  # before the model exists: its initial weights are drawn here
    model = build_model(cfg, x.shape[1:], len(sample.class_names), standardise)
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
        "inputs": {"kind": kind, "shape": list(x.shape[1:]), "raw": kind == "features"},
        "parameters": int(model.count_params()),
        "sizes": {k: len(v) for k, v in split.items()},
        "epochs_run": len(history["loss"]),
        "metrics": metrics,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    write_json(out_dir / "artifact.json", record)
    return record
