"""Groomed-jet substructure in one compiled pass per jet: C/A clustering, mMDT grooming and the
energy correlation functions behind the hls4ml jet features.

FastJet + fjcontrib define these observables, and ``samples.jet_features`` keeps them as the
reference (``backend="fastjet"``). fjcontrib's Python interface runs soft drop and each of the
thirteen correlator ratios as a separate pass over the jets (two C/A clusterings, every
3-point sum recomputed per ratio), which costs as much CPU as Pythia itself. Here one numba
kernel per jet does

* the C/A clustering of the constituents (E-scheme, FastJet's rapidity/azimuth and distance
  formulae, nearest-neighbour bookkeeping as in FastJet's N2Plain strategy);
* mMDT / soft drop with beta = 0 (scalar z = min(pT1, pT2)/(pT1 + pT2) > z_cut, follow the
  harder branch), as fjcontrib's ``RecursiveSymmetryCutBase``;
* every 2- and 3-point correlator sum the features need, in one O(n^3) loop over triplets of
  groomed constituents (pT_R measure: p_T and rapidity-azimuth angles).

``tests/samples/test_substructure.py`` checks every feature against fjcontrib jet by jet.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["SUM_NAMES", "groomed_sums", "load_kernels"]

#: Columns of :func:`groomed_sums`'s output. ``s1`` = sum pT of the groomed constituents;
#: ``e2_bB`` = sum_{i<j} pT_i pT_j theta_ij^B; ``e3_bB`` = sum_{i<j<k} pT_i pT_j pT_k
#: (theta_ij theta_ik theta_jk)^B; ``g1_bB`` / ``g2_bB`` = the same triplet sums with only the
#: smallest angle / the two smallest angles (the generalized correlators' v = 1, 2).
SUM_NAMES: tuple[str, ...] = (
    "mass",
    "n",
    "s1",
    "e2_b0",
    "e2_b1",
    "e2_b2",
    "e3_b1",
    "e3_b2",
    "g1_b1",
    "g1_b2",
    "g2_b1",
    "g2_b2",
)

_TWOPI = 2.0 * math.pi
_MAX_RAP = 1e5  # FastJet's MaxRap


@njit(cache=True)
def _rap_phi(px: float, py: float, pz: float, e: float) -> tuple[float, float]:
    """FastJet's ``PseudoJet::_set_rap_phi``."""
    kt2 = px * px + py * py
    phi = 0.0 if kt2 == 0.0 else math.atan2(py, px)
    if phi < 0.0:
        phi += _TWOPI
    if phi >= _TWOPI:
        phi -= _TWOPI
    if e == abs(pz) and kt2 == 0.0:
        rap = _MAX_RAP + abs(pz)
        if pz < 0.0:
            rap = -rap
    else:
        m2 = max(0.0, (e + pz) * (e - pz) - kt2)
        epz = e + abs(pz)
        rap = 0.5 * math.log((kt2 + m2) / (epz * epz))
        if pz > 0.0:
            rap = -rap
    return rap, phi


@njit(cache=True)
def _dist2(rap: np.ndarray, phi: np.ndarray, a: int, b: int) -> float:
    """FastJet's ``plain_distance``: Delta y^2 + Delta phi^2."""
    dphi = abs(phi[a] - phi[b])
    if dphi > math.pi:
        dphi = _TWOPI - dphi
    drap = rap[a] - rap[b]
    return dphi * dphi + drap * drap


@njit(cache=True)
def _nearest(rap, phi, active, n_nodes, a):
    best, arg = np.inf, -1
    for b in range(n_nodes):
        if b != a and active[b]:
            d = _dist2(rap, phi, a, b)
            if d < best:
                best, arg = d, b
    return best, arg


@njit(cache=True)
def _mmdt_leaves(px, py, pz, e, z_cut, leaves):
    """C/A-cluster one jet's n constituents, decluster with mMDT; write the groomed leaves'
    indices into ``leaves`` and return (their count, the groomed mass)."""
    n = len(px)
    size = 2 * n - 1
    qx, qy, qz, qe = np.empty(size), np.empty(size), np.empty(size), np.empty(size)
    rap, phi = np.empty(size), np.empty(size)
    parent1 = np.full(size, -1, dtype=np.int64)
    parent2 = np.full(size, -1, dtype=np.int64)
    active = np.zeros(size, dtype=np.bool_)
    nn_dist, nn = np.full(size, np.inf), np.full(size, -1, dtype=np.int64)
    for i in range(n):
        qx[i], qy[i], qz[i], qe[i] = px[i], py[i], pz[i], e[i]
        rap[i], phi[i] = _rap_phi(px[i], py[i], pz[i], e[i])
        active[i] = True
    for i in range(n):
        nn_dist[i], nn[i] = _nearest(rap, phi, active, n, i)
    top = n - 1
    for k in range(n, size):  # n - 1 pairwise recombinations (R = infinity: no beam merging)
        a, best = -1, np.inf
        for i in range(k):
            if active[i] and nn_dist[i] < best:
                best, a = nn_dist[i], i
        b = nn[a]
        active[a] = active[b] = False
        qx[k], qy[k], qz[k], qe[k] = qx[a] + qx[b], qy[a] + qy[b], qz[a] + qz[b], qe[a] + qe[b]
        rap[k], phi[k] = _rap_phi(qx[k], qy[k], qz[k], qe[k])
        parent1[k], parent2[k] = a, b
        active[k] = True
        for i in range(k):
            if not active[i]:
                continue
            if nn[i] == a or nn[i] == b:
                nn_dist[i], nn[i] = _nearest(rap, phi, active, k + 1, i)
            else:
                d = _dist2(rap, phi, i, k)
                if d < nn_dist[i]:
                    nn_dist[i], nn[i] = d, k
        nn_dist[k], nn[k] = _nearest(rap, phi, active, k + 1, k)
        top = k
    # mMDT: walk down the harder branch until min(pT1, pT2)/(pT1 + pT2) > z_cut.
    node = top
    while parent1[node] >= 0:
        a, b = parent1[node], parent2[node]
        pt_a, pt_b = math.sqrt(qx[a] ** 2 + qy[a] ** 2), math.sqrt(qx[b] ** 2 + qy[b] ** 2)
        if pt_a + pt_b == 0.0:
            break
        if min(pt_a, pt_b) / (pt_a + pt_b) > z_cut:
            break
        node = a if pt_a * pt_a > pt_b * pt_b else b
    m2 = (qe[node] + qz[node]) * (qe[node] - qz[node]) - (qx[node] ** 2 + qy[node] ** 2)
    mass = math.sqrt(m2) if m2 >= 0.0 else -math.sqrt(-m2)
    # Leaves under the groomed node (depth-first with an explicit stack).
    stack = np.empty(size, dtype=np.int64)
    stack[0], depth, count = node, 1, 0
    while depth > 0:
        depth -= 1
        cur = stack[depth]
        if parent1[cur] < 0:
            leaves[count] = cur
            count += 1
        else:
            stack[depth], stack[depth + 1] = parent1[cur], parent2[cur]
            depth += 2
    return count, mass


@njit(cache=True)
def _correlators(px, py, pz, e, idx, count, out):
    """The pT_R correlator sums of the constituents ``idx[:count]`` into ``out[2:]``."""
    pt, rap, phi = np.empty(count), np.empty(count), np.empty(count)
    for m in range(count):
        i = idx[m]
        pt[m] = math.sqrt(px[i] * px[i] + py[i] * py[i])
        rap[m], phi[m] = _rap_phi(px[i], py[i], pz[i], e[i])
    theta = np.empty((count, count))  # theta_ij = sqrt(Delta y^2 + Delta phi^2)
    for i in range(count):
        theta[i, i] = 0.0
        for j in range(i + 1, count):
            theta[i, j] = theta[j, i] = math.sqrt(_dist2(rap, phi, i, j))
    s1 = e2_0 = e2_1 = e2_2 = 0.0
    e3_1 = e3_2 = g1_1 = g1_2 = g2_1 = g2_2 = 0.0
    for i in range(count):
        s1 += pt[i]
        for j in range(i + 1, count):
            wij = pt[i] * pt[j]
            tij = theta[i, j]
            e2_0 += wij
            e2_1 += wij * tij
            e2_2 += wij * tij * tij
            for k in range(j + 1, count):
                w = wij * pt[k]
                a, b, c = tij, theta[i, k], theta[j, k]
                lo, hi = min(a, b), max(a, b)  # sort the three angles: lo <= mid <= hi
                mid = min(hi, c)
                lo, mid = min(lo, mid), max(lo, mid)
                prod = a * b * c
                two = lo * mid
                e3_1 += w * prod
                e3_2 += w * prod * prod
                g1_1 += w * lo
                g1_2 += w * lo * lo
                g2_1 += w * two
                g2_2 += w * two * two
    out[2], out[3], out[4], out[5] = s1, e2_0, e2_1, e2_2
    out[6], out[7], out[8], out[9], out[10], out[11] = e3_1, e3_2, g1_1, g1_2, g2_1, g2_2


@njit(cache=True)
def _all_jets(px, py, pz, e, offsets, z_cut, out):
    leaves = np.empty(max(1, np.max(np.diff(offsets))), dtype=np.int64)
    for j in range(len(offsets) - 1):
        lo, hi = offsets[j], offsets[j + 1]
        if hi == lo:
            out[j, :] = np.nan
            out[j, 1] = 0.0
            continue
        count, mass = _mmdt_leaves(px[lo:hi], py[lo:hi], pz[lo:hi], e[lo:hi], z_cut, leaves)
        out[j, 0], out[j, 1] = mass, count
        _correlators(px[lo:hi], py[lo:hi], pz[lo:hi], e[lo:hi], leaves, count, out[j])


def groomed_sums(
    px: np.ndarray,
    py: np.ndarray,
    pz: np.ndarray,
    e: np.ndarray,
    offsets: np.ndarray,
    z_cut: float,
) -> np.ndarray:
    """Per jet (constituents ``offsets[j]:offsets[j+1]`` of the flat four-momentum arrays): the
    mMDT-groomed mass, groomed multiplicity and correlator sums, columns :data:`SUM_NAMES`."""
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    n_jets = len(offsets) - 1
    out = np.zeros((max(n_jets, 0), len(SUM_NAMES)))
    if n_jets > 0:
        arrays = [np.ascontiguousarray(x, dtype=np.float64) for x in (px, py, pz, e)]
        _all_jets(*arrays, offsets, float(z_cut), out)
    return out


def load_kernels() -> None:
    """Compile the kernels (or load them from numba's on-disk cache: about 6 s the first time
    on a machine, 1 s after); forked workers then inherit them."""
    one = np.array([1.0])
    groomed_sums(one, one, one, 2 * one, np.array([0, 1]), 0.1)
