"""The topologies of hls4ml's own QKeras tests (test_qkeras.py, test_binary_cnn.py,
test_qseparable*.py, the merge and RNN tests), rebuilt tiny with seeded random weights.

``EXACT``: models ``convert`` accepts and ``verify`` must find bit-exact on every layer, several
topology classes grouped per model to share one C++ compile. ``REFUSED``: models ``convert``
must refuse in one line, naming the layer and a phrase of the reason.
"""

from __future__ import annotations

import keras
import numpy as np
from qkeras import (
    QLSTM,
    QActivation,
    QConv1D,
    QDense,
    binary,
    quantized_bits,
    quantized_po2,
    quantized_relu,
    quantized_sigmoid,
    quantized_tanh,
    ternary,
)
from qkeras.qconv2d_batchnorm import QConv2DBatchnorm
from qkeras.qconvolutional import QDepthwiseConv2D, QSeparableConv1D, QSeparableConv2D
from qmodels import qb, seeded

L = keras.layers


def _qin(shape, name: str = "x"):
    inp = keras.Input(shape, name=name)
    return inp, QActivation(qb(8, 1), name="qin")(inp)


def _dense(n: int, name: str, **kw):
    kw.setdefault("kernel_quantizer", qb(6))
    kw.setdefault("bias_quantizer", qb(6))
    return QDense(n, name=name, **kw)


def dense_quantizers():
    """Weight quantizers (auto_po2 alpha, po2, binary, ternary, keep_negative=False), a
    ternary activation hls4ml fuses into ``bnbt_*``, binary, quantized_tanh and
    quantized_sigmoid (hls4ml's hard_tanh / hard_sigmoid) activations, merges, a quantized_bits
    output."""
    inp, x = _qin((10,))
    x = _dense(8, "fa", kernel_quantizer=quantized_bits(4, 0, alpha="auto_po2"),
               bias_quantizer=qb(4), activation=quantized_relu(4, 0))(x)  # fmt: skip
    b = _dense(6, "fb", kernel_quantizer=quantized_po2(4), bias_quantizer=qb(6, 2))(x)
    c = _dense(6, "fc", kernel_quantizer=binary(), bias_quantizer=qb(5, 2))(x)
    d = _dense(6, "fd", kernel_quantizer=ternary(), bias_quantizer=qb(5, 2),
               activation=ternary())(x)  # fmt: skip
    e = _dense(6, "fe", kernel_quantizer=quantized_bits(4, 0, keep_negative=False, alpha=1))(x)
    g = _dense(6, "fg", kernel_quantizer=qb(4))(x)
    g = QActivation(binary(alpha=1), name="bin")(g)
    s = L.Add(name="add")([b, c])
    t = L.Subtract(name="sub")([d, e])
    m = L.Average(name="avg")([s, t])
    h = QActivation(quantized_tanh(8), name="tanh")(_dense(4, "fh")(x))
    k = QActivation(quantized_sigmoid(5), name="sigmoid")(_dense(4, "fk")(x))
    y = L.Concatenate(name="cat")([m, g])
    y = L.Concatenate(name="cat2")([y, L.Concatenate(name="cat3")([h, k])])
    y = _dense(3, "out")(y)
    y = QActivation(quantized_bits(8, 3, alpha=1), name="qout")(y)
    return keras.Model(inp, y)


def conv2d_layers():
    """Padding, depthwise, separable, cropping, pooling, permute, reshape."""
    inp, x = _qin((6, 6, 2))
    x = L.ZeroPadding2D(1, name="pad")(x)
    x = QDepthwiseConv2D((3, 3), depthwise_quantizer=qb(6), bias_quantizer=qb(4),
                         activation=quantized_relu(3, 0), name="dw")(x)  # fmt: skip
    x = QSeparableConv2D(3, 3, depthwise_quantizer=qb(8, 3), pointwise_quantizer=qb(8, 3),
                         bias_quantizer=qb(8, 3), name="sep")(x)  # fmt: skip
    x = L.Cropping2D(1, name="crop")(x)
    x = L.Permute((2, 1, 3), name="permute")(x)
    x = L.MaxPooling2D(1, name="mp")(x)
    x = L.Reshape((-1,), name="flat")(x)
    x = _dense(3, "out")(x)
    return keras.Model(inp, x)


def conv1d_layers():
    """Separable conv 1D, padding, cropping, average and global max pooling."""
    inp, x = _qin((9, 3))
    x = QSeparableConv1D(4, 3, depthwise_quantizer=qb(8, 3), pointwise_quantizer=qb(8, 3),
                         bias_quantizer=qb(8, 3), name="sep")(x)  # fmt: skip
    x = L.ZeroPadding1D(1, name="pad")(x)
    x = QConv1D(3, 3, kernel_quantizer=qb(6), bias_quantizer=qb(6), name="c1")(x)
    x = L.Cropping1D(1, name="crop")(x)
    x = QActivation(quantized_relu(6, 2), name="relu")(x)
    x = L.AveragePooling1D(2, name="ap")(x)
    x = L.GlobalMaxPooling1D(name="gmp")(x)
    return keras.Model(inp, x)


def activation_only():
    """A model that is only a quantized_bits QActivation (hls4ml's test_quantizer)."""
    return keras.Sequential([keras.Input((1,)), QActivation(qb(8, 4), name="quantizer")])


#: name -> (builder, extra CLI options for convert, Keras layers hls4ml does not materialise:
#: ``verify`` lists them as not compared). ``out``: its output is rounded by the quantized_bits
#: QActivation ``qout`` in the same hls4ml layer (``out_linear``, compared with ``qout``);
#: ``flat``: a Reshape, in io_parallel only a new view of ``mp``'s values.
EXACT = {
    "dense_quantizers": (dense_quantizers, [], {"out"}),
    "conv2d_layers": (conv2d_layers, [], {"flat"}),
    "conv1d_stream_resource": (
        conv1d_layers,
        ["--io-type", "io_stream", "--strategy", "Resource", "--reuse-factor", "2"],
        set(),
    ),
}


def _rnn(cls, **kw):
    q = "quantized_bits(8, 0, alpha=1)"
    return keras.Sequential(
        [
            keras.Input((5, 2)),
            cls(
                4,
                kernel_quantizer=q,
                recurrent_quantizer=q,
                bias_quantizer=q,
                state_quantizer=q,
                name="rnn",
                **kw,
            ),
        ]
    )


def _one_dense(**kw):
    inp, x = _qin((10,))
    return keras.Model(inp, _dense(6, "fc", **kw)(x))


def _merge3():
    inp, x = _qin((10,))
    parts = [_dense(2, f"f{i}")(x) for i in range(3)]
    return keras.Model(inp, L.Concatenate(name="cat")(parts))


def _conv_bn():
    inp, x = _qin((6, 6, 1))
    conv = QConv2DBatchnorm(2, 3, name="convbn", kernel_quantizer=qb(6, 0), bias_quantizer=qb(6, 0))
    return keras.Model(inp, L.Flatten()(conv(x)))


def _dense_then(act):
    inp, x = _qin((10,))
    x = _dense(6, "fc")(x)
    return keras.Model(inp, QActivation(act, name="act")(x))


#: name -> (builder, layer named in the refusal, a phrase of the reason)
REFUSED = {
    "qlstm": (lambda: _rnn(QLSTM), "rnn", "recurrent"),
    "relu_negative_slope": (
        lambda: _dense_then(quantized_relu(6, 2, negative_slope=0.25)),
        "act",
        "negative_slope",
    ),
    "binary_tanh": (lambda: _dense_then("binary_tanh"), "act", "exactly 0"),
    "activation_only": (activation_only, "quantizer", "only quantized_bits"),
    "binary_after_binary_weights": (
        lambda: _one_dense(kernel_quantizer=binary(), activation=binary()),
        "fc",
        "XNOR",
    ),
    "alpha_auto": (
        lambda: _one_dense(kernel_quantizer=quantized_bits(4, 0, alpha="auto")),
        "fc",
        "power of two",
    ),
    "ternary_alpha_auto": (
        lambda: _one_dense(kernel_quantizer=ternary(alpha="auto")),
        "fc",
        "power of two",
    ),
    "merge_of_three": (
        lambda: _merge3(),
        "cat",
        "two at a time",
    ),
    "qconv2d_batchnorm": (_conv_bn, "convbn", "folds its batch normalization"),
    "float_bias": (lambda: _one_dense(bias_quantizer=None), "fc", "float32 bias"),
}


def build(builder, seed: int = 7):
    """The model with seeded normal(0, 0.5) weights."""
    return seeded(builder(), seed)


def inputs(model, n: int, seed: int = 1) -> np.ndarray:
    """Uniform inputs over +-2.2 (beyond the 8-bit input quantizer's +-2: saturation), one
    all-zero event (binary/ternary thresholds at exactly 0)."""
    x = np.random.default_rng(seed).uniform(-2.2, 2.2, (n, *model.input_shape[1:]))
    x = np.round(x * 64) / 64  # on the input grid, so every event is exact in float32
    x[0] = 0
    return x.astype(np.float32)


#: QSimpleRNN and QGRU cannot be built with QKeras 0.9 on TensorFlow 2.15 (their cells call the
#: removed ``tf.nest.is_sequence``): a file saved elsewhere is simulated by renaming the class of
#: a saved QLSTM model's layer in its HDF5 config.
UNLOADABLE = ("QSimpleRNN", "QGRU")


def save_renamed_rnn(path, cls: str) -> None:
    """Save the QLSTM model and rename its recurrent layer's class to ``cls`` in the file."""
    import json

    import h5py

    build(lambda: _rnn(QLSTM)).save(path)
    with h5py.File(path, "r+") as f:
        cfg = json.loads(f.attrs["model_config"])
        for layer in cfg["config"]["layers"]:
            if layer["class_name"] == "QLSTM":
                layer["class_name"] = cls
        f.attrs["model_config"] = json.dumps(cfg)
