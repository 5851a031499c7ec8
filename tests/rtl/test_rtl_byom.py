"""A user's QKeras model that nanotrig did not build, through the BYOM path: ``nanotrig convert
--model``-style conversion of a saved ``.h5`` (no input quantizer: one is inserted), then
``nanotrig rtl``. The model branches and merges again (Conv1D, quantized_relu, MaxPooling1D,
Flatten, two Dense branches, an ``Add``, a ``Subtract``): the Verilog equals QKeras bit for bit.
A layer the RTL does not compute (``Concatenate``) is refused in one line, exit 2, before the
C-simulation or Verilator starts and with nothing written.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

pytestmark = [
    pytest.mark.skipif(shutil.which("g++") is None, reason="Verilator needs g++"),
    pytest.mark.filterwarnings("ignore:The `keras.constraints.serialize:UserWarning"),
]


def _qb(bits: int, integer: int = 0):
    from qkeras import quantized_bits

    return quantized_bits(bits, integer, alpha=1)


def _user_model(seed: int):
    """A random mixed QKeras model, unlike the project's families."""
    import keras
    from qkeras import QActivation, QConv1D, QDense, quantized_relu

    rng = np.random.default_rng(seed)
    inp = keras.Input((8, 2), name="features")
    x = QConv1D(3, 3, padding="same", kernel_quantizer=_qb(5), bias_quantizer=_qb(5),
                name="c1")(inp)  # fmt: skip
    x = QActivation(quantized_relu(6, 2), name="r1")(x)
    x = keras.layers.MaxPooling1D(2, name="mp")(x)
    x = keras.layers.Flatten(name="fl")(x)
    a = QDense(4, kernel_quantizer=_qb(6), bias_quantizer=_qb(6), name="da")(x)
    a = QActivation(quantized_relu(6, 2), name="ra")(a)
    b = QDense(4, kernel_quantizer=_qb(6), bias_quantizer=_qb(6), name="db")(x)
    s = keras.layers.Add(name="add")([a, b])
    s = QActivation(_qb(10, 4), name="sq")(s)
    d = keras.layers.Subtract(name="sub")([s, b])
    y = QDense(3, kernel_quantizer=_qb(6), bias_quantizer=_qb(6), name="logits")(d)
    model = keras.Model(inp, y, name="user_model")
    model.set_weights([rng.normal(0, 0.6, w.shape) for w in model.get_weights()])
    return model


def _invoke(args: list[str]):
    from nanotrig import cli

    return CliRunner().invoke(cli.app, args)


def test_user_model_through_convert_and_rtl_exact(tmp_path):
    from nanotrig.hls import edge_inputs, load_qkeras_model

    _user_model(7).save(tmp_path / "user.h5")
    rng = np.random.default_rng(1)
    np.save(tmp_path / "x.npy", rng.normal(0, 6.0, (400, 8, 2)).astype(np.float32))
    res = _invoke(["convert", str(tmp_path / "user.h5"), "--out", str(tmp_path / "hls"),
                   "--inputs", str(tmp_path / "x.npy")])  # fmt: skip
    assert res.exit_code == 0, res.output
    x = np.concatenate(
        [edge_inputs(tmp_path / "hls").reshape(-1, 8, 2), np.load(tmp_path / "x.npy")]
    )
    np.save(tmp_path / "checked.npy", x)
    args = ["--comb", "--no-synth", "--threads", "2", "--inputs", str(tmp_path / "checked.npy")]
    res = _invoke(["rtl", str(tmp_path / "hls"), "--out", str(tmp_path / "rtl"), *args])
    assert res.exit_code == 0, res.output
    assert f"verilator: {len(x)} events, 0 mismatching" in res.output
    rec = json.loads((tmp_path / "rtl" / "artifact.json").read_text())
    kinds = [la["kind"] for la in rec["layers"]]
    assert {"conv", "relu", "maxpool", "dense", "add", "subtract"} <= set(kinds)
    against = rec["verification"]["against"]
    assert {"qkeras", "comb_logic"} < set(against) and len(against) == 3  # + kernel or C-sim
    assert all(row["mismatching_events"] == 0 for row in against.values())
    y_rtl = np.load(tmp_path / "rtl" / "rtl_outputs.npy")
    y_keras = load_qkeras_model(tmp_path / "hls" / "keras_model.h5").predict(x, verbose=0)
    np.testing.assert_array_equal(y_rtl, y_keras.astype(np.float64))
    assert np.unique(y_rtl).size > 100, "outputs nearly constant: the test would be weak"


def test_unsupported_merge_refused_in_one_line(tmp_path):
    import keras
    from qkeras import QDense

    inp = keras.Input((6,), name="features")
    a = QDense(3, kernel_quantizer=_qb(6), bias_quantizer=_qb(6), name="da")(inp)
    b = QDense(3, kernel_quantizer=_qb(6), bias_quantizer=_qb(6), name="db")(inp)
    y = keras.layers.Concatenate(name="cat")([a, b])
    keras.Model(inp, y).save(tmp_path / "cat.h5")
    res = _invoke(["convert", str(tmp_path / "cat.h5"), "--out", str(tmp_path / "hls")])
    assert res.exit_code == 0, res.output
    res = _invoke(["rtl", str(tmp_path / "hls"), "--out", str(tmp_path / "rtl")])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nanotrig: error: layer 'cat' (Concatenate")
    assert "is not supported by nanotrig rtl yet" in lines[0]
    assert not (tmp_path / "rtl").exists()
    assert not list(tmp_path.glob(".rtl.*")), "a half-written output folder was left"
