"""``build_rtl``: converted HLS project -> da4ml Verilog, checked bit for bit in Verilator.

Output layout (``out_dir``)::

    da4ml/src/<name>.v ...   da4ml's Verilog project (src/, sim/ with the compiled Verilator
                             library, model/comb.json, Vivado/Quartus scripts); da4ml/yosys/
                             holds the Yosys script, log and stat.json
    inputs.npy               the events checked (float32, model-ready)
    rtl_outputs.npy          the Verilator outputs (the logits) on every event, float64
    mismatches.npz           the first mismatching events, when any
    artifact.json            the record returned by :func:`build_rtl`

The RTL computes the project's layers up to the logits (a softmax or other lookup-table head is
left out and named in the record). Its outputs are compared on every event with the QKeras
reference's logits, da4ml's own ``CombLogic.predict`` and the project's exact integer kernel
(:mod:`hls.int_kernel`, equal to the C-simulation) or, for projects the kernel does not
emulate, hls4ml's C-simulation itself. The whole folder is built beside
``out_dir`` and moved into place at the end: an error leaves nothing half-written.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from nanotrig.rtl.layers import read_layers
from nanotrig.rtl.simulate import build_simulator, write_verilog
from nanotrig.rtl.synth import FAMILIES, check_mode, resolve_mode, synthesize
from nanotrig.rtl.tools import YOSYS_MISSING, tool_versions, verilator_env, yosys
from nanotrig.rtl.trace import SOLVER_OPTIONS, trace_layers

from nanotrig.errors import ConfigError, DataError, OutputExistsError
from nanotrig.fileio import file_sha256, package_versions, write_json

__all__ = ["ARTIFACT_FILE", "MISMATCH_FILE", "OUTPUTS_FILE", "build_rtl"]

log = logging.getLogger(__name__)

ARTIFACT_FILE = "artifact.json"
MISMATCH_FILE = "mismatches.npz"
#: The RTL's outputs (logits) on every event, float64.
OUTPUTS_FILE = "rtl_outputs.npy"
#: Mismatching events written to mismatches.npz.
N_MISMATCH_SAVED = 20
#: Random events added to the edge inputs when no inputs are given.
N_DEFAULT_RANDOM = 4096
DEFAULT_PART = "xcvu13p-flga2577-2-e"


def _check_output(out_dir: Path, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(f"output path {out_dir} exists and is a file: choose another --out")
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise OutputExistsError(
            f"output directory {out_dir} already exists and is not empty: "
            "pass --force to overwrite it or choose another --out"
        )


def _read_project(project_dir: Path) -> dict[str, Any]:
    from nanotrig.hls.convert import CONVERSION_FILE, HLS_MODEL_FILE, REFERENCE_FILE

    names = (CONVERSION_FILE, HLS_MODEL_FILE, REFERENCE_FILE)
    if not all((project_dir / n).is_file() for n in names):
        raise DataError(
            f"{project_dir} is not a converted project (needs {', '.join(names)}): "
            "run nanotrig convert first"
        )
    try:
        return json.loads((project_dir / CONVERSION_FILE).read_text())
    except json.JSONDecodeError:
        raise DataError(
            f"{project_dir / CONVERSION_FILE} is corrupt: re-run nanotrig convert"
        ) from None


def _events(project_dir: Path, record: dict, inputs) -> np.ndarray:
    from nanotrig.hls.inputs import edge_inputs, validate_inputs

    from nanotrig.inputs import load_inputs

    shape = tuple(record["input_shape"])
    if inputs is None:
        rng = np.random.default_rng(0)
        scale = 2.0 ** record["input_quantizer"]["integer"] / 2
        x = np.concatenate(
            [
                edge_inputs(project_dir).reshape(-1, *shape),
                rng.normal(0, scale, (N_DEFAULT_RANDOM, *shape)).astype(np.float32),
            ]
        )
    else:
        x = load_inputs(inputs) if isinstance(inputs, (str, Path)) else np.asarray(inputs)
    x = validate_inputs(x, shape)
    if len(x) == 0:
        raise DataError("no input events: give at least one")
    return x


def _keras_logits(project_dir: Path, x: np.ndarray, name: str) -> np.ndarray | None:
    """The QKeras reference's output of layer ``name`` (or the Keras layer it came from)."""
    from nanotrig.hls.convert import REFERENCE_FILE
    from nanotrig.hls.model_io import load_qkeras_model
    from nanotrig.hls.verify import keras_layer_outputs

    model = load_qkeras_model(project_dir / REFERENCE_FILE)
    names = {layer.name for layer in model.layers}
    stem = name
    while stem not in names and "_" in stem:
        stem = stem.rsplit("_", 1)[0]
    if stem not in names:
        return None
    return keras_layer_outputs(model, x)[stem].reshape(len(x), -1).astype(np.float64)


def build_rtl(
    project_dir: str | Path,
    out_dir: str | Path,
    inputs: np.ndarray | str | Path | None = None,
    *,
    pipeline: bool = True,
    latency_cutoff: float | None = None,
    family: str = "xcup",
    synth: bool = True,
    synth_timeout_s: float = 1800.0,
    synth_mode: str = "auto",
    threads: int = 1,
    name: str = "nanotrig_rtl",
    force: bool = False,
    mutate: str | None = None,
    solver_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Verilog of the converted project in ``project_dir``, checked in Verilator; the record.

    ``inputs``: events (array, ``.npy`` or ``.h5``) to compare on; default: the project's
    edge inputs plus 4096 random ones. ``pipeline``: registers every ``latency_cutoff`` adder
    levels (default: the project's clock period in ns, da4ml's pairing of 5 levels at 5 ns),
    else combinational. ``synth``: Yosys figures for ``family`` when Yosys is installed; a Yosys
    run longer than ``synth_timeout_s`` is stopped and the record says so (no figures);
    ``synth_mode``: ``flat``, ``hierarchical`` or ``auto`` (:mod:`rtl.synth`).
    ``solver_options`` update da4ml's CMVM options (:data:`rtl.trace.SOLVER_OPTIONS`), e.g.
    ``{"hard_dc": -1}``. ``mutate`` is for tests (see :func:`rtl.trace.trace_layers`). Raises the
    :mod:`nanotrig.errors` exceptions; mismatches do not raise: see ``verification.ok``.
    """
    t_start = time.perf_counter()
    project_dir, out_dir = Path(project_dir), Path(out_dir)
    if family not in FAMILIES:
        raise ConfigError(f"unknown Yosys family {family!r}: choose from {', '.join(FAMILIES)}")
    if synth_timeout_s <= 0:
        raise ConfigError(f"synth_timeout_s must be positive, got {synth_timeout_s}")
    check_mode(synth_mode)
    if latency_cutoff is not None and latency_cutoff <= 0:
        raise ConfigError(f"latency_cutoff must be positive, got {latency_cutoff}")
    record = _read_project(project_dir)
    x = _events(project_dir, record, inputs)
    _check_output(out_dir, force)
    verilator_env()  # g++, make, Verilator: one line naming what to install, before any work
    kwargs = record.get("hls4ml_convert_kwargs", {})
    clock = float(kwargs.get("clock_period") or 5.0)
    cutoff = (latency_cutoff or clock) if pipeline else None

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        rec = _build(
            project_dir,
            tmp,
            x,
            record,
            cutoff,
            clock,
            family,
            synth,
            threads,
            name,
            mutate,
            synth_timeout_s,
            solver_options,
            synth_mode,
        )
        rec["seconds"]["total"] = round(time.perf_counter() - t_start, 2)
        write_json(tmp / ARTIFACT_FILE, rec)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    v = rec["verification"]
    log.info(
        "RTL vs QKeras on %d events: %s; %.0f events/s in Verilator",
        v["n_events"],
        "bit-exact" if v["ok"] else f"{v['mismatching_events']} events mismatch",
        v["events_per_s"],
    )
    return rec


def _build(
    project_dir: Path,
    out: Path,
    x: np.ndarray,
    record: dict,
    cutoff: float | None,
    clock: float,
    family: str,
    synth: bool,
    threads: int,
    name: str,
    mutate: str | None,
    synth_timeout_s: float = 1800.0,
    solver_options: dict[str, Any] | None = None,
    synth_mode: str = "auto",
) -> dict[str, Any]:
    from hls4ml.utils.serialization import deserialize_model
    from nanotrig.hls._capture import captured_stdout
    from nanotrig.hls.convert import HLS_MODEL_FILE

    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nanotrig_rtl_") as work, captured_stdout():
        hls_model = deserialize_model(project_dir / HLS_MODEL_FILE, output_dir=work)
        layers = read_layers(hls_model)
        trace = trace_layers(
            layers, mutate=mutate, solver_options=solver_options
        )  # refusals come before the slow steps
        t0 = time.perf_counter()
        ref_name, x_q, y_ref = _reference(hls_model, layers, x, Path(work))
    seconds[ref_name] = round(time.perf_counter() - t0, 2)
    seconds["trace"] = round(trace.seconds, 2)
    t0 = time.perf_counter()
    part = str(record.get("hls4ml_convert_kwargs", {}).get("part") or DEFAULT_PART)
    design = write_verilog(trace.comb, out / "da4ml", name, cutoff, clock, part)
    seconds["verilog"] = round(time.perf_counter() - t0, 2)
    sim = build_simulator(design, threads=threads)
    seconds["verilator_build"] = round(sim.compile_seconds, 2)

    codes = np.round(x_q * 2.0**layers.input.out.frac).astype(np.int64)
    t0 = time.perf_counter()
    y_rtl = sim.run(codes, threads=threads)
    sim_s = time.perf_counter() - t0
    seconds["verilator_run"] = round(sim_s, 3)
    y_comb = np.asarray(trace.comb.predict(x_q, n_threads=max(1, threads)), dtype=np.float64)
    y_keras = _keras_logits(project_dir, x, layers.last.name)
    np.save(out / "inputs.npy", x)
    np.save(out / OUTPUTS_FILE, y_rtl)

    refs = {ref_name: y_ref, "comb_logic": y_comb}
    if y_keras is not None:
        refs = {"qkeras": y_keras, **refs}
    bad = np.zeros(len(x), dtype=bool)
    rows = {}
    for key, y in refs.items():
        diff = np.any(y_rtl != y, axis=1)
        bad |= diff
        rows[key] = {
            "mismatching_events": int(diff.sum()),
            "max_abs_diff": float(np.max(np.abs(y_rtl - y))),
        }
    mismatch_file = None
    if bad.any():
        idx = np.flatnonzero(bad)[:N_MISMATCH_SAVED]
        arrays = {"event_index": idx, "inputs": x[idx], "rtl": y_rtl[idx]}
        arrays.update({k: y[idx] for k, y in refs.items()})
        np.savez_compressed(out / MISMATCH_FILE, **arrays)
        mismatch_file = MISMATCH_FILE
        log.warning("wrote %d mismatching events to %s", len(idx), out / MISMATCH_FILE)

    synthesis, synth_note = None, None
    if not synth:
        synth_note = "synthesis not asked for (--no-synth, rtl.synth: false)"
    elif yosys() is None:
        synth_note = YOSYS_MISSING
        log.warning(YOSYS_MISSING)
    else:
        t0 = time.perf_counter()
        mode = resolve_mode(synth_mode, design.stages, float(trace.comb.cost))
        synthesis = synthesize(design, family, synth_timeout_s, skip_on_timeout=True, mode=mode)
        seconds["yosys"] = round(time.perf_counter() - t0, 1)
        if synthesis is None:
            synth_note = (
                f"Yosys ({mode}) stopped after {synth_timeout_s:g} s without finishing, measured "
                f"{seconds['yosys']:g} s; raise rtl.synth_timeout_s (--synth-timeout-s) to wait "
                "longer; the Verilog and the Verilator check do not depend on it"
            )
            log.warning(synth_note)
    src = design.sources()
    return {
        "project_dir": str(project_dir),
        "project_name": record.get("project_name"),
        "conversion_sha256": file_sha256(project_dir / "conversion.json"),
        "hls_model_sha256": file_sha256(project_dir / HLS_MODEL_FILE),
        "top": name,
        "rtl_dir": "da4ml",
        "verilog": {str(p.relative_to(out)): file_sha256(p) for p in src},
        "layers": [
            {"name": la.name, "kind": la.kind, "type": _type_str(la.out)} for la in layers.layers
        ],
        "left_out": layers.head,
        "left_out_reason": None
        if layers.head is None
        else (
            f"{layers.head} is a lookup-table activation: the RTL stops at the logits "
            f"({layers.last.name})"
        ),
        "mode": "pipeline" if design.stages else "combinational",
        "clock_period_ns": clock,
        "latency_cutoff": design.latency_cutoff,
        "pipeline_stages": design.stages,
        "latency_cycles": design.stages,
        "latency_ns": round(design.stages * clock, 3) if design.stages else None,
        "solver_options": {**SOLVER_OPTIONS, **(solver_options or {})},
        "da4ml_estimate": {
            "lut": round(float(trace.comb.cost), 1),
            "adder_depth": float(max(trace.comb.out_latency)),
        },
        "verification": {
            "n_events": len(x),
            "inputs": "inputs.npy",
            "outputs": OUTPUTS_FILE,
            "ok": not bad.any(),
            "mismatching_events": int(bad.sum()),
            "against": rows,
            "qkeras_compared": y_keras is not None,
            "events_per_s": round(len(x) / sim_s, 1) if sim_s > 0 else None,
            "threads": threads,
            "mismatch_file": mismatch_file,
        },
        "synthesis": synthesis,
        "synthesis_skipped": synth_note,
        "versions": {**package_versions(), **tool_versions(with_yosys=synthesis is not None)},
        "mutated": mutate,
        "seconds": seconds,
    }


def _reference(hls_model, layers, x: np.ndarray, work: Path):
    """``(name, input values, logits)`` of the project's fixed-point arithmetic: the integer
    kernel (:mod:`hls.int_kernel`) where it emulates the model, else hls4ml's C-simulation
    (``trace``, compiled here; the input type's values cast as ``nnet::convert_data`` does)."""
    from nanotrig.hls.int_kernel import build_int_kernel

    from nanotrig.errors import ConversionError

    flat = x.reshape(len(x), -1).astype(np.float64)
    try:
        kernel = build_int_kernel(hls_model, work / "kernel")
    except ConversionError:
        kernel = None
    if kernel is not None:
        ref = kernel.run(flat, layers="all")
        # the input type's values: nnet::convert_data, exactly
        return "int_kernel", ref[kernel.layers[0]], ref[layers.last.name]
    inp = layers.input.out
    conv = np.frompyfunc(inp.from_float, 1, 1)
    x_q = conv(flat).astype(np.float64) * 2.0**-inp.frac
    for layer in hls_model.get_layers():  # only the logits: n_events x n_out values kept
        layer.set_attr("trace", layer.name == layers.last.name)
    hls_model.config.config["OutputDir"] = str(work / "prj")
    try:
        _, traced = hls_model.trace(np.ascontiguousarray(flat))
    except Exception as err:  # hls4ml raises plain exceptions on compile errors
        raise ConversionError(f"the C-simulation failed to compile: {err}") from err
    return "c_simulation", x_q, np.asarray(traced[layers.last.name], np.float64).reshape(len(x), -1)


def _type_str(t) -> str:
    base = "fixed" if t.signed else "ufixed"
    return f"{base}<{t.width},{t.integer},{t.rounding},{t.overflow}>"
