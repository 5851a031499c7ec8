"""The verbs on real artifacts of the mini run: verify, infer, samples validate; and their
bad input (one line on stderr, exit 2, nothing overwritten)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from nanotrig.cli import app

runner = CliRunner()


def _err(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nanotrig: error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def run_dir(mini_run):
    return mini_run["run_dir"]


@pytest.mark.skipif(shutil.which("g++") is None, reason="C-simulation needs g++")
def test_verify_ok_prints_layers(run_dir, tmp_path):
    """On a copy: verify writes verify.json into the project (the run's own must stay); the
    decision flips at --threshold values (classes named from the run's test scores) equal the
    ones recomputed from the run's saved QKeras and C-simulation outputs."""
    hls = tmp_path / "hls"
    shutil.copytree(run_dir / "hls", hls)
    (tmp_path / "qmodel").mkdir()
    shutil.copy(run_dir / "qmodel" / "test_scores.npz", tmp_path / "qmodel")
    x = run_dir / "qmodel" / "test_inputs.npy"
    res = runner.invoke(
        app, ["verify", str(hls), "--inputs", str(x), "--events", "50", "--threshold", "0.3",
              "--threshold", "t:0.5"],
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert "fc1" in res.stdout and "softmax" in res.stdout
    assert res.stdout.strip().splitlines()[-1].startswith("bit-exact: 50 events")
    record = json.loads((hls / "verify.json").read_text())
    assert record["n_events"] == 50
    with np.load(run_dir / "hls" / "test_outputs.npz") as f:
        ref, fw, exact = f["keras"][:50], f["csim"][:50], f["exact"][:50]
        out_type, frac = str(f["output_type"]), int(f["frac_bits"])
    names = ["g", "q", "W", "Z", "t"]
    points = [(j, 0.3) for j in range(5)] + [(4, 0.5)]
    lines = [line for line in res.stdout.splitlines() if line.startswith("decision flips")]
    expected = []
    for j, t in points:  # --threshold snapped up to the output grid
        code = int(np.ceil(t * 2**frac))
        s = code * 2.0**-frac
        expected.append(
            f"decision flips, firmware vs bit-exact reference, at {names[j]} >= {s:.10g} "
            f"(--threshold {t:g} snapped to the output grid: code {code} of {out_type}): "
            f"{int(np.sum((exact[:, j] >= s) != (fw[:, j] >= s)))} of 50 events; "
            "table-induced differences vs QKeras float softmax: "
            f"{int(np.sum((ref[:, j] >= s) != (fw[:, j] >= s)))}"
        )
    assert lines == expected
    assert record["decision_flips"]["n_events"] == 50
    assert record["decision_flips"]["total_flips"] == 0


@pytest.mark.skipif(shutil.which("g++") is None, reason="C-simulation needs g++")
def test_verify_mismatch_exits_1(run_dir, tmp_path):
    """One weight of the reference moved by one step: verify must notice and exit 1."""
    from nanotrig.hls.model_io import load_qkeras_model

    bad = tmp_path / "hls"
    shutil.copytree(run_dir / "hls", bad)
    model = load_qkeras_model(bad / "keras_model.h5")
    layer = model.get_layer("fc1")
    kernel, bias = layer.get_weights()
    bias[0] += 2.0**-5 if bias[0] < 0.5 else -(2.0**-5)
    layer.set_weights([kernel, bias])
    model.save(bad / "keras_model.h5")
    x = run_dir / "qmodel" / "test_inputs.npy"
    res = runner.invoke(app, ["verify", str(bad), "--inputs", str(x), "--events", "100"])
    assert res.exit_code == 1, (res.stdout, res.stderr)
    assert "MISMATCH" in res.stdout


@pytest.mark.parametrize(
    ("value", "message"),
    [("w:0.5", "no output column 'w': choose one of g, q, W, Z, t"), ("0.5x", "not a number")],
)
def test_verify_bad_threshold(run_dir, value, message):
    """A bad --threshold is refused in one line before anything runs or is written."""
    x = run_dir / "qmodel" / "test_inputs.npy"
    before = (run_dir / "hls" / "verify.json").stat().st_mtime_ns
    line = _err(
        runner.invoke(
            app, ["verify", str(run_dir / "hls"), "--inputs", str(x), "--threshold", value]
        )
    )
    assert f"--threshold '{value}': {message}" in line
    assert (run_dir / "hls" / "verify.json").stat().st_mtime_ns == before


def test_verify_bad_event_count(run_dir):
    x = run_dir / "qmodel" / "test_inputs.npy"
    line = _err(
        runner.invoke(app, ["verify", str(run_dir / "hls"), "--inputs", str(x), "--events", "0"])
    )
    assert "--events" in line


def test_infer_writes_and_guards(run_dir, tmp_path):
    onnx = run_dir / "onnx_q" / "qmodel.qdq.onnx"
    x = run_dir / "qmodel" / "test_inputs.npy"
    out = tmp_path / "preds.npy"
    res = runner.invoke(app, ["infer", str(onnx), "--inputs", str(x), "--out", str(out), "--cpu"])
    assert res.exit_code == 0, res.stderr
    preds = np.load(out)
    assert preds.shape == (len(np.load(x)), 5)
    np.testing.assert_allclose(preds.sum(axis=1), 1.0, atol=1e-5)
    before = out.read_bytes()
    line = _err(runner.invoke(app, ["infer", str(onnx), "--inputs", str(x), "--out", str(out)]))
    assert "--force" in line and out.read_bytes() == before
    res = runner.invoke(app, ["infer", str(onnx), "--inputs", str(x), "--out", str(out), "--force"])
    assert res.exit_code == 0, res.stderr


def test_infer_wrong_shape(run_dir, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((4, 7), np.float32))
    onnx = run_dir / "onnx" / "model.onnx"
    line = _err(
        runner.invoke(
            app,
            [
                "infer",
                str(onnx),
                "--inputs",
                str(tmp_path / "x.npy"),
                "--out",
                str(tmp_path / "p.npy"),
            ],
        )
    )
    assert "16" in line
    assert not (tmp_path / "p.npy").exists()


def test_samples_validate(run_dir, tmp_path):
    out = tmp_path / "plots"
    res = runner.invoke(
        app, ["samples", "validate", str(run_dir / "data" / "jets.h5"), "--out", str(out)]
    )
    assert res.exit_code == 0, res.stderr
    assert any(out.glob("*.png"))


def test_samples_validate_bad_files(tmp_path):
    line = _err(runner.invoke(app, ["samples", "validate", str(tmp_path / "none.h5")]))
    assert "none.h5" in line
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    line = _err(runner.invoke(app, ["samples", "validate", str(tmp_path / "junk.h5")]))
    assert "junk.h5" in line


def test_generate_n_per_class_needs_jets(tmp_path):
    cfg = tmp_path / "c.yml"
    cfg.write_text("name: x\nsamples: {kind: l1, n_events: 10}\n")
    line = _err(
        runner.invoke(
            app, ["generate", str(cfg), "--out", str(tmp_path / "s.h5"), "--n-per-class", "5"]
        )
    )
    assert "--n-per-class" in line and "l1" in line
    assert not (tmp_path / "s.h5").exists()


def test_run_needs_jet_samples(tmp_path):
    cfg = tmp_path / "c.yml"
    cfg.write_text(f"name: x\nout_root: {tmp_path / 'runs'}\nsamples: {{kind: dqm}}\n")
    line = _err(runner.invoke(app, ["run", str(cfg)]))
    assert "samples.kind: jets" in line
    assert not (tmp_path / "runs").exists()
