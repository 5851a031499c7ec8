"""``nanotrig quantize --ptq``: plain Keras models enter the exact chain.

A tiny float MLP and CNN (seeded weights, BatchNormalization, fused and separate ReLUs) go
through PTQ, ``convert`` and ``verify`` on the command line: zero mismatches. Bad input is
refused in one line and nothing is written.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from typer.testing import CliRunner

from nanotrig.cli import app

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
runner = CliRunner()
L = keras.layers
N_EVENTS = 300


def _seeded(model, seed: int):
    """Seeded weights; BatchNormalization with trained-looking statistics."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if type(layer).__name__ == "BatchNormalization":
            n = ws[0].shape
            gamma, beta, mean = (
                rng.uniform(0.5, 1.5, n),
                rng.normal(0, 0.3, n),
                rng.normal(0, 0.3, n),
            )
            layer.set_weights([gamma, beta, mean, rng.uniform(0.5, 2.0, n)])
        elif ws:
            layer.set_weights([rng.normal(0, 0.4, w.shape) for w in ws])
    return model


def _mlp():
    return _seeded(
        keras.Sequential(
            [
                keras.Input((8,)),
                L.Dense(16, use_bias=False, name="fc1"),
                L.BatchNormalization(name="bn1"),
                L.ReLU(name="relu1"),
                L.Dense(8, activation="relu", name="fc2"),
                L.Dense(3, name="logits"),
            ],
            name="mlp",
        ),
        seed=1,
    )


def _cnn():
    inp = keras.Input((8, 8, 1), name="img")
    x = L.Conv2D(4, 3, use_bias=False, name="conv")(inp)
    x = L.BatchNormalization(name="bn")(x)
    x = L.Activation("relu", name="relu")(x)
    x = L.MaxPooling2D(2, name="pool")(x)
    x = L.Flatten(name="flat")(x)
    return _seeded(keras.Model(inp, L.Dense(3, name="logits")(x), name="cnn"), seed=2)


def _ok(result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result.stdout


def _err(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nanotrig: error: "), result.stderr
    return lines[0]


def _files(tmp_path, model, seed: int) -> dict:
    """The float model, inputs and labels (the float model's own classes) on disk."""
    path = tmp_path / f"{model.name}.h5"
    model.save(path)
    x = np.random.default_rng(seed).normal(0, 1, (N_EVENTS, *model.input_shape[1:]))
    x = x.astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    y = model.predict(x, verbose=0).argmax(axis=1)
    np.save(tmp_path / "y.npy", y)
    return {"model": path, "x": tmp_path / "x.npy", "y": tmp_path / "y.npy", "inputs": x}


def _ptq_convert_verify(tmp_path, files, extra: list[str]) -> tuple[dict, dict, dict]:
    q, h = tmp_path / "q", tmp_path / "hls"
    args = ["quantize", "--ptq", str(files["model"]), "--out", str(q), *extra]
    out = _ok(runner.invoke(app, [*args, "--inputs", str(files["x"]), "--labels", str(files["y"])]))
    assert "paired change" in out and "BatchNormalization folded" in out
    _ok(runner.invoke(app, ["convert", str(q / "qmodel.h5"), "--out", str(h)]))
    _ok(runner.invoke(app, ["verify", str(h), "--inputs", str(files["x"])]))
    rec = json.loads((q / "artifact.json").read_text())
    conv = json.loads((h / "conversion.json").read_text())
    ver = json.loads((h / "verify.json").read_text())
    assert ver["ok"] and ver["n_events"] == N_EVENTS
    exact = [r for r in ver["layers"] if r["kind"] == "exact"]
    assert exact and all(r["n_mismatch"] == 0 and r["max_abs_diff"] == 0 for r in exact), exact
    assert ver["output"]["n_mismatch"] == 0
    assert conv["batchnorm"] is None  # PTQ folded it already: the firmware is the QKeras model
    assert conv["input_quantizer"]["source"] == "model"
    # the labels are the float model's classes: quantized accuracy = agreement with float
    change, acc = rec["accuracy_change"], rec["accuracy"]
    assert acc["float"] == 1.0 and rec["n_events"] == N_EVENTS
    assert acc["quantized"] == rec["agreement"]["argmax_agreement"]
    assert change["value"] == pytest.approx(acc["quantized"] - 1.0) and change["gained"] == 0
    return rec, conv, ver


def test_plain_mlp_ptq_convert_verify_exact(tmp_path):
    files = _files(tmp_path, _mlp(), seed=3)
    rec, conv, ver = _ptq_convert_verify(tmp_path, files, ["--bits", "8", "--integer", "2"])
    assert rec["batchnorm_folded"][0] == {
        "layer": "bn1", "folded_into": "fc1", "epsilon": 1e-3, "saturated_weights": None,
    }  # fmt: skip
    assert set(rec["quantizers"]) == {"fc1", "fc2", "logits"}
    sat = rec["saturated_activations"]
    assert set(sat) == {"input", "relu1", "fc2"} and sat["input"] == 0.0  # normal(0,1) < 32
    assert all(0 <= v <= 1 for v in sat.values())
    assert rec["quantizers"]["fc2"]["weights"] == "quantized_bits(8,2,alpha=1)"
    assert {r["keras_layer"] for r in ver["layers"]} >= {"fc1", "relu1", "fc2_relu", "logits"}
    assert _width(conv, "fc1") <= 8 and _width(conv, "fc2") <= 8


def _width(conv: dict, layer: str) -> int:
    """Total bits of ``layer``'s weight type in the firmware (hls4ml trims unused bits)."""
    return int(conv["precisions"][layer]["weight"].split("<")[1].split(",")[0])


def test_plain_cnn_ptq_per_layer_bits_exact(tmp_path):
    files = _files(tmp_path, _cnn(), seed=4)
    cfg = tmp_path / "bits.yml"
    cfg.write_text(
        "quantize:\n  input: {bits: 10, integer: 3}\n  weights: {bits: 8, integer: 1}\n"
        "  layers:\n    conv: {weights: {bits: 6, integer: 2}}\n"
    )
    rec, conv, _ = _ptq_convert_verify(tmp_path, files, [str(cfg)])
    assert rec["quantizers"]["conv"]["weights"] == "quantized_bits(6,2,alpha=1)"
    assert rec["quantizers"]["logits"]["weights"] == "quantized_bits(8,1,alpha=1)"
    assert _width(conv, "conv") <= 6 < _width(conv, "logits") <= 8
    assert conv["input_quantizer"] == {"source": "model", "bits": 10, "integer": 3}


def _float_bn_after_relu():
    return keras.Sequential(
        [keras.Input((8,)), L.Dense(4, name="fc"), L.ReLU(name="r"), L.BatchNormalization(name="b")]
    )


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("labels_only", "labels given without inputs: pass --inputs with --labels"),
        ("bad_shape", r"inputs have shape \(300, 5\), model mlp.h5 expects \(N, 8\)"),
        ("bad_labels", "labels span 0..7, the model has 3 classes"),
        ("bad_bits", "invalid --bits 4 --integer 4: .*integer bits"),
        ("with_model", "--ptq takes the float model itself: leave out --model and --data"),
        ("qkeras", "already has QKeras layers .*convert it directly"),
        ("bn_after_relu", r"'b' \(BatchNormalization\) follows 'r' \(ReLU\), not a Dense/Conv"),
        ("exists", "already exists and is not empty: pass --force"),
    ],
)
def test_bad_ptq_input_refused_nothing_written(tmp_path, case, message):
    files = _files(tmp_path, _mlp(), seed=5)
    out = tmp_path / "q"
    args = ["quantize", "--ptq", str(files["model"]), "--out", str(out)]
    if case == "labels_only":
        args += ["--labels", str(files["y"])]
    elif case == "bad_shape":
        np.save(tmp_path / "x5.npy", np.zeros((N_EVENTS, 5), np.float32))
        args += ["--inputs", str(tmp_path / "x5.npy")]
    elif case == "bad_labels":
        np.save(tmp_path / "y7.npy", np.arange(N_EVENTS) % 8)
        args += ["--inputs", str(files["x"]), "--labels", str(tmp_path / "y7.npy")]
    elif case == "bad_bits":
        args += ["--bits", "4", "--integer", "4"]
    elif case == "with_model":
        args += ["--model", str(tmp_path)]
    elif case == "qkeras":
        from qkeras import QDense

        qm = keras.Sequential([keras.Input((8,)), QDense(3, name="qd")])
        qm.save(tmp_path / "qk.h5")
        args[2] = str(tmp_path / "qk.h5")
    elif case == "bn_after_relu":
        _float_bn_after_relu().save(tmp_path / "bnr.h5")
        args[2] = str(tmp_path / "bnr.h5")
    elif case == "exists":
        out.mkdir()
        (out / "keep.txt").write_text("precious")
    import re

    line = _err(runner.invoke(app, args))
    assert re.search(message, line), line
    if case == "exists":
        assert [p.name for p in out.iterdir()] == ["keep.txt"]
    else:
        assert not out.exists()


def test_quantize_without_ptq_needs_its_qat_arguments(tmp_path):
    line = _err(runner.invoke(app, ["quantize", "--out", str(tmp_path / "q")]))
    assert "quantize needs CONFIG, --model and --data (QAT), or --ptq MODEL.h5" in line
    cfg = tmp_path / "c.yml"
    cfg.write_text("name: x\n")
    args = ["quantize", str(cfg), "--model", "m", "--data", "d", "--out", str(tmp_path / "q")]
    line = _err(runner.invoke(app, [*args, "--bits", "8"]))
    assert "--bits, --integer, --inputs and --labels go with --ptq MODEL.h5" in line
    assert not (tmp_path / "q").exists()
