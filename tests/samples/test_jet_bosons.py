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
    """Fraction of W jets groomed below 50 GeV: ~0.25 from pairs, well under 0.12 from a scalar;
    the kept jets peak at the W mass either way."""
    from nanotrig.samples.generate import chunk_seed, run_chunk

    mass = FEATURE_NAMES.index("j_mass_mmdt")
    low = {}
    for production in ("pair", "scalar"):
        cfg = JetSampleConfig(boson_production=production)
        res = run_chunk(cfg, "W", chunk_seed(11, "W", 0), 200)
        m = res["features"][:, mass]
        assert res["n_accepted"] >= 100, production
        low[production] = float(np.mean(m < 50.0))
        assert 74 < np.median(m[m > 50.0]) < 86, production
    assert 0.12 < low["pair"] < 0.40, low
    assert low["scalar"] < 0.12 and low["scalar"] < 0.5 * low["pair"], low
