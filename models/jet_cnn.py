"""A jet-image CNN small enough for an FPGA: (S, S, 1) pT-fraction image -> 5 classes.

Conv2D(3x3) + ReLU + MaxPooling2D(2) per entry of ``conv_filters``, then Flatten, Dense + ReLU
per entry of ``dense``, Dense(n_classes) logits and a softmax, each a separate layer so that the
quantizer maps it one to one (no fused activations).
"""

from __future__ import annotations

from collections.abc import Sequence

from nanotrig.errors import ConfigError

__all__ = ["build_jet_cnn", "cnn_output_size"]


def cnn_output_size(image_size: int, n_conv: int, kernel: int = 3, pool: int = 2) -> int:
    """Side of the feature map after ``n_conv`` x (valid conv ``kernel``, max-pool ``pool``);
    ConfigError when the image is too small for that many blocks."""
    side = image_size
    for i in range(1, n_conv + 1):
        side = (side - kernel + 1) // pool
        if side < 1:
            raise ConfigError(
                f"a {image_size}x{image_size} image is too small for {n_conv} conv blocks "
                f"(kernel {kernel}, pool {pool}): the map vanishes after block {i}; "
                "use fewer model.conv_filters, a smaller kernel or a larger image_size"
            )
    return side


def build_jet_cnn(
    image_size: int,
    n_classes: int,
    conv_filters: Sequence[int] = (8, 8),
    dense: Sequence[int] = (16,),
    kernel_size: int = 3,
    pool_size: int = 2,
):
    """Float Keras model. Layer names (conv1.., relu_c1.., pool1.., flatten, fc1.., relu1..,
    output, softmax) are what per-layer bit-width overrides in the quantize config refer to."""
    from tensorflow import keras

    if not conv_filters or any(f <= 0 for f in conv_filters):
        raise ConfigError(f"conv_filters must be positive integers, got {list(conv_filters)}")
    if any(w <= 0 for w in dense):
        raise ConfigError(f"dense widths must be positive integers, got {list(dense)}")
    cnn_output_size(image_size, len(conv_filters), kernel_size, pool_size)
    inp = keras.Input(shape=(image_size, image_size, 1), name="input")
    x = inp
    for i, filters in enumerate(conv_filters, start=1):
        x = keras.layers.Conv2D(
            filters, kernel_size, kernel_initializer="lecun_uniform", name=f"conv{i}"
        )(x)
        x = keras.layers.Activation("relu", name=f"relu_c{i}")(x)
        x = keras.layers.MaxPooling2D(pool_size, name=f"pool{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i, width in enumerate(dense, start=1):
        x = keras.layers.Dense(width, kernel_initializer="lecun_uniform", name=f"fc{i}")(x)
        x = keras.layers.Activation("relu", name=f"relu{i}")(x)
    x = keras.layers.Dense(n_classes, kernel_initializer="lecun_uniform", name="output")(x)
    out = keras.layers.Activation("softmax", name="softmax")(x)
    return keras.Model(inp, out, name="jet_cnn")
