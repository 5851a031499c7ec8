"""Scan specs: points, ids and seeds are deterministic; bad specs are one-line ConfigErrors."""

from __future__ import annotations

import pytest
from nanotrig.quantize.scan_spec import (
    check_space,
    enumerate_points,
    parse_scan_config,
    point_configs,
    point_id,
    point_seed,
)

from nanotrig.config import RunConfig
from nanotrig.errors import ConfigError

KINDS = {"fc1": "weighted", "relu1": "activation", "output": "weighted"}


def _cfg(**kw):
    data = {"name": "s", "run_dir": "runs/x", "space": {"weights": [4, 6, 8]}}
    data.update(kw)
    return parse_scan_config(data)


def test_grid_order_and_size():
    cfg = _cfg(space={"weights": [4, 6], "layers": {"relu1": {"activation": [3, 5]}},
                      "reuse_factor": [1, 2], "sparsity": [0.0, 0.5]})  # fmt: skip
    pts = enumerate_points(cfg)
    assert len(pts) == 16
    assert list(pts[0]) == ["weights", "relu1.activation", "reuse_factor", "sparsity"]
    assert pts[0] == {"weights": 4, "relu1.activation": 3, "reuse_factor": 1, "sparsity": 0.0}
    assert len({point_id(p) for p in pts}) == 16


def test_random_is_seeded_distinct_and_capped():
    space = {"weights": [3, 4, 5, 6, 7, 8], "activation": [3, 4, 5, 6], "reuse_factor": [1, 2]}
    a = enumerate_points(_cfg(search="random", n_points=10, seed=1, space=space))
    b = enumerate_points(_cfg(search="random", n_points=10, seed=1, space=space))
    c = enumerate_points(_cfg(search="random", n_points=10, seed=2, space=space))
    assert a == b and a != c and len({point_id(p) for p in a}) == 10
    assert len(enumerate_points(_cfg(search="random", n_points=500, space=space))) == 48


def test_seed_depends_on_content_only():
    p = {"weights": 4, "reuse_factor": 2}
    assert point_seed(1, p) == point_seed(1, dict(reversed(list(p.items()))))
    assert point_seed(1, p) != point_seed(2, p)
    assert point_id(p) == point_id({"reuse_factor": 2, "weights": 4})


def test_point_configs_apply_bits_and_hls():
    base = RunConfig(name="b")
    q, h, s = point_configs(
        base, {"weights": 4, "fc1.bias": 8, "relu1.activation": 3, "reuse_factor": 4,
               "strategy": "Resource", "sparsity": 0.25},
    )  # fmt: skip
    assert q.weights.bits == 4 and q.weights.integer == base.quantize.weights.integer
    assert q.layers["fc1"].bias.bits == 8 and q.layers["relu1"].activation.bits == 3
    assert h.reuse_factor == 4 and h.strategy == "Resource" and s == 0.25


@pytest.mark.parametrize(
    ("space", "match"),
    [
        ({"weights": []}, r"space\.weights.*empty list"),
        ({"weights": [1, 4]}, r"space\.weights.*2\.\.32 bits, got \[1\]"),
        ({"reuse_factor": [0]}, r"reuse factors must be >= 1"),
        ({"sparsity": [1.0]}, r"sparsity values must be in \[0, 1\)"),
        ({"strategy": ["Fast"]}, r"space\.strategy"),
        ({"layers": {"fc1": {"weights": []}}}, r"space\.layers\.fc1\.weights.*empty"),
        ({}, r"space has no dimension"),
        ({"weigths": [4]}, r"unknown key"),
    ],
)
def test_bad_specs_one_line(space, match):
    with pytest.raises(ConfigError, match=match) as info:
        _cfg(space=space)
    assert "\n" not in str(info.value)


def test_random_needs_n_points():
    with pytest.raises(ConfigError, match="n_points"):
        _cfg(search="random")


@pytest.mark.parametrize(
    ("space", "match"),
    [
        ({"layers": {"fc9": {"weights": [4]}}}, r"unknown layer 'fc9'.*fc1, output, relu1"),
        ({"layers": {"relu1": {"weights": [4]}}}, r"relu1 is an activation layer"),
        ({"layers": {"fc1": {"activation": [4]}}}, r"fc1 is a Dense/Conv layer"),
    ],
)
def test_layer_names_checked_against_model(space, match):
    with pytest.raises(ConfigError, match=match):
        check_space(_cfg(space=space), RunConfig(name="b"), KINDS)


def test_widths_must_exceed_integer_bits():
    base = RunConfig.model_validate(
        {"name": "b", "quantize": {"weights": {"bits": 8, "integer": 3}}}
    )
    with pytest.raises(ConfigError, match=r"space\.weights: widths \[2, 3\].*3 integer bits"):
        check_space(_cfg(space={"weights": [2, 3, 6]}), base, KINDS)


def test_cli_bad_spec_one_line(tmp_path):
    from typer.testing import CliRunner

    from nanotrig.cli import app

    spec = tmp_path / "s.yml"
    spec.write_text("name: s\nrun_dir: runs/x\nspace: {weights: [1, 6]}\n")
    res = CliRunner().invoke(app, ["scan", str(spec)])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nanotrig: error: ")
    assert "space.weights" in lines[0] and "2..32 bits" in lines[0]


def test_cli_missing_run_dir_one_line(tmp_path):
    from typer.testing import CliRunner

    from nanotrig.cli import app

    spec = tmp_path / "s.yml"
    spec.write_text(f"name: s\nrun_dir: {tmp_path / 'nope'}\nspace: {{weights: [4, 6]}}\n")
    res = CliRunner().invoke(app, ["scan", str(spec)])
    assert res.exit_code == 2 and "run_dir must be a 'nanotrig run' directory" in res.stderr


def test_unreachable_scheduler_one_line(monkeypatch):
    import nanotrig.hls.scan_run

    monkeypatch.setattr(nanotrig.hls.scan_run, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(
        ConfigError, match=r"cannot reach the Dask scheduler at 'tcp://127\.0\.0\.1:9'"
    ):
        nanotrig.hls.scan_run.scan_client("tcp://127.0.0.1:9")
