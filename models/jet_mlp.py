"""The jet-tagger MLP of the hls4ml papers: 16 -> 64 -> 32 -> 32 -> 5, ReLU, softmax; on raw
features, with the input standardisation as its first layer."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["build_jet_mlp"]


def build_jet_mlp(
    n_features: int, n_classes: int, hidden: Sequence[int] = (64, 32, 32), standardise=None
):
    """Float Keras model. Layer names (fc1.., relu1.., output, softmax) are what per-layer
    bit-width overrides in the quantize config refer to. ``standardise``: a layer applied to
    the inputs first (:func:`nanotrig.models.standardise.po2_standardise_layer`), or None for a
    model on already standardised inputs."""
    from tensorflow import keras

    inp = keras.Input(shape=(n_features,), name="input")
    x = inp if standardise is None else standardise(inp)
    for i, width in enumerate(hidden, start=1):
        x = keras.layers.Dense(width, kernel_initializer="lecun_uniform", name=f"fc{i}")(x)
        x = keras.layers.Activation("relu", name=f"relu{i}")(x)
    x = keras.layers.Dense(n_classes, kernel_initializer="lecun_uniform", name="output")(x)
    out = keras.layers.Activation("softmax", name="softmax")(x)
    return keras.Model(inp, out, name="jet_mlp")
