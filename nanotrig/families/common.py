"""Stage builders every family can use: the sample, the generic hls4ml conversion, the
C-simulation checks (real events, edge inputs, the batched large check) and the export stages.

A family's chain is a tuple of :class:`~nanotrig.family.Stage`; :func:`standard_stages` builds
the usual one from the family's own train and quantize functions. Stage modules are imported
inside the functions: the sample's worker processes fork before TensorFlow is loaded, and a
config error costs no import time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nanotrig.family import RunContext, Stage
from nanotrig.fileio import write_json

if TYPE_CHECKING:
    from nanotrig.config import RunConfig
    from nanotrig.families.decision_check import DecisionSource

#: A family's trigger decision for the verify stage (:mod:`nanotrig.families.decision_check`).
Decisions = Callable[[RunContext], "DecisionSource"]

__all__ = [
    "all_bit_exact",
    "check_sample_kind",
    "convert_stage",
    "csim_failures",
    "export_quantized_stage",
    "export_stage",
    "quantize_stage",
    "rtl_failures",
    "rtl_stage",
    "sample_stage",
    "standard_stages",
    "test_inputs",
    "train_stage",
    "verify_checks",
    "verify_stage",
]

#: What each sample kind holds, for messages.
#: Stress inputs larger than this (bytes as float32) are generated while they are verified
#: (hls/stress.py), not written to data/stress_inputs.npy: a million DQM maps would take 8 GB.
STRESS_FILE_BYTES = 1 << 30
SAMPLE_WHAT = {"jets": "jets", "l1": "L1 events", "dqm": "DQM occupancy maps"}


def check_sample_kind(cfg: RunConfig, family: str, trains_on: str, kind: str) -> None:
    """ValueError unless ``cfg.samples.kind`` is ``kind``."""
    if cfg.samples.kind != kind:
        raise ValueError(
            f"model.family {family} trains on {trains_on}: set samples.kind: {kind} "
            f"(got {cfg.samples.kind!r})"
        )


def _generate(ctx: RunContext) -> dict:
    """Generate the config's sample into ``data/<kind>.h5``, or link ``ctx.sample`` there."""
    if ctx.sample is not None:
        from nanotrig.samples import share_jets

        return share_jets(ctx.sample, ctx.data_path)
    from nanotrig.samples import generate_sample

    cfg = ctx.cfg
    return generate_sample(cfg.samples, cfg.seed, ctx.data_path, progress=ctx.progress)


def sample_stage() -> Stage:
    """``generate``: the config's sample (any kind), seeded."""
    return Stage("generate", _generate, keys=("samples",), outputs=("data",))


def train_stage(train: Callable[..., dict]) -> Stage:
    """``train``: ``train(data_path, cfg, out_dir)`` into ``model/``."""
    return Stage(
        "train", lambda ctx: train(ctx.data_path, ctx.cfg, ctx.run_dir / "model"),
        keys=("model", "quantize.input", "quantize.raw_input"), after=("generate",),
        outputs=("model",),
    )  # fmt: skip


def quantize_stage(quantize: Callable[..., dict]) -> Stage:
    """``quantize``: ``quantize(model_dir, data_path, cfg, out_dir)`` into ``qmodel/``."""

    def run(ctx: RunContext) -> dict:
        return quantize(ctx.run_dir / "model", ctx.data_path, ctx.cfg, ctx.run_dir / "qmodel")

    return Stage("quantize", run, keys=("quantize",), after=("train",), outputs=("qmodel",))


def test_inputs(ctx: RunContext) -> np.ndarray:
    """The test events as the deployed model takes them (``qmodel/test_inputs.npy``)."""
    return np.load(ctx.run_dir / "qmodel" / "test_inputs.npy")


def _convert(ctx: RunContext) -> dict:
    from nanotrig.hls import convert_model

    cfg = ctx.cfg
    return convert_model(
        ctx.run_dir / "qmodel" / "qmodel.h5", ctx.run_dir / "hls", cfg.hls,
        test_inputs=test_inputs(ctx), input_bits=cfg.quantize.input,
    )  # fmt: skip


def convert_stage() -> Stage:
    """``convert``: the QKeras model -> hls4ml project with bit-exact precisions (``hls/``)."""
    return Stage(
        "convert", _convert, keys=("hls", "quantize.input"), after=("quantize",),
        outputs=("hls",),
    )  # fmt: skip


def verify_checks(
    ctx: RunContext, x_verify: np.ndarray, x_pool: np.ndarray, decisions: Decisions | None = None
) -> dict[str, Any]:  # fmt: skip
    """C-sim vs QKeras on ``x_verify``, on the edge inputs and (``verify.stress_events``) on
    events resampled from ``x_pool`` through the batched engine; writes hls/verify.json.
    ``decisions``: the family's trigger decision, compared at the working points on
    ``x_verify`` and the stress events (record ``decisions``)."""
    from nanotrig.families.decision_check import OUTPUTS_FILE, stress_counter, test_decisions
    from nanotrig.hls import edge_inputs, stress_inputs, verify_project
    from nanotrig.hls.stress import BLOCK, StressEvents

    cfg, timed, hls_dir = ctx.cfg, ctx.timed, ctx.run_dir / "hls"
    outputs = hls_dir / OUTPUTS_FILE
    for stale in [*hls_dir.glob("mismatch*.npz"), outputs]:  # a resumed run's earlier check
        stale.unlink(missing_ok=True)
    decide = decisions(ctx) if decisions and cfg.verify.working_points else None
    record = timed(
        "verify", verify_project, hls_dir, x_verify, outputs_file=outputs if decide else None
    ).to_dict()
    if decide and outputs.is_file():  # traced (up to 10k events): every output saved
        record["decisions"] = test_decisions(ctx, decide, x_verify, outputs)
    if cfg.verify.edge_inputs:
        record["edge_inputs"] = timed(
            "verify_edges", verify_project, hls_dir, edge_inputs(hls_dir)
        ).to_dict()
    if cfg.verify.stress_events:
        events = StressEvents(x_pool, cfg.verify.stress_events, cfg.verify.stress_smear, cfg.seed)
        if events.nbytes > STRESS_FILE_BYTES:  # generated chunk by chunk, never written
            source, where = events, f"generated in blocks of {BLOCK} (seed {cfg.seed}), not written"
        else:
            source = stress_inputs(
                x_pool, cfg.verify.stress_events, ctx.run_dir / "data" / "stress_inputs.npy",
                smear=cfg.verify.stress_smear, seed=cfg.seed,
            )  # fmt: skip
            where = "data/stress_inputs.npy"
        stress = timed(
            "verify_stress", verify_project, hls_dir, source, batched=True,
            progress=ctx.progress, engine=cfg.verify.stress_engine,
            flips=stress_counter(decide, record["decisions"]) if "decisions" in record else None,
        )  # fmt: skip
        record["stress"] = {**stress.to_dict(), "inputs": where, "smear": cfg.verify.stress_smear}
    write_json(hls_dir / "verify.json", record)
    return record


def verify_stage(
    inputs: Callable[[RunContext], np.ndarray] = lambda ctx: test_inputs(ctx),
    decisions: Decisions | None = None,
) -> Stage:
    """``verify``: :func:`verify_checks` on the first ``verify.n_events`` of ``inputs(ctx)``
    (default the test events); the stress events are resampled from the test events."""

    def run(ctx: RunContext) -> dict:
        x_test = test_inputs(ctx)
        return verify_checks(ctx, inputs(ctx)[: ctx.cfg.verify.n_events], x_test, decisions)

    return Stage(
        "verify", run, keys=("verify",), after=("convert",),
        outputs=("hls/verify.json",),
    )  # fmt: skip


def _rtl(ctx: RunContext) -> dict:
    """da4ml Verilog of ``hls/``, checked in Verilator on the verified events, the edge inputs
    and the stress events (when the run made them); the latency budget on the exact depth."""
    from nanotrig.hls import edge_inputs
    from nanotrig.rtl import build_rtl

    cfg, hls_dir = ctx.cfg, ctx.run_dir / "hls"
    parts = [test_inputs(ctx)[: cfg.verify.n_events], edge_inputs(hls_dir)]
    stress = ctx.run_dir / "data" / "stress_inputs.npy"
    if cfg.verify.stress_events and stress.is_file():
        parts.append(np.load(stress))
    x = np.concatenate([np.asarray(p, dtype=np.float32) for p in parts])
    record = build_rtl(
        hls_dir, ctx.run_dir / "rtl", x, pipeline=cfg.rtl.pipeline, family=cfg.rtl.family,
        synth=cfg.rtl.synth, threads=cfg.rtl.threads, synth_timeout_s=cfg.rtl.synth_timeout_s,
        synth_mode=cfg.rtl.synth_mode,
    )  # fmt: skip
    record["events"] = {"verified": len(parts[0]), "edge": len(parts[1]),
                        "stress": len(parts[2]) if len(parts) > 2 else 0}  # fmt: skip
    budget = cfg.hls.latency_budget_ns
    if budget is not None:
        depth_ns = record["latency_ns"] or 0.0  # combinational: no registers, no cycles
        record["budget"] = {"latency_budget_ns": budget, "ok": depth_ns <= budget}
    return record


def rtl_stage() -> Stage:
    """``rtl`` (when ``rtl.enabled``): Verilog, Verilator vs QKeras bit for bit, Yosys."""
    return Stage(
        "rtl", _rtl, keys=("rtl", "verify"), after=("convert",), outputs=("rtl",),
        when=lambda cfg: cfg.rtl.enabled,
    )  # fmt: skip


def rtl_failures(report: dict, run_dir: Path | str) -> list[str]:
    """The rtl stage's failures: a Verilator mismatch, a pipeline deeper than the budget."""
    r = report.get("rtl")
    if not r:
        return []
    out = []
    if not r["verification"]["ok"]:
        out.append(
            f"the RTL simulation differs from QKeras (see {Path(run_dir) / 'rtl'} and its "
            "mismatches.npz)"
        )
    b = r.get("budget")
    if b and not b["ok"]:
        out.append(
            f"the RTL pipeline takes {r['latency_ns']:g} ns ({r['latency_cycles']} cycles), over "
            f"the latency budget of {b['latency_budget_ns']:g} ns: raise rtl.pipeline's clock "
            "or the budget, or shrink the model"
        )
    return out


def _export_float(ctx: RunContext) -> dict:
    from nanotrig.export import export_model

    return export_model(
        ctx.run_dir / "model" / "model.h5", test_inputs(ctx), ctx.cfg.export, ctx.run_dir / "onnx"
    )


def export_stage(export: Callable[[RunContext], dict] = _export_float) -> Stage:
    """``export``: the float model to ONNX (``onnx/``), agreement with Keras recorded."""
    return Stage("export", export, keys=("export",), after=("train", "quantize"), outputs=("onnx",))


def _export_qdq(ctx: RunContext) -> dict:
    from nanotrig.export import export_quantized

    return export_quantized(
        ctx.run_dir / "qmodel" / "qmodel.h5", test_inputs(ctx), ctx.run_dir / "onnx_q",
        atol=ctx.cfg.export.atol,
    )  # fmt: skip


def export_quantized_stage(export: Callable[[RunContext], dict] = _export_qdq) -> Stage:
    """``export_quantized``: the QKeras model as a QDQ ONNX graph (``onnx_q/``), checked layer
    by layer against QKeras."""
    return Stage(
        "export_quantized", export, keys=("export",), after=("quantize",),
        outputs=("onnx_q",),
    )  # fmt: skip


def standard_stages(
    train: Callable[..., dict],
    quantize: Callable[..., dict],
    verify_inputs: Callable[[RunContext], np.ndarray] | None = None,
    export: Callable[[RunContext], dict] | None = None,
    export_quantized: Callable[[RunContext], dict] | None = None,
    rtl: bool = False,
    decisions: Decisions | None = None,
) -> tuple[Stage, ...]:
    """The usual chain: sample, the family's train and quantize, the generic hls4ml conversion,
    the C-simulation checks (with the trigger ``decisions``), (``rtl``: the optional RTL
    stage,) float and QDQ ONNX. Override the verify inputs or an export."""
    return (
        sample_stage(),
        train_stage(train),
        quantize_stage(quantize),
        convert_stage(),
        verify_stage(verify_inputs or test_inputs, decisions),
        *((rtl_stage(),) if rtl else ()),
        export_stage(export) if export else export_stage(),
        export_quantized_stage(export_quantized) if export_quantized else export_quantized_stage(),
    )


def all_bit_exact(record: dict[str, Any]) -> bool:
    """Whether every check of a :func:`verify_checks` record is bit-exact."""
    checks = (record, record.get("edge_inputs"), record.get("stress"))
    return all(r["ok"] for r in checks if r)


def csim_failures(report: dict, run_dir: Path | str) -> list[str]:
    """The C-simulation failure of a run (empty when every check is bit-exact), and the rtl
    stage's where it ran."""
    out = rtl_failures(report, run_dir)
    if all_bit_exact(report["verify"]):
        return out
    return [
        f"C-simulation is not bit-exact with QKeras (see {Path(run_dir) / 'report.md'}): "
        "check the layer precisions in hls/conversion.json",
        *out,
    ]
