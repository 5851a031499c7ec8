"""Leading-jet selection and the 16 hls4ml-LHC-jet features with FastJet (+ fjcontrib).

Definitions follow the hls4ml LHC jet data set: the leading anti-kT jet's constituents are
re-clustered with C/A and groomed with soft drop (beta=0, z_cut=0.1, i.e. mMDT); the energy
correlation functions are fjcontrib's with their default pT_R measure on the groomed jet;
zlogz and the multiplicity use the ungroomed jet.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

__all__ = [
    "FEATURE_BACKENDS",
    "FEATURE_NAMES",
    "JET_ABS_ETA_MAX",
    "SOFTDROP_BETA",
    "SOFTDROP_ZCUT",
    "jet_features",
    "leading_jets",
]

#: The 16 features, in the order of the hls4ml tutorial / LHC jet data-set (OpenML 42468).
FEATURE_NAMES: tuple[str, ...] = (
    "j_zlogz",
    "j_c1_b0_mmdt",
    "j_c1_b1_mmdt",
    "j_c1_b2_mmdt",
    "j_c2_b1_mmdt",
    "j_c2_b2_mmdt",
    "j_d2_b1_mmdt",
    "j_d2_b2_mmdt",
    "j_d2_a1_b1_mmdt",
    "j_d2_a1_b2_mmdt",
    "j_m2_b1_mmdt",
    "j_m2_b2_mmdt",
    "j_n2_b1_mmdt",
    "j_n2_b2_mmdt",
    "j_mass_mmdt",
    "j_multiplicity",
)

#: Leading jets must have |eta| below this (tracker acceptance).
JET_ABS_ETA_MAX = 2.5
SOFTDROP_BETA = 0.0
SOFTDROP_ZCUT = 0.1
#: Radius for re-clustering the whole jet into one C/A tree (larger than any jet).
_RECLUSTER_R = 10.0

#: ``exclusive_jets_energy_correlator`` keyword sets, by feature name (pT_R measure, default).
_ECF_ARGS: dict[str, dict[str, object]] = {
    "j_c1_b0_mmdt": {"func": "doubleratio", "npoint": 1, "beta": 0.0},
    "j_c1_b1_mmdt": {"func": "doubleratio", "npoint": 1, "beta": 1.0},
    "j_c1_b2_mmdt": {"func": "doubleratio", "npoint": 1, "beta": 2.0},
    "j_c2_b1_mmdt": {"func": "doubleratio", "npoint": 2, "beta": 1.0},
    "j_c2_b2_mmdt": {"func": "doubleratio", "npoint": 2, "beta": 2.0},
    "j_d2_b1_mmdt": {"func": "d2", "beta": 1.0},
    "j_d2_b2_mmdt": {"func": "d2", "beta": 2.0},
    "j_d2_a1_b1_mmdt": {"func": "generalizedd2", "alpha": 1.0, "beta": 1.0},
    "j_d2_a1_b2_mmdt": {"func": "generalizedd2", "alpha": 1.0, "beta": 2.0},
    "j_m2_b1_mmdt": {"func": "mseries", "npoint": 2, "beta": 1.0},
    "j_m2_b2_mmdt": {"func": "mseries", "npoint": 2, "beta": 2.0},
    "j_n2_b1_mmdt": {"func": "nseries", "npoint": 2, "beta": 1.0},
    "j_n2_b2_mmdt": {"func": "nseries", "npoint": 2, "beta": 2.0},
}


def _np(x: ak.Array) -> np.ndarray:
    return np.asarray(ak.to_numpy(ak.fill_none(x, np.nan)), dtype=np.float64)


def _kinematics(px, py, pz, e):  # numpy or awkward arrays alike
    pt = np.hypot(px, py)
    eta = np.arcsinh(pz / np.maximum(pt, 1e-12))
    phi = np.arctan2(py, px)
    mass = np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0.0))
    return pt, eta, phi, mass


def _records(x: ak.Array) -> ak.Array:
    """A plain, packed events x particles {px, py, pz, E} array (one flat level for FastJet)."""
    return ak.to_packed(ak.zip({k: x[k] for k in ("px", "py", "pz", "E")}))


def leading_jets(
    particles: ak.Array,
    hard: ak.Array,
    jet_r: float,
    pt_range: tuple[float, float],
    match_dr: float | None,
    decay: ak.Array | None = None,
) -> dict[str, np.ndarray | ak.Array]:
    """Cluster anti-kT, take each event's leading jet and apply the selection.

    ``decay`` (events x decay quarks with their resonance, ``pythia_jets.decay_quarks``) also
    requires every quark of the resonance nearest the jet within ``jet_r`` of the jet axis.
    Returns the selected jets' ``pt``, ``eta``, ``phi``, ``mass`` (numpy) and ``constituents``
    (awkward, jets x particles) plus ``mask`` (events,) telling which events were kept and
    ``n_not_contained`` (jets that passed everything but that requirement).
    """
    import fastjet

    n = len(particles)
    cs = fastjet.ClusterSequence(
        _records(particles), fastjet.JetDefinition(fastjet.antikt_algorithm, jet_r)
    )
    jets = cs.inclusive_jets(min_pt=pt_range[0])
    cons = cs.constituents(min_pt=pt_range[0])
    jpt = np.hypot(jets.px, jets.py)
    idx = ak.argmax(jpt, axis=1, keepdims=True)
    lead = ak.firsts(jets[idx])
    lead_cons = ak.firsts(cons[idx])
    pt, eta, phi, mass = _kinematics(_np(lead.px), _np(lead.py), _np(lead.pz), _np(lead.E))
    with np.errstate(invalid="ignore"):
        mask = (pt >= pt_range[0]) & (pt <= pt_range[1]) & (np.abs(eta) < JET_ABS_ETA_MAX)
    if match_dr is not None:
        _, heta, hphi, _ = _kinematics(hard.px, hard.py, hard.pz, hard.E)
        min_dr = _np(ak.min(_delta_r(heta, hphi, eta, phi), axis=1))
        with np.errstate(invalid="ignore"):
            mask &= min_dr < match_dr
    mask &= np.isfinite(pt)
    n_not_contained = 0
    if decay is not None:
        inside = _contained(decay, eta, phi, jet_r)
        n_not_contained = int((mask & ~inside).sum())
        mask &= inside
    assert mask.shape == (n,)
    return {
        "n_not_contained": n_not_contained,
        "mask": mask,
        "pt": pt[mask],
        "eta": eta[mask],
        "phi": phi[mask],
        "mass": mass[mask],
        "constituents": _records(ak.drop_none(lead_cons[mask], axis=0)),
    }


def _delta_r(eta: ak.Array, phi: ak.Array, jet_eta: np.ndarray, jet_phi: np.ndarray) -> ak.Array:
    """dR of each event's list of directions to the event's jet axis (awkward broadcasts the
    per-event jet value over each event's list)."""
    dphi = (phi - ak.Array(jet_phi) + np.pi) % (2 * np.pi) - np.pi
    return np.sqrt((eta - ak.Array(jet_eta)) ** 2 + dphi**2)


def _contained(decay: ak.Array, eta: np.ndarray, phi: np.ndarray, jet_r: float) -> np.ndarray:
    """Per event: every decay quark of the resonance nearest the jet lies within ``jet_r`` of
    the jet axis (and it has at least two)."""
    _, qeta, qphi, _ = _kinematics(decay.px, decay.py, decay.pz, decay.E)
    _, reta, rphi, _ = _kinematics(decay.rpx, decay.rpy, decay.rpz, decay.rE)
    rdr = _delta_r(reta, rphi, eta, phi)
    own = rdr <= ak.fill_none(ak.min(rdr, axis=1), np.inf)
    qdr = _delta_r(qeta, qphi, eta, phi)
    inside = ak.all(qdr[own] < jet_r, axis=1) & (ak.sum(own, axis=1) >= 2)
    return np.asarray(ak.to_numpy(inside), dtype=bool)


#: Feature backends: ``numba`` (:mod:`samples.substructure`, one compiled pass per jet, the
#: default) and ``fastjet`` (fjcontrib's SoftDrop and EnergyCorrelator, the reference).
FEATURE_BACKENDS: tuple[str, ...] = ("numba", "fastjet")


def jet_features(constituents: ak.Array, jet_r: float, backend: str = "numba") -> np.ndarray:
    """The 16 features (``FEATURE_NAMES`` order) of jets given as jets x constituents."""
    if backend not in FEATURE_BACKENDS:
        raise ValueError(f"unknown feature backend {backend!r}: choose from {FEATURE_BACKENDS}")
    n = len(constituents)
    out = np.full((n, len(FEATURE_NAMES)), np.nan, dtype=np.float64)
    if n == 0:
        return out
    col = {name: i for i, name in enumerate(FEATURE_NAMES)}

    # Ungroomed: multiplicity and zlogz with z = E_i / E_jet.
    energy = constituents.E
    z = energy / ak.sum(energy, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[:, col["j_zlogz"]] = _np(ak.sum(z * np.log(z), axis=1))
    out[:, col["j_multiplicity"]] = ak.to_numpy(ak.num(constituents, axis=1))
    groomed = _groomed_numba if backend == "numba" else _groomed_fastjet
    for name, values in groomed(constituents, jet_r).items():
        out[:, col[name]] = values
    return out


def _groomed_fastjet(constituents: ak.Array, jet_r: float) -> dict[str, np.ndarray]:
    """mMDT mass and correlator ratios with fjcontrib (SoftDrop, EnergyCorrelator)."""
    import fastjet

    ca = fastjet.JetDefinition(fastjet.cambridge_algorithm, _RECLUSTER_R)
    sd = fastjet.ClusterSequence(constituents, ca).exclusive_jets_softdrop_grooming(
        njets=1, beta=SOFTDROP_BETA, symmetry_cut=SOFTDROP_ZCUT, R0=jet_r
    )
    out = {"j_mass_mmdt": _np(sd.msoftdrop)}
    groomed = fastjet.ClusterSequence(_records(sd.constituents), ca)
    for name, kwargs in _ECF_ARGS.items():
        out[name] = _np(groomed.exclusive_jets_energy_correlator(njets=1, **kwargs))
    return out


def _groomed_numba(constituents: ak.Array, jet_r: float) -> dict[str, np.ndarray]:
    """The same observables from :func:`samples.substructure.groomed_sums` (beta = 0, so the
    soft-drop condition does not depend on ``jet_r``)."""
    from nanotrig.samples.substructure import SUM_NAMES, groomed_sums

    del jet_r  # mMDT (beta = 0): z > z_cut whatever the opening angle
    flat = {k: _np(ak.flatten(constituents[k], axis=1)) for k in ("px", "py", "pz", "E")}
    offsets = np.concatenate([[0], np.cumsum(ak.to_numpy(ak.num(constituents, axis=1)))])
    sums = groomed_sums(flat["px"], flat["py"], flat["pz"], flat["E"], offsets, SOFTDROP_ZCUT)
    s = {name: sums[:, i] for i, name in enumerate(SUM_NAMES)}
    s1 = s["s1"]
    out = {"j_mass_mmdt": s["mass"]}
    with np.errstate(divide="ignore", invalid="ignore"):
        for b in (0, 1, 2):  # C1 = ECF(2)/ECF(1)^2
            out[f"j_c1_b{b}_mmdt"] = s[f"e2_b{b}"] / s1**2
        for b in (1, 2):
            e2, e3 = s[f"e2_b{b}"], s[f"e3_b{b}"]
            out[f"j_c2_b{b}_mmdt"] = e3 * s1 / e2**2  # ECF(3) ECF(1) / ECF(2)^2
            out[f"j_d2_b{b}_mmdt"] = e3 * s1**3 / e2**3  # ECF(3) ECF(1)^3 / ECF(2)^3
            # normalized generalized correlators e_N^(v) = sum / ECF(1)^N
            e2n = e2 / s1**2
            out[f"j_d2_a1_b{b}_mmdt"] = (s["e3_b1"] / s1**3) / e2n ** (3.0 / b)
            out[f"j_m2_b{b}_mmdt"] = (s[f"g1_b{b}"] / s1**3) / e2n
            out[f"j_n2_b{b}_mmdt"] = (s[f"g2_b{b}"] / s1**3) / e2n**2
    return out
