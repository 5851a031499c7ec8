"""Throughput of the jet generator: raw Pythia (``nextBatch`` only) vs the full generator
(selection, features, images, constituents, HDF5 I/O), on 1..n processes (wall clock)."""

from __future__ import annotations

import functools
import tempfile
import time
from pathlib import Path
from typing import Any

from nanotrig.samples.pool import Stream, run_streams
from nanotrig.samples.pythia_jets import pythia_settings

from nanotrig.config import JetSampleConfig

__all__ = ["format_table", "measure", "raw_pythia_chunk"]


def raw_pythia_chunk(cfg: JetSampleConfig, cls: str, seed: int, n_events: int) -> dict[str, Any]:
    """Pythia init + ``nextBatch`` and nothing else (worker task)."""
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in pythia_settings(cls, cfg, seed):
        pythia.readString(line)
    pythia.init()
    t0 = time.perf_counter()
    n = len(pythia.nextBatch(n_events, errorMode="skip"))
    return {"n_accepted": n, "n_events": n, "batch_s": time.perf_counter() - t0}


def _raw(cfg: JetSampleConfig, n_events: int, seed: int) -> float:
    streams = [
        Stream(
            name=cls,
            task=functools.partial(raw_pythia_chunk, cfg, cls),
            target=n_events,
            chunk_size=cfg.chunk_size,
            seed_key=i,
            max_chunks=n_events // cfg.chunk_size + 1,
            prior_acceptance=1.0,
        )
        for i, cls in enumerate(cfg.classes)
    ]
    t0 = time.perf_counter()
    res = run_streams(streams, seed, cfg.workers, progress=False)
    wall = time.perf_counter() - t0
    return sum(c["n_events"] for r in res.values() for c in r.values()) / wall


def _full(cfg: JetSampleConfig, seed: int) -> tuple[float, dict]:
    from nanotrig.samples.generate import generate_jets

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rec = generate_jets(cfg, seed, Path(tmp) / "jets.h5", progress=False)
        wall = time.perf_counter() - t0
    return rec["cpu"]["events_total"] / wall, rec["cpu"]


def measure(
    classes: tuple[str, ...] = ("W", "t"),
    n_events: int = 1000,
    chunk_size: int = 250,
    workers: tuple[int, ...] = (1, 2),
    seed: int = 1,
) -> list[dict[str, Any]]:
    """One row per (class, processes): events/s raw and full, overhead and per-stage CPU split.

    Each row runs ``cls`` together with q (g for q), as a jet sample needs two classes: raw
    Pythia generates ``n_events`` of each; the full generator is asked for 0.6 ``n_events``
    jets of each (about as many events) and counts every Pythia event it generated.
    """
    rows = []
    for cls in classes:
        other = "q" if cls != "q" else "g"
        for w in workers:
            base = JetSampleConfig(classes=(cls, other), chunk_size=chunk_size, workers=w)
            raw = _raw(base, n_events, seed)
            full_cfg = base.model_copy(update={"n_per_class": max(int(0.6 * n_events), 1)})
            full, cpu = _full(full_cfg, seed)
            steps = cpu["pythia_s"] + cpu["features_s"] + cpu["lowlevel_s"]
            rows.append(
                {
                    "class": f"{cls}+{other}",
                    "processes": w,
                    "raw_ev_per_s": raw,
                    "full_ev_per_s": full,
                    "overhead_pct": 100 * (raw / full - 1),
                    "features_cpu_pct": 100 * cpu["features_s"] / cpu["pythia_s"],
                    "lowlevel_cpu_pct": 100 * cpu["lowlevel_s"] / cpu["pythia_s"],
                    "cpu_s": steps,
                }
            )
    base_rows = {r["class"]: r for r in rows if r["processes"] == min(workers)}
    for r in rows:
        b = base_rows[r["class"]]
        r["raw_speedup"] = r["raw_ev_per_s"] / b["raw_ev_per_s"]
        r["full_speedup"] = r["full_ev_per_s"] / b["full_ev_per_s"]
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of :func:`measure`'s rows."""
    head = (
        "| class | processes | raw Pythia ev/s | full ev/s | overhead % | features CPU % "
        "| images+constituents CPU % | raw speed-up | full speed-up |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        lines.append(
            f"| {r['class']} | {r['processes']} | {r['raw_ev_per_s']:.0f} | "
            f"{r['full_ev_per_s']:.0f} | {r['overhead_pct']:.0f} | {r['features_cpu_pct']:.0f} | "
            f"{r['lowlevel_cpu_pct']:.0f} | {r['raw_speedup']:.2f} | {r['full_speedup']:.2f} |"
        )
    return "\n".join(lines)
