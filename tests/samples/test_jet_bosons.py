"""W/Z production (``samples.boson_production``) and what it does to the groomed jets.

A W or Z decays to two quarks sharing its momentum as z and 1 - z. mMDT keeps both prongs only if
min(z, 1 - z) > 0.1; otherwise it grooms the jet down to one prong with a quark-like mass.
Transverse bosons (q qbar -> WW / ZZ) have z ~ 3 z^2, so about 27 % of decays fail; longitudinal
ones (from a scalar) z ~ 6 z (1 - z), about 6 %. See docs/jet-physics.md.
"""

from __future__ import annotations

import numpy as np
import pydantic
import pytest
from nanotrig.samples.jet_features import FEATURE_NAMES
from nanotrig.samples.pythia_jets import pythia_settings

from nanotrig.config import JetSampleConfig


def test_scalar_production_changes_only_w_and_z() -> None:
    pair, scalar = JetSampleConfig(), JetSampleConfig(boson_production="scalar")
    for cls in ("g", "q", "t"):
        assert pythia_settings(cls, scalar, 7) == pythia_settings(cls, pair, 7)
    for cls, boson in (("W", "24"), ("Z", "23")):
        lines = pythia_settings(cls, scalar)
        assert "HiggsBSM:gg2H2 = on" in lines and "35:onMode = off" in lines
        assert not any(line.startswith("WeakDoubleBoson") for line in lines)
        assert f"{boson}:onIfAny = 1 2 3 4 5" in lines  # hadronic decays only, as for pairs
    with pytest.raises(pydantic.ValidationError, match="boson_production"):
        JetSampleConfig(boson_production="resonance")


@pytest.mark.parametrize(("cls", "channel"), [("W", (-24, 24)), ("Z", (23, 23))])
def test_scalar_decays_only_to_the_boson_pair(cls: str, channel: tuple[int, int]) -> None:
    """The scalar's open decay channels, as Pythia reads the settings: only WW (or ZZ). An
    ``onIfAny`` would also open Z h, Z A, W H+ ..., whose Higgs jets then entered the Z class."""
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in pythia_settings(cls, JetSampleConfig(boson_production="scalar")):
        assert pythia.readString(line), line
    entry = pythia.particleData.particleDataEntryPtr(35)
    open_channels = set()
    for i in range(entry.sizeChannels()):
        ch = entry.channel(i)
        if ch.onMode() > 0:
            open_channels.add(tuple(sorted(ch.product(k) for k in range(ch.multiplicity()))))
    assert open_channels == {channel}


@pytest.mark.slow
def test_scalar_w_jets_lose_fewer_prongs_to_grooming() -> None:
    """Fraction of R = 0.8 W jets (any matched jet) groomed below 50 GeV: ~0.25 from pairs,
    well under 0.12 from a scalar; the kept jets peak at the W mass either way."""
    from nanotrig.samples.generate import chunk_seed, run_chunk

    mass = FEATURE_NAMES.index("j_mass_mmdt")
    low = {}
    for production in ("pair", "scalar"):
        cfg = JetSampleConfig(boson_production=production, jet_r=0.8, contained=())
        res = run_chunk(cfg, "W", chunk_seed(11, "W", 0), 200)
        m = res["features"][:, mass]
        assert res["n_accepted"] >= 100, production
        low[production] = float(np.mean(m < 50.0))
        assert 74 < np.median(m[m > 50.0]) < 86, production
    assert 0.12 < low["pair"] < 0.40, low
    assert low["scalar"] < 0.12 and low["scalar"] < 0.5 * low["pair"], low


@pytest.mark.parametrize(("cls", "n_quarks"), [("W", 2), ("t", 3)])
def test_decay_quarks_belong_to_their_resonance(cls: str, n_quarks: int) -> None:
    """Every hard W (t) has its two (three: b and its W's pair) decay quarks, traced back through
    the recoil copies to the first copy that the jets are matched to."""
    import awkward as ak
    from nanotrig.samples.generate import chunk_seed
    from nanotrig.samples.pythia_jets import HARD_PARTON_IDS, generate_batch

    cfg = JetSampleConfig()
    batch = generate_batch(
        pythia_settings(cls, cfg, chunk_seed(5, cls, 0)), 20, HARD_PARTON_IDS[cls], True
    )
    for n in range(batch.n_events):
        hard = {round(float(e), 6) for e in batch.hard[n].E}
        roots = [round(float(e), 6) for e in batch.decay[n].rE]
        assert len(hard) == 2 and set(roots) == hard, n  # the roots are the matched particles
        assert all(roots.count(e) == n_quarks for e in hard), n
        assert set(np.abs(ak.to_numpy(batch.decay[n].E)) > 0) == {True}, n


@pytest.mark.slow
def test_contained_drops_the_jets_that_lost_a_decay_quark() -> None:
    """``contained`` keeps a subset of the same events' W jets; the dropped ones (a decay quark
    outside R = 0.4) are mostly groomed to one prong, the kept ones mostly not."""
    from nanotrig.samples.generate import chunk_seed
    from nanotrig.samples.jet_features import jet_features, leading_jets
    from nanotrig.samples.pythia_jets import generate_batch

    cfg = JetSampleConfig(jet_r=0.4, contained=("W",))
    batch = generate_batch(pythia_settings("W", cfg, chunk_seed(11, "W", 0)), 250, 24, True)
    args = (batch.particles, batch.hard, cfg.jet_r, cfg.jet_pt_range_gev, cfg.match_dr)
    every, kept = leading_jets(*args), leading_jets(*args, batch.decay)
    assert not (kept["mask"] & ~every["mask"]).any()  # a subset of the same jets
    inside = kept["mask"][every["mask"]]
    assert kept["n_not_contained"] == (~inside).sum() >= 10
    m = jet_features(every["constituents"], cfg.jet_r)[:, FEATURE_NAMES.index("j_mass_mmdt")]
    assert np.mean(m[~inside] < 50.0) > 0.6, np.mean(m[~inside] < 50.0)
    assert np.mean(m[inside] < 50.0) < 0.25, np.mean(m[inside] < 50.0)
