"""Scan results: the table (CSV; Parquet when pyarrow is installed), Pareto fronts and plots
of accuracy against LUT-equivalent resources and latency, and the chosen point as a RunConfig.

The published jet-tagger points (shared/PHYSICS.md) are overlaid for the jet MLP. Their
accuracies are on the hls4ml LHC jet data set and their resources come from synthesis, while
the scan's come from this toolchain's sample and estimate: compare shapes, not decimals.
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from nanotrig.quantize.scan_spec import ChooseConfig, ScanConfig, point_configs

from nanotrig.config import RunConfig, parse_config
from nanotrig.fileio import atomic_path, write_text

__all__ = [
    "METRIC_COLUMNS",
    "PUBLISHED_JET_TAGGER",
    "choose_point",
    "chosen_run_config",
    "pareto_ids",
    "plot_pareto",
    "write_table",
]

log = logging.getLogger(__name__)

METRIC_COLUMNS = (
    "accuracy", "accuracy_drop", "weight_sparsity", "latency_cycles", "latency_ns", "ii_ns",
    "dsp", "lut", "ff", "bram", "lut_equivalent", "within_budget", "pareto_lut",
    "pareto_latency",
)  # fmt: skip

#: Published jet-tagger designs (shared/PHYSICS.md): accuracy None where not recorded there.
PUBLISHED_JET_TAGGER: tuple[dict[str, Any], ...] = (
    {"label": "QKeras Q6", "accuracy": 0.748, "latency_ns": 55, "lut": 39782, "dsp": 124},
    {"label": "QKeras QE", "accuracy": 0.723, "latency_ns": 55, "lut": 9149, "dsp": 66},
    {"label": "6-bit QAT (2103.05579)", "accuracy": 0.762, "latency_ns": 45, "lut": 63251,
     "dsp": 38},
    {"label": "16-bit PTQ (2103.05579)", "accuracy": 0.764, "latency_ns": 50, "lut": 89209,
     "dsp": 1852},
    {"label": "FINN", "accuracy": None, "latency_ns": 110, "lut": 57893, "dsp": 0},
    {"label": "HGQ", "accuracy": None, "latency_ns": 25, "lut": 5974, "dsp": 0,
     "lut_high": 10921, "latency_high_ns": 31},
)  # fmt: skip


def add_derived(records: list[dict[str, Any]], cfg: ScanConfig, base: RunConfig,
                float_accuracy: float | None) -> None:  # fmt: skip
    """Fill accuracy drop, LUT-equivalent, budget flag and Pareto membership in place."""
    lat_max, ii_max = _budgets(cfg.choose, base)
    for r in records:
        if r.get("error"):
            continue
        r["accuracy_drop"] = (
            None if float_accuracy is None else round(float_accuracy - r["accuracy"], 6)
        )
        r["lut_equivalent"] = r["lut"] + cfg.dsp_lut_equivalent * r["dsp"]
        r["within_budget"] = (lat_max is None or r["latency_ns"] <= lat_max) and (
            ii_max is None or r["ii_ns"] <= ii_max
        )
    for key, cost in (("pareto_lut", "lut_equivalent"), ("pareto_latency", "latency_ns")):
        front = pareto_ids(records, cost)
        for r in records:
            r[key] = r["id"] in front


def _budgets(choose: ChooseConfig, base: RunConfig) -> tuple[float | None, float | None]:
    lat = choose.max_latency_ns if choose.max_latency_ns is not None else base.hls.latency_budget_ns
    ii = choose.max_ii_ns if choose.max_ii_ns is not None else base.hls.ii_budget_ns
    return lat, ii


def _ok(r: dict[str, Any]) -> bool:
    return not r.get("error") and r.get("csim_ok", True) is not False


def pareto_ids(records: Sequence[dict[str, Any]], cost: str) -> set[str]:
    """Ids of the points no other point beats on both accuracy (higher) and ``cost`` (lower)."""
    good = sorted((r for r in records if _ok(r)), key=lambda r: (r[cost], -r["accuracy"]))
    front, best = set(), -math.inf
    for r in good:
        if r["accuracy"] > best:
            front.add(r["id"])
            best = r["accuracy"]
    return front


def choose_point(records: Sequence[dict[str, Any]], cfg: ScanConfig, base: RunConfig):
    """The cheapest point (``choose.cost``) within the budgets whose accuracy is within
    ``accuracy_tolerance`` of the best such point; None when no point fits."""
    c = cfg.choose
    ok = [r for r in records if _ok(r) and r["within_budget"]]
    if c.max_lut_equivalent is not None:
        ok = [r for r in ok if r["lut_equivalent"] <= c.max_lut_equivalent]
    if not ok:
        return None
    best = max(r["accuracy"] for r in ok)
    near = [r for r in ok if r["accuracy"] >= best - c.accuracy_tolerance - 1e-12]
    other = "latency_ns" if c.cost == "lut_equivalent" else "lut_equivalent"
    return min(near, key=lambda r: (r[c.cost], r[other], -r["accuracy"], r["index"]))


def chosen_run_config(base: RunConfig, cfg: ScanConfig, record: dict[str, Any],
                      dims: Sequence[str]) -> RunConfig:  # fmt: skip
    """The run config with the chosen point's bits, reuse factor, strategy and sparsity,
    validated."""
    point = {d: record[d] for d in dims}
    qcfg, hcfg, sparsity = point_configs(base, point)
    data = base.model_dump(mode="json")
    data.update(
        name=f"{base.name}_{cfg.name}_chosen",
        quantize=qcfg.model_dump(mode="json", exclude_none=True),
        hls=hcfg.model_dump(mode="json"),
    )
    data["quantize"]["sparsity"] = sparsity
    data["quantize"]["layers"] = {
        k: {kk: vv for kk, vv in v.items() if vv is not None}
        for k, v in data["quantize"]["layers"].items()
    }
    return parse_config(data, source="chosen scan point")


def write_chosen(path: Path, run_cfg: RunConfig, record: dict[str, Any]) -> Path:
    sparsity = record.get("sparsity", 0.0)
    lines = [
        f"# Chosen scan point {record['id']}: accuracy {record['accuracy']:.4f}, estimated "
        f"latency {record['latency_ns']:g} ns, LUT-equivalent {record['lut_equivalent']:g}.",
        "# Ready for 'nanotrig run' (validated with nanotrig.config.parse_config).",
    ]
    if sparsity:
        lines.append(
            f"# The point was pruned to sparsity {sparsity:g} (quantize.sparsity): 'nanotrig "
            "run' prunes during QAT, over the config's epochs."
        )
    body = yaml.safe_dump(run_cfg.model_dump(mode="json"), sort_keys=False)
    return write_text(path, "\n".join(lines) + "\n" + body)


def write_table(records: Sequence[dict[str, Any]], dims: Sequence[str], path: Path) -> list[str]:
    """Write the table as CSV (and Parquet beside it if pyarrow is installed); return the
    file names. Rows in point order; the columns are deterministic (no timings)."""
    extra = ["csim_ok", "csim_mismatches"] if any("csim_ok" in r for r in records) else []
    cols = ["index", "id", "seed", *dims, *METRIC_COLUMNS, *extra, "error"]
    rows = [{c: r.get(c) for c in cols} for r in sorted(records, key=lambda r: r["index"])]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=cols, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    written = [Path(path).name]
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return written
    pq_path = Path(path).with_suffix(".parquet")
    with atomic_path(pq_path) as tmp:
        pq.write_table(pa.Table.from_pylist(rows), tmp)
    written.append(pq_path.name)
    return written


def plot_pareto(records: Sequence[dict[str, Any]], cost: str, path: Path, *,
                chosen: dict[str, Any] | None, published: bool, dsp_weight: float,
                title: str, float_accuracy: float | None = None) -> str:  # fmt: skip
    """Accuracy against ``cost`` (lut_equivalent or latency_ns): every point, the front, the
    chosen point and (``published``) the published jet-tagger designs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in records if _ok(r)]
    flag = "pareto_lut" if cost == "lut_equivalent" else "pareto_latency"
    fig, ax = plt.subplots(figsize=(9.0, 4.4))
    ax.scatter([r[cost] for r in ok], [r["accuracy"] for r in ok], s=14, c="0.6",
               label="scan points (estimate)")  # fmt: skip
    front = sorted((r for r in ok if r.get(flag)), key=lambda r: r[cost])
    ax.plot([r[cost] for r in front], [r["accuracy"] for r in front], "C0o-", ms=5,
            label="Pareto front")  # fmt: skip
    if chosen is not None:
        ax.plot([chosen[cost]], [chosen["accuracy"]], "r*", ms=14, label="chosen")
    if float_accuracy is not None:
        ax.axhline(float_accuracy, color="k", ls="--", lw=0.8, label="float model")
    if published:
        _overlay_published(ax, cost, dsp_weight)
    if cost == "lut_equivalent":
        ax.set_xscale("log")
        ax.set_xlabel(f"LUT-equivalent = LUT + {dsp_weight:g} x DSP")
    else:
        ax.set_xlabel("latency [ns]")
    ax.set_ylabel("test accuracy")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path).name


def _overlay_published(ax, cost: str, dsp_weight: float) -> None:
    for i, p in enumerate(PUBLISHED_JET_TAGGER):
        if cost == "lut_equivalent":
            x = p["lut"] + dsp_weight * p["dsp"]
            x_hi = p.get("lut_high", p["lut"]) + dsp_weight * p["dsp"]
        else:
            x, x_hi = p["latency_ns"], p.get("latency_high_ns", p["latency_ns"])
        colour = f"C{(i % 8) + 1}"
        if p["accuracy"] is not None:
            ax.plot([x], [p["accuracy"]], "s", color=colour, mfc="none", ms=7,
                    label=f"{p['label']} (published)")  # fmt: skip
        elif x_hi > x:
            ax.axvspan(x, x_hi, color=colour, alpha=0.15,
                       label=f"{p['label']} (published; accuracy not recorded)")  # fmt: skip
        else:
            ax.axvline(x, color=colour, ls=":",
                       label=f"{p['label']} (published; accuracy not recorded)")  # fmt: skip
