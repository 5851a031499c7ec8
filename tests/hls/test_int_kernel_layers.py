"""The integer kernel's spatial and merge layers (hls/int_kernel_layers.py) equal the batch
harness (hls4ml's C++, the values ``trace()`` returns) bit for bit, layer by layer.

One small QKeras model holds every layer the other families use: Conv2D with 'same' padding
(hls4ml adds a ZeroPadding2D layer in io_stream, pads inside the convolution in io_parallel;
computed in both of the kernel's loop orders),
ReLU, MaxPooling2D, UpSampling2D, two branches multiplied (Multiply), BatchNormalization per
channel, Flatten, Dense and a softmax head (compared through the table emulator). It is
converted with hls4ml's inferred types, narrowed after the merge (rounding, saturation, a
saturating accumulator with rounded products), in io_stream (the same model in io_parallel
passed too; left out for time: tests/hls/test_batch_csim.py verifies an io_parallel Conv1D
through the kernel). A kernel with one weight changed by one LSB
must disagree (the comparison can fail).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from nanotrig.hls.batch import build_batch_sim
from nanotrig.hls.int_kernel import _compile_plan, _plan, build_int_kernel, supports
from qmodels import qb, seeded

pytestmark = [
    pytest.mark.skipif(shutil.which("g++") is None, reason="the integer kernel needs g++"),
    pytest.mark.filterwarnings("ignore:The `keras.constraints.serialize:UserWarning"),
]


def _model():
    import keras
    from qkeras import QActivation, QConv2D, QDense, quantized_relu

    inp = keras.Input((6, 6, 1), name="img")
    x = QActivation(qb(10, 3), name="qin")(inp)
    x = QConv2D(3, 3, padding="same", kernel_quantizer=qb(6), bias_quantizer=qb(6), name="c1")(x)
    r = QActivation(quantized_relu(6, 2), name="r1")(x)
    p = keras.layers.MaxPooling2D(2, name="p1")(r)
    u = keras.layers.UpSampling2D(2, name="u1")(p)
    a = QConv2D(2, 3, kernel_quantizer=qb(6), bias_quantizer=qb(6), name="c2")(u)
    b = QConv2D(2, 3, kernel_quantizer=qb(6), bias_quantizer=qb(6), name="c3")(r)
    m = keras.layers.Multiply(name="mul")([a, b])
    m = keras.layers.BatchNormalization(name="bn")(m)
    f = keras.layers.Flatten(name="flat")(m)
    y = QDense(4, kernel_quantizer=qb(6), bias_quantizer=qb(6), name="fc")(f)
    y = keras.layers.Activation("softmax", name="softmax")(y)
    model = seeded(keras.Model(inp, y), seed=3)
    bn = model.get_layer("bn")  # a positive variance, a non-trivial scale per channel
    gamma, beta, mean, var = bn.get_weights()
    bn.set_weights([gamma, beta, mean, np.abs(var) + 0.5])
    return model


#: Narrow types after the merge (hls4ml infers 36 to 65 bits there): rounding and saturation,
#: a saturating accumulator with rounded products.
_NARROW = {
    "mul": {"result": "fixed<14,5,RND,SAT>"},
    "bn": {"result": "fixed<16,6,RND_CONV,SAT>", "scale": "fixed<10,3>", "bias": "fixed<10,4>"},
    "fc": {"result": "fixed<16,6,RND_CONV,SAT>", "accum": "fixed<20,7,RND,SAT>"},
}


def _convert(model, out: Path, io_type: str, narrow: bool = True):
    import hls4ml
    from nanotrig.hls._capture import captured_stdout

    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    for name, prec in _NARROW.items() if narrow else ():
        cfg["LayerName"][name]["Precision"].update(prec)
    with captured_stdout():
        return hls4ml.converters.convert_from_keras_model(
            model, hls_config=cfg, backend="Vitis", io_type=io_type, output_dir=str(out)
        )


def _inputs(n: int) -> np.ndarray:
    rng = np.random.default_rng(11)
    x = rng.normal(0, 2.0, (n, 36))
    x[rng.random((n, 36)) < 0.3] = 0.0  # zeros: the kernel skips them
    x[:4] = [[7.99], [-8.0], [100.0], [2**-8]]  # saturation and the LSB
    return x


def _kernel_equals_harness(hls_model, kernel, x, tmp_path):
    """Every layer of ``kernel`` equals hls4ml's C++ (the batch harness) on ``x``; returns the
    kernel's layers, the harness's layers and the harness's output."""
    names = list(kernel.layers[1:])
    sim = build_batch_sim(hls_model, tmp_path / "batch", tap=names)
    y, taps = sim.run(x)
    cols = sim.split(taps)
    got = kernel.run(x, layers="all")
    for name in names:
        np.testing.assert_array_equal(got[name], cols[name], err_msg=name)
    return got, cols, y


def test_spatial_layers_exact(tmp_path, monkeypatch, io_type="io_stream"):
    """io_stream (the CNN and DQM families); io_parallel convolutions: test_batch_csim.py.
    Both loop orders of the convolutions (pixel by pixel, and summed over the kernel offsets)
    give hls4ml's values."""
    from nanotrig.hls import int_kernel_layers
    from nanotrig.hls.tables import emulate, table_spec

    hls_model = _convert(_model(), tmp_path / "prj", io_type)
    assert supports(hls_model) is None
    kernel = build_int_kernel(hls_model, tmp_path / "kernel")
    kinds = {s.kind for s in _plan(hls_model).steps}
    assert {"conv", "maxpool", "resize", "multiply", "scale", "dense"} <= kinds, kinds
    assert ("zeropad" in kinds) == (io_type == "io_stream") and kernel.head == "softmax"
    x = _inputs(400)
    got, cols, y = _kernel_equals_harness(hls_model, kernel, x, tmp_path)
    names = list(kernel.layers[1:])
    assert np.unique(got["fc"]).size > 100
    monkeypatch.setattr(int_kernel_layers, "_offsets_cost", lambda g, nf: -1)
    offsets = build_int_kernel(hls_model, tmp_path / "offsets")
    assert "summed over the kernel offsets" in offsets.lib_path.with_suffix(".cpp").read_text()
    got_o = offsets.run(x, layers="all")
    for name in names:
        np.testing.assert_array_equal(got_o[name], cols[name], err_msg=name)
    monkeypatch.undo()
    head = next(la for la in hls_model.get_layers() if la.name == "softmax")
    np.testing.assert_array_equal(emulate(table_spec(head), got["fc"]), y)

    # mutation: one weight of the first convolution one LSB off must be seen
    plan = _plan(hls_model)
    conv = next(s for s in plan.steps if s.kind == "conv")
    conv.weights[0, 0] += 1
    bad = _compile_plan(plan, tmp_path / "mutant").run(x, layers=[conv.name])[conv.name]
    assert np.any(bad != cols[conv.name])


def _avg_model():
    import keras
    from qkeras import QActivation, QConv2D, QDense

    inp = keras.Input((8, 12, 1), name="img")
    x = QActivation(qb(10, 3), name="qin")(inp)
    x = QConv2D(2, 3, padding="same", kernel_quantizer=qb(6), bias_quantizer=qb(6), name="c1")(x)
    x = keras.layers.AveragePooling2D(2, name="avg1")(x)  # 4 values: signed, truncated sums
    x = keras.layers.AveragePooling2D((1, 3), name="avg2")(x)  # divided by 3: no shift
    x = keras.layers.Flatten(name="flat")(x)
    x = QDense(2, kernel_quantizer=qb(6), bias_quantizer=qb(6), name="fc")(x)
    return seeded(keras.Model(inp, x), seed=5)


def test_average_pooling_exact(tmp_path, io_type="io_stream"):
    """Average pooling (a window of 4, and of 3: a division that is no shift) equals hls4ml's
    C++ on every layer; the narrowed result rounds and saturates. io_stream (the families'
    io type for images); the same model in io_parallel passed too, left out for time."""
    import hls4ml
    from nanotrig.hls._capture import captured_stdout

    model = _avg_model()
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    for name in ("avg1", "avg2"):
        cfg["LayerName"][name]["Precision"]["result"] = "fixed<9,2,RND,SAT>"
    with captured_stdout():
        hls_model = hls4ml.converters.convert_from_keras_model(
            model, hls_config=cfg, backend="Vitis", io_type=io_type,
            output_dir=str(tmp_path / "prj"),
        )  # fmt: skip
    assert supports(hls_model) is None, supports(hls_model)
    assert [s.kind for s in _plan(hls_model).steps].count("avgpool") == 2
    kernel = build_int_kernel(hls_model, tmp_path / "kernel")
    x = np.random.default_rng(2).normal(0, 3.0, (300, 96))
    got, _, _ = _kernel_equals_harness(hls_model, kernel, x, tmp_path)
    assert np.any(got["avg2"] < 0) and np.unique(got["avg2"]).size > 50


def test_unsupported_layers_named(tmp_path):
    """Padded average pooling (hls4ml's divisor counts the window's pixels inside the image) is
    left to the harness, with the reason."""
    import keras

    inp = keras.Input((4, 4, 1))
    x = keras.layers.AveragePooling2D(3, strides=2, padding="same", name="avg")(inp)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(2, name="d")(x)
    model = seeded(keras.Model(inp, x))
    reason = supports(_convert(model, tmp_path / "prj", "io_parallel", narrow=False))
    assert reason is not None and "'avg'" in reason and "without padding" in reason
    assert "batch harness" in reason
