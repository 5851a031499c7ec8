"""``convert`` works on any supported QKeras model file, not only on the ones nanotrig trains.

Each model here is built the way an outside user might (Sequential without an input quantizer,
an input layer called ``input``, fused activations, mixed bit widths, softmax/sigmoid heads),
given seeded random weights, saved as .h5, converted once per module and compared with the
g++ C-simulation layer by layer.
"""

from __future__ import annotations

import hashlib

import keras
import numpy as np
import pytest
from nanotrig.hls import convert_model, edge_inputs, verify_project
from qkeras import QActivation, QDense, quantized_relu
from qmodels import qb, seeded

from nanotrig.config import HlsConfig, QuantBits

pytestmark = pytest.mark.filterwarnings("ignore:The `keras.constraints.serialize:UserWarning")

N_IN = 8
N_EVENTS = 500
#: Input type inserted into the Sequential model: quantized_bits(10, 3) = ap_fixed<10,4>.
SEQ_INPUT_BITS = QuantBits(bits=10, integer=3)


def _sequential_without_input_quantizer():
    return seeded(
        keras.Sequential(
            [
                keras.Input((N_IN,)),
                QDense(16, kernel_quantizer=qb(6), bias_quantizer=qb(6), name="fc1"),
                QActivation(quantized_relu(6, 2), name="relu1"),
                QDense(4, kernel_quantizer=qb(6), bias_quantizer=qb(6), name="fc2"),
            ]
        ),
        seed=1,
    )


def _input_named_input():
    """Input layer literally called ``input`` (reserved by hls4ml) and a layer already called
    ``input_1``, the name the converter would rename it to."""
    inp = keras.Input((N_IN,), name="input")
    x = QActivation(qb(8, 2), name="input_1")(inp)
    x = QDense(12, kernel_quantizer=qb(6), bias_quantizer=qb(6), name="dense")(x)
    x = QActivation(quantized_relu(5, 1), name="act")(x)
    x = QDense(3, kernel_quantizer=qb(6), bias_quantizer=qb(6), name="out")(x)
    return seeded(keras.Model(inp, x, name="foreign"), seed=2)


def _fused_mixed_bits():
    """QDense with fused quantized_relu; 8-bit first layer, 4-bit second."""
    inp = keras.Input((N_IN,), name="x")
    x = QActivation(qb(8, 2), name="qin")(inp)
    x = QDense(
        16,
        kernel_quantizer=qb(8),
        bias_quantizer=qb(8),
        activation=quantized_relu(6, 0),
        name="fc1",
    )(x)
    x = QDense(
        8,
        kernel_quantizer=qb(4),
        bias_quantizer=qb(4),
        activation=quantized_relu(4, 1),
        name="fc2",
    )(x)
    x = QDense(4, kernel_quantizer=qb(4, 1), bias_quantizer=qb(4, 1), name="fc3")(x)
    return seeded(keras.Model(inp, x), seed=3)


def _lut_head(activation: str):
    inp = keras.Input((N_IN,), name="x")
    x = QActivation(qb(8, 2), name="qin")(inp)
    x = QDense(8, kernel_quantizer=qb(6), bias_quantizer=qb(6), name="fc1")(x)
    x = QActivation(quantized_relu(6, 0), name="relu1")(x)
    x = QDense(5, kernel_quantizer=qb(6), bias_quantizer=qb(6), name="logits")(x)
    x = keras.layers.Activation(activation, name="head")(x)
    return seeded(keras.Model(inp, x), seed=4)


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _inputs(integer: int, seed: int, n: int = N_EVENTS) -> np.ndarray:
    """Uniform over the input type's range and 10 % beyond it on both sides (saturation)."""
    top = 2.0**integer
    return np.random.default_rng(seed).uniform(-1.1 * top, 1.1 * top, (n, N_IN)).astype("f4")


def _convert(tmp_path_factory, name: str, model, cfg: HlsConfig | None = None, **kwargs):
    d = tmp_path_factory.mktemp(name)
    path = d / f"{name}.h5"
    model.save(path)
    sha = _sha(path)
    cfg = cfg or HlsConfig()
    record = convert_model(path, d / "out", cfg, **kwargs)
    assert _sha(path) == sha == record["model_sha256"], "convert must not touch the model file"
    return dict(path=path, out=d / "out", record=record, model=model, cfg=cfg, kwargs=kwargs)


def _assert_bit_exact(result, n: int, allowed_not_compared=()):
    assert result.ok, result.to_dict()
    assert result.n_events == n and result.mismatch_file is None
    exact = [r for r in result.layers if r["kind"] == "exact"]
    assert exact, "no exact layer was compared"
    for row in exact:
        assert row["n_events"] == n
        assert row["n_mismatch"] == 0 and row["max_abs_diff"] == 0.0, row
    # every Keras layer was compared, except the input quantizer hls4ml folds into the input type
    assert set(result.not_compared) <= set(allowed_not_compared), result.not_compared
    return exact


@pytest.fixture(scope="module")
def seq(tmp_path_factory):
    model = _sequential_without_input_quantizer()
    tb = _inputs(SEQ_INPUT_BITS.integer, seed=10, n=50)
    cfg = HlsConfig(n_test_vectors=40)
    return _convert(tmp_path_factory, "seq", model, cfg, input_bits=SEQ_INPUT_BITS, test_inputs=tb)


# --- Sequential model without an input quantizer ----------------------------------------------


def test_sequential_gets_input_quantizer(seq):
    rec = seq["record"]
    assert rec["input_quantizer"] == {"source": "inserted", "bits": 10, "integer": 3}
    assert rec["input_shape"] == [N_IN]
    assert rec["test_vectors"] == 40  # capped by n_test_vectors
    assert rec["precisions"]["fc1"]["class"] == "Dense"
    # the input type is the inserted quantizer's: ap_fixed<10,4> (QKeras integer + sign bit)
    (in_row,) = [r for r in rec["precisions"].values() if r["class"] == "Input"]
    assert in_row["result"].startswith("fixed<10,4,")
    from nanotrig.hls import load_qkeras_model

    ref = load_qkeras_model(seq["out"] / "keras_model.h5")
    tb_x, tb_y = np.load(seq["out"] / "tb_input.npy"), np.load(seq["out"] / "tb_output.npy")
    assert tb_x.shape == (40, N_IN) and tb_y.shape == (40, 4)
    np.testing.assert_array_equal(tb_y, ref.predict(tb_x, verbose=0))
    tb_dir = seq["out"] / "myproject_prj" / "tb_data"
    for name in ("tb_input_features.dat", "tb_output_predictions.dat"):
        assert len((tb_dir / name).read_text().splitlines()) == 40
    names = [layer.name for layer in ref.layers]
    assert names[1] == "input_quant" and names[2:] == ["fc1", "relu1", "fc2"]
    # the inserted quantizer is the identity on inputs already on its grid
    lsb = 2.0 ** -(SEQ_INPUT_BITS.bits - 1 - SEQ_INPUT_BITS.integer)
    grid = np.random.default_rng(5).integers(-512, 512, (200, N_IN)) * lsb
    np.testing.assert_array_equal(
        ref.predict(grid, verbose=0), seq["model"].predict(grid, verbose=0)
    )


def test_sequential_bit_exact_random(seq):
    x = _inputs(SEQ_INPUT_BITS.integer, seed=11)
    top = 2.0**SEQ_INPUT_BITS.integer
    assert x.min() < -top and x.max() > top  # spans the range and saturates
    y = seq["model"].predict(x, verbose=0)
    assert np.unique(y).size > 100, "model output nearly constant: the test would be weak"
    result = verify_project(seq["out"], x)
    exact = _assert_bit_exact(result, N_EVENTS, allowed_not_compared={"input_quant"})
    assert [r["layer"] for r in exact] == ["fc1", "relu1", "fc2"]
    assert result.output["kind"] == "exact" and result.output["n_mismatch"] == 0
    assert result.output["argmax_agreement"] == 1.0
    assert result.to_dict()["ok"] is True


def test_edge_inputs_bit_exact(seq):
    x = edge_inputs(seq["out"])
    assert x.shape[1:] == (N_IN,) and x.dtype == np.float32
    flat = x.reshape(len(x), -1)
    assert (flat == 0).all(axis=1).any(), "edge inputs lack an all-zero event"
    top = 2.0**SEQ_INPUT_BITS.integer
    assert flat.max() > top and flat.min() < -top, "edge inputs do not leave the input range"
    lsb = 2.0 ** -(SEQ_INPUT_BITS.bits - 1 - SEQ_INPUT_BITS.integer)
    assert np.isin([top - lsb, -top, lsb / 2], flat).all()
    result = verify_project(seq["out"], x)
    _assert_bit_exact(result, len(x), allowed_not_compared={"input_quant"})
    assert result.reference_inexact_events == 0


def test_determinism_identical_firmware(seq, tmp_path):
    """The same model converted twice (other directory, other time) gives the same firmware."""
    out2 = tmp_path / "again"
    convert_model(seq["path"], out2, seq["cfg"], **seq["kwargs"])
    a = seq["out"] / "myproject_prj" / "firmware"
    b = out2 / "myproject_prj" / "firmware"
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    assert any(p.parts[0] == "weights" for p in files_a) and len(files_a) > 10
    differ = [str(p) for p in files_a if (a / p).read_bytes() != (b / p).read_bytes()]
    assert differ == []


def test_verify_detects_a_changed_weight(seq, tmp_path):
    """The comparison can fail: a reference differing by one bias LSB is caught in that layer."""
    import shutil

    from nanotrig.hls import load_qkeras_model

    work = tmp_path / "tampered"
    shutil.copytree(seq["out"], work)
    ref = load_qkeras_model(work / "keras_model.h5")
    kernel, bias = ref.get_layer("fc2").get_weights()
    lsb = 2.0**-5  # quantized_bits(6, 0)
    bias[0] += -lsb if bias[0] > 0 else lsb
    ref.get_layer("fc2").set_weights([kernel, bias])
    ref.save(work / "keras_model.h5")
    x = _inputs(SEQ_INPUT_BITS.integer, seed=15, n=100)
    result = verify_project(work, x)
    assert not result.ok
    rows = {r["layer"]: r for r in result.layers}
    assert rows["fc1"]["n_mismatch"] == rows["relu1"]["n_mismatch"] == 0
    assert rows["fc2"]["n_mismatch"] == 100 and rows["fc2"]["max_abs_diff"] == lsb
    assert result.output["n_mismatch"] == 100
    saved = np.load(result.mismatch_file)
    assert saved["inputs"].shape == (20, N_IN)
    assert not (seq["out"] / "mismatches.npz").exists()


# --- functional model whose input layer is called "input" -------------------------------------


@pytest.fixture(scope="module")
def named_input(tmp_path_factory):
    return _convert(tmp_path_factory, "named", _input_named_input())


def test_input_named_input_bit_exact(named_input):
    rec = named_input["record"]
    assert rec["input_quantizer"] == {"source": "model", "bits": 8, "integer": 2}
    assert "input" not in rec["precisions"]
    from nanotrig.hls import load_qkeras_model

    ref = load_qkeras_model(named_input["out"] / "keras_model.h5")
    names = [layer.name for layer in ref.layers]
    assert "input" not in names and len(set(names)) == len(names)
    assert names[1:] == ["input_1", "dense", "act", "out"]

    x = _inputs(2, seed=12)
    np.testing.assert_array_equal(  # the rebuilt reference computes what the user's model does
        ref.predict(x, verbose=0), named_input["model"].predict(x, verbose=0)
    )
    result = verify_project(named_input["out"], x)
    exact = _assert_bit_exact(result, N_EVENTS, allowed_not_compared={"input_1"})
    assert {r["keras_layer"] for r in exact} == {"dense", "act", "out"}


# --- fused activations, mixed bit widths ------------------------------------------------------


def test_fused_activation_mixed_bits_bit_exact(tmp_path_factory):
    conv = _convert(tmp_path_factory, "fused", _fused_mixed_bits())
    prec = conv["record"]["precisions"]
    assert prec["fc1"]["weight"].startswith("fixed<8,")
    assert prec["fc2"]["weight"].startswith("fixed<4,")
    x = _inputs(2, seed=13)
    y = conv["model"].predict(x, verbose=0)
    assert np.unique(y).size > 20
    result = verify_project(conv["out"], x)
    exact = _assert_bit_exact(result, N_EVENTS, allowed_not_compared={"qin"})
    by_src = {r["keras_layer"]: r["layer"] for r in exact}
    assert set(by_src) == {"fc1", "fc2", "fc3"}
    # the fused relu is its own hls4ml layer; the Keras output (after the relu) is compared
    # with that last piece, not with the Dense before it
    assert by_src["fc1"] != "fc1" and by_src["fc1"].startswith("fc1_")
    assert result.output["n_mismatch"] == 0


def test_input_bits_ignored_when_model_has_quantizer(tmp_path):
    model = _fused_mixed_bits()
    path = tmp_path / "m.h5"
    model.save(path)
    wide = QuantBits(bits=16, integer=5)
    rec = convert_model(path, tmp_path / "out", HlsConfig(), input_bits=wide)
    assert rec["input_quantizer"] == {"source": "model", "bits": 8, "integer": 2}


# --- lookup-table heads -----------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
def test_lut_head_reported_not_failing(tmp_path_factory, activation):
    conv = _convert(tmp_path_factory, f"lut_{activation}", _lut_head(activation))
    assert conv["record"]["lut_layers"] == ["head"]
    x = _inputs(2, seed=14)
    result = verify_project(conv["out"], x)
    (lut,) = [r for r in result.layers if r["kind"] == "lut"]
    assert lut["layer"] == "head" and lut["keras_layer"] == "head"
    # bit for bit against the table emulator; its distance from the float activation (the
    # table error) is reported apart and does not fail ok
    assert lut["compared_with"] == "emulator" and lut["n_mismatch"] == 0
    assert lut["max_abs_diff"] == 0 and 0 < lut["table_error"]["max_abs_diff"] < 0.25
    assert lut["argmax_agreement"] >= 0.95
    assert set(result.lut) == {"head"}
    assert result.output["kind"] == "lut"
    exact = _assert_bit_exact(result, N_EVENTS, allowed_not_compared={"qin"})
    assert [r["layer"] for r in exact] == ["fc1", "relu1", "logits"]
