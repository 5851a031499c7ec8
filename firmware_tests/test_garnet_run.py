"""``nanotrig run`` with ``model.family: jet_garnet`` end to end on a tiny config (300 q and t
jets, one run per session, about 45 s): Pythia jets with constituents, float tagger, QGarNet QAT,
the GarNet layer converted and C-simulated, float ONNX, report. The default config
(configs/jet_garnet.yml) is the same chain with 4000 jets and five classes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from nanotrig.config import parse_config
from nanotrig.errors import ConfigError

pytestmark = [
    pytest.mark.slow,  # Pythia (~25 s), training (~15 s), g++ (~8 s)
    pytest.mark.skipif(shutil.which("g++") is None, reason="C-simulation needs g++"),
]


def _tiny(out_root) -> dict:
    return {
        "name": "garnet_tiny",
        "seed": 7,
        "out_root": str(out_root),
        "samples": {
            "kind": "jets",
            "classes": ["q", "t"],  # separable on 300 jets
            "n_per_class": 150,
            "chunk_size": 75,
            "workers": 2,
        },
        "model": {
            "family": "jet_garnet",
            "epochs": 20,
            "batch_size": 64,
            "patience": 6,
            "learning_rate": 0.003,
        },
        "quantize": {"epochs": 2, "patience": 2},
        "verify": {"n_events": 1000},
    }


@pytest.fixture(scope="session")
def garnet_run(tmp_path_factory) -> dict:
    from nanotrig.runner import run_chain

    out_root = tmp_path_factory.mktemp("garnet_run")
    cfg = parse_config(_tiny(out_root), source="tiny")
    report = run_chain(cfg, progress=False)
    return {"report": report, "dir": out_root / "garnet_tiny"}


def test_csim_equals_emulator_on_every_jet_and_edge_input(garnet_run):
    v = garnet_run["report"]["verify"]
    assert v["n_events"] == 300 and v["test_jets"] == 60
    assert v["n_mismatch"] == 0 and v["max_abs_diff"] == 0.0 and v["ok"]
    assert v["edge_inputs"]["n_mismatch"] == 0 and v["edge_inputs"]["n_events"] > 200
    assert v["emulator_vs_keras"]["ok"]


def test_accuracy_above_chance_and_onnx_agrees(garnet_run):
    r = garnet_run["report"]
    for metrics in r["metrics"].values():
        assert metrics["accuracy"] > 0.6  # two classes: chance is 0.5
        assert set(metrics["auc"]) == {"q", "t"} and metrics["auc"]["t"] > 0.6
    assert r["export"]["agrees"] and r["export"]["max_abs_diff"] <= 1e-5
    q = r["export_quantized"]  # the QGarNet tagger through tf2onnx, within its tolerance
    assert q["agrees"] and q["max_abs_diff"] <= q["atol"] and q["argmax_agreement"] >= 0.99
    assert Path(q["onnx"]).is_file()


def test_report_files_and_firmware_scope(garnet_run):
    d = garnet_run["dir"]
    on_disk = json.loads((d / "report.json").read_text())
    assert on_disk["verify"]["n_mismatch"] == 0
    assert on_disk["hls"]["in_firmware"] == ["garnet", "fc1", "relu1", "output"]
    assert on_disk["hls"]["outside_firmware"] == ["softmax"]
    assert garnet_run["report"]["hls"]["estimate"]["latency_ns"] > 0
    md = (d / "report.md").read_text()
    assert "converted to HLS and C-simulated (the tagger up to its logits)" in md
    from nanotrig.export.metadata import onnx_input_spec
    from nanotrig.models.garnet import GARNET_FEATURES

    inputs = on_disk["hls"]["inputs"]  # preprocessed outside the model: recorded as such
    assert inputs["raw"] is False and inputs["feature_names"] == list(GARNET_FEATURES)
    assert inputs["shape"][0][1] == 4 and len(inputs["train_mean"]) == 4
    for onnx in ("onnx/jet_garnet.onnx", "onnx_q/jet_garnet_q.onnx"):
        assert onnx_input_spec(d / onnx) == inputs
    for plot in on_disk["plots"].values():
        assert (d / plot).is_file()


def test_jet_garnet_needs_a_jet_sample(tmp_path):
    """Through the CLI: one line on stderr, exit code 2, no run directory."""
    import yaml
    from typer.testing import CliRunner

    from nanotrig.cli import app

    data = _tiny(tmp_path)
    data["samples"] = {"kind": "dqm"}
    with pytest.raises(ConfigError, match=r"jet_garnet trains on jet constituents: set samples"):
        parse_config(data, source="bad")
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "set samples.kind: jets (got 'dqm')" in lines[0]
    assert not (tmp_path / "garnet_tiny").exists()


def test_jet_garnet_refuses_other_family_keys_and_bad_counts(tmp_path):
    data = _tiny(tmp_path)
    data["model"]["hidden"] = [8]
    with pytest.raises(ConfigError, match="hidden applies to jet_mlp, not jet_garnet"):
        parse_config(data, source="bad")
    data = _tiny(tmp_path)
    data["samples"]["n_constituents"] = 24
    with pytest.raises(ConfigError, match="power of two"):
        parse_config(data, source="bad")
    data = _tiny(tmp_path)
    data["quantize"]["layers"] = {"garnet": {"weights": {"bits": 10, "integer": 2}}}
    with pytest.raises(ConfigError, match="7 fractional bits"):
        parse_config(data, source="bad")


def test_jet_model_trainer_refuses_garnet(tmp_path):
    """The jet MLP/CNN trainer names the family's own train stage instead."""
    from nanotrig.models.stage import train_model

    from nanotrig.config import ModelConfig

    with pytest.raises(ConfigError, match="train_model trains the jet_mlp and jet_cnn famil"):
        train_model(tmp_path / "jets.h5", ModelConfig(family="jet_garnet"), 0, tmp_path / "m")


@pytest.mark.parametrize(
    "section, key, value, match",
    [
        ("hls", "io_type", "io_stream", "hls.io_type: the GarNet layer is converted with"),
        ("hls", "reuse_factor", 3, "hls.reuse_factor 3: GarNet splits its 32 vertices"),
        ("verify", "stress_events", 10, "verify.stress_events: the batched large check"),
    ],
)
def test_settings_the_chain_cannot_honour_are_refused(tmp_path, section, key, value, match):
    from nanotrig.runner import run_chain

    data = _tiny(tmp_path)
    data.setdefault(section, {})[key] = value
    with pytest.raises(ConfigError, match=match):
        run_chain(parse_config(data, source="bad"))
    assert not (tmp_path / "garnet_tiny").exists()


def test_every_verb_takes_the_garnet_tagger(garnet_run, tmp_path):
    """train, quantize, convert, verify and export from a jet_garnet config, as for any family:
    the GarNet verbs go through the family's own functions (C-sim checked against its emulator)."""
    import yaml
    from typer.testing import CliRunner

    from nanotrig.cli import app

    d = garnet_run["dir"]
    cfg = tmp_path / "garnet.yml"
    cfg.write_text(yaml.safe_dump(_tiny(tmp_path / "runs")))
    data, w = d / "data" / "jets.h5", tmp_path / "verbs"
    steps = [
        ("train", cfg, "--data", data, "--out", w / "model"),
        ("quantize", cfg, "--model", d / "model", "--data", data, "--out", w / "qmodel"),
        ("convert", d / "qmodel" / "qmodel.h5", "--out", w / "hls", "--config", cfg),
        ("verify", w / "hls", "--inputs", data, "--events", 100),
        ("export", d / "qmodel" / "qmodel.h5", "--out", w / "onnx_q", "--inputs", data,
         "--config", cfg),
    ]  # fmt: skip
    outputs = {}
    for step in steps:
        res = CliRunner().invoke(app, [str(a) for a in step])
        assert res.exit_code == 0, (step[0], res.output)
        outputs[step[0]] = res.stdout
    assert "bit-exact: C-sim == emulator on 100 events (0 differ)" in outputs["verify"]
    verify = json.loads((w / "hls" / "verify.json").read_text())
    assert verify["ok"] and verify["n_events"] == 100 and verify["edge_inputs"]["ok"]
    assert (w / "model" / "model.h5").is_file() and (w / "qmodel" / "qmodel.h5").is_file()
    assert json.loads((w / "onnx_q" / "artifact.json").read_text())["agrees"]
    from nanotrig.families.jet_garnet import garnet_file_inputs

    x, n = garnet_file_inputs(data)  # raw pT instead of ln pT: refused, nothing written
    x[..., 0] = np.where(x[..., 0] != 0, np.exp(x[..., 0]), 0.0)
    np.savez(tmp_path / "raw_pt.npz", x=x, n=n)
    before = (d / "hls" / "verify.json").read_bytes()
    res = CliRunner().invoke(
        app, ["verify", str(d / "hls"), "--inputs", str(tmp_path / "raw_pt.npz")]
    )
    assert res.exit_code != 0 and "log_pt has mean" in res.stderr, res.output
    assert (d / "hls" / "verify.json").read_bytes() == before
