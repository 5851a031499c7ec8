"""Low-level jet representations: pT-weighted eta-phi images and padded constituent lists.

Both are centred on the **jet axis**: the direction (eta, phi) of the anti-kT jet's E-scheme
four-momentum (the sum of its constituents), not a pT-weighted centroid. Relative coordinates
are ``eta_rel = eta_i - eta_jet`` and ``phi_rel = phi_i - phi_jet`` wrapped into [-pi, pi).
No rotation or flipping is applied.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

__all__ = ["CONSTITUENT_FEATURES", "constituent_arrays", "jet_images"]

#: Per-constituent features, in this order (pT and E in GeV).
CONSTITUENT_FEATURES: tuple[str, ...] = ("pt", "eta_rel", "phi_rel", "energy", "delta_r")


def _relative(constituents: ak.Array, jet_eta: np.ndarray, jet_phi: np.ndarray):
    px, py, pz = constituents.px, constituents.py, constituents.pz
    pt = np.hypot(px, py)
    eta = np.arcsinh(pz / np.maximum(pt, 1e-12))
    phi = np.arctan2(py, px)
    deta = eta - ak.Array(jet_eta)
    dphi = (phi - ak.Array(jet_phi) + np.pi) % (2 * np.pi) - np.pi
    return pt, deta, dphi


def jet_images(
    constituents: ak.Array,
    jet_pt: np.ndarray,
    jet_eta: np.ndarray,
    jet_phi: np.ndarray,
    size: int,
    extent: float,
) -> np.ndarray:
    """(jets, size, size) float32 images: pixel [i, j] holds the summed constituent pT in
    eta_rel bin i and phi_rel bin j over [-extent, extent), divided by the jet pT. A jet's pixel
    sum is the scalar pT sum inside the grid over the vector jet pT: about 1, slightly above
    for a jet fully inside the grid."""
    n = len(constituents)
    out = np.zeros(n * size * size, dtype=np.float64)
    if n == 0:
        return out.reshape(0, size, size).astype(np.float32)
    pt, deta, dphi = _relative(constituents, jet_eta, jet_phi)
    counts = ak.to_numpy(ak.num(pt, axis=1))
    jet = np.repeat(np.arange(n), counts)
    w = ak.to_numpy(ak.flatten(pt)) / np.repeat(jet_pt, counts)
    scale = size / (2.0 * extent)
    ie = np.floor((ak.to_numpy(ak.flatten(deta)) + extent) * scale).astype(np.int64)
    ip = np.floor((ak.to_numpy(ak.flatten(dphi)) + extent) * scale).astype(np.int64)
    inside = (ie >= 0) & (ie < size) & (ip >= 0) & (ip < size)
    flat = (jet * size + ie) * size + ip
    out += np.bincount(flat[inside], weights=w[inside], minlength=n * size * size)
    return out.reshape(n, size, size).astype(np.float32)


def constituent_arrays(
    constituents: ak.Array, jet_eta: np.ndarray, jet_phi: np.ndarray, n_max: int
) -> tuple[np.ndarray, np.ndarray]:
    """(jets, n_max, 5) float32 pT-ordered constituent features (``CONSTITUENT_FEATURES``),
    zero-padded, and the (jets,) int32 count of filled rows (min(multiplicity, n_max))."""
    n = len(constituents)
    nf = len(CONSTITUENT_FEATURES)
    if n == 0:
        return np.zeros((0, n_max, nf), np.float32), np.zeros(0, np.int32)
    pt, deta, dphi = _relative(constituents, jet_eta, jet_phi)
    order = ak.argsort(pt, axis=1, ascending=False, stable=True)
    cols = (pt, deta, dphi, constituents.E, np.sqrt(deta**2 + dphi**2))
    out = np.zeros((n, n_max, nf), dtype=np.float32)
    for k, col in enumerate(cols):
        padded = ak.fill_none(ak.pad_none(col[order][:, :n_max], n_max, clip=True), 0.0)
        out[:, :, k] = ak.to_numpy(padded)
    n_filled = np.minimum(ak.to_numpy(ak.num(pt, axis=1)), n_max).astype(np.int32)
    return out, n_filled
