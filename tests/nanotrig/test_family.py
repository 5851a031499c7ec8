"""A sixth family declared in a few lines runs through ``nanotrig run`` (fresh and resumed) and
every stage verb with no runner or renderer code of its own; the registry's rules."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from nanotrig.errors import ConfigError

TOY = "toy_dqm_mlp"


# --- the toy family: "is this occupancy map faulty?", a dense net on a tiny DQM sample --------
def _xy(data: Path):
    from nanotrig.samples import load_dqm

    s = load_dqm(data)
    x = s.maps_normalized.reshape(len(s), -1).astype(np.float32)
    return x, (s.fault_type > 0).astype(np.int64)


def _toy_train(data: Path, cfg, out_dir: Path, force: bool = False) -> dict:
    from nanotrig.models.train import fit, seed_everything
    from tensorflow import keras

    from nanotrig.fileio import prepare_output_dir

    out_dir = prepare_output_dir(out_dir, force)
    x, y = _xy(data)
    seed_everything(cfg.seed)
    k, inp = keras.layers, keras.Input((x.shape[1],))
    h = k.ReLU()(k.Dense(cfg.model.hidden[0])(inp))
    model = keras.Model(inp, k.Activation("softmax")(k.Dense(2)(h)))
    fit(model, x, y, x, y, epochs=cfg.model.epochs, batch_size=32, learning_rate=1e-2,
        patience=cfg.model.patience, seed=cfg.seed)  # fmt: skip
    model.save(out_dir / "model.h5", save_format="h5")
    return {"stage": "train", "model": str(out_dir / "model.h5")}


def _toy_quantize(model_dir: Path, data: Path, cfg, out_dir: Path, force: bool = False) -> dict:
    from nanotrig.models import classification_metrics
    from nanotrig.quantize import build_qmodel, load_keras_model
    from nanotrig.quantize.stage import QMODEL_FILE

    from nanotrig.fileio import prepare_output_dir

    out_dir = prepare_output_dir(out_dir, force)
    x, y = _xy(data)
    model = load_keras_model(Path(model_dir) / "model.h5")
    qmodel = build_qmodel(model, cfg.quantize)
    qmodel.save(out_dir / QMODEL_FILE, save_format="h5")
    np.save(out_dir / "test_inputs.npy", x)
    m = {k: classification_metrics(y, net.predict(x, verbose=0), ("good", "faulty"))
         for k, net in (("float", model), ("quantized", qmodel))}  # fmt: skip
    drop = m["float"]["accuracy"] - m["quantized"]["accuracy"]
    return {"stage": "quantize", "metrics": m, "accuracy_drop": drop}


def _toy_family():
    from nanotrig.families.common import csim_failures, standard_stages
    from nanotrig.families.jets import accuracy_section, classifier_summary, onnx_sections
    from nanotrig.family import Family
    from nanotrig.report import csim_sections, hls_section, rtl_section

    return Family(
        name=TOY, title="toy DQM classifier", sample_kind="dqm", model_keys=("hidden",),
        stages=standard_stages(_toy_train, _toy_quantize, rtl=True),
        sections=(accuracy_section, hls_section, lambda r: csim_sections(r, "maps"),
                  rtl_section, onnx_sections),
        summary=classifier_summary, failures=csim_failures, train=_toy_train,
        quantize=_toy_quantize,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------


@pytest.fixture
def toy(tmp_path):
    from nanotrig.family import register_family, unregister_family

    register_family(_toy_family())
    cfg = {
        "name": "toy", "seed": 3, "out_root": str(tmp_path / "runs"),
        "samples": {"kind": "dqm", "n_runs": 8, "lumisections_per_run": 10, "shape": [8, 8],
                    "chunk_size": 4},
        "model": {"family": TOY, "hidden": [4], "epochs": 3, "patience": 2},
        "quantize": {"epochs": 1},
        "verify": {"n_events": 40, "stress_events": 0},
        "rtl": {"enabled": True, "synth": False},
    }  # fmt: skip
    path = tmp_path / "toy.yml"
    path.write_text(yaml.safe_dump(cfg))
    yield path, cfg
    unregister_family(TOY)


def _cli(*args: str):
    from nanotrig.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def _ledger(run_dir: Path) -> dict:
    return json.loads((run_dir / "stages.json").read_text())["stages"]


@pytest.mark.slow
def test_toy_family_through_run_resume_and_every_verb(toy, tmp_path):
    path, cfg = toy
    res = _cli("run", path)
    assert res.exit_code == 0, res.output
    run_dir = tmp_path / "runs" / "toy"
    report = json.loads((run_dir / "report.json").read_text())
    assert report["family"] == TOY and report["verify"]["ok"] and report["export"]["agrees"]
    assert report["export_quantized"]["logits_exact"]
    rtl = report["rtl"]["verification"]  # the optional rtl stage: Verilator == QKeras logits
    assert rtl["ok"] and rtl["mismatching_events"] == 0 and rtl["n_events"] > 40
    md = (run_dir / "report.md").read_text()
    assert md.startswith("# nanotrig run `toy`: toy DQM classifier")
    assert "## C-simulation vs QKeras" in md and "## ONNX (quantized model" in md
    assert "## RTL (da4ml Verilog, Verilator, Yosys)" in md
    first = _ledger(run_dir)
    assert list(first) == ["generate", "train", "quantize", "convert", "verify", "rtl", "export",
                           "export_quantized"]  # fmt: skip

    # without --resume or --force an existing run is refused in one line, nothing touched
    res = _cli("run", path)
    assert res.exit_code == 2 and "pass --resume" in res.stderr
    model_mtime = (run_dir / "model" / "model.h5").stat().st_mtime_ns

    # --resume with the same config: nothing is redone
    res = _cli("run", path, "--resume")
    assert res.exit_code == 0, res.output
    assert _ledger(run_dir) == first
    assert (run_dir / "model" / "model.h5").stat().st_mtime_ns == model_mtime

    # a changed export tolerance redoes the two export stages only
    cfg["export"] = {"atol": 2e-5}
    path.write_text(yaml.safe_dump(cfg))
    res = _cli("run", path, "--resume")
    assert res.exit_code == 0, res.output
    again = _ledger(run_dir)
    changed = [s for s in first if again[s]["fingerprint"] != first[s]["fingerprint"]]
    assert changed == ["export", "export_quantized"]
    assert (run_dir / "model" / "model.h5").stat().st_mtime_ns == model_mtime
    assert json.loads((run_dir / "report.json").read_text())["export"]["atol"] == 2e-5

    # every verb, one stage at a time, from the same config
    w = tmp_path / "verbs"
    steps = [
        ("generate", path, "--out", w / "toy.h5"),
        ("train", path, "--data", w / "toy.h5", "--out", w / "model"),
        ("quantize", path, "--model", w / "model", "--data", w / "toy.h5", "--out", w / "qmodel"),
        ("convert", w / "qmodel" / "qmodel.h5", "--out", w / "hls", "--config", path),
        ("verify", w / "hls", "--inputs", w / "qmodel" / "test_inputs.npy"),
        ("export", w / "model" / "model.h5", "--out", w / "onnx", "--inputs",
         w / "qmodel" / "test_inputs.npy"),
    ]  # fmt: skip
    for step in steps:
        res = _cli(*step)
        assert res.exit_code == 0, (step[0], res.output)
    assert (w / "hls" / "conversion.json").is_file()
    assert (w / "onnx" / "model.onnx").is_file()


def test_registry_rules():
    from nanotrig.family import Family, Stage, family_names, get_family, register_family

    assert {"jet_mlp", "jet_cnn", "jet_garnet", "dqm_ae", "anomaly_vae"} <= set(family_names())
    with pytest.raises(
        ConfigError, match=r"unknown model family 'jet_gnn': choose one of .*jet_mlp"
    ):
        get_family("jet_gnn")
    with pytest.raises(ValueError, match="a family named 'jet_mlp' is already registered"):
        register_family(get_family("jet_mlp"))
    fam = get_family("jet_mlp")
    with pytest.raises(ValueError, match="must be in the order"):
        Family(**{**fam.__dict__, "name": "x", "stages": tuple(reversed(fam.stages))})
    late = (Stage("train", lambda ctx: {}, after=("quantize",)),)
    with pytest.raises(ValueError, match="stage train runs after"):
        Family(**{**fam.__dict__, "name": "x", "stages": late})


def test_unknown_family_in_config_is_one_line():
    from nanotrig.config import parse_config

    with pytest.raises(ConfigError, match=r"'model\.family': unknown model family 'toy_x'"):
        parse_config({"name": "x", "model": {"family": "toy_x"}})


def test_run_refuses_a_sample_of_another_kind(tmp_path):
    """The jet MLP trains on jets: an L1 sample config is refused before any work."""
    res = _cli_run_config(tmp_path, {"name": "x", "out_root": str(tmp_path / "r"),
                                     "samples": {"kind": "l1"}})  # fmt: skip
    assert res.exit_code == 2
    assert "model.family jet_mlp trains on jets samples: set samples.kind: jets" in res.stderr
    assert not (tmp_path / "r").exists()


def test_run_refuses_force_with_resume(tmp_path):
    res = _cli_run_config(tmp_path, {"name": "x", "out_root": str(tmp_path / "r")}, "--force",
                          "--resume")  # fmt: skip
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "--force starts over and --resume keeps the run" in lines[0]
    assert not (tmp_path / "r").exists()


def test_garnet_verbs_refuse_bad_files_in_one_line(tmp_path):
    """GarNet's own export and verify paths: a missing model, a project that is not one."""
    garnet = {"name": "g", "samples": {"kind": "jets"}, "model": {"family": "jet_garnet"},
              "verify": {"stress_events": 0}}  # fmt: skip
    cfg = tmp_path / "g.yml"
    cfg.write_text(yaml.safe_dump(garnet))
    (tmp_path / "x.npz").write_bytes(b"")
    res = _cli("export", tmp_path / "missing.h5", "--out", tmp_path / "o", "--inputs",
               tmp_path / "x.npz", "--config", cfg)  # fmt: skip
    assert res.exit_code == 2 and "model file" in res.stderr and "not found" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def _cli_run_config(tmp_path: Path, data: dict, *extra: str):
    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump(data))
    return _cli("run", path, *extra)
