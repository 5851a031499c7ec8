"""The latency/II budget gate on the estimate (:mod:`hls.estimate`) and its per-layer plot."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from nanotrig.hls.estimate import Estimate, estimate_model

from nanotrig.config import HlsConfig
from nanotrig.errors import BudgetExceededError, ConversionError

__all__ = ["ESTIMATE_PLOT", "check_budget", "estimate_for", "plot_budget"]

log = logging.getLogger(__name__)

ESTIMATE_PLOT = "estimate.png"


def _has_budget(cfg: HlsConfig) -> bool:
    return cfg.latency_budget_ns is not None or cfg.ii_budget_ns is not None


def estimate_for(hls_model, cfg: HlsConfig) -> Estimate | None:
    """The estimate, or None (with a warning) if the graph holds something it cannot model and
    no budget asks for it."""
    try:
        return estimate_model(hls_model)
    except Exception as err:  # the estimate is advisory unless a budget needs it
        if _has_budget(cfg):
            raise ConversionError(
                f"cannot estimate the latency of this model ({type(err).__name__}: {err}): "
                "remove latency_budget_ns/ii_budget_ns to convert it without the budget check"
            ) from err
        log.warning("no latency/resource estimate: %s: %s", type(err).__name__, err)
        return None


def check_budget(est: Estimate | None, cfg: HlsConfig) -> dict[str, Any] | None:
    """Compare the estimate with ``cfg``'s budgets; raise :class:`BudgetExceededError` naming
    the slowest layers and what to change. Returns the budget record (None without budgets)."""
    if est is None or not _has_budget(cfg):
        return None
    record: dict[str, Any] = {
        "latency_budget_ns": cfg.latency_budget_ns,
        "ii_budget_ns": cfg.ii_budget_ns,
        "latency_ns": est.latency_ns,
        "ii_ns": est.ii_ns,
    }
    problems = []
    over_latency = cfg.latency_budget_ns is not None and est.latency_ns > cfg.latency_budget_ns
    if over_latency:
        problems.append(
            f"estimated latency {est.latency_ns:g} ns ({est.latency_cycles} cycles at "
            f"{est.clock_ns:g} ns) exceeds the budget of {cfg.latency_budget_ns:g} ns"
        )
    if cfg.ii_budget_ns is not None and est.ii_ns > cfg.ii_budget_ns:
        problems.append(
            f"estimated II {est.ii_ns:g} ns ({est.ii_cycles} cycles) exceeds the budget of "
            f"{cfg.ii_budget_ns:g} ns"
        )
    record["ok"] = not problems
    if problems:
        if over_latency:
            slow = ", ".join(f"{r.name} {r.latency_ns:g} ns" for r in est.slowest(3))
        else:  # II only: the layers that accept new inputs least often
            worst = sorted(est.layers, key=lambda r: r.interval, reverse=True)[:3]
            slow = ", ".join(f"{r.name} II {r.interval * est.clock_ns:g} ns" for r in worst)
        raise BudgetExceededError(
            "; ".join(problems) + f" (an estimate; slowest layers: {slow}): {_advice(cfg)}"
        )
    return record


def _advice(cfg: HlsConfig) -> str:
    tips = []
    if cfg.reuse_factor > 1:
        tips.append(f"lower the reuse factor (now {cfg.reuse_factor}; II is about R cycles)")
    if cfg.strategy == "Resource":
        tips.append("use the Latency strategy")
    if cfg.io_type == "io_stream":
        tips.append("use io_parallel (io_stream reads one pixel per cycle)")
    tips.append("narrow the bit widths of the slowest layers (fewer DSPs, shallower adders)")
    tips.append("shrink or prune those layers, or raise the budget")
    return "to fix: " + "; ".join(tips)


def plot_budget(est: Estimate | None, cfg: HlsConfig, path: Path) -> str | None:
    """Bar chart of each layer's estimated latency and the cumulative sum, as a share of the
    latency budget (in ns without one); returns the file name (None without an estimate)."""
    if est is None or not est.layers:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r.name for r in est.layers]
    budget = cfg.latency_budget_ns
    scale = 100.0 / budget if budget else 1.0
    vals = [r.latency_ns * scale for r in est.layers]
    cum, total = [], 0.0
    for v in vals:
        total += v
        cum.append(total)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.5 * len(names) + 2), 3.5))
    ax.bar(names, vals, label="layer (estimate)")
    ax.plot(names, cum, "k.-", label="cumulative")
    if budget:
        ax.axhline(100, color="r", ls="--", label=f"budget {budget:g} ns")
        ax.set_ylabel("share of latency budget [%]")
    else:
        ax.set_ylabel("latency [ns]")
    ax.set_title(
        f"estimated latency {est.latency_ns:g} ns, II {est.ii_ns:g} ns (not synthesis)",
        fontsize=9,
    )
    ax.tick_params(axis="x", rotation=60, labelsize=7)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path).name
