"""Quantize stage of the ``jet_garnet`` family: the float tagger's GarNet layer as a ``QGarNet``
(``quantized_bits`` FLR kernel/bias and Fout kernel), fine-tuned with quantization-aware training.

After QAT the Dense head's weights and biases are rounded to ``ap_fixed<16,6>`` (post-training),
the type they have in firmware. Bits: ``quantize.layers.garnet.weights`` or
``DEFAULT_GARNET_BITS``. Writes ``qmodel.h5``, ``history.json``, ``loss.png``, ``artifact.json``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from nanotrig.config import QuantBits, QuantizeConfig
from nanotrig.fileio import prepare_output_dir, write_json

__all__ = [
    "DEFAULT_GARNET_BITS",
    "HEAD_LAYERS",
    "HEAD_WEIGHT_FRAC",
    "build_qgarnet_tagger",
    "garnet_bits",
    "quantize_garnet_stage",
    "round_head_weights",
]

log = logging.getLogger(__name__)

#: ``quantized_bits(10, 4)``: 5 fractional bits (hls4ml holds their contraction exactly) and a
#: +-16 clip of each vertex's output, which trained weights stay inside (README, GarNet section).
DEFAULT_GARNET_BITS = QuantBits(bits=10, integer=4)
#: The Dense head's layers and the fractional bits of their ``ap_fixed<16,6>`` weights/biases.
HEAD_LAYERS = ("fc1", "output")
HEAD_WEIGHT_FRAC = 10
_HEAD_WEIGHT_MAX = 32.0 - 2.0**-HEAD_WEIGHT_FRAC


def round_head_weights(model) -> None:
    """Round the Dense head's weights and biases to the nearest ``ap_fixed<16,6>`` value
    (saturating at its range), in place: post-training quantization of the head."""
    import numpy as np

    scale = 2.0**HEAD_WEIGHT_FRAC
    for name in HEAD_LAYERS:
        layer = model.get_layer(name)
        layer.set_weights(
            [
                np.clip(np.round(w * scale) / scale, -32.0, _HEAD_WEIGHT_MAX)
                for w in layer.get_weights()
            ]
        )


def garnet_bits(cfg: QuantizeConfig) -> QuantBits:
    """The GarNet transforms' quantizer: the ``garnet`` layer override or the default."""
    layer = cfg.layers.get("garnet")
    return layer.weights if layer is not None and layer.weights else DEFAULT_GARNET_BITS


def build_qgarnet_tagger(float_model, bits: QuantBits):
    """The float tagger with its GarNet layer replaced by a ``QGarNet``; weights copied."""
    from nanotrig.quantize.garnet import QGarNet
    from tensorflow import keras

    g = float_model.get_layer("garnet").get_config()
    x_in = keras.Input(shape=float_model.inputs[0].shape[1:], name="constituents")
    n_in = keras.Input(shape=(1,), name="n_vertices")
    qg = QGarNet(
        g["n_aggregators"], g["n_filters"], g["n_propagate"], total_bits=bits.bits,
        int_bits=bits.integer, simplified=True, collapse="mean", input_format="xn",
        output_activation=None, mean_by_nvert=False, name="garnet",
    )  # fmt: skip
    h = qg([x_in, n_in])
    for name in ("fc1", "relu1", "output", "softmax"):
        layer = float_model.get_layer(name)
        h = type(layer).from_config(layer.get_config())(h)
    model = keras.Model([x_in, n_in], h, name="jet_qgarnet")
    for layer in model.layers[2:]:
        layer.set_weights(float_model.get_layer(layer.name).get_weights())
    return model


def quantize_garnet_stage(
    float_model, data, cfg: QuantizeConfig, batch_size: int, seed: int, out_dir: Path,
    force: bool = False,
):  # fmt: skip
    """``QGarNet`` tagger from the float weights, QAT for ``cfg.epochs``; ``(model, record)``."""
    from nanotrig.models.metrics import classification_metrics
    from nanotrig.models.plots import plot_loss
    from nanotrig.models.train import fit

    out_dir = prepare_output_dir(out_dir, force)
    bits = garnet_bits(cfg)
    model = build_qgarnet_tagger(float_model, bits)
    x_te, y_te = data.part("test")
    ptq = classification_metrics(y_te, model.predict(x_te, verbose=0), data.class_names)
    x_tr, y_tr = data.part("train")
    x_va, y_va = data.part("val")
    history = fit(
        model, x_tr, y_tr, x_va, y_va, epochs=cfg.epochs, batch_size=batch_size,
        learning_rate=cfg.learning_rate, patience=cfg.patience, seed=seed,
    )  # fmt: skip
    qat = classification_metrics(y_te, model.predict(x_te, verbose=0), data.class_names)
    round_head_weights(model)  # the head goes to firmware with ap_fixed<16,6> weights
    metrics = classification_metrics(y_te, model.predict(x_te, verbose=0), data.class_names)
    log.info(
        "QGarNet(%d,%d) tagger: test accuracy %.3f before QAT, %.3f after",
        bits.bits, bits.integer, ptq["accuracy"], metrics["accuracy"],
    )  # fmt: skip
    model.save(out_dir / "qmodel.h5")
    write_json(out_dir / "history.json", history)
    plot_loss(history, out_dir / "loss.png", title=f"QGarNet({bits.bits},{bits.integer}) QAT")
    record = {
        "stage": "quantize",
        "model": str(out_dir / "qmodel.h5"),
        "garnet_quantizer": {"bits": bits.bits, "integer": bits.integer},
        "quantized_layers": ["garnet (FLR kernel/bias, Fout kernel, per-vertex output)"],
        "head": "fc1, output: weights and biases rounded to ap_fixed<16,6> after QAT",
        "training": "QAT fine-tune from the float weights; then the Dense head's weights "
        "rounded to ap_fixed<16,6> (post-training)",
        "metrics_after_qat_float_head": qat,
        "epochs_run": len(history.get("loss", [])),
        "metrics_before_qat": ptq,
        "metrics": metrics,
    }
    write_json(out_dir / "artifact.json", record)
    return model, record
