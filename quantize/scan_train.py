"""One scan point's training: QKeras model from the float weights, optional magnitude pruning
(tensorflow-model-optimization), a short seeded QAT fine-tune at fixed epochs."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
from nanotrig.models.train import seed_everything
from nanotrig.quantize.qmodel import build_qmodel

from nanotrig.config import QuantizeConfig

__all__ = [
    "PRUNABLE",
    "finetune",
    "layer_sparsities",
    "single_thread_tf",
    "stripped_qmodel",
    "weight_sparsity",
    "with_pruning",
]

log = logging.getLogger(__name__)

#: QKeras layers whose kernels are pruned.
PRUNABLE = frozenset({"QDense", "QConv1D", "QConv2D"})


def single_thread_tf() -> None:
    """One TensorFlow thread (intra and inter op): results then do not depend on the core
    count. Only possible before TF's context starts; later calls leave it as it is."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # context already initialised: keep its setting
        log.debug("TF threading already set: %s", tf.config.threading)


def finetune(
    float_model,
    cfg: QuantizeConfig,
    x_train: np.ndarray,
    y_train: np.ndarray,
    *,
    sparsity: float,
    epochs: int,
    learning_rate: float,
    batch_size: int,
    seed: int,
):
    """Return the QKeras model of ``float_model`` with ``cfg``'s bits after ``epochs`` of QAT.

    With ``sparsity`` > 0 the Dense/Conv kernels are pruned to that fraction of zeros by
    magnitude (``ConstantSparsity`` from step 0) during the fine-tune; the returned model is a
    plain QKeras model (pruning wrappers stripped) with the zeros in its kernels.
    """
    import keras

    seed_everything(seed)
    qmodel = build_qmodel(float_model, cfg)
    model, callbacks = with_pruning(qmodel, sparsity, layer_sparsities(cfg))
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(
        x_train, y_train, epochs=epochs, batch_size=batch_size, shuffle=True,
        callbacks=callbacks, verbose=0,
    )  # fmt: skip
    return stripped_qmodel(model, float_model, cfg) if callbacks else qmodel


def layer_sparsities(cfg: QuantizeConfig) -> dict[str, float]:
    """The per-layer pruned fractions of ``cfg.layers`` (layers without one are left out)."""
    return {n: o.sparsity for n, o in cfg.layers.items() if o.sparsity is not None}


def with_pruning(
    qmodel, sparsity: float, layers: Mapping[str, float] | None = None
) -> tuple[Any, list]:
    """``(model to train, callbacks)``: the Dense/Conv layers wrapped by tfmot's
    ``prune_low_magnitude`` (``ConstantSparsity`` from step 0) at ``sparsity``, or at
    ``layers[name]`` where given (0: that layer not pruned), and its step callback; with no
    layer to prune, ``qmodel`` itself and no callback."""
    layers = layers or {}
    target = {
        la.name: layers.get(la.name, sparsity)
        for la in qmodel.layers
        if type(la).__name__ in PRUNABLE
    }
    if not any(s > 0 for s in target.values()):
        return qmodel, []
    import keras
    import tensorflow_model_optimization as tfmot

    def wrap(layer):
        if target.get(layer.name, 0) > 0:
            schedule = tfmot.sparsity.keras.ConstantSparsity(
                target[layer.name], begin_step=0, frequency=1
            )
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
        return layer

    # clone_function returns qmodel's own layers (wrapped or not): the weights are shared.
    model = keras.models.clone_model(qmodel, clone_function=wrap)
    return model, [tfmot.sparsity.keras.UpdatePruningStep()]


def stripped_qmodel(model, float_model, cfg: QuantizeConfig):
    """A plain QKeras model (:func:`build_qmodel` of ``float_model``) holding the trained
    weights of the pruning-wrapped ``model``, zeros included."""
    import tensorflow_model_optimization as tfmot

    stripped = tfmot.sparsity.keras.strip_pruning(model)
    # A fresh QKeras model (the stripped clone shares layers with the original graph, which
    # hls/model_io cannot re-trace); weights copied by layer name.
    final = build_qmodel(float_model, cfg)
    for layer in final.layers:
        if layer.weights:
            layer.set_weights(stripped.get_layer(layer.name).get_weights())
    return final


def weight_sparsity(qmodel) -> float:
    """Fraction of zero kernel weights over the Dense/Conv layers (before quantization)."""
    zeros = total = 0
    for layer in qmodel.layers:
        if type(layer).__name__ in PRUNABLE:
            w = layer.get_weights()[0]
            zeros += int((w == 0).sum())
            total += w.size
    return zeros / total if total else 0.0
