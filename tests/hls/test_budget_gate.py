"""The latency/II budget gate: an over-budget model is refused with one line naming its slowest
layers and what to change, before anything is written; an under-budget one converts and records
the estimate (no g++ compile and no vendor tool in this file)."""

from __future__ import annotations

import json

import pytest
from nanotrig.hls import convert_model
from qmodels import qb, seeded
from typer.testing import CliRunner

from nanotrig.cli import app
from nanotrig.config import HlsConfig, load_config
from nanotrig.errors import BudgetExceededError, ConfigError

pytestmark = pytest.mark.filterwarnings("ignore:The `keras.constraints.serialize:UserWarning")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    import keras
    from qkeras import QActivation, QDense, quantized_relu

    model = keras.Sequential(
        [
            keras.Input((8,)),
            QActivation(qb(12, 3), name="qin"),
            QDense(16, kernel_quantizer=qb(12, 1), bias_quantizer=qb(12, 1), name="fc1"),
            QActivation(quantized_relu(8, 2), name="relu1"),
            QDense(3, kernel_quantizer=qb(8, 1), bias_quantizer=qb(8, 1), name="fc2"),
        ]
    )
    path = tmp_path_factory.mktemp("model") / "tiny.h5"
    seeded(model).save(path)
    return path


def test_over_latency_budget_is_refused_before_writing(model_path, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(BudgetExceededError, match=r"exceeds the budget of 1 ns") as info:
        convert_model(model_path, out, HlsConfig(latency_budget_ns=1))
    msg = str(info.value)
    assert "\n" not in msg
    assert "slowest layers: fc1" in msg or "slowest layers: fc2" in msg
    assert "estimate" in msg and "bit widths" in msg
    assert not out.exists()


def test_over_ii_budget_suggests_reuse_factor(model_path, tmp_path):
    cfg = HlsConfig(strategy="Resource", reuse_factor=8, ii_budget_ns=10)
    with pytest.raises(BudgetExceededError, match=r"II .* exceeds .*reuse factor \(now 8"):
        convert_model(model_path, tmp_path / "out", cfg)
    assert not (tmp_path / "out").exists()


def test_under_budget_converts_and_records_estimate(model_path, tmp_path):
    out = tmp_path / "out"
    rec = convert_model(model_path, out, HlsConfig(latency_budget_ns=1000, ii_budget_ns=100))
    est = rec["estimate"]
    assert est["budget"]["ok"] is True
    assert 0 < est["latency_ns"] <= 1000 and est["ii_cycles"] == 1
    assert {r["name"] for r in est["layers"]} >= {"fc1", "fc2"}
    assert (out / est["plot"]).is_file()
    on_disk = json.loads((out / "conversion.json").read_text())
    assert on_disk["estimate"]["latency_cycles"] == est["latency_cycles"]


def test_no_budget_still_estimates(model_path, tmp_path):
    rec = convert_model(model_path, tmp_path / "out", HlsConfig())
    assert rec["estimate"]["budget"] is None and rec["estimate"]["dsp"] >= 0


def test_yaml_budget_fields(tmp_path):
    cfg = tmp_path / "c.yml"
    cfg.write_text("name: x\nhls: {latency_budget_ns: 100, ii_budget_ns: 25}\n")
    hls = load_config(cfg).hls
    assert (hls.latency_budget_ns, hls.ii_budget_ns) == (100, 25)
    cfg.write_text("name: x\nhls: {latency_budget_ns: -5}\n")
    with pytest.raises(ConfigError, match="latency_budget_ns"):
        load_config(cfg)


def test_cli_budget_gate(model_path, tmp_path):
    runner = CliRunner()
    out = tmp_path / "out"
    args = ["convert", str(model_path), "--out", str(out)]
    result = runner.invoke(app, [*args, "--latency-budget-ns", "1"])
    assert result.exit_code == 2, result.output
    # qkeras logs "keras dict ..." at INFO on the root logger while loading; the error is one line
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("nanotrig: error:")]
    assert len(errors) == 1 and errors[0].startswith("nanotrig: error: estimated latency")
    assert "slowest layers" in errors[0] and not out.exists()
    result = runner.invoke(app, [*args, "--ii-ns", "-1"])
    assert result.exit_code == 2 and "--ii-ns" in result.stderr
    result = runner.invoke(app, [*args, "--latency-budget-ns", "500", "--ii-ns", "50", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["estimate"]["budget"]["ok"] is True
