"""Firmware acceptance for the DQM autoencoder: io_stream C-simulation vs QKeras, bit for bit.

The project under test is the one ``nanotrig run`` writes for a tiny version of
configs/dqm_ae.yml (16x32 maps, 1800 of them; ``mini_dqm_run`` below, run once per session):
a Conv2D/MaxPooling2D encoder and UpSampling2D/Conv2D decoder trained on good maps and quantized
with QAT, converted with ``io_stream``. The run compared C-simulation (g++) with QKeras on every
layer (hls4ml ``trace``) for 1000 real maps and for the edge inputs of the input type; every
value must agree. The float and the QDQ ONNX models must agree with Keras and QKeras.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = [
    pytest.mark.slow,  # sample, two trainings and g++: about 1.5 minutes on 2 cores
    pytest.mark.skipif(shutil.which("g++") is None, reason="C-simulation needs g++"),
]

REPO = Path(__file__).resolve().parents[1]
AE_LAYERS = ["enc_conv1", "enc_relu1", "pool1", "enc_conv2", "enc_relu2", "pool2", "up1",
             "dec_conv1", "dec_relu1", "up2", "output"]  # fmt: skip


def small_dqm_config(out_root: Path, name: str = "mini_dqm"):
    """configs/dqm_ae.yml shrunk for tests: 72 runs of 16x32 maps, short training; 40% of
    the runs in the test part, so that every fault type is scored."""
    import yaml

    from nanotrig.config import parse_config

    data = yaml.safe_load((REPO / "configs" / "dqm_ae.yml").read_text())
    data.update(name=name, out_root=str(out_root))
    data["samples"].update(n_runs=72, shape=[16, 32])
    data["model"].update(epochs=25, patience=5, test_fraction=0.4)
    data["quantize"].update(epochs=8, patience=4)
    data["verify"]["n_events"] = 1000
    return parse_config(data, source="test DQM config")


@pytest.fixture(scope="session")
def mini_dqm_run(tmp_path_factory) -> dict:
    """``nanotrig run`` once on the tiny DQM config; its report plus the run dir."""
    from nanotrig.runner import run_chain

    cfg = small_dqm_config(tmp_path_factory.mktemp("dqm_runs"))
    report = run_chain(cfg, progress=False)
    report["run_dir"] = Path(cfg.out_root) / cfg.name
    return report


def _assert_every_layer_exact(v: dict, n: int) -> None:
    rows = [r for r in v["layers"] if r["kind"] == "exact"]
    assert [r["keras_layer"] for r in rows] == ["input_quant", *AE_LAYERS]  # the scaling too
    assert rows[0]["layer"] == "standardise"  # raw counts x 2**-shift, then the input type
    for row in rows:
        assert row["n_events"] == n, row
        assert row["n_mismatch"] == 0, row
        assert row["max_abs_diff"] == 0.0, row
    assert not [r for r in v["layers"] if r["kind"] != "exact"]
    assert set(v["not_compared"]) <= {"raw_input_quant"}
    assert v["ok"]


def test_real_maps_bit_exact_layer_by_layer(mini_dqm_run):
    v = mini_dqm_run["verify"]
    assert v["n_events"] == 1000 and not v["batched"]
    _assert_every_layer_exact(v, 1000)
    assert mini_dqm_run["config"]["hls"]["io_type"] == "io_stream"
    x = np.load(mini_dqm_run["run_dir"] / "qmodel" / "verify_inputs.npy")
    assert x.shape == (1800, 16, 32, 1) and (x == np.round(x)).all()  # raw counts


def test_edge_inputs_bit_exact(mini_dqm_run):
    from nanotrig.hls import edge_inputs

    edges = mini_dqm_run["verify"]["edge_inputs"]
    x = edge_inputs(mini_dqm_run["run_dir"] / "hls")
    assert edges["n_events"] == len(x) and (np.abs(x) > 2**14).any(axis=(1, 2, 3)).sum() >= 4
    _assert_every_layer_exact(edges, len(x))
    assert edges["reference_inexact_events"] == 0


def test_upsampling_keeps_its_input_type(mini_dqm_run):
    """hls4ml's streaming resize needs one type in and out; the output conv's accumulator is
    wide enough for float32 to hold it exactly."""
    prec = mini_dqm_run["hls"]["precisions"]
    assert prec["up1"]["class"] == "Resize" and prec["up2"]["result"] == prec["dec_relu1"]["result"]
    assert mini_dqm_run["hls"]["float32_inexact_layers"] == []


def test_onnx_agrees(mini_dqm_run):
    e, eq = mini_dqm_run["export"], mini_dqm_run["export_quantized"]
    assert e["agrees"] and e["max_abs_diff"] <= 1e-5 and e["max_abs_diff_loss"] <= 1e-6
    assert eq["agrees"] and eq["logits_exact"] and eq["max_abs_diff_outputs"] == 0.0
    assert all(r["max_abs_diff"] == 0.0 for r in eq["layers"].values())


def test_fault_detection_figures(mini_dqm_run, capsys):
    """The quantized autoencoder still flags and localises faults (loose floors, tiny run)."""
    q = mini_dqm_run["quantize"]["metrics"]["quantized"]
    with capsys.disabled():
        per = {k: v["auc"] for k, v in q["per_fault"].items() if v["auc"] is not None}
        print(f"\n[dqm] QKeras AUC per fault {per}, localisation {q['localisation']:.3f}")
    assert q["auc_any_fault"] > 0.8 and q["localisation"] > 0.6
    for name, f in q["per_fault"].items():  # a dead channel hardly moves the mean: max cell
        assert f["n_maps"] > 0 and max(f["auc"], f["auc_max_cell"]) > 0.9, name
    assert (mini_dqm_run["run_dir"] / "report.md").is_file()


def test_raw_counts_recorded_scored_and_checked(mini_dqm_run, tmp_path):
    """The deployed model takes the sample's raw counts: the project and both ONNX files
    record them; ``nanotrig infer`` on the run's own sample (its ``maps``) gives the report's
    fault AUC (QDQ: exactly); per-map normalised maps are refused, nothing written."""
    import json

    from nanotrig.export.metadata import onnx_input_spec
    from nanotrig.models.dqm_metrics import fault_metrics, reconstruction_losses
    from nanotrig.samples import load_dqm
    from typer.testing import CliRunner

    from nanotrig.cli import app

    run, runner = mini_dqm_run["run_dir"], CliRunner()
    spec = json.loads((run / "hls" / "conversion.json").read_text())["inputs"]
    shift = mini_dqm_run["train"]["inputs"]["shift"]
    assert spec["raw"] and spec["dataset"] == "maps" and spec["shape"] == [16, 32, 1]
    assert spec["standardisation"]["shift"] == [shift] and spec["units"] == ["count"]
    for onnx in (run / "onnx" / "model.onnx", run / "onnx_q" / "qmodel.qdq.onnx"):
        assert onnx_input_spec(onnx)["standardisation"] == spec["standardisation"]
    sample = load_dqm(run / "data" / "dqm.h5")
    with np.load(run / "model" / "split.npz") as z:
        test = z["test"]
    out = tmp_path / "q.npy"
    args = ["infer", str(run / "onnx_q" / "qmodel.qdq.onnx"), "--cpu", "--out", str(out)]
    res = runner.invoke(app, [*args, "--inputs", str(run / "data" / "dqm.h5")])
    assert res.exit_code == 0, res.stderr
    target = np.ldexp(sample.maps[test][..., None].astype(np.float64), -shift)
    per_map, per_cell = reconstruction_losses(target, np.load(out)[test])
    m = fault_metrics(per_map, per_cell, sample.fault_type[test], sample.fault_mask[test],
                      sample.fault_names)  # fmt: skip
    assert m["auc_any_fault"] == mini_dqm_run["quantize"]["metrics"]["quantized"]["auc_any_fault"]
    norm = tmp_path / "normalised.npy"
    np.save(norm, sample.maps_normalized[..., None])
    res = runner.invoke(app, ["infer", str(run / "onnx" / "model.onnx"), "--inputs", str(norm),
                              "--out", str(tmp_path / "p.npy")])  # fmt: skip
    assert res.exit_code != 0 and "as if scaled outside" in res.stderr, res.stderr
    assert not (tmp_path / "p.npy").exists()
