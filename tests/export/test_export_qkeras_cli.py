"""`nanotrig export` of a user's QKeras model: integer QDQ, compared with QKeras; the user's
own script (`from tensorflow import keras`, `import qkeras`) saves real QKeras layers."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from nanotrig.cli import app

runner = CliRunner()

# As QKeras' documentation writes it, `import nanotrig` first (the fix: nanotrig/keras_choice.py).
USER_SCRIPT = """
import nanotrig  # noqa: F401
import numpy as np
from tensorflow import keras
from qkeras import QActivation, QDense, quantized_bits, quantized_relu

keras.utils.set_random_seed(1)
inp = keras.Input((6,), name="x")
h = QActivation(quantized_bits(12, 4, alpha=1), name="in_q")(inp)
h = QDense(8, kernel_quantizer=quantized_bits(6, 0, alpha=1),
           bias_quantizer=quantized_bits(6, 0, alpha=1), name="d1")(h)
h = QActivation(quantized_relu(6, 2), name="r1")(h)
h = QDense(3, kernel_quantizer=quantized_bits(6, 0, alpha=1),
           bias_quantizer=quantized_bits(6, 0, alpha=1), name="d2")(h)
out = keras.layers.Activation("softmax", name="sm")(h)
model = keras.Model(inp, out)
model.compile("adam", "categorical_crossentropy")
x = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
model.fit(x, np.eye(3)[np.arange(64) % 3], epochs=1, verbose=0)
model.save(r"{path}")
"""


@pytest.fixture(scope="module")
def user_model(tmp_path_factory) -> tuple[Path, Path]:
    """The model saved by the user's script in a fresh process, and 300 random inputs."""
    d = tmp_path_factory.mktemp("byom")
    path = d / "m.h5"
    script = textwrap.dedent(USER_SCRIPT).format(path=path)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=300)
    x = np.random.default_rng(5).normal(scale=3.0, size=(300, 6)).astype(np.float32)
    np.save(d / "x.npy", x)
    return path, d / "x.npy"


def _classes(path: Path) -> list[str]:
    with h5py.File(path, "r") as f:
        cfg = json.loads(f.attrs["model_config"])
    return [la["class_name"] for la in cfg["config"]["layers"]]


def test_user_script_saves_qkeras_layers(user_model):
    classes = _classes(user_model[0])
    assert classes.count("QDense") == 2 and "TFOpLambda" not in classes


def test_export_writes_qdq_exact_against_qkeras(user_model, tmp_path):
    from nanotrig.export import OnnxModel
    from nanotrig.quantize import load_keras_model

    model, x = user_model
    res = runner.invoke(app, ["export", str(model), "--out", str(tmp_path / "o"),
                              "--inputs", str(x), "--json"])  # fmt: skip
    assert res.exit_code == 0, res.stderr
    rec = json.loads(res.stdout)
    onnx_path = tmp_path / "o" / "m.qdq.onnx"
    assert rec["onnx"] == str(onnx_path) and (tmp_path / "o" / "qdq_artifact.json").is_file()
    assert rec["logits_exact"] and rec["n_events"] == 300
    for name in ("in_q", "d1", "r1", "d2"):  # every layer before the softmax, bit for bit
        assert rec["layers"][name]["max_abs_diff"] == 0.0, name
    qmodel = load_keras_model(model)
    logits = qmodel.get_layer("d2").output
    import keras

    ref = keras.Model(qmodel.input, logits).predict(np.load(x), verbose=0)
    got = OnnxModel(onnx_path, ["CPUExecutionProvider"]).predict(np.load(x), progress=False)
    np.testing.assert_allclose(got, qmodel.predict(np.load(x), verbose=0), atol=1e-6, rtol=0)
    assert (got.argmax(1) == ref.argmax(1)).all()


def _err(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_bad_inputs_write_nothing(user_model, tmp_path):
    model, _ = user_model
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((10, 5), np.float32))
    out = tmp_path / "o"
    line = _err(runner.invoke(app, ["export", str(model), "--out", str(out), "--inputs", str(bad)]))
    assert "shape" in line and not out.exists()


def test_existing_output_needs_force(user_model, tmp_path):
    model, x = user_model
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    line = _err(runner.invoke(app, ["export", str(model), "--out", str(out), "--inputs", str(x)]))
    assert "--force" in line and sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_unhandled_layer_refused_before_writing(tmp_path):
    import keras
    from qkeras import QConv1D, quantized_bits

    q = quantized_bits(6, 0, alpha=1)
    inp = keras.Input((8, 2))
    y = QConv1D(2, 3, kernel_quantizer=q, bias_quantizer=q, name="c1")(inp)
    path = tmp_path / "c.h5"
    keras.Model(inp, y).save(path)
    np.save(tmp_path / "x.npy", np.zeros((4, 8, 2), np.float32))
    out = tmp_path / "o"
    line = _err(runner.invoke(app, ["export", str(path), "--out", str(out),
                                    "--inputs", str(tmp_path / "x.npy")]))  # fmt: skip
    assert "layer c1 (QConv1D) is not supported for QDQ export" in line and "--float" in line
    assert not out.exists()


def test_tensorflow_ops_refused_with_the_fix(tmp_path):
    """TFOpLambda layers (a script mixing tf_keras and QKeras) are refused unless --float."""
    import keras
    import tensorflow as tf

    inp = keras.Input((4,))
    path = tmp_path / "ops.h5"
    keras.Model(inp, tf.math.multiply(inp, 2.0)).save(path)
    np.save(tmp_path / "x.npy", np.ones((4, 4), np.float32))
    args = ["export", str(path), "--inputs", str(tmp_path / "x.npy"), "--out"]
    line = _err(runner.invoke(app, [*args, str(tmp_path / "o")]))
    assert "(TFOpLambda)" in line and "add `import nanotrig`" in line and "--float" in line
    assert not (tmp_path / "o").exists()
    conv = ["convert", str(path), "--out", str(tmp_path / "h")]
    assert "add `import nanotrig`" in _err(runner.invoke(app, conv))
    assert not (tmp_path / "h").exists()
    assert runner.invoke(app, [*args, str(tmp_path / "f"), "--float"]).exit_code == 0
    assert (tmp_path / "f" / "ops.onnx").is_file()
