"""``nanotrig run``: any registered family through its stages, one run directory, one report.

Layout of ``<out_root>/<name>/`` (the stages a family declares)::

    config.yml            the resolved config (every default filled in)
    stages.json           per stage: fingerprint of its inputs, seconds, artifact record
    data/<kind>.h5        generate: the sample (jets, l1 or dqm)
    data/stress_inputs.npy  verify.stress_events resampled test inputs (batched C-sim, <= 1 GiB)
    model/                train: float model, split, metrics, plots
    qmodel/               quantize: QKeras model, QAT history, test inputs, plots
    hls/                  convert: hls4ml project, test vectors, conversion.json; verify.json
    rtl/                  rtl (optional): da4ml Verilog, Verilator check, Yosys figures
    onnx/                 export: float ONNX model and its agreement record
    onnx_q/               export_quantized: quantized ONNX model and its check vs QKeras
    report.json, report.md

With ``resume`` an existing run directory is kept and a stage whose config keys and upstream
stages are unchanged (and whose outputs exist) is not redone.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from nanotrig.config import RunConfig
from nanotrig.errors import ConfigError, VerificationError
from nanotrig.family import Family, RunContext, get_family
from nanotrig.fileio import write_json, write_text
from nanotrig.report import render_report
from nanotrig.rundir import StageLedger, open_run, report_header

__all__ = ["REPORT_KEYS", "run_chain"]

log = logging.getLogger(__name__)

#: The key of each stage's record in report.json.
REPORT_KEYS = {
    "generate": "samples", "train": "train", "quantize": "quantize", "convert": "hls",
    "verify": "verify", "rtl": "rtl", "export": "export", "export_quantized": "export_quantized",
}  # fmt: skip


def _preflight(fam: Family, cfg: RunConfig, sample: Path | None) -> None:
    """What the runner refuses before any work: a sample of the wrong kind, a shared sample
    for a family that cannot take one."""
    if cfg.samples.kind != fam.sample_kind:
        raise ConfigError(
            f"model.family {fam.name} trains on {fam.sample_kind} samples: set samples.kind: "
            f"{fam.sample_kind} (got {cfg.samples.kind!r})"
        )
    if sample is not None and not fam.takes_shared_sample:
        raise ConfigError(f"a shared sample is for the jet taggers, not {fam.name}")


def _clear(run_dir: Path, outputs: tuple[str, ...]) -> None:
    """Remove a stage's old outputs before it is redone."""
    for rel in outputs:
        p = run_dir / rel
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def run_chain(
    cfg: RunConfig, force: bool = False, progress: bool = True, sample: Path | None = None,
    resume: bool = False,
) -> dict:  # fmt: skip
    """Run every stage of ``cfg.model.family``; write report.json/.md; return the report.

    ``sample``: an existing jet sample to use instead of generating one (``nanotrig compare``).
    ``resume``: keep an existing run directory and redo only the stages whose inputs changed.
    Raises VerificationError after the report is written if the family's checks fail
    (C-simulation not bit-exact, ONNX disagreeing).
    """
    fam = get_family(cfg.model.family)
    _preflight(fam, cfg, sample)
    run_dir, timed = open_run(cfg, force=force, resume=resume)
    ledger = StageLedger(run_dir, fam.name, resume)
    ctx = RunContext(cfg=cfg, run_dir=run_dir, timed=timed, progress=progress, sample=sample)
    report_extra: dict = {}
    for stage in fam.stages:
        if stage.when is not None and not stage.when(cfg):
            ledger.forget(stage.name)
            _clear(run_dir, stage.outputs)
            continue
        shared = str(sample.resolve()) if sample is not None and stage.name == "generate" else None
        fp = ledger.fingerprint(stage, cfg, extra=shared)
        entry = ledger.reusable(stage, run_dir, fp)
        if entry is not None:
            log.info("[%s] unchanged: reused from %s", stage.name, ledger.path.name)
            record = entry["record"]
            timed.timings.update(entry["seconds"])
        else:
            ledger.forget(stage.name)
            _clear(run_dir, stage.outputs)
            before = dict(timed.timings)
            log.info("[%s] starting", stage.name)
            t0 = time.perf_counter()
            record = stage.run(ctx)
            timed.timings.setdefault(stage.name, round(time.perf_counter() - t0, 2))
            log.info("[%s] done in %.1f s", stage.name, timed.timings[stage.name])
            seconds = {k: v for k, v in timed.timings.items() if before.get(k) != v}
            ledger.record(stage.name, fp, record, seconds)
        record = dict(record)  # the ledger keeps the whole record, the report splits it
        report_extra.update(record.pop("report_extra", {}))
        ctx.records[stage.name] = record

    report = {
        **report_header(cfg, timed.timings),
        **{REPORT_KEYS[name]: rec for name, rec in ctx.records.items()},
        **report_extra,
    }
    report["plots"] = fam.plots(report)
    report["summary"] = fam.summary(report)
    write_json(run_dir / "report.json", report)
    write_text(run_dir / "report.md", render_report(fam, report))
    log.info("report written to %s", run_dir / "report.md")
    failures = fam.failures(report, run_dir)
    if failures:
        raise VerificationError("; ".join(failures))
    return report
