"""Parametric L1 detector emulation: Pythia final state -> MET, e/gamma, muons, jets -> 57 features.

Objects (PHYSICS.md, "L1 events"; smearing terms added in quadrature, angles not smeared):

* e/gamma: final-state electrons with relative isolation (other visible particles with pT > 0.5
  GeV within dR < 0.3, over the electron pT) below 0.15; sigma_E/E = 3%/sqrt(E) + 0.5%;
  kept with pT > 3 GeV, |eta| < 3.
* muons: all final-state muons (L1 muons come from the muon system and are not isolated);
  sigma_pT/pT = 1% + 1e-4 pT; kept with pT > 3 GeV, |eta| < 2.1.
* jets: anti-kT R=0.4 on the visible particles with |eta| < 5 other than muons and the isolated
  electrons; sigma_E/E = 100%/sqrt(E) + 5%; kept with pT > 15 GeV, |eta| < 4.
* MET: minus the vector sum of the smeared objects and of the soft term (the clustered-jet
  input not in kept jets), plus Gaussian noise of 0.5 sqrt(sum ET) GeV per component; eta = 0.

No pile-up is simulated. An event passes the trigger if its leading e/gamma or muon has
pT > ``lepton_trigger_gev``. Within each class objects are pT-ordered and zero-padded.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

__all__ = ["FEATURE_NAMES_L1", "N_OBJECTS", "emulate"]

#: Objects per class, in feature order.
N_OBJECTS: dict[str, int] = {"met": 1, "e": 4, "mu": 4, "jet": 10}
#: The 57 features: MET, e x4, mu x4, jets x10, each (pt, eta, phi).
FEATURE_NAMES_L1: tuple[str, ...] = tuple(
    f"{obj}{i if n > 1 else ''}_{q}"
    for obj, n in N_OBJECTS.items()
    for i in range(n)
    for q in ("pt", "eta", "phi")
)
_NEUTRINOS = (12, 14, 16)
_ISO_DR, _ISO_MAX, _ISO_MIN_PT = 0.3, 0.15, 0.5
_CUTS = {"e": (3.0, 3.0), "mu": (3.0, 2.1), "jet": (15.0, 4.0)}
_CALO_ETA = 5.0


def _kin(px, py, pz):
    pt = np.hypot(px, py)
    eta = np.arcsinh(pz / np.maximum(pt, 1e-12))
    return pt, eta, np.arctan2(py, px)


def _gauss(rng: np.random.Generator, like: ak.Array) -> ak.Array:
    """Standard normal numbers with the jagged structure of ``like`` (drawn in flat order)."""
    counts = ak.to_numpy(ak.num(like, axis=1))
    return ak.unflatten(rng.standard_normal(int(counts.sum())), counts)


def _isolation(obj: ak.Array, parts: ak.Array) -> ak.Array:
    """Relative isolation of each ``obj`` against ``parts`` (objects are among ``parts``)."""
    pairs = ak.cartesian([obj, parts], nested=True)
    o, p = ak.unzip(pairs)
    dphi = (p.phi - o.phi + np.pi) % (2 * np.pi) - np.pi
    dr2 = (p.eta - o.eta) ** 2 + dphi**2
    near = (dr2 < _ISO_DR**2) & (p.pt > _ISO_MIN_PT)
    return (ak.sum(p.pt * near, axis=2) - obj.pt) / obj.pt


def _flag(like: ak.Array, local: ak.Array) -> ak.Array:
    """Boolean array shaped like ``like``, True at the per-event indices ``local``."""
    counts = ak.to_numpy(ak.num(like, axis=1))
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    flat = np.zeros(int(counts.sum()), dtype=bool)
    idx = ak.to_numpy(ak.flatten(local + ak.Array(offsets)))
    flat[idx] = True
    return ak.unflatten(flat, counts)


def _padded(pt: ak.Array, eta: ak.Array, phi: ak.Array, n: int) -> np.ndarray:
    order = ak.argsort(pt, axis=1, ascending=False, stable=True)
    out = np.zeros((len(pt), n, 3), dtype=np.float64)
    for k, col in enumerate((pt, eta, phi)):
        out[:, :, k] = ak.to_numpy(ak.fill_none(ak.pad_none(col[order], n, clip=True), 0.0))
    return out


def _select(objs: ak.Array, scale: ak.Array, kind: str) -> ak.Array:
    pt = objs.pt * scale
    min_pt, max_eta = _CUTS[kind]
    keep = (pt > min_pt) & (abs(objs.eta) < max_eta)
    return ak.with_field(objs, pt, "pt")[keep], keep


def emulate(prt: ak.Array, rng: np.random.Generator, lepton_trigger_gev: float) -> dict:
    """Emulate one batch of Pythia events (``events.prt``); returns ``features`` (N, 57),
    ``lepton_charges`` (N, 8: e x4 then mu x4, 0 for padding) and ``passed`` (N,) bool."""
    import fastjet

    aid = abs(prt.id)
    vis = prt[(prt.status > 0) & (aid != _NEUTRINOS[0]) & (aid != _NEUTRINOS[1])]
    vis = vis[abs(vis.id) != _NEUTRINOS[2]]
    pt, eta, phi = _kin(vis.p.px, vis.p.py, vis.p.pz)
    parts = ak.zip(
        {"pt": pt, "eta": eta, "phi": phi, "px": vis.p.px, "py": vis.p.py, "pz": vis.p.pz,
         "E": vis.p.e, "charge": -np.sign(vis.id), "aid": abs(vis.id)}
    )  # fmt: skip
    is_e, is_mu = parts.aid == 11, parts.aid == 13
    ele = parts[is_e]
    iso_e = _isolation(ele, parts) < _ISO_MAX
    ele = ele[iso_e]
    e_res = np.sqrt((0.03 / np.sqrt(np.maximum(ele.E, 1e-3))) ** 2 + 0.005**2)
    ele, _ = _select(ele, 1 + e_res * _gauss(rng, ele), "e")
    mu = parts[is_mu]
    mu_res = np.sqrt(0.01**2 + (1e-4 * mu.pt) ** 2)
    mu, _ = _select(mu, 1 + mu_res * _gauss(rng, mu), "mu")

    # jet input: calorimeter particles other than muons and isolated electrons
    calo = parts[
        ~is_mu
        & ~_flag(parts.pt, ak.local_index(parts.pt)[is_e][iso_e])
        & (abs(parts.eta) < _CALO_ETA)
    ]
    records = ak.to_packed(ak.zip({k: calo[k] for k in ("px", "py", "pz", "E")}))
    cs = fastjet.ClusterSequence(records, fastjet.JetDefinition(fastjet.antikt_algorithm, 0.4))
    raw = cs.inclusive_jets(min_pt=5.0)
    jpt, jeta, jphi = _kin(raw.px, raw.py, raw.pz)
    jets = ak.zip({"pt": jpt, "eta": jeta, "phi": jphi, "E": raw.E})
    j_res = np.sqrt(1.0 / np.maximum(jets.E, 1e-3) + 0.05**2)
    jets_sel, j_keep = _select(jets, np.maximum(1 + j_res * _gauss(rng, jets), 0.0), "jet")

    # MET: objects + soft term (jet input outside kept jets) + resolution noise
    def _sum(o, f):
        return ak.to_numpy(ak.sum(o.pt * f(o.phi), axis=1))

    soft_x = ak.to_numpy(ak.sum(calo.px, axis=1)) - ak.to_numpy(ak.sum(raw.px[j_keep], axis=1))
    soft_y = ak.to_numpy(ak.sum(calo.py, axis=1)) - ak.to_numpy(ak.sum(raw.py[j_keep], axis=1))
    sum_et = ak.to_numpy(ak.sum(parts.pt[abs(parts.eta) < _CALO_ETA], axis=1))
    noise = rng.standard_normal((len(prt), 2)) * 0.5 * np.sqrt(sum_et)[:, None]
    met_x = -(_sum(ele, np.cos) + _sum(mu, np.cos) + _sum(jets_sel, np.cos) + soft_x) + noise[:, 0]
    met_y = -(_sum(ele, np.sin) + _sum(mu, np.sin) + _sum(jets_sel, np.sin) + soft_y) + noise[:, 1]

    n = len(prt)
    met = np.stack([np.hypot(met_x, met_y), np.zeros(n), np.arctan2(met_y, met_x)], axis=1)
    blocks = [
        met[:, None, :],
        _padded(ele.pt, ele.eta, ele.phi, N_OBJECTS["e"]),
        _padded(mu.pt, mu.eta, mu.phi, N_OBJECTS["mu"]),
        _padded(jets_sel.pt, jets_sel.eta, jets_sel.phi, N_OBJECTS["jet"]),
    ]
    features = np.concatenate(blocks, axis=1).reshape(n, -1)
    charges = np.concatenate(
        [
            _padded(o.pt, o.charge, o.phi, N_OBJECTS[k])[:, :, 1]
            for o, k in ((ele, "e"), (mu, "mu"))
        ],
        axis=1,
    )
    lead = np.maximum(features[:, 3], features[:, 15])  # leading e pT, leading mu pT
    return {
        "features": features.astype(np.float32),
        "lepton_charges": charges.astype(np.int8),
        "passed": lead > lepton_trigger_gev,
    }
