"""What every family's ``nanotrig run`` chain shares: the run directory, timed stages and the
C-simulation checks (real events, edge inputs, the batched large check)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from nanotrig.config import RunConfig
from nanotrig.fileio import package_versions, prepare_output_dir, write_json, write_text

__all__ = [
    "StageTimer", "all_bit_exact", "jet_sample_stage", "open_run", "report_header", "verify_stage",
]  # fmt: skip

if TYPE_CHECKING:
    from nanotrig.compare import CompareConfig

log = logging.getLogger(__name__)


class StageTimer:
    """Call ``timed(stage, fn, *args, **kwargs)``: runs ``fn``, logs and records its seconds."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    def __call__(self, stage: str, fn: Callable[..., Any], *args, **kwargs) -> Any:
        log.info("[%s] starting", stage)
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        self.timings[stage] = round(time.perf_counter() - t0, 2)
        log.info("[%s] done in %.1f s", stage, self.timings[stage])
        return out


def open_run(cfg: RunConfig | CompareConfig, force: bool) -> tuple[Path, StageTimer]:
    """Create ``<out_root>/<name>/`` (refused if it exists, unless ``force``), write the resolved
    config.yml into it; return it and a fresh :class:`StageTimer`."""
    run_dir = prepare_output_dir(Path(cfg.out_root) / cfg.name, force)
    write_text(run_dir / "config.yml", yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    return run_dir, StageTimer()


def jet_sample_stage(
    cfg: RunConfig, data_path: Path, timed: StageTimer, progress: bool = True,
    sample: Path | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The ``generate`` stage of a jet run: Pythia jets into ``data_path``, or ``sample`` (an
    existing jet sample) linked there instead."""
    from nanotrig.samples import generate_jets, share_jets

    if sample is not None:
        return timed("generate", share_jets, sample, data_path)
    return timed("generate", generate_jets, cfg.samples, cfg.seed, data_path, progress=progress)


def verify_stage(
    run_dir: Path, cfg: RunConfig, x_verify: np.ndarray, x_pool: np.ndarray, timed: StageTimer,
    progress: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """C-sim vs QKeras on ``x_verify``, on the edge inputs and (``verify.stress_events``) on
    events resampled from ``x_pool`` through the batched harness; writes hls/verify.json."""
    from nanotrig.hls import edge_inputs, stress_inputs, verify_project

    hls_dir = run_dir / "hls"
    record = timed("verify", verify_project, hls_dir, x_verify).to_dict()
    if cfg.verify.edge_inputs:
        record["edge_inputs"] = timed(
            "verify_edges", verify_project, hls_dir, edge_inputs(hls_dir)
        ).to_dict()
    if cfg.verify.stress_events:
        stress_path = stress_inputs(
            x_pool, cfg.verify.stress_events, run_dir / "data" / "stress_inputs.npy",
            smear=cfg.verify.stress_smear, seed=cfg.seed,
        )  # fmt: skip
        stress = timed(
            "verify_stress", verify_project, hls_dir, stress_path, batched=True,
            progress=progress, engine=cfg.verify.stress_engine,
        )  # fmt: skip
        record["stress"] = {
            **stress.to_dict(),
            "inputs": "data/stress_inputs.npy",
            "smear": cfg.verify.stress_smear,
        }
    write_json(hls_dir / "verify.json", record)
    return record


def all_bit_exact(record: dict[str, Any]) -> bool:
    """Whether every check of a :func:`verify_stage` record is bit-exact."""
    checks = (record, record.get("edge_inputs"), record.get("stress"))
    return all(r["ok"] for r in checks if r)


def report_header(cfg: RunConfig, timed: StageTimer) -> dict[str, Any]:
    """The keys every run report starts with: name, seed, family, config, versions, timings."""
    return {
        "name": cfg.name,
        "seed": cfg.seed,
        "family": cfg.model.family,
        "config": cfg.model_dump(mode="json"),
        "versions": package_versions(),
        "timings_s": timed.timings,
    }
