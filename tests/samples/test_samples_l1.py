"""L1 events (ADC2021 emulation): layout, Z peak, signal vs background, trigger, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from nanotrig.samples import generate_sample, load_l1, load_sample
from nanotrig.samples.l1_detector import FEATURE_NAMES_L1
from nanotrig.samples.l1_sample import process_counts

from nanotrig.config import L1EventConfig, parse_config
from nanotrig.errors import ConfigError, OutputExistsError

CFG = L1EventConfig(
    n_events=60, fractions={"W": 0.5, "Z": 0.5}, signals=("A_4l",), n_signal=40, chunk_size=100
)


@pytest.fixture(scope="module")
def l1(tmp_path_factory):
    path = tmp_path_factory.mktemp("l1") / "l1.h5"
    return generate_sample(CFG, 11, path, progress=False), load_l1(path)


def _objects(s, kind: str) -> np.ndarray:
    """(N, n, 3) block of one object class."""
    start = {"e": 3, "mu": 15, "jet": 27}[kind]
    n = {"e": 4, "mu": 4, "jet": 10}[kind]
    return s.features[:, start : start + 3 * n].reshape(len(s), n, 3)


def _best_ossf_mass(s, i: int) -> float:
    """Mass of the opposite-sign same-flavour lepton pair closest to 91 GeV (nan if none)."""
    best = np.nan
    for kind, q in (("e", s.lepton_charges[i, :4]), ("mu", s.lepton_charges[i, 4:])):
        o = _objects(s, kind)[i]
        for a in range(4):
            for b in range(a + 1, 4):
                if o[a, 0] > 0 and o[b, 0] > 0 and q[a] * q[b] < 0:
                    m2 = (
                        2
                        * o[a, 0]
                        * o[b, 0]
                        * (np.cosh(o[a, 1] - o[b, 1]) - np.cos(o[a, 2] - o[b, 2]))
                    )
                    m = float(np.sqrt(max(m2, 0)))
                    if np.isnan(best) or abs(m - 91) < abs(best - 91):
                        best = m
    return best


def _auc(sig: np.ndarray, bkg: np.ndarray) -> float:
    ranks = np.argsort(np.argsort(np.concatenate([sig, bkg]), kind="stable"), kind="stable") + 1
    return (ranks[: len(sig)].sum() - len(sig) * (len(sig) + 1) / 2) / (len(sig) * len(bkg))


def test_process_counts() -> None:
    counts = process_counts(L1EventConfig(n_events=1000))
    assert counts == {"W": 592, "Z": 67, "ttbar": 3, "QCD": 338} | dict.fromkeys(
        ("A_4l", "LQ_btau", "h0_tautau", "hplus_taunu"), 1000
    )
    assert sum(process_counts(L1EventConfig(n_events=7)).values()) - 4000 == 7


@pytest.mark.slow
def test_layout_and_trigger(l1) -> None:
    record, s = l1
    assert s.features.shape == (100, 57) and len(s.feature_names) == 57
    assert s.feature_names[:6] == ("met_pt", "met_eta", "met_phi", "e0_pt", "e0_eta", "e0_phi")
    assert s.process_names == ("W", "Z", "ttbar", "QCD", "A_4l")
    np.testing.assert_array_equal(np.bincount(s.labels, minlength=5), [30, 30, 0, 0, 40])
    np.testing.assert_array_equal(s.is_signal, s.labels == 4)
    assert (s.features[:, 1] == 0).all()  # MET eta
    lead = np.maximum(s.features[:, 3], s.features[:, 15])
    assert (lead > CFG.lepton_trigger_gev).all()
    for kind in ("e", "mu", "jet"):
        pt = _objects(s, kind)[:, :, 0]
        assert (np.diff(pt, axis=1) <= 0).all()  # pT-ordered, zero padding last
        assert (_objects(s, kind)[pt == 0] == 0).all()
    assert (np.abs(_objects(s, "mu")[:, :, 1]) < 2.1).all()
    assert (np.abs(_objects(s, "jet")[:, :, 1]) < 4).all()
    jets = _objects(s, "jet")[:, :, 0]
    assert ((jets == 0) | (jets > 15)).all()
    assert record["events_generated"]["Z"] >= 30
    assert load_sample(record["path"]).manifest["kind"] == "l1"
    assert (s.weights == 1.0).all() and record["effective_events"]["W"] == 30  # unbiased
    assert not list(Path(record["path"]).parent.glob(".*.chunks"))  # chunk cache removed


@pytest.mark.slow
def test_z_peak(l1) -> None:
    _, s = l1
    masses = np.array([_best_ossf_mass(s, i) for i in np.nonzero(s.labels == 1)[0]])
    # Z -> ee/mumu/tautau in equal parts; both leptons within acceptance in about 2/3 of the
    # ee/mumu decays: roughly 40% of Z events have an OS-SF pair (tau pairs rarely do)
    assert np.isfinite(masses).mean() > 0.25
    assert 80 <= np.nanmedian(masses) <= 100, np.nanmedian(masses)


@pytest.mark.slow
def test_signal_differs_from_background(l1) -> None:
    _, s = l1
    n_lep = (_objects(s, "e")[:, :, 0] > 0).sum(1) + (_objects(s, "mu")[:, :, 0] > 0).sum(1)
    assert _auc(n_lep[s.is_signal], n_lep[~s.is_signal]) > 0.6
    assert np.median(n_lep[s.is_signal]) >= 3


@pytest.mark.slow
def test_same_seed_same_file(tmp_path) -> None:
    cfg = L1EventConfig(n_events=8, fractions={"W": 1.0}, signals=(), chunk_size=20)
    a = generate_sample(cfg, 3, tmp_path / "a.h5", progress=False)
    b = generate_sample(cfg.model_copy(update={"workers": 1}), 3, tmp_path / "b.h5", progress=False)
    assert a["sha256"] == b["sha256"]
    with pytest.raises(OutputExistsError, match="--force"):
        generate_sample(cfg, 3, tmp_path / "a.h5", progress=False)


@pytest.mark.slow
def test_qcd_passes_the_lepton_trigger(tmp_path) -> None:
    cfg = L1EventConfig(n_events=3, fractions={"QCD": 1.0}, signals=(), chunk_size=300)
    record = generate_sample(cfg, 5, tmp_path / "qcd.h5", progress=False)
    s = load_l1(record["path"])
    assert len(s) == 3 and (s.labels == 3).all()
    assert (np.maximum(s.features[:, 3], s.features[:, 15]) > 23).all()
    assert (s.features[:, 27] > 15).all()  # QCD: at least one jet
    assert record["events_generated"]["QCD"] >= 3 * 20  # lepton trigger rarely passed


@pytest.mark.parametrize(
    ("samples", "match"),
    [
        ({"kind": "l1", "n_events": -3}, r"samples\.n_events.*greater than 0"),
        ({"kind": "l1", "n_signal": -1}, r"samples\.n_signal"),
        ({"kind": "l1", "fractions": {"W": 0.5, "Zprime": 0.5}}, r"fractions\.Zprime"),
        ({"kind": "l1", "fractions": {"W": 0.5}}, r"sum to 1"),
        ({"kind": "l1", "signals": ["stop"]}, r"samples\.signals"),
        ({"kind": "l1", "signals": ["A_4l", "A_4l"]}, r"distinct"),
        ({"kind": "l1", "bias_pthat_pow": -1}, r"samples\.bias_pthat_pow"),
    ],
)
def test_bad_settings_one_line(samples, match) -> None:
    with pytest.raises(ConfigError, match=match) as exc:
        parse_config({"name": "x", "samples": samples})
    assert "\n" not in str(exc.value)


def test_feature_names() -> None:
    assert len(FEATURE_NAMES_L1) == 57 and FEATURE_NAMES_L1[-1] == "jet9_phi"
