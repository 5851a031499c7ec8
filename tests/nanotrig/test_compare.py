"""``nanotrig compare``: the jet MLP, CNN and GarNet on one sample and the same test jets.

End to end on a tiny comparison built from the shipped configs (q vs t, 100 jets per class,
few epochs): one sample, three full chains, identical test jets, a side-by-side report whose
figures are recomputed here from each tagger's saved scores. Bad comparison configs are
refused in one line before any work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from nanotrig.cli import app
from nanotrig.compare import load_compare_config
from nanotrig.errors import ConfigError

pytestmark = pytest.mark.filterwarnings(
    "ignore:The `keras.constraints.serialize:UserWarning",
    "ignore:The `keras.initializers.serialize:UserWarning",
    "ignore:You are saving your model as an HDF5 file:UserWarning",
)

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
runner = CliRunner()


def _member(name: str, tmp: Path, **sections) -> str:
    """A shipped tagger config with test-sized sections, written into ``tmp``."""
    data = yaml.safe_load((CONFIGS / f"{name}.yml").read_text())
    for key, update in sections.items():
        data[key] = {**data.get(key, {}), **update}
    path = tmp / f"{name}.yml"
    path.write_text(yaml.safe_dump(data))
    return path.name


def _comparison(tmp: Path, **overrides) -> Path:
    """configs/jet_taggers.yml at test size (q vs t, tiny taggers) in ``tmp``."""
    data = yaml.safe_load((CONFIGS / "jet_taggers.yml").read_text())
    data["out_root"] = str(tmp / "runs")
    data["samples"].update(classes=["q", "t"], n_per_class=100, chunk_size=50)
    fast = {"epochs": 4, "patience": 2}
    verify = {"n_events": 40, "edge_inputs": True, "stress_events": 0}
    data["taggers"] = {
        "mlp": _member("jet_mlp", tmp, model=fast, quantize=fast, verify=verify),
        "cnn": _member("jet_cnn", tmp, model=fast, quantize=fast, verify=verify),
        "garnet": _member("jet_garnet", tmp, model=fast, quantize={"epochs": 1}, verify=verify),
    }
    data.update(overrides)
    path = tmp / "compare.yml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def compared(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("compare")
    result = runner.invoke(app, ["compare", str(_comparison(tmp))])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    run_dir = tmp / "runs" / "jet_taggers"
    return {
        "dir": run_dir,
        "stdout": result.stdout,
        **json.loads((run_dir / "report.json").read_text()),
    }


def test_every_tagger_tested_on_the_same_jets_of_one_sample(compared):
    run_dir = compared["dir"]
    shared = run_dir / "data" / "jets.h5"
    labels = None
    for tagger in ("mlp", "cnn", "garnet"):
        own = run_dir / tagger / "data" / "jets.h5"
        assert own.read_bytes() == shared.read_bytes()  # the sample, not a regenerated one
        with np.load(run_dir / tagger / "model" / "split.npz") as s:
            test = s["test"]
        with np.load(run_dir / tagger / "qmodel" / "test_scores.npz") as f:
            assert len(f["labels"]) == len(test) == compared["test_jets"]
            assert f["quantized"].shape == (len(test), 2)
            if labels is not None:
                np.testing.assert_array_equal(f["labels"], labels)
            labels = f["labels"]
    assert compared["test_jets"] == 40  # 20 % of 200 jets, stratified: 20 q + 20 t
    assert np.bincount(labels).tolist() == [20, 20]


def test_report_figures_recomputed_from_saved_scores(compared):
    from nanotrig.models.metrics import classification_metrics

    for tagger, row in compared["taggers"].items():
        with np.load(compared["dir"] / tagger / "qmodel" / "test_scores.npz") as f:
            m = classification_metrics(f["labels"], f["quantized"], ("q", "t"))
        assert row["metrics"]["quantized"]["accuracy"] == pytest.approx(m["accuracy"])
        assert row["metrics"]["quantized"]["auc"]["t"] == pytest.approx(m["auc"]["t"])
        assert row["csim"]["bit_exact"] and row["csim"]["mismatching_events"] == 0
        assert row["csim"]["events"] > 40  # test jets plus edge inputs
        assert row["onnx_agrees"]
    assert compared["taggers"]["garnet"]["csim"]["reference"] == "emulator"
    assert "firmware" in compared["taggers"]["garnet"]["metrics"]
    assert all(row["estimate"]["latency_ns"] > 0 for row in compared["taggers"].values())
    md = (compared["dir"] / "report.md").read_text()
    for tagger in ("mlp", "cnn", "garnet"):
        assert f"| {tagger} | quantized (QAT) |" in md
    assert (compared["dir"] / "roc_compare.png").stat().st_size > 10_000
    assert "mlp: quantized accuracy" in compared["stdout"]


def test_existing_comparison_is_not_overwritten(compared, tmp_path):
    cfg = compared["dir"].parents[1] / "compare.yml"
    before = (compared["dir"] / "report.json").stat().st_mtime_ns
    result = runner.invoke(app, ["compare", str(cfg)])
    assert result.exit_code == 2 and "--force" in result.stderr
    assert (compared["dir"] / "report.json").stat().st_mtime_ns == before


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"taggers": {"mlp": "jet_mlp.yml"}}, "at least two taggers"),
        ({"taggers": {"mlp": "jet_mlp.yml", "dqm": "dqm.yml"}}, "dqm_ae run, not a jet tagger"),
        ({"taggers": {"mlp": "jet_mlp.yml", "x": "missing.yml"}}, "not found"),
        ({"taggers": {"mlp": "jet_mlp.yml", "c/d": "jet_cnn.yml"}}, "tagger labels name folders"),
        ({"samples": {"image_size": 6}, "taggers": {"a": "jet_mlp.yml", "b": "jet_cnn.yml"}},
         "does not fit the shared sample: model.conv_filters"),
        ({"split": {"test_fraction": 0.7}}, "split.test_fraction"),
        ({"taggerz": {}}, "unknown key"),
    ],
)  # fmt: skip
def test_bad_comparison_configs_are_refused_in_one_line(tmp_path, change, match):
    for name in ("jet_mlp", "jet_cnn", "dqm_ae"):
        (tmp_path / f"{name}.yml").write_text((CONFIGS / f"{name}.yml").read_text())
    (tmp_path / "dqm.yml").write_text((CONFIGS / "dqm_ae.yml").read_text())
    data = yaml.safe_load((CONFIGS / "jet_taggers.yml").read_text())
    data.update(change, out_root=str(tmp_path / "runs"))
    cfg = tmp_path / "compare.yml"
    cfg.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=match):
        load_compare_config(cfg)
    result = runner.invoke(app, ["compare", str(cfg)])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_shipped_comparison_config_is_valid():
    cfg, members = load_compare_config(CONFIGS / "jet_taggers.yml")
    assert {m.model.family for m in members.values()} == {"jet_mlp", "jet_cnn", "jet_garnet"}
    assert all(m.samples == cfg.samples and m.seed == cfg.seed for m in members.values())
    assert all(m.model.test_fraction == cfg.split.test_fraction for m in members.values())
