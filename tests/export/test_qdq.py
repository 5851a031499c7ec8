"""Quantized QDQ ONNX vs QKeras: exact integers and logits, documented differences bounded."""

from __future__ import annotations

import numpy as np
import pytest
from nanotrig.export import OnnxModel, compare_qdq, export_quantized, qkeras_to_qdq
from nanotrig.export.fixedpoint import FixedPoint
from nanotrig.models import build_jet_mlp
from nanotrig.quantize import build_qmodel

from nanotrig.config import LayerBits, QuantBits, QuantizeConfig
from nanotrig.errors import DataError, ModelError

# fc2 with 8-bit weights after an 8-bit relu: the u8*s8 pair sum could saturate int16 in
# VPMADDUBSW, so that layer takes the u8u8 path (weights shifted by zero point 128).
MIXED = QuantizeConfig(
    layers={
        "fc2": LayerBits(weights=QuantBits(bits=8, integer=1)),
        "relu1": LayerBits(activation=QuantBits(bits=8, integer=2)),
        "relu3": LayerBits(activation=QuantBits(bits=4, integer=1)),
    }
)


def _inputs(n: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(3)
    x = rng.normal(scale=4.0, size=(n, 16)).astype(np.float32)
    step = 2.0**-10
    edge = np.stack(
        [
            np.zeros(16),
            np.full(16, 32 - step),  # largest input value
            np.full(16, -32.0),
            np.full(16, 40.0),  # saturates
            np.full(16, -1000.0),
            np.full(16, 0.5 * step),  # ties: round half to even -> 0
            np.full(16, 1.5 * step),  # -> 2 quanta
            np.full(16, -2.5 * step),  # -> -2 quanta
            rng.integers(-32768, 32768, 16) * step,  # exactly on the grid
        ]
    ).astype(np.float32)
    return np.concatenate([x, edge])


@pytest.fixture(scope="module", params=["default", "mixed"])
def qmodel(request):
    cfg = QuantizeConfig() if request.param == "default" else MIXED
    return build_qmodel(build_jet_mlp(16, 5), cfg)


def test_qdq_exact_on_every_layer(qmodel, tmp_path):
    import onnx

    path = qkeras_to_qdq(qmodel, tmp_path / "q.onnx")
    onnx.checker.check_model(str(path), full_check=True)
    rec = compare_qdq(qmodel, _inputs(), path)
    assert rec["file_max_abs_diff_outputs"] <= 1e-6 and rec["file_argmax_agreement"] == 1.0
    for name, layer in rec["layers"].items():
        if name != "softmax":
            assert layer["max_abs_diff"] == 0.0, (name, layer)
    assert rec["logits_exact"] and rec["frac_events_logits_differ"] == 0.0
    assert rec["max_abs_diff_outputs"] <= 1e-6  # softmax: float round-off only
    assert rec["argmax_agreement"] == 1.0


def test_integer_kernels_used(qmodel):
    from nanotrig.export import build_qdq_proto

    proto = build_qdq_proto(qmodel)
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("QGemm") == 3  # fc2, fc3, output; fc1 has the 16-bit input
    assert "MatMulInteger" not in ops and "Mul" not in ops[ops.index("Gemm") :]
    assert ops.count("Gemm") == 1
    assert "DequantizeLinear" not in ops  # see export.qdq._Builder.to_float
    assert 3 in {i.data_type for i in proto.graph.initializer}  # int8 weights


def test_huge_inputs_documented_difference(tmp_path):
    """|x| >= 2**14: QKeras's straight-through x + (xq - x) loses xq in float32 (1e30 -> 0);
    the QDQ graph saturates like the fixed-point format. Measured, not hidden."""
    qmodel = build_qmodel(build_jet_mlp(16, 5), QuantizeConfig())
    x = np.array([[1e30] * 16, [2e4] * 16, [-1e5] * 16, [16000.0] * 16], np.float32)
    rec = compare_qdq(qmodel, x)
    import onnxruntime as ort
    from nanotrig.export import build_qdq_proto

    sess = ort.InferenceSession(build_qdq_proto(qmodel, trace=True).SerializeToString())
    got = sess.run(["trace/input_quant"], {"input": x})[0]
    expected = FixedPoint(16, 5, signed=True).quantize(x) * 2.0**-10
    np.testing.assert_array_equal(got, expected)  # proper saturation at +-32
    assert rec["layers"]["input_quant"]["max_abs_diff"] <= 32.0  # QKeras: 0 instead of 31.999
    assert rec["layers"]["input_quant"]["frac_events_differ"] > 0


def test_conv_chain_exact(tmp_path):
    from qkeras import QActivation, QConv2D, QDense
    from tensorflow import keras

    q = "quantized_bits(6,0,alpha=1)"
    inp = keras.Input((8, 8, 2), name="img")
    x = QActivation("quantized_bits(8,3,alpha=1)", name="input_quant")(inp)
    x = QConv2D(4, 3, padding="same", kernel_quantizer=q, bias_quantizer=q, name="c1")(x)
    x = QActivation("quantized_relu(6,1)", name="r1")(x)
    x = keras.layers.MaxPooling2D(2, name="p1")(x)
    x = QConv2D(3, 2, kernel_quantizer=q, bias_quantizer=q, name="c2")(x)
    x = QActivation("quantized_relu(5,1)", name="r2")(x)
    x = keras.layers.AveragePooling2D(2, padding="same", name="p2")(x)
    x = keras.layers.Flatten(name="flat")(x)
    x = QDense(3, kernel_quantizer=q, bias_quantizer=q, name="out")(x)
    model = keras.Model(inp, keras.layers.Activation("softmax", name="sm")(x))
    xs = np.random.default_rng(0).normal(scale=3, size=(300, 8, 8, 2)).astype(np.float32)
    rec = compare_qdq(model, xs, qkeras_to_qdq(model, tmp_path / "c.onnx"))
    for name in ("input_quant", "c1", "r1", "p1", "c2", "r2", "flat"):
        assert rec["layers"][name]["max_abs_diff"] == 0.0, name
    # average pooling divides in float: round-off is allowed there and after it
    assert rec["max_abs_diff_logits"] <= 1e-5 and rec["max_abs_diff_outputs"] <= 1e-5


def test_export_quantized_stage(tmp_path):
    qmodel = build_qmodel(build_jet_mlp(16, 5), QuantizeConfig())
    qmodel.save(tmp_path / "qmodel.h5")
    rec = export_quantized(tmp_path / "qmodel.h5", _inputs(300), tmp_path / "out")
    assert rec["agrees"] and rec["logits_exact"]
    assert (tmp_path / "out" / "qmodel.qdq.onnx").is_file()
    assert (tmp_path / "out" / "qdq_artifact.json").is_file()
    assert any("QGemm" in line for line in rec["layer_plan"])
    with pytest.raises(DataError, match=r"expects \(N, 16\)"):
        OnnxModel(rec["onnx"]).predict(np.zeros((3, 4), np.float32))


def test_unsupported_layer():
    from tensorflow import keras

    inp = keras.Input((4,), name="x")
    x = keras.layers.Dense(3, name="d")(inp)
    with pytest.raises(ModelError, match=r"layer d \(Dense\) is not supported for QDQ export"):
        qkeras_to_qdq(keras.Model(inp, x), "/nonexistent/never_written.onnx")


def test_unsupported_quantizer():
    from qkeras import QDense
    from tensorflow import keras

    inp = keras.Input((4,), name="x")
    x = QDense(3, kernel_quantizer="quantized_bits(4,0,alpha='auto_po2')", name="d")(inp)
    with pytest.raises(ModelError, match=r"alpha='auto_po2'.*use alpha=1"):
        qkeras_to_qdq(keras.Model(inp, x), "/nonexistent/never_written.onnx")


def test_not_a_chain():
    from tensorflow import keras

    inp = keras.Input((4,), name="x")
    a = keras.layers.Activation("relu", name="a")(inp)
    b = keras.layers.Activation("relu", name="b")(inp)
    out = keras.layers.Activation("linear", name="c")(a)
    with pytest.raises(ModelError, match=r"one input and one output|single chains"):
        qkeras_to_qdq(keras.Model(inp, [out, b]), "/nonexistent/x.onnx")


def test_onnx_runtime_rejects_file(tmp_path):
    """A file onnx.checker accepts but onnxruntime cannot run: one-line ModelError."""
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("NoSuchOp", ["x"], ["y"], domain="nanotrig.fake")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])],
    )
    m = helper.make_model(
        g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("nanotrig.fake", 1)]
    )
    m.ir_version = 8
    onnx.save_model(m, tmp_path / "odd.onnx")
    with pytest.raises(ModelError, match=r"onnxruntime cannot load .*re-export"):
        OnnxModel(tmp_path / "odd.onnx")


def _optimized_ops(path, tmp_path) -> list[str]:
    """Node types of the graph onnxruntime runs (after its graph optimisations)."""
    import onnx
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(path), opts, ["CPUExecutionProvider"])
    return [n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node]


def test_file_logits_exact_and_integer_graph(qmodel, tmp_path):
    """The file as onnxruntime optimises it (fused QGemm + requantization), up to the logits:
    identical to QKeras, and the integer layers stay QGemm with uint8 activations."""
    from tensorflow import keras

    logits = keras.Model(qmodel.input, qmodel.get_layer("output").output)
    path = qkeras_to_qdq(logits, tmp_path / "logits.onnx")
    x = _inputs()
    got = OnnxModel(path, ["CPUExecutionProvider"]).predict(x, progress=False)
    np.testing.assert_array_equal(got, logits.predict(x, batch_size=4096, verbose=0))
    ops = _optimized_ops(path, tmp_path)
    assert ops.count("QGemm") == 3 and "MatMulInteger" not in ops and "Mul" not in ops


def test_bias_finer_than_accumulator_exact(tmp_path):
    """A bias with more fractional bits than x_scale * w_scale cannot be an int32 QGemm input:
    float Add after a float-output QGemm, still exact."""
    from qkeras import QActivation, QDense
    from tensorflow import keras

    q = "quantized_bits(6,0,alpha=1)"
    inp = keras.Input((8,), name="x")
    x = QActivation("quantized_bits(12,3,alpha=1)", name="input_quant")(inp)
    x = QDense(6, kernel_quantizer=q, bias_quantizer=q, name="d1")(x)
    x = QActivation("quantized_relu(4,1)", name="r1")(x)
    fine = "quantized_bits(16,1,alpha=1)"  # 2**-14 < 2**-3 * 2**-5
    x = QDense(3, kernel_quantizer=q, bias_quantizer=fine, name="d2")(x)
    model = keras.Model(inp, x)
    rng = np.random.default_rng(5)
    model.get_layer("d2").set_weights([rng.uniform(-1, 1, (6, 3)), rng.uniform(-1, 1, 3)])
    xs = rng.normal(scale=3, size=(500, 8)).astype(np.float32)
    rec = compare_qdq(model, xs, qkeras_to_qdq(model, tmp_path / "b.onnx"))
    assert all(la["max_abs_diff"] == 0.0 for la in rec["layers"].values()), rec["layers"]
    assert rec["file_max_abs_diff_outputs"] == 0.0
    from nanotrig.export import build_qdq_proto

    ops = [n.op_type for n in build_qdq_proto(model).graph.node]
    assert ops.count("QGemm") == 1 and "Add" in ops


def test_anomaly_score_square_exact(tmp_path):
    """The anomaly score model (``Multiply()([mu, mu])`` then the all-ones QDense) exports as a
    chain; every layer identical to QKeras, QGemm on the uint8 hidden layer."""
    from nanotrig.models.anomaly_vae import build_encoder
    from nanotrig.quantize.anomaly_qmodel import build_qencoder, build_qscore_model

    cfg = QuantizeConfig()
    qscore = build_qscore_model(build_qencoder(build_encoder(57), cfg, cfg.latent))
    x = np.random.default_rng(2).normal(scale=3, size=(1000, 57)).astype(np.float32)
    rec = compare_qdq(qscore, x, qkeras_to_qdq(qscore, tmp_path / "score.onnx"))
    assert all(la["max_abs_diff"] == 0.0 for la in rec["layers"].values()), rec["layers"]
    assert rec["file_max_abs_diff_outputs"] == 0.0
    from nanotrig.export import build_qdq_proto

    plan = build_qdq_proto(qscore).metadata_props[0].value
    assert "fc2: QGemm" in plan and "mu_sq: float square" in plan


def _conv_chain(seed: int, padding: str, strides: int, bias: str, w_bits: int = 6):
    """input -> signed 8-bit -> c1 (float Conv: signed input) -> relu(6,1) -> c2 -> relu(5,1)
    -> max pool -> c3 -> relu(8,2) -> c4 (1x1) -> signed 8-bit -> flatten -> QDense. c2-c4:
    uint8 inputs (8 channels for c2/c3, 3 for c4); ``bias``: "grid" (6-bit, on the
    accumulator's grid), "fine" (16-bit, finer: float Conv) or "none"."""
    from qkeras import QActivation, QConv2D, QDense
    from tensorflow import keras

    q = "quantized_bits(6,0,alpha=1)"
    wq = f"quantized_bits({w_bits},0,alpha=1)"
    bq = {"grid": q, "fine": "quantized_bits(16,1,alpha=1)", "none": None}[bias]
    conv = {"padding": padding, "kernel_quantizer": wq, "bias_quantizer": bq}
    conv["use_bias"] = bias != "none"
    inp = keras.Input((12, 10, 2), name="img")
    x = QActivation("quantized_bits(8,3,alpha=1)", name="input_quant")(inp)
    x = QConv2D(8, 3, kernel_quantizer=q, bias_quantizer=q, padding="same", name="c1")(x)
    x = QActivation("quantized_relu(6,1)", name="r1")(x)
    x = QConv2D(8, 3, strides=strides, name="c2", **conv)(x)
    x = QActivation("quantized_relu(5,1)", name="r2")(x)
    x = keras.layers.MaxPooling2D(2, padding="same", name="p2")(x)
    x = QConv2D(3, 2, name="c3", **conv)(x)
    x = QActivation("quantized_relu(8,2)", name="r3")(x)
    x = QConv2D(2, 1, name="c4", **conv)(x)
    x = QActivation("quantized_bits(8,2,alpha=1)", name="q4")(x)  # signed: float Conv
    x = keras.layers.Flatten(name="flat")(x)
    x = QDense(4, kernel_quantizer=q, bias_quantizer=q, name="out")(x)
    model = keras.Model(inp, x)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            layer.set_weights([rng.uniform(-1.2, 1.2, w.shape) for w in ws])
    xs = rng.normal(scale=3, size=(400, 12, 10, 2)).astype(np.float32)
    return model, xs


@pytest.mark.parametrize(
    ("seed", "padding", "strides", "bias"),
    [
        (0, "same", 1, "grid"),
        (1, "valid", 1, "grid"),
        (2, "same", 2, "none"),
        (3, "valid", 2, "grid"),
        (4, "same", 1, "fine"),
    ],
)
def test_qlinearconv_exact(tmp_path, seed, padding, strides, bias):
    """A QConv2D on an unsigned <= 8-bit activation followed by an 8-bit quantizer is one
    QLinearConv (uint8 x int8, int32 bias, requantized in the kernel): every layer identical to
    QKeras, traced and as onnxruntime optimises the file (channels-last QLinearConv)."""
    from nanotrig.export import build_qdq_proto

    model, xs = _conv_chain(seed, padding, strides, bias)
    path = qkeras_to_qdq(model, tmp_path / "qc.onnx")
    rec = compare_qdq(model, xs, path)
    assert all(la["max_abs_diff"] == 0.0 for la in rec["layers"].values()), rec["layers"]
    assert rec["file_max_abs_diff_outputs"] == 0.0
    proto = build_qdq_proto(model)
    plan = proto.metadata_props[0].value.splitlines()
    ops = [n.op_type for n in proto.graph.node]
    assert plan[0].startswith("c1: float Conv")  # signed input: float path
    assert plan[3].startswith("c4: float Conv")  # signed output quantizer: float path
    if bias == "fine":  # bias finer than the accumulator: float Conv, still exact
        assert ops.count("QLinearConv") == 0 and ops.count("Conv") == 4
        assert plan[1].startswith("c2: float Conv") and plan[2].startswith("c3: float Conv")
    else:
        assert ops.count("QLinearConv") == 2 and ops.count("Conv") == 2
        kind = "int32 bias" if bias == "grid" else "no bias"
        assert plan[1].startswith("c2: QLinearConv uint6 (scale 2^-5, range [0, 63]) x int6")
        assert plan[1].endswith(f"{kind} -> uint5 (scale 2^-4, range [0, 31]) (r2)"), plan[1]
        assert plan[2].startswith("c3: QLinearConv uint5") and plan[2].endswith("(r3)"), plan[2]
        assert "-> uint8 (scale 2^-6, range [0, 255])" in plan[2]
        assert _optimized_ops(path, tmp_path).count("QLinearConv") == 2  # channels-last


def test_qlinearconv_near_saturation_limit(tmp_path):
    """uint8 (255) x 7-bit weights (-64, 63): pair sums up to 255 * 128 = 32640, just inside the
    int16 range of the u8*s8 kernels (``_U8S8_LIMIT``): QLinearConv, exact. 8-bit weights
    (-128) could saturate: float Conv, exact."""
    from nanotrig.export import build_qdq_proto
    from qkeras import QActivation, QConv2D
    from tensorflow import keras

    rng = np.random.default_rng(7)
    xs = rng.uniform(-1, 12, (64, 6, 6, 16)).astype(np.float32)
    xs[:4] = 10.0  # saturates relu(8,3) at 255 quanta
    signs = np.array([1, -1, 1, -1, 1, -1, 1, -1, 1], float).reshape(3, 3, 1)
    w = np.stack([signs, -signs, rng.uniform(-1, 1, (3, 3, 1))], -1)  # whole taps +-1
    w = np.broadcast_to(w, (3, 3, 16, 3)).copy()  # +1: saturates to 63 (127) quanta
    for w_bits, integer in ((7, True), (8, False)):
        q = f"quantized_bits({w_bits},0,alpha=1)"
        inp = keras.Input((6, 6, 16), name="img")
        x = QActivation("quantized_relu(8,3)", name="r0")(inp)
        x = QConv2D(3, 3, padding="same", kernel_quantizer=q, bias_quantizer=q, name="c")(x)
        model = keras.Model(inp, QActivation("quantized_relu(8,7)", name="r1")(x))
        model.get_layer("c").set_weights([w, np.array([0.5, -0.25, 0.0])])
        rec = compare_qdq(model, xs, qkeras_to_qdq(model, tmp_path / f"sat{w_bits}.onnx"))
        assert all(la["max_abs_diff"] == 0.0 for la in rec["layers"].values()), rec["layers"]
        assert rec["file_max_abs_diff_outputs"] == 0.0
        out = model.predict(xs, verbose=0)
        assert ((out > 0) & (out < 127.5)).mean() > 0.2  # mostly neither clipped nor zero
        plan = build_qdq_proto(model).metadata_props[0].value
        assert ("c: QLinearConv uint8" in plan) is integer, plan
        assert ("c: float Conv" in plan) is not integer, plan


@pytest.mark.parametrize("bias", ["grid", "fine", "none"])
def test_convinteger_exact(tmp_path, bias):
    """uint8 input, fewer than 8 output channels, >= 256 output positions: ConvInteger (uint8 x
    uint8 at zero point 128) -> Cast, Mul, float bias Add; 'same' and 'valid' with stride 2, a
    float output (the DQM autoencoder's last layer) and a requantized one; exact."""
    from nanotrig.export import build_qdq_proto
    from qkeras import QActivation, QConv2D
    from tensorflow import keras

    q = "quantized_bits(8,1,alpha=1)"
    bq = {"grid": "quantized_bits(8,2,alpha=1)", "fine": "quantized_bits(16,1,alpha=1)"}
    conv = {"kernel_quantizer": q, "bias_quantizer": bq.get(bias), "use_bias": bias != "none"}
    inp = keras.Input((34, 34, 3), name="img")
    x = QActivation("quantized_relu(8,3)", name="r0")(inp)
    x = QConv2D(4, 3, padding="same", name="a", **conv)(x)
    x = QActivation("quantized_relu(8,3)", name="r1")(x)
    x = QConv2D(2, 3, strides=2, name="b", **conv)(x)  # valid: 16x16 positions
    x = QActivation("quantized_relu(8,3)", name="r2")(x)
    x = QConv2D(1, 3, padding="same", name="c", **conv)(x)  # linear float output
    model = keras.Model(inp, x)
    rng = np.random.default_rng(11)
    for layer in model.layers:
        if layer.get_weights():
            layer.set_weights([rng.uniform(-1.5, 1.5, w.shape) for w in layer.get_weights()])
    xs = rng.uniform(-2, 10, (100, 34, 34, 3)).astype(np.float32)
    xs[:2] = 10.0  # relu(8,3) saturates at 255 quanta
    path = qkeras_to_qdq(model, tmp_path / "ci.onnx")
    rec = compare_qdq(model, xs, path)
    assert all(la["max_abs_diff"] == 0.0 for la in rec["layers"].values()), rec["layers"]
    assert rec["file_max_abs_diff_outputs"] == 0.0
    plan = build_qdq_proto(model).metadata_props[0].value.splitlines()
    assert [line.split(":")[1].split()[0] for line in plan] == ["ConvInteger"] * 3, plan
    assert plan[0].startswith("a: ConvInteger uint8 (scale 2^-5, range [0, 255]) x int8")
    assert _optimized_ops(path, tmp_path).count("ConvInteger") == 3
