"""The compiled substructure pass (samples.substructure) against fjcontrib, jet by jet.

Both backends of ``jet_features`` must give the same 16 features: the same groomed mass (the
same C/A tree and the same mMDT decision) and the same correlator ratios to float64 round-off,
with NaN in the same places (jets groomed down to fewer than three particles).
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import pydantic
import pytest
from nanotrig.samples.jet_features import FEATURE_NAMES, jet_features

from nanotrig.config import JetSampleConfig

RTOL = 1e-10


def _assert_same(fast: np.ndarray, ref: np.ndarray) -> None:
    assert fast.shape == ref.shape
    for i, name in enumerate(FEATURE_NAMES):
        a, b = fast[:, i], ref[:, i]
        assert np.array_equal(np.isnan(a), np.isnan(b)), f"{name}: NaN in different jets"
        ok = ~np.isnan(b)
        np.testing.assert_allclose(a[ok], b[ok], rtol=RTOL, atol=0, err_msg=name)


def _jets(particles: list[np.ndarray]) -> ak.Array:
    """jets x constituents {px, py, pz, E} from (n, 4) arrays of massless (pT, eta, phi, _)."""
    cols: dict[str, list[np.ndarray]] = {"px": [], "py": [], "pz": [], "E": []}
    for p in particles:
        pt, eta, phi = p[:, 0], p[:, 1], p[:, 2]
        px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
        for k, v in zip(cols, (px, py, pz, np.sqrt(px**2 + py**2 + pz**2)), strict=True):
            cols[k].append(v)
    return ak.zip({k: ak.Array([list(x) for x in v]) for k, v in cols.items()})


def _random_jet(rng: np.random.Generator, n: int, phi0: float, prongs: int) -> np.ndarray:
    """``n`` particles in ``prongs`` clusters plus soft wide-angle radiation, around phi0."""
    centres = rng.normal(0.0, 0.25, size=(prongs, 2))
    which = rng.integers(0, prongs, size=n)
    soft = rng.random(n) < 0.3
    spread = np.where(soft, 0.5, 0.04)[:, None]
    eta_phi = centres[which] + rng.normal(size=(n, 2)) * spread
    pt = np.where(soft, 0.5, 30.0) * rng.exponential(size=n) + 1e-3
    return np.column_stack([pt, 0.7 + eta_phi[:, 0], phi0 + eta_phi[:, 1], np.zeros(n)])


def test_synthetic_jets_match_fjcontrib() -> None:
    """Random 1- to 3-prong jets of 1..150 particles, some straddling phi = +-pi, and the
    degenerate ones (one or two particles, two collinear particles)."""
    rng = np.random.default_rng(7)
    jets = [
        _random_jet(rng, int(n), phi0, int(prongs))
        for n, phi0, prongs in zip(
            rng.integers(1, 150, size=60),
            rng.choice([0.3, np.pi - 0.05, -np.pi + 0.05], size=60),
            rng.integers(1, 4, size=60),
            strict=True,
        )
    ]
    jets += [
        np.array([[100.0, 0.1, 0.2, 0.0]]),
        np.array([[100.0, 0.1, 0.2, 0.0], [20.0, 0.3, 0.1, 0.0]]),
        np.array([[100.0, 0.1, 0.2, 0.0], [5.0, 0.3, 0.1, 0.0]]),  # groomed to one particle
        np.array([[50.0, 0.1, 0.2, 0.0], [50.0, 0.1, 0.2, 0.0], [30.0, -0.2, 0.5, 0.0]]),
    ]
    cons = _jets(jets)
    _assert_same(jet_features(cons, 0.8, "numba"), jet_features(cons, 0.8, "fastjet"))


@pytest.mark.slow
@pytest.mark.parametrize("cls", ["q", "W", "t"])
def test_pythia_jets_match_fjcontrib(cls: str) -> None:
    """Leading jets of one Pythia batch: every feature equal to fjcontrib's."""
    from nanotrig.samples.jet_features import leading_jets
    from nanotrig.samples.pythia_jets import HARD_PARTON_IDS, generate_batch, pythia_settings

    cfg = JetSampleConfig(classes=(cls, "g"))
    batch = generate_batch(pythia_settings(cls, cfg, 99), 60, HARD_PARTON_IDS[cls])
    match_dr = cfg.match_dr if HARD_PARTON_IDS[cls] else None
    cons = leading_jets(batch.particles, batch.hard, cfg.jet_r, cfg.jet_pt_range_gev, match_dr)[
        "constituents"
    ]
    assert len(cons) > 30
    fast = jet_features(cons, cfg.jet_r, "numba")
    _assert_same(fast, jet_features(cons, cfg.jet_r, "fastjet"))
    if cls == "W":  # and the physics: the groomed mass peaks at the W mass
        assert 70 < np.median(fast[:, FEATURE_NAMES.index("j_mass_mmdt")]) < 90


def test_unknown_backend() -> None:
    with pytest.raises(ValueError, match="unknown feature backend 'root'"):
        jet_features(_jets([np.array([[1.0, 0.0, 0.0, 0.0]])]), 0.8, "root")
    with pytest.raises(pydantic.ValidationError, match="feature_backend"):
        JetSampleConfig(feature_backend="root")
