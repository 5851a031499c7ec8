"""A convolutional autoencoder for DQM occupancy maps, small enough for an FPGA.

(H, W, 1) normalised occupancy map -> the same shape. Encoder: Conv2D(k x k, same) + ReLU +
MaxPooling2D(p) per entry of ``filters``; decoder: UpSampling2D(p) (nearest) + Conv2D + ReLU in
reverse, the last block ending in a linear Conv2D(1) named ``output``. Only layers hls4ml converts
bit-exactly with ``io_stream`` are used: UpSampling2D, not Conv2DTranspose. Every layer is
separate (no fused activations) so that the quantizer maps it one to one.
"""

from __future__ import annotations

from collections.abc import Sequence

from nanotrig.errors import ConfigError

__all__ = ["build_dqm_ae", "check_map_shape"]


def check_map_shape(shape: Sequence[int], n_blocks: int, pool: int = 2) -> None:
    """ConfigError unless both sides of ``shape`` divide by ``pool ** n_blocks`` (the decoder
    must give back the map's exact shape)."""
    step = pool**n_blocks
    if any(s % step or s < step for s in shape):
        raise ConfigError(
            f"a {shape[0]}x{shape[1]} map cannot go through {n_blocks} pooling blocks of "
            f"{pool}: both sides must be multiples of {step}; change samples.shape, "
            "model.conv_filters or model.pool_size"
        )


def build_dqm_ae(
    shape: Sequence[int],
    filters: Sequence[int] = (8, 4),
    kernel_size: int = 3,
    pool_size: int = 2,
    standardise=None,
):
    """Float Keras autoencoder for (H, W) maps. Layer names: [standardise], enc_conv1..,
    enc_relu1.., pool1.., up1.., dec_conv1.., dec_relu1.., output (linear). ``standardise``:
    a layer scaling raw counts inside (:mod:`nanotrig.models.standardise`), or None."""
    from tensorflow import keras

    if len(shape) != 2:
        raise ConfigError(f"map shape must be (H, W), got {tuple(shape)}")
    if not filters or any(f <= 0 for f in filters):
        raise ConfigError(f"conv_filters must be positive integers, got {list(filters)}")
    check_map_shape(shape, len(filters), pool_size)
    conv = {"kernel_size": kernel_size, "padding": "same", "kernel_initializer": "lecun_uniform"}
    inp = keras.Input(shape=(int(shape[0]), int(shape[1]), 1), name="input")
    x = inp if standardise is None else standardise(inp)
    for i, f in enumerate(filters, start=1):
        x = keras.layers.Conv2D(f, name=f"enc_conv{i}", **conv)(x)
        x = keras.layers.Activation("relu", name=f"enc_relu{i}")(x)
        x = keras.layers.MaxPooling2D(pool_size, name=f"pool{i}")(x)
    decoder = [*reversed(filters[:-1]), 1]
    for i, f in enumerate(decoder, start=1):
        x = keras.layers.UpSampling2D(pool_size, name=f"up{i}")(x)
        if i == len(decoder):
            x = keras.layers.Conv2D(1, name="output", **conv)(x)
        else:
            x = keras.layers.Conv2D(f, name=f"dec_conv{i}", **conv)(x)
            x = keras.layers.Activation("relu", name=f"dec_relu{i}")(x)
    return keras.Model(inp, x, name="dqm_ae")
