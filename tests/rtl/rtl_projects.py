"""Shared by the RTL tests: a QKeras model converted to an io_parallel hls4ml project."""

from __future__ import annotations

from pathlib import Path


def convert_io_parallel(model, work: Path) -> Path:
    """Save ``model`` under ``work`` and convert it (io_parallel, no budgets); the project."""
    from nanotrig.hls import convert_model

    from nanotrig.config import HlsConfig

    work.mkdir(parents=True, exist_ok=True)
    model.save(work / "q.h5")
    cfg = HlsConfig(io_type="io_parallel", latency_budget_ns=None, ii_budget_ns=None)
    convert_model(work / "q.h5", work / "hls", cfg)
    return work / "hls"
