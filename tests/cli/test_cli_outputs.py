"""What the verbs print and write, on tiny models: a short summary (``--json``: the record),
inputs checked before any output exists, and verify's record and mismatch files."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nanotrig.cli import app

pytestmark = pytest.mark.filterwarnings(
    "ignore:The `keras.constraints.serialize:UserWarning",
    "ignore:You are saving your model as an HDF5 file:UserWarning",
)

runner = CliRunner()
N_IN = 8
needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="C-simulation needs g++")


def _err(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nanotrig: error: "), result.stderr
    return lines[0]


def _ok(result) -> list[str]:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout.strip().splitlines()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """A tiny seeded QKeras MLP (.h5), a float Keras MLP (.h5) and inputs (.npy)."""
    import keras
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    def qb(bits: int, integer: int = 0):
        return quantized_bits(bits, integer, alpha=1)

    tmp = tmp_path_factory.mktemp("models")
    rng = np.random.default_rng(0)
    qmodel = keras.Sequential(
        [
            keras.Input((N_IN,)),
            QActivation(qb(8, 2), name="qin"),
            QDense(8, kernel_quantizer=qb(6), bias_quantizer=qb(6), name="fc1"),
            QActivation(quantized_relu(6, 0), name="relu1"),
            QDense(3, kernel_quantizer=qb(6), bias_quantizer=qb(6), name="fc2"),
        ]
    )
    qmodel.set_weights([rng.normal(0, 0.5, w.shape) for w in qmodel.get_weights()])
    qmodel.save(tmp / "q.h5")
    fmodel = keras.Sequential(
        [
            keras.Input((N_IN,)),
            keras.layers.Dense(6, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    fmodel.save(tmp / "f.h5")
    np.save(tmp / "x.npy", rng.normal(0, 1, (64, N_IN)).astype(np.float32))
    return {"q": tmp / "q.h5", "f": tmp / "f.h5", "x": tmp / "x.npy", "dir": tmp}


@pytest.fixture(scope="module")
def project(models, tmp_path_factory) -> tuple[Path, list[str]]:
    """``nanotrig convert`` of the QKeras MLP (with test vectors): the project and stdout."""
    out = tmp_path_factory.mktemp("proj") / "hls"
    res = runner.invoke(
        app, ["convert", str(models["q"]), "--out", str(out), "--inputs", str(models["x"])]
    )
    return out, _ok(res)


def test_convert_prints_a_summary(project):
    out, lines = project
    assert len(lines) <= 8, lines
    assert lines[0] == f"wrote {out}/myproject_prj and conversion.json"
    assert lines[1].startswith("precisions: ")
    assert lines[2].startswith("estimate (not synthesis): latency ")
    assert lines[3].startswith("resources: DSP ") and "% of xcvu9p-flga2104-2L-e" in lines[3]
    assert lines[4] == "budget: none set (--latency-budget-ns, --ii-ns)"
    record = json.loads((out / "conversion.json").read_text())
    assert record["estimate"]["device_share"]["part"] == "xcvu9p-flga2104-2L-e"


def test_convert_json_prints_the_record(models, tmp_path):
    res = runner.invoke(app, ["convert", str(models["q"]), "--out", str(tmp_path / "o"), "--json"])
    assert res.exit_code == 0, res.stderr
    record = json.loads(res.stdout)
    assert set(record["precisions"]) >= {"fc1", "fc2"}
    assert record == json.loads((tmp_path / "o" / "conversion.json").read_text())


@pytest.mark.parametrize(
    ("bad", "match"),
    [("nan", "NaN or inf in 1 of 4 events"), ("shape", r"inputs have shape \(4, 5\)")],
)
def test_export_bad_inputs_leave_no_file(models, tmp_path, bad, match):
    x = np.zeros((4, 5 if bad == "shape" else N_IN), np.float32)
    if bad == "nan":
        x[2, 3] = np.nan
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "onnx"
    args = ["export", str(models["f"]), "--out", str(out), "--inputs", str(tmp_path / "x.npy")]
    line = _err(runner.invoke(app, args))
    assert re.search(match, line), line
    assert not out.exists()
    lines = _ok(runner.invoke(app, [*args[:-1], str(models["x"])]))  # a rerun needs no --force
    assert lines[0] == f"wrote {out / 'f.onnx'} (opset 13) and artifact.json"
    assert lines[1].startswith("onnxruntime agrees with Keras on 64 events")
    assert sorted(p.name for p in out.iterdir()) == ["artifact.json", "f.onnx"]


def test_infer_bad_inputs_leave_no_file(models, tmp_path):
    out = tmp_path / "onnx"
    args = ["export", str(models["f"]), "--out", str(out), "--inputs", str(models["x"])]
    _ok(runner.invoke(app, args))
    x = np.load(models["x"])
    x[5, 0] = np.inf
    np.save(tmp_path / "bad.npy", x)
    preds = tmp_path / "p.npy"
    onnx = str(out / "f.onnx")
    line = _err(
        runner.invoke(
            app, ["infer", onnx, "--inputs", str(tmp_path / "bad.npy"), "--out", str(preds)]
        )
    )
    assert "NaN or inf" in line
    assert not preds.exists() and not list(tmp_path.glob(".p.npy*"))
    lines = _ok(
        runner.invoke(app, ["infer", onnx, "--inputs", str(models["x"]), "--out", str(preds)])
    )
    assert lines[0] == f"wrote {preds}: predictions of shape (64, 3)"
    assert np.load(preds).shape == (64, 3)


@needs_gxx
def test_verify_records_and_clears_stale_mismatches(project, models, tmp_path):
    """A passing verify writes verify.json and removes mismatches.npz of an earlier run; a
    failing one (a bias moved by one step) writes both, and exits 1."""
    from nanotrig.hls.model_io import load_qkeras_model

    proj = tmp_path / "hls"
    shutil.copytree(project[0], proj)
    (proj / "mismatches.npz").write_bytes(b"from an earlier failing run")
    res = runner.invoke(app, ["verify", str(proj), "--inputs", str(models["x"])])
    lines = _ok(res)
    assert lines[-2] == f"wrote {proj / 'verify.json'}"
    assert lines[-1].startswith("bit-exact: 64 events")
    assert not (proj / "mismatches.npz").exists()
    record = json.loads((proj / "verify.json").read_text())
    assert record["ok"] is True and record["n_events"] == 64

    model = load_qkeras_model(proj / "keras_model.h5")
    kernel, bias = model.get_layer("fc1").get_weights()
    bias[:] += 2.0**-5
    model.get_layer("fc1").set_weights([kernel, bias])
    model.save(proj / "keras_model.h5")
    res = runner.invoke(app, ["verify", str(proj), "--inputs", str(models["x"]), "--json"])
    assert res.exit_code == 1, (res.stdout, res.stderr)
    assert json.loads(res.stdout)["ok"] is False
    assert json.loads((proj / "verify.json").read_text())["ok"] is False
    assert (proj / "mismatches.npz").is_file()
