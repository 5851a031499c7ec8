"""Weighted trigger-rate metrics: thresholds, FPR errors, TPR errors, firmware units, sizes."""

from __future__ import annotations

import numpy as np
from nanotrig.models.anomaly_metrics import anomaly_metrics, tpr_at_k
from nanotrig.models.trigger_rates import (
    clopper_pearson,
    rate_curve,
    rate_metrics,
    working_point,
)

LSB = 2.0**-14


def _grid(x: np.ndarray) -> np.ndarray:
    return np.round(x / LSB) * LSB  # scores on the firmware grid, with ties


def test_unit_weights_match_the_count_based_threshold() -> None:
    rng = np.random.default_rng(3)
    bkg, sig = _grid(rng.exponential(1.0, 300_000)), _grid(rng.exponential(4.0, 2000) + 6)
    wp = working_point(bkg, np.ones(len(bkg)), {"s": sig}, 1e-4, LSB)
    thr, tpr = tpr_at_k(bkg, sig, 30)  # k = floor(1e-4 N) background events strictly above
    assert wp["threshold"] == thr and wp["signals"]["s"]["tpr_raw"] == tpr
    assert (bkg > wp["threshold"]).sum() <= 30 and wp["fpr"] == (bkg > thr).mean()
    assert wp["threshold_int"] * LSB == wp["threshold"]  # firmware integer, exact
    assert wp["effective_background_above"] == (bkg > thr).sum()
    assert np.isclose(wp["equivalent_background_size"], len(bkg), rtol=1e-9)


def test_weights_equal_duplicated_events() -> None:
    rng = np.random.default_rng(4)
    bkg, sig = _grid(rng.exponential(1.0, 5000)), _grid(rng.exponential(3.0, 500))
    w = rng.integers(1, 4, len(bkg)).astype(float)
    dup = np.repeat(bkg, w.astype(int))
    a = rate_metrics(bkg, {"s": sig}, w)
    b = rate_metrics(dup, {"s": sig})
    for key in ("1e-05", "0.0001", "0.001"):
        assert a["fpr"][key]["threshold"] == b["fpr"][key]["threshold"]
        assert np.isclose(a["fpr"][key]["fpr"], b["fpr"][key]["fpr"])
        # weights of 2-3 carry more variance than as many unit events
        assert a["fpr"][key]["fpr_error"] >= b["fpr"][key]["fpr_error"]
    assert a["weighted"] and not b["weighted"]
    thr, rate, err = rate_curve(bkg, w, 28.6)
    assert np.all(np.diff(thr) < 0) and np.all(np.diff(rate) > 0) and rate[0] == 0.0
    above = bkg > bkg.min()
    assert np.isclose(rate[-1], 28.6e3 * w[above].sum() / w.sum())
    assert np.isclose(err[-1], 28.6e3 * np.sqrt(np.square(w[above]).sum()) / w.sum())


def test_small_background_states_the_size_needed() -> None:
    rng = np.random.default_rng(5)
    bkg, sig = rng.exponential(1.0, 100), rng.exponential(1.0, 100) + 10
    m = rate_metrics(bkg, {"s": sig}, total_rate_mhz=40.0, l1_rate_khz=1.0)
    wp = m["fpr"]["1e-05"]
    assert wp["fpr"] == 0.0 and wp["signals"]["s"]["tpr"] is None  # no number without an error
    assert wp["background_needed"] == 1_000_000  # 10 background events passing at 1e-5
    assert m["rate"]["target_fpr"] == 1.0 / 40_000
    # a large background resolves 1e-3 with a TPR error below the value
    big = rate_metrics(rng.exponential(1.0, 50_000), {"s": sig})["fpr"]["0.001"]
    r = big["signals"]["s"]
    assert big["background_needed"] is None and 0 < r["tpr_error"] < r["tpr"]


def test_clopper_pearson() -> None:
    lo, hi = clopper_pearson(0, 10)
    assert lo == 0.0 and np.isclose(hi, 1 - 0.15865**0.1, atol=1e-4)
    lo, hi = clopper_pearson(50, 100)
    assert lo < 0.5 < hi and np.isclose(hi - 0.5, 0.5 - lo) and 0.04 < hi - 0.5 < 0.06


def test_error_at_1e5_comes_from_the_tail_not_the_kish_size() -> None:
    # a bulk of unit weights plus a few very heavy events (Kish size of the whole sample ~7)
    # and a light biased tail: the 1e-5 threshold lives in the tail and is measured there
    rng = np.random.default_rng(6)
    bulk = _grid(rng.uniform(0.0, 10.0, 1000))
    heavy = _grid(rng.uniform(0.0, 10.0, 5))
    tail = _grid(20.0 + 10.0 * np.arange(2000) / 2000)  # distinct scores above the bulk
    bkg = np.r_[bulk, heavy, tail]
    w = np.r_[np.ones(1000), np.full(5, 1000.0), np.full(2000, 6e-5)]
    sig = _grid(rng.uniform(24.0, 40.0, 400))
    m = rate_metrics(bkg, {"s": sig}, w)
    assert m["effective_background"] < 10
    wp = m["fpr"]["1e-05"]
    above = bkg > wp["threshold"]
    assert np.all(bkg[above] >= 20.0)  # only tail events pass
    assert np.isclose(wp["fpr"], w[above].sum() / w.sum(), rtol=1e-12)
    assert np.isclose(wp["fpr_error"], np.sqrt(np.square(w[above]).sum()) / w.sum(), rtol=1e-12)
    assert 900 < above.sum() < 1100  # about half the tail (its weight is 2e-5 of the total)
    assert np.isclose(wp["effective_background_above"], above.sum(), rtol=1e-9)
    r = wp["signals"]["s"]
    assert wp["background_needed"] is None and 0 < r["tpr_error"] < r["tpr"]
    # the count-based statement (1/N) does not claim the weighted tail is unmeasurable
    text = anomaly_metrics(bkg, {"s": sig}, weights=w)["statement"]
    assert "not by 1/N" in text and "not measurable" not in text
