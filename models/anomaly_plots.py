"""Anomaly-trigger plots: ROC per signal (log FPR axis) and anomaly-score distributions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from nanotrig.models.plots import _save, plt

__all__ = ["plot_anomaly_roc", "plot_rate_curve", "plot_scores"]


def plot_anomaly_roc(
    curves: dict[str, dict], dest: Path, n_background: int, title: str = "Anomaly score ROC"
) -> Path:
    """TPR vs FPR (log x) per signal; ``curves`` maps a model label to {signal: (fpr, tpr)}.
    The FPR axis starts at the smallest resolvable FPR 1/N; the ADC2021 target 1e-5 is marked."""
    fig, ax = plt.subplots(figsize=(6, 5))
    styles = ["-", "--", ":", "-."]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fmin = 1.0 / max(n_background, 1)
    for m, (label, per_signal) in enumerate(curves.items()):
        for c, (name, (fpr, tpr)) in enumerate(per_signal.items()):
            keep = fpr > 0
            ax.plot(fpr[keep], tpr[keep], styles[m % len(styles)],
                    color=colors[c % len(colors)], label=f"{name} ({label})")  # fmt: skip
    ax.axvline(1e-5, color="grey", lw=1, ls=":", label="FPR 1e-5 (target)")
    ax.axvline(fmin, color="k", lw=1, ls="--", label=f"1/N = {fmin:.1g}")
    ax.set_xscale("log")
    ax.set_xlim(min(1e-5, fmin) / 2, 1.0)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("background efficiency (false positive rate)")
    ax.set_ylabel("signal efficiency (true positive rate)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title)
    return _save(fig, dest)


def plot_scores(
    bkg: np.ndarray, signals: dict[str, np.ndarray], dest: Path, title: str = "Anomaly score"
) -> Path:
    """Normalised histograms of the score (log y) for the background and each signal."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    allv = np.concatenate([np.ravel(bkg), *[np.ravel(s) for s in signals.values()]])
    top = float(np.quantile(allv, 0.999)) if len(allv) else 1.0
    bins = np.linspace(0, max(top, 1e-6), 60)
    ax.hist(np.clip(np.ravel(bkg), 0, top), bins=bins, density=True, histtype="stepfilled",
            alpha=0.3, color="grey", label="SM background")  # fmt: skip
    for name, s in signals.items():
        ax.hist(np.clip(np.ravel(s), 0, top), bins=bins, density=True, histtype="step",
                lw=1.5, label=name)  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("anomaly score sum(mu^2) (last bin: overflow)")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return _save(fig, dest)


def plot_rate_curve(
    bkg: np.ndarray, weights: np.ndarray | None, rates: dict, dest: Path,
    title: str = "L1 rate vs anomaly-score threshold",
) -> Path:  # fmt: skip
    """Background rate (kHz, log y) with its +-1 sigma band against the score threshold; the
    working points of ``rates`` (:func:`models.trigger_rates.rate_metrics`) are marked."""
    from nanotrig.models.trigger_rates import rate_curve

    thr, rate, err = rate_curve(bkg, weights, rates["total_rate_mhz"])
    fig, ax = plt.subplots(figsize=(6, 4.5))
    keep = rate > 0
    ax.step(thr[keep], rate[keep], where="post", color="k", label="SM background")
    lo = np.maximum(rate - err, rate * 1e-3)
    band = "+-1 sigma (sqrt(sum w^2))"
    ax.fill_between(thr[keep], lo[keep], (rate + err)[keep], step="post", color="grey",
                    alpha=0.3, label=band)  # fmt: skip
    total_khz = rates["total_rate_mhz"] * 1e3
    for key in rates["fpr"]:
        ax.axhline(float(key) * total_khz, ls=":", lw=1, color="tab:blue")
        ax.text(thr[-1], float(key) * total_khz, f" FPR {key}", fontsize=7, va="bottom")
    fixed = f"{rates['l1_rate_khz']:g} kHz of {rates['total_rate_mhz']:g} MHz"
    ax.axhline(rates["l1_rate_khz"], ls="--", lw=1, color="tab:red", label=fixed)
    ax.set_yscale("log")
    ax.set_xlabel("anomaly-score threshold (fires when score > threshold)")
    ax.set_ylabel("background rate (kHz)")
    ax.set_ylim(min(1e-3 * rates["l1_rate_khz"], rate[keep].min() / 2 if keep.any() else 1), None)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title)
    return _save(fig, dest)
