"""Trigger-rate metrics of an anomaly score on a weighted background: thresholds at FPR 1e-5,
1e-4, 1e-3 and at a fixed L1 rate, the TPR there with errors, the rate-vs-threshold curve.

Background events carry weights ``w`` (1 when unbiased; see :mod:`samples.l1_sample`). With
``W = sum w`` over the background test events, a threshold ``t`` passes events strictly above it:

* FPR(t) = sum_{s > t} w / W, error sqrt(sum_{s > t} w^2) / W (weighted Poisson, the
  ``sqrt(sum w^2)`` rule); its effective event count ``n_eff = (sum w)^2 / sum w^2`` over the
  passing events sets the relative error 1 / sqrt(n_eff).
* The threshold at a target FPR ``f`` is the lowest background score with FPR(t) <= f (a
  weighted quantile; ties fail). The FPR reached can be below ``f`` when weights are coarse.
* TPR error: the signal's Clopper-Pearson 68.3 % central interval (signal events are unweighted)
  combined in quadrature with the threshold's own uncertainty, half the TPR change between the
  thresholds at FPR f_reached x (1 +- relative FPR error).
* Weighted-equivalent background size at a working point: the unweighted sample size that would
  measure the same FPR with the same (Poisson) error, F / sigma_F^2.

A TPR is reported only if its error is smaller than its value; otherwise the metrics give the
background size needed for :data:`MIN_TAIL_EVENTS` effective background events to pass.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "FPR_TARGETS",
    "MIN_TAIL_EVENTS",
    "clopper_pearson",
    "rate_curve",
    "rate_metrics",
    "rates_statement",
    "working_point",
]

#: FPRs at which the TPR is reported (ADC2021's figure of merit first).
FPR_TARGETS = (1e-5, 1e-4, 1e-3)
#: Effective background events above the threshold for a ~30 % rate error (1 / sqrt(10)).
MIN_TAIL_EVENTS = 10
_ONE_SIGMA = 0.6827


def clopper_pearson(k: int, n: int, cl: float = _ONE_SIGMA) -> tuple[float, float]:
    """Central Clopper-Pearson interval (lo, hi) of a binomial fraction ``k / n``."""
    from scipy.stats import beta

    if n <= 0:
        return 0.0, 1.0
    a = (1 - cl) / 2
    lo = float(beta.ppf(a, k, n - k + 1)) if k > 0 else 0.0
    hi = float(beta.ppf(1 - a, k + 1, n - k)) if k < n else 1.0
    return lo, hi


def _tail(bkg: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct scores descending, and the weight and weight^2 strictly above each."""
    order = np.argsort(-bkg, kind="stable")
    s, ws = bkg[order], w[order]
    uniq, first = np.unique(-s, return_index=True)  # groups of equal scores, descending
    cw, cw2 = np.r_[0.0, np.cumsum(ws)], np.r_[0.0, np.cumsum(ws * ws)]
    return -uniq, cw[first], cw2[first]


def _threshold(tail, total: float, fpr: float) -> tuple[float, float, float]:
    """(threshold, weight above, weight^2 above) for the lowest threshold with FPR <= ``fpr``."""
    scores, above, above2 = tail
    j = int(np.searchsorted(above, fpr * total * (1 + 1e-12), side="right")) - 1
    return float(scores[j]), float(above[j]), float(above2[j])


def working_point(
    bkg: np.ndarray, w: np.ndarray, signals: dict[str, np.ndarray], fpr: float,
    score_lsb: float | None = None,
) -> dict:  # fmt: skip
    """Threshold, FPR reached with its error, and every signal's TPR (or the size needed)."""
    total = float(w.sum())
    tail = _tail(bkg, w)
    thr, above, above2 = _threshold(tail, total, fpr)
    f_reached = above / total
    f_err = math.sqrt(above2) / total
    n_eff = above * above / above2 if above2 > 0 else 0.0
    row: dict = {
        "target_fpr": fpr,
        "threshold": thr,
        "fpr": f_reached,
        "fpr_error": f_err,
        "effective_background_above": n_eff,
        "equivalent_background_size": (f_reached / f_err**2 if f_err > 0 else None),
        "signals": {},
    }
    if score_lsb:
        row["threshold_int"] = round(thr / score_lsb)
    n_bkg = len(bkg)
    need = (
        math.ceil(n_bkg * MIN_TAIL_EVENTS / n_eff)
        if n_eff > 0
        else math.ceil(MIN_TAIL_EVENTS / fpr)
    )
    row["background_needed"] = need if n_eff < MIN_TAIL_EVENTS else None
    rel = f_err / f_reached if f_reached > 0 else None
    for name, sig in signals.items():
        sig = np.asarray(sig, np.float64).ravel()
        k, n = int((sig > thr).sum()), len(sig)
        tpr = k / n if n else float("nan")
        lo, hi = clopper_pearson(k, n)
        err_sig = (hi - lo) / 2
        if rel is None:
            err_thr = None
        else:
            t_hi = _threshold(tail, total, f_reached * (1 + rel))[0]
            t_lo = _threshold(tail, total, max(f_reached * (1 - rel), 0.0))[0]
            err_thr = abs(float(np.mean(sig > t_hi)) - float(np.mean(sig > t_lo))) / 2
        err = None if err_thr is None else math.hypot(err_sig, err_thr)
        measured = err is not None and n > 0 and err < tpr
        row["signals"][name] = {
            "tpr": tpr if measured else None,
            "tpr_error": err if measured else None,
            "tpr_error_signal": err_sig,
            "tpr_error_threshold": err_thr,
            "tpr_raw": tpr,
            "tpr_upper_68": hi,
            "n_events": n,
        }
    return row


def rate_metrics(
    bkg: np.ndarray, signals: dict[str, np.ndarray], weights: np.ndarray | None = None,
    total_rate_mhz: float = 28.6, l1_rate_khz: float = 1.0, score_lsb: float | None = None,
) -> dict:  # fmt: skip
    """Working points at :data:`FPR_TARGETS` and at ``l1_rate_khz`` out of ``total_rate_mhz``."""
    bkg = np.asarray(bkg, np.float64).ravel()
    w = np.ones(len(bkg)) if weights is None else np.asarray(weights, np.float64).ravel()
    total = float(w.sum())
    out: dict = {
        "n_background": len(bkg),
        "sum_weights": total,
        "effective_background": total * total / float(np.square(w).sum()),
        "weighted": bool(weights is not None and not np.all(w == 1.0)),
        "total_rate_mhz": total_rate_mhz,
        "l1_rate_khz": l1_rate_khz,
        "score_lsb": score_lsb,
        "tpr_error": "Clopper-Pearson 68.3 % (signal) (+) threshold uncertainty from the "
        "weighted background rate error sqrt(sum w^2)",
        "fpr": {f"{f:g}": working_point(bkg, w, signals, f, score_lsb) for f in FPR_TARGETS},
    }
    f_rate = l1_rate_khz / (total_rate_mhz * 1e3)
    out["rate"] = working_point(bkg, w, signals, f_rate, score_lsb)
    return out


def rate_curve(
    bkg: np.ndarray, weights: np.ndarray | None, total_rate_mhz: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, rate in kHz, its error) at every distinct background score."""
    bkg = np.asarray(bkg, np.float64).ravel()
    w = np.ones(len(bkg)) if weights is None else np.asarray(weights, np.float64).ravel()
    scores, above, above2 = _tail(bkg, w)
    scale = total_rate_mhz * 1e3 / float(w.sum())
    return scores, above * scale, np.sqrt(above2) * scale


def _tpr_text(r: dict) -> str:
    if r["tpr"] is not None:
        return f"{100 * r['tpr']:.1f} +- {100 * r['tpr_error']:.1f} %"
    return "-"


def rates_statement(m: dict, key: str = "1e-05") -> str:
    """One sentence: the TPR at FPR ``key`` per signal, or the background size it needs."""
    wp = m["fpr"][key] if key in m["fpr"] else m["rate"]
    size = (
        f"{m['n_background']} background test events (sum of weights {m['sum_weights']:.4g}, "
        f"effective {m['effective_background']:.4g})"
    )
    tprs = ", ".join(f"{k} {_tpr_text(r)}" for k, r in wp["signals"].items())
    eq = wp["equivalent_background_size"]
    text = f"{size}: FPR {key} reached as {wp['fpr']:.3g} +- {wp['fpr_error']:.2g}"
    text += "" if eq is None else f" (weighted-equivalent background {eq:.3g} events)"
    text += f"; TPR {tprs} (- : error not below the value)."
    if wp["background_needed"] is not None:
        text += (
            f" Only {wp['effective_background_above']:.2g} effective background events pass "
            f"the threshold: ~{wp['background_needed']:,} background test events at this "
            f"weighting give {MIN_TAIL_EVENTS} (~30 % rate error)."
        )
    return text
