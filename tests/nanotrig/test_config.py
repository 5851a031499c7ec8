"""Config validation: every error is one line naming the key and the fix."""

from __future__ import annotations

import pytest
import yaml

from nanotrig.config import RunConfig, load_config, parse_config
from nanotrig.errors import ConfigError


def _write(tmp_path, text: str):
    p = tmp_path / "c.yml"
    p.write_text(text)
    return p


def test_demo_config_is_valid(tmp_path):
    from conftest import DEMO_CONFIG

    cfg = load_config(DEMO_CONFIG)
    assert cfg.name == "jet_mlp_demo"
    assert cfg.quantize.weights.bits == 6 and cfg.quantize.activation.bits == 6
    assert cfg.samples.classes == ("g", "q", "W", "Z", "t")
    # the demo config spells out every default: dumping and re-parsing is the identity
    assert parse_config(cfg.model_dump(mode="json")) == cfg


def test_demo_jets_are_the_data_set_definition_and_r08_keeps_the_earlier():
    """The demo's jets are the defaults (R = 0.4, W/Z jets holding both decay quarks);
    configs/jet_mlp_r08.yml differs from it only in its name and those two keys."""
    from conftest import DEMO_CONFIG

    demo = load_config(DEMO_CONFIG).model_dump()
    r08 = load_config(DEMO_CONFIG.parent / "jet_mlp_r08.yml").model_dump()
    default = RunConfig(name="x").samples
    assert (demo["samples"]["jet_r"], demo["samples"]["contained"]) == (0.4, ("W", "Z"))
    assert (default.jet_r, default.contained) == (0.4, ("W", "Z"))
    assert (r08["samples"]["jet_r"], r08["samples"]["contained"]) == (0.8, ())
    for d in (demo, r08):
        d.pop("name")
        d["samples"].pop("jet_r")
        d["samples"].pop("contained")
    assert r08 == demo


def test_minimal_config_takes_defaults():
    cfg = parse_config({"name": "x"})
    assert cfg == RunConfig(name="x")
    assert cfg.hls.backend == "Vitis" and cfg.hls.io_type == "io_parallel"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("name: x\nsamples: {n_per_clas: 10}\n", r"samples\.n_per_clas.*unknown key"),
        ("name: x\nbogus: 1\n", r"'bogus'.*unknown key"),
        ("name: x\nsamples: {n_per_class: -5}\n", r"samples\.n_per_class.*greater than 0"),
        ("name: x\nsamples: {classes: [g, X]}\n", r"samples\.classes"),
        ("name: x\nquantize: {weights: {bits: 1}}\n", r"quantize\.weights\.bits"),
        ("name: x\nquantize: {weights: {bits: 4, integer: 4}}\n", r"integer bits"),
        ("name: x\nhls: {part: notapart}\n", r"unknown FPGA part 'notapart'"),
        ("name: x\nhls: {io_type: io_serial}\n", r"hls\.io_type"),
        ("samples: {}\n", r"'name'.*missing"),
        ("- just\n- a list\n", r"top level must be a mapping"),
        ("name: x\nsamples: {pthat_range_gev: [1000, 900]}\n", r"low < high"),
        ("name: x\nsamples: {contained: [W], match_dr: null}\n", r"contained.*needs match_dr"),
        ("name: x\nsamples: {contained: [g]}\n", r"samples\.contained"),
        # the default contained: [W, Z] needs matching: dropping it alone names both fixes
        ("name: x\nsamples: {match_dr: null}\n", r"\['W', 'Z'\] needs match_dr.*contained: \[\]"),
    ],
)
def test_bad_config_one_line_error(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match) as exc:
        load_config(_write(tmp_path, text))
    assert "\n" not in str(exc.value)


def test_malformed_yaml(tmp_path):
    with pytest.raises(ConfigError, match=r"malformed YAML at line \d+: fix the syntax"):
        load_config(_write(tmp_path, "name: x\nsamples: {n_per_class: [1, \n"))


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yml")


def test_yaml_roundtrip_of_defaults(tmp_path):
    cfg = RunConfig(name="rt")
    p = _write(tmp_path, yaml.safe_dump(cfg.model_dump(mode="json")))
    assert load_config(p) == cfg
