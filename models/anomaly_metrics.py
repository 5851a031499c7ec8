"""Anomaly-trigger metrics: per-signal ROC AUC and signal efficiency (TPR) at a background rate.

A threshold is set on the background test scores alone: keeping ``k`` background events above
it gives an FPR of exactly ``k / N`` (``N`` background test events). The target FPR (1e-5 in
ADC2021, a 0.4 kHz rate out of 40 MHz) is resolvable only when ``k = floor(1e-5 N) >= 1``, i.e.
``N >= 1e5`` (and its own statistical error is ``1/sqrt(k)``: ~1e7 events for 3 %). With fewer
events the report gives the TPR at the smallest resolvable FPR, ``1 / N`` (one background event
passes), and at zero background passing, whose FPR is only bounded: below ``3.0 / N`` at 95 %
CL (Poisson, ``-ln 0.05 = 3.0``). These count-based figures ignore event weights; the AUC
uses them, and the weighted working points with errors are in :mod:`models.trigger_rates`.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

__all__ = ["TARGET_FPR", "anomaly_metrics", "anomaly_roc_curves", "fpr_statement", "tpr_at_k"]

TARGET_FPR = 1e-5
#: FPRs reported beside the target when they are resolvable.
_FPRS = (1e-2, 1e-3, 1e-4)
_CL95 = -math.log(0.05)


def tpr_at_k(bkg: np.ndarray, sig: np.ndarray, k: int) -> tuple[float, float]:
    """(threshold, TPR) with exactly the ``k`` highest background scores strictly above the
    threshold (ties at the threshold count as failing); ``k = 0``: threshold = max background."""
    desc = np.sort(np.asarray(bkg, np.float64))[::-1]
    thr = float(desc[min(k, len(desc) - 1)])
    return thr, float(np.mean(np.asarray(sig, np.float64) > thr))


def _weighted(weights: np.ndarray | None) -> bool:
    return weights is not None and not np.all(np.asarray(weights) == 1.0)


def fpr_statement(n_bkg: int, target: float = TARGET_FPR, weighted: bool = False) -> str:
    """One sentence on what ``n_bkg`` background test events can say about FPR ``target``;
    ``weighted``: the events carry weights, so the counts say nothing about the tail."""
    if weighted:
        return (
            f"{n_bkg} weighted background test events: the FPR a threshold can resolve is set "
            "by the weights of the events above it, not by 1/N; the counts below (FPR 1/N, no "
            "background passing) ignore the weights, the trigger rates give the weighted "
            f"working points (FPR {target:g} with its error sqrt(sum w^2) over the events above)."
        )
    need = math.ceil(1 / target)
    if n_bkg * target >= 1:
        k = math.floor(n_bkg * target)
        return (
            f"{n_bkg} background test events: FPR {target:g} keeps {k} of them (relative "
            f"statistical error {1 / math.sqrt(k):.0%} on the rate)."
        )
    return (
        f"{n_bkg} background test events: the smallest resolvable FPR is 1/N = {1 / n_bkg:.2g}, "
        f"{1 / (n_bkg * target):.0f}x above the target {target:g} (which needs >= {need:,} "
        f"background events for one to pass, ~{100 * need:,} for a 10 % rate error); the TPR at "
        f"FPR {target:g} is not measurable here. Reported instead: TPR at FPR 1/N and with no "
        f"background passing (FPR < {_CL95 / n_bkg:.2g} at 95 % CL)."
    )


def anomaly_metrics(
    bkg: np.ndarray, signals: dict[str, np.ndarray], target: float = TARGET_FPR,
    weights: np.ndarray | None = None,
) -> dict:  # fmt: skip
    """Per signal: ROC AUC (signal vs SM background), TPR at ``target`` if resolvable, at the
    smallest resolvable FPR 1/N, with zero background passing, and at 1e-2/1e-3/1e-4."""
    bkg = np.asarray(bkg, np.float64).ravel()
    n = len(bkg)
    k_target = math.floor(n * target)
    out: dict = {
        "n_background": n,
        "target_fpr": target,
        "min_resolvable_fpr": 1 / n,
        "target_resolvable": k_target >= 1,
        "zero_background_fpr_upper_95": _CL95 / n,
        "statement": fpr_statement(n, target, weighted=_weighted(weights)),
        "signals": {},
    }
    for name, sig in signals.items():
        sig = np.asarray(sig, np.float64).ravel()
        y = np.r_[np.zeros(n), np.ones(len(sig))]
        sw = None if weights is None else np.r_[np.ravel(weights), np.ones(len(sig))]
        auc = float(roc_auc_score(y, np.r_[bkg, sig], sample_weight=sw)) if len(sig) else np.nan
        row: dict = {
            "n_events": len(sig),
            "auc": auc,
            "tpr_at_target": tpr_at_k(bkg, sig, k_target)[1] if k_target >= 1 else None,
            "tpr_at_min_fpr": tpr_at_k(bkg, sig, 1)[1],
            "tpr_at_zero_bkg": tpr_at_k(bkg, sig, 0)[1],
            "tpr_at_fpr": {
                f"{f:g}": tpr_at_k(bkg, sig, math.floor(n * f))[1] for f in _FPRS if n * f >= 1
            },
        }
        out["signals"][name] = row
    return out


def anomaly_roc_curves(bkg: np.ndarray, signals: dict[str, np.ndarray]) -> dict:
    """{signal: (fpr, tpr)} of each signal against the background."""
    bkg = np.asarray(bkg, np.float64).ravel()
    curves = {}
    for name, sig in signals.items():
        sig = np.asarray(sig, np.float64).ravel()
        fpr, tpr, _ = roc_curve(np.r_[np.zeros(len(bkg)), np.ones(len(sig))], np.r_[bkg, sig])
        curves[name] = (fpr, tpr)
    return curves
