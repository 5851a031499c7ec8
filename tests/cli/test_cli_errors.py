"""Bad input through the front door: one line on stderr, exit code 2, nothing overwritten."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nanotrig.cli import app

runner = CliRunner()


def _err(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("nanotrig: error: ")
    return lines[0]


def test_run_unknown_key(tmp_path):
    cfg = tmp_path / "c.yml"
    cfg.write_text("name: x\nmodel: {epoch: 3}\n")
    assert "model.epoch" in _err(runner.invoke(app, ["run", str(cfg)]))


def test_run_malformed_yaml(tmp_path):
    cfg = tmp_path / "c.yml"
    cfg.write_text("name: [unclosed\n")
    assert "malformed YAML" in _err(runner.invoke(app, ["run", str(cfg)]))


def test_run_existing_dir_needs_force(tmp_path):
    run_dir = tmp_path / "runs" / "mine"
    run_dir.mkdir(parents=True)
    (run_dir / "report.md").write_text("precious")
    cfg = tmp_path / "c.yml"
    cfg.write_text(f"name: mine\nout_root: {tmp_path / 'runs'}\n")
    assert "--force" in _err(runner.invoke(app, ["run", str(cfg)]))
    assert (run_dir / "report.md").read_text() == "precious"


def test_run_unreachable_scheduler(tmp_path, monkeypatch):
    """``run --scheduler`` to no cluster: one line naming the address, no sample written."""
    import nanotrig.samples.pool

    monkeypatch.setattr(nanotrig.samples.pool, "CONNECT_TIMEOUT", "1s")
    cfg = tmp_path / "c.yml"
    cfg.write_text(f"name: far\nout_root: {tmp_path / 'runs'}\nsamples: {{n_per_class: 20}}\n")
    res = runner.invoke(app, ["run", str(cfg), "--scheduler", "tcp://127.0.0.1:9"])
    assert res.exit_code == 2, (res.stdout, res.stderr)
    errors = [line for line in res.stderr.splitlines() if line.startswith("nanotrig: error: ")]
    assert len(errors) == 1, res.stderr  # the stage log line before it is progress, not an error
    assert "cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in errors[0]
    assert not list((tmp_path / "runs").rglob("*.h5"))


def test_generate_negative_count(tmp_path):
    cfg = tmp_path / "c.yml"
    cfg.write_text("name: x\n")
    line = _err(
        runner.invoke(
            app, ["generate", str(cfg), "--out", str(tmp_path / "j.h5"), "--n-per-class", "-3"]
        )
    )
    assert "--n-per-class" in line


def test_convert_missing_model(tmp_path):
    line = _err(
        runner.invoke(app, ["convert", str(tmp_path / "nope.h5"), "--out", str(tmp_path / "o")])
    )
    assert "nope.h5" in line and "not found" in line
    assert not (tmp_path / "o").exists()


def test_convert_unknown_part(tmp_path):
    line = _err(
        runner.invoke(
            app, ["convert", str(tmp_path / "m.h5"), "--out", str(tmp_path / "o"), "--part", "xyz"]
        )
    )
    assert "unknown FPGA part 'xyz'" in line


def test_convert_part_checked_against_the_table(tmp_path):
    """A well-formed but unknown part number is refused, naming the known ones; with
    --allow-unknown-part it passes (the command then stops at the missing model)."""
    args = ["convert", str(tmp_path / "m.h5"), "--out", str(tmp_path / "o")]
    line = _err(runner.invoke(app, [*args, "--part", "xcvu9p-foo-bar"]))
    assert line.startswith("nanotrig: error: invalid --part: unknown FPGA part 'xcvu9p-foo-bar'")
    assert "xcku115-flvb2104-2-i" in line and "--allow-unknown-part" in line
    line = _err(runner.invoke(app, [*args, "--part", "xcvu9p-foo-bar", "--allow-unknown-part"]))
    assert "m.h5" in line and "not found" in line
    assert not (tmp_path / "o").exists()


def test_convert_bad_clock_names_the_option_typed(tmp_path):
    line = _err(
        runner.invoke(
            app,
            ["convert", str(tmp_path / "m.h5"), "--out", str(tmp_path / "o"), "--clock-ns", "0"],
        )
    )
    assert line == "nanotrig: error: invalid --clock-ns: Input should be greater than 0"


def test_convert_config_needs_no_name(tmp_path):
    """convert --config reads hls and quantize.input; a config without 'name' is fine."""
    cfg = tmp_path / "c.yml"
    cfg.write_text("hls: {part: xcku115-flvb2104-2-i}\nquantize: {input: {bits: 12, integer: 3}}\n")
    line = _err(
        runner.invoke(
            app,
            ["convert", str(tmp_path / "m.h5"), "--out", str(tmp_path / "o"), "--config", str(cfg)],
        )
    )
    assert "m.h5" in line and "not found" in line  # got past the config
    cfg.write_text("hls: {part: xcvu9p-foo-bar}\n")
    line = _err(
        runner.invoke(
            app,
            ["convert", str(tmp_path / "m.h5"), "--out", str(tmp_path / "o"), "--config", str(cfg)],
        )
    )
    assert f"{cfg}: invalid config at 'hls.part': unknown FPGA part 'xcvu9p-foo-bar'" in line


def test_convert_not_a_model(tmp_path):
    bad = tmp_path / "m.h5"
    bad.write_text("not hdf5")
    line = _err(runner.invoke(app, ["convert", str(bad), "--out", str(tmp_path / "o")]))
    assert "m.h5" in line


def test_convert_unsupported_layer(tmp_path):
    from tensorflow import keras

    inp = keras.Input((6, 3))
    x = keras.layers.LSTM(4, name="lstm")(inp)
    keras.Model(inp, keras.layers.Dense(2)(x)).save(tmp_path / "lstm.h5")
    line = _err(
        runner.invoke(app, ["convert", str(tmp_path / "lstm.h5"), "--out", str(tmp_path / "o")])
    )
    assert "LSTM" in line
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_verify_missing_inputs(tmp_path):
    line = _err(runner.invoke(app, ["verify", str(tmp_path), "--inputs", str(tmp_path / "x.npy")]))
    assert "x.npy" in line


def test_export_corrupt_inputs(tmp_path):
    (tmp_path / "x.npy").write_bytes(b"garbage")
    line = _err(
        runner.invoke(
            app,
            [
                "export",
                str(tmp_path / "m.h5"),
                "--out",
                str(tmp_path / "o"),
                "--inputs",
                str(tmp_path / "x.npy"),
            ],
        )
    )
    assert "x.npy" in line


@pytest.mark.slow
def test_console_script_exit_code(tmp_path):
    """The installed console script, not just the Typer app, reports errors the same way."""
    exe = shutil.which("nanotrig", path=str(Path(sys.executable).parent))
    assert exe, "console script 'nanotrig' not installed beside this Python"
    cfg = tmp_path / "c.yml"
    cfg.write_text("name: x\nhls: {part: nonsense}\n")
    proc = subprocess.run([exe, "run", str(cfg)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"nanotrig: error: {cfg}: invalid config at 'hls.part': unknown FPGA part "
        "'nonsense': known parts are xcvu9p-flga2104-2L-e, xcvu13p-flga2577-2-e, "
        "xcku115-flvb2104-2-i, xc7vx690tffg1927-2, xcu250-figd2104-2L-e; to target another, "
        "set hls.allow_unknown_part: true (convert: --allow-unknown-part)"
    ]
    assert proc.stdout == ""
