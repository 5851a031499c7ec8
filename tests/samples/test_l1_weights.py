"""Biased generation with event weights (issue 18): the weighted biased QCD sample reproduces the
unbiased leading-jet pT spectrum, and the unweighted biased one does not."""

from __future__ import annotations

import numpy as np
from nanotrig.samples.l1_detector import emulate
from nanotrig.samples.l1_pythia import bias_settings, l1_settings
from nanotrig.samples.l1_sample import event_weights, kish, normalise_weights, pythia_batch

from nanotrig.config import L1EventConfig

#: Faster QCD for the test: no multiparton interactions, no hadronisation (partons make the jets).
_FAST = ["PartonLevel:MPI = off", "HadronLevel:all = off"]
_EDGES = np.array([30.0, 40.0, 50.0, 65.0, 90.0])  # leading-jet pT (GeV), covered by both
_LEAD_JET_PT = 27  # feature column of jet0_pt


def _lead_jet_pt(cfg: L1EventConfig, seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    events = pythia_batch([*l1_settings("QCD", cfg, seed), *_FAST], n)
    feats = emulate(events.prt, np.random.default_rng(seed), -1.0)["features"]
    return feats[:, _LEAD_JET_PT].astype(np.float64), event_weights(events)


def _shape(pt: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fractions per bin within the range and their sqrt(sum w^2) errors."""
    idx = np.digitize(pt, _EDGES) - 1
    inside = (idx >= 0) & (idx < len(_EDGES) - 1)
    sw = np.bincount(idx[inside], w[inside], len(_EDGES) - 1)
    sw2 = np.bincount(idx[inside], w[inside] ** 2, len(_EDGES) - 1)
    return sw / sw.sum(), np.sqrt(sw2) / sw.sum()


def _chi2(a: tuple, b: tuple) -> float:
    return float(np.sum((a[0] - b[0]) ** 2 / (a[1] ** 2 + b[1] ** 2)))


def test_bias_weights_reproduce_the_unbiased_spectrum() -> None:
    base = L1EventConfig(qcd_enrichment="none", qcd_pthat_min_gev=20.0)
    biased_cfg = base.model_copy(update={"bias_pthat_pow": 4.0})
    assert bias_settings("QCD", base) == () and bias_settings("W", biased_cfg) == ()
    assert "PhaseSpace:bias2Selection = on" in l1_settings("QCD", biased_cfg)

    pt_u, w_u = _lead_jet_pt(base, 101, 4000)
    pt_b, w_b = _lead_jet_pt(biased_cfg, 202, 2000)
    assert np.all(w_u == 1.0)  # unbiased: Pythia's weight is exactly 1
    assert w_b.min() > 0 and w_b.max() / w_b.min() > 100  # biased: weights span decades
    w_b = normalise_weights(w_b)
    assert np.isclose(w_b.sum(), len(w_b)) and kish(w_b) < 0.5 * len(w_b)
    # the biased sample puts far more events in the tail than the unbiased one
    assert (pt_b > _EDGES[-2]).sum() > 5 * (pt_u > _EDGES[-2]).sum()

    unbiased = _shape(pt_u, w_u)
    weighted = _shape(pt_b, w_b)
    unweighted = _shape(pt_b, np.ones(len(pt_b)))
    ndf = len(_EDGES) - 2  # shapes: one constraint from the normalisation
    assert _chi2(weighted, unbiased) < 3.0 * ndf  # agree within errors
    assert _chi2(unweighted, unbiased) > 10.0 * ndf  # the weights are what makes them agree
