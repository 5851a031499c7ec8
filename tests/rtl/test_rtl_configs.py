"""Which families take ``rtl.enabled``: the anomaly VAE and both jet taggers, io_parallel only;
the others are refused in one line naming those that have the stage."""

from __future__ import annotations

import pytest
import yaml

from conftest import REPO
from nanotrig.config import parse_config
from nanotrig.errors import ConfigError


def _config(name: str, **rtl) -> dict:
    data = yaml.safe_load((REPO / "configs" / name).read_text())
    data["rtl"] = {**data.get("rtl", {}), **rtl}
    return data


def test_anomaly_config_takes_the_rtl_stage():
    from nanotrig.family import get_family

    cfg = parse_config(_config("anomaly_vae.yml", enabled=True, synth_timeout_s=60))
    assert cfg.rtl.enabled and cfg.rtl.synth_timeout_s == 60
    assert get_family("anomaly_vae").stage("rtl").when(cfg)
    assert not get_family("anomaly_vae").stage("rtl").when(parse_config(_config("anomaly_vae.yml")))


def test_rtl_refused_where_it_cannot_run():
    with pytest.raises(ConfigError, match=r"rtl\.enabled: the rtl stage takes io_parallel "
                       "projects: set hls.io_type: io_parallel"):  # fmt: skip
        parse_config(_config("jet_cnn.yml", enabled=True))
    data = yaml.safe_load((REPO / "configs" / "dqm_ae.yml").read_text())
    data["rtl"] = {"enabled": True}
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    msg = str(err.value)
    assert "the dqm_ae family has no rtl stage yet" in msg and "\n" not in msg
    assert all(f in msg for f in ("anomaly_vae", "jet_cnn", "jet_mlp"))


def test_pipeline_deeper_than_the_budget_fails_the_run(tmp_path):
    """The rtl stage's budget gate on the exact depth: over the budget is a run failure naming
    both figures; within it (and bit-exact) nothing fails."""
    from nanotrig.families.common import rtl_failures

    rtl = {"verification": {"ok": True}, "latency_ns": 45.0, "latency_cycles": 9,
           "budget": {"latency_budget_ns": 100.0, "ok": True}}  # fmt: skip
    assert rtl_failures({"rtl": rtl}, tmp_path) == []
    rtl["budget"] = {"latency_budget_ns": 40.0, "ok": False}
    (msg,) = rtl_failures({"rtl": rtl}, tmp_path)
    assert msg.startswith("the RTL pipeline takes 45 ns (9 cycles), over the latency budget of 40")


def test_synth_mode_config():
    cfg = parse_config(_config("jet_mlp.yml", synth_mode="hierarchical"))
    assert cfg.rtl.synth_mode == "hierarchical"
    assert parse_config(_config("jet_mlp.yml")).rtl.synth_mode == "auto"
    with pytest.raises(ConfigError, match=r"'rtl\.synth_mode': Input should be 'auto', 'flat' or"):
        parse_config(_config("jet_mlp.yml", synth_mode="fast"))
