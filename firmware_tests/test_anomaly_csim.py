"""Firmware acceptance for the anomaly VAE: C-simulation vs QKeras, score layers included.

The project under test is the one ``nanotrig run`` writes for a tiny version of
configs/anomaly_vae.yml (fast processes only: W/Z background, A->4l and LQ->b tau signals; a
handful of epochs). The deployed model computes the anomaly score in firmware (the default
``model.score: recon``: ``mu_quant -> decoder -> recon_diff = input_quant - reco`` quantized
(hls4ml folds ``diff_quant`` into it) ``-> diff_sq = d * d -> score = sum``); C-simulation
(g++) must give the QKeras
values bit for bit on every layer for >= 1000 real events and for the edge inputs of the input
type, and the quantized ONNX model must give the QKeras scores exactly.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml

from conftest import REPO

pytestmark = [
    pytest.mark.slow,  # Pythia, training and g++: about a minute and a half on 2 cores
    pytest.mark.skipif(shutil.which("g++") is None, reason="C-simulation needs g++"),
]

ANOMALY_CONFIG = REPO / "configs" / "anomaly_vae.yml"
SCORE_ROWS = ("mu_linear", "reco", "recon_diff", "diff_sq", "score")


def tiny_anomaly_config(out_root, name: str = "anomaly_mini"):
    """configs/anomaly_vae.yml shrunk for tests: fast processes, 1000 events, few epochs."""
    from nanotrig.config import parse_config

    data = yaml.safe_load(ANOMALY_CONFIG.read_text())
    data.update(name=name, out_root=str(out_root), seed=7)
    data["samples"].update(n_events=600, fractions={"W": 0.9, "Z": 0.1},
                           signals=["A_4l", "LQ_btau"], n_signal=200, chunk_size=300)  # fmt: skip
    data["model"].update(epochs=6, patience=3)
    data["quantize"].update(epochs=4, patience=3)
    data["hls"].update(n_test_vectors=20)
    return parse_config(data, source="test config")


@pytest.fixture(scope="module")
def anomaly_run(tmp_path_factory):
    from nanotrig.runner import run_chain

    cfg = tiny_anomaly_config(tmp_path_factory.mktemp("anomaly"))
    report = run_chain(cfg, progress=False)
    return {"report": report, "run_dir": cfg.out_root / cfg.name}


def _assert_exact(result: dict, n: int) -> None:
    assert result["ok"], result
    names = [r["layer"] for r in result["layers"]]
    for layer in SCORE_ROWS:
        assert layer in names, names
    for row in result["layers"]:
        assert row["kind"] == "exact", row
        assert row["n_events"] == n and row["n_mismatch"] == 0, row
        assert row["max_abs_diff"] == 0.0, row
    assert result["output"]["n_mismatch"] == 0 and result["output"]["max_abs_diff"] == 0.0


def test_real_events_bit_exact(anomaly_run):
    v = anomaly_run["report"]["verify"]
    assert v["n_events"] >= 1000
    _assert_exact(v, v["n_events"])
    # mu_linear holds mu_quant (the quantizer hls4ml folds into mu's linear activation)
    row = next(r for r in v["layers"] if r["layer"] == "mu_linear")
    assert row["keras_layer"] == "mu_quant"
    row = next(r for r in v["layers"] if r["layer"] == "recon_diff")
    assert row["keras_layer"] == "diff_quant"  # the difference's quantizer, folded into it


def test_edge_inputs_bit_exact(anomaly_run):
    v = anomaly_run["report"]["verify"]["edge_inputs"]
    _assert_exact(v, v["n_events"])


def test_score_is_the_sum_of_squared_differences_in_csim(anomaly_run):
    """The C-simulated score equals sum(diff_quant**2) recomputed from QKeras' difference."""
    from nanotrig.hls import keras_layer_outputs, load_qkeras_model
    from nanotrig.hls.verify import _load_hls_model, _trace

    run_dir = anomaly_run["run_dir"]
    x = np.load(run_dir / "qmodel" / "test_inputs.npy")[:200]
    model = load_qkeras_model(run_dir / "hls" / "keras_model.h5")
    d = keras_layer_outputs(model, x)["diff_quant"].astype(np.float64)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        y_c, _ = _trace(_load_hls_model(run_dir / "hls", tmp), x, run_dir / "hls")
    np.testing.assert_array_equal(np.asarray(y_c).reshape(-1), (d**2).sum(axis=1))


def test_precisions_and_onnx(anomaly_run):
    r = anomaly_run["report"]
    prec = r["hls"]["precisions"]
    assert prec["score"]["weight"].startswith("ufixed<1,1")  # the all-ones weights, exact
    assert prec["mu_linear"]["result"] == "fixed<10,3,RND_CONV,SAT,0>"
    assert prec["recon_diff"]["result"] == "fixed<9,3,RND_CONV,SAT,0>"  # diff_quant, folded
    assert prec["score"]["result"] == "fixed<24,12,TRN,WRAP,0>"  # float32-exact by its type
    assert r["hls"]["float32_inexact_layers"] == []
    q = r["export_quantized"]  # the QDQ graph, as built and as onnxruntime optimises the file
    assert q["exact"] and q["onnx"].endswith(".qdq.onnx")
    assert q["max_abs_diff_outputs"] == 0 and q["file_max_abs_diff_outputs"] == 0
    assert r["export"]["agrees"]
    saved = json.loads((anomaly_run["run_dir"] / "report.json").read_text())
    assert set(saved["train"]["metrics"]["signals"]) == {"A_4l", "LQ_btau"}
    md = (anomaly_run["run_dir"] / "report.md").read_text()
    assert "smallest resolvable FPR" in md and "TPR @ FPR 1e-5" in md
    for plot in r["plots"].values():
        assert (anomaly_run["run_dir"] / plot).is_file()


def test_cli_train_and_quantize_verbs(anomaly_run, tmp_path):
    """``nanotrig train`` / ``quantize`` dispatch on model.family to the anomaly stages; an
    unreadable sample is one line on stderr, exit 2."""
    from typer.testing import CliRunner

    from nanotrig.cli import app

    run_dir = anomaly_run["run_dir"]
    cfg = yaml.safe_load((run_dir / "config.yml").read_text())
    cfg["model"].update(epochs=2, patience=1)
    cfg["quantize"].update(epochs=1, patience=1)
    (tmp_path / "c.yml").write_text(yaml.safe_dump(cfg))
    data, runner = str(run_dir / "data" / "l1.h5"), CliRunner()
    res = runner.invoke(app, ["train", str(tmp_path / "c.yml"), "--data", data, "--out",
                              str(tmp_path / "model"), "--json"])  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["inputs"] == {"kind": "l1_features", "shape": [57], "raw": True}
    res = runner.invoke(app, ["quantize", str(tmp_path / "c.yml"), "--model",
                              str(tmp_path / "model"), "--data", data, "--out",
                              str(tmp_path / "qmodel"), "--json"])  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert {"mu_quant", "diff_quant", "reco"} <= set(json.loads(res.stdout)["quantizers"])
    (tmp_path / "bad.h5").write_bytes(b"not hdf5")
    res = runner.invoke(app, ["train", str(tmp_path / "c.yml"), "--data",
                              str(tmp_path / "bad.h5"), "--out", str(tmp_path / "m2")])  # fmt: skip
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_raw_inputs_recorded_scored_and_checked(anomaly_run, tmp_path):
    """The deployed model takes the raw L1 features: the project and both ONNX files record
    them; ``nanotrig infer`` on the run's own sample gives the report's AUCs (QDQ: exactly);
    a file scaled outside the model (the former inputs) is refused, nothing written."""
    import h5py
    from nanotrig.export.metadata import onnx_input_spec
    from nanotrig.models.anomaly_metrics import anomaly_metrics
    from nanotrig.models.anomaly_stage import score_by_process
    from nanotrig.models.l1_inputs import PowerOfTwoScaling
    from typer.testing import CliRunner

    from nanotrig.cli import app

    run, runner = anomaly_run["run_dir"], CliRunner()
    sample = run / "data" / "l1.h5"
    with h5py.File(sample, "r") as f:
        x = f["features"][()]
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in f.attrs["feature_names"]]
    spec = json.loads((run / "hls" / "conversion.json").read_text())["inputs"]
    assert spec["raw"] and spec["feature_names"] == names and spec["units"][0] == "GeV"
    assert spec["standardisation"]["offset"] == [0.0] * 57
    for onnx in (run / "onnx" / "model.onnx", run / "onnx_q" / "qmodel.qdq.onnx"):
        assert onnx_input_spec(onnx)["standardisation"] == spec["standardisation"]
    with np.load(run / "model" / "split.npz") as z:
        test = z["test"]
    processes = np.load(run / "qmodel" / "test_processes.npy")
    metrics = anomaly_run["report"]["quantize"]["metrics"]
    for onnx, key, tol in (("onnx/model.onnx", "float", 2e-3),
                           ("onnx_q/qmodel.qdq.onnx", "quantized", 0.0)):  # fmt: skip
        out = tmp_path / f"{key}.npy"
        res = runner.invoke(app, ["infer", str(run / onnx), "--inputs", str(sample), "--out",
                                  str(out), "--cpu"])  # fmt: skip
        assert res.exit_code == 0, res.stderr
        got = anomaly_metrics(*score_by_process(np.load(out)[test], processes))["signals"]
        for name, row in metrics[key]["signals"].items():
            assert abs(got[name]["auc"] - row["auc"]) <= tol, (key, name, got[name], row)
    scaled = tmp_path / "scaled.npy"
    scaling = PowerOfTwoScaling.load(run / "model" / "input_scaling.json")
    np.save(scaled, scaling.transform(x, _input_bits(run)))
    out = tmp_path / "p.npy"
    res = runner.invoke(app, ["infer", str(run / "onnx" / "model.onnx"), "--inputs",
                              str(scaled), "--out", str(out)])  # fmt: skip
    assert res.exit_code != 0 and "as if scaled outside" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not out.exists()


def _input_bits(run_dir):
    from nanotrig.config import QuantBits

    q = yaml.safe_load((run_dir / "config.yml").read_text())["quantize"]["input"]
    return QuantBits(**q)
