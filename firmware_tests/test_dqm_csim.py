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
    assert [r["keras_layer"] for r in rows] == AE_LAYERS
    for row in rows:
        assert row["n_events"] == n, row
        assert row["n_mismatch"] == 0, row
        assert row["max_abs_diff"] == 0.0, row
    assert not [r for r in v["layers"] if r["kind"] != "exact"]
    assert set(v["not_compared"]) <= {"input_quant"}
    assert v["ok"]


def test_real_maps_bit_exact_layer_by_layer(mini_dqm_run):
    v = mini_dqm_run["verify"]
    assert v["n_events"] == 1000 and not v["batched"]
    _assert_every_layer_exact(v, 1000)
    assert mini_dqm_run["config"]["hls"]["io_type"] == "io_stream"
    x = np.load(mini_dqm_run["run_dir"] / "qmodel" / "verify_inputs.npy")
    assert x.shape == (1800, 16, 32, 1) and np.isclose(x.mean(axis=(1, 2, 3)), 1.0).all()


def test_edge_inputs_bit_exact(mini_dqm_run):
    from nanotrig.hls import edge_inputs

    edges = mini_dqm_run["verify"]["edge_inputs"]
    x = edge_inputs(mini_dqm_run["run_dir"] / "hls")
    assert edges["n_events"] == len(x) and (np.abs(x) > 128).any(axis=(1, 2, 3)).sum() >= 4
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
