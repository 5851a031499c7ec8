"""Simulated DQM occupancy maps with labelled faults (recipe: PHYSICS.md, "DQM occupancy maps").

Detector: an eta x phi grid of ``shape`` cells over |eta| < ``eta_max``. Expected counts of cell
c in lumisection l of run r: ``mu = L_r(l) * rho(eta_c) * g_c * mean_occupancy`` with

* ``rho(eta) = (1 + (eta / eta_max)^2) / mean`` (occupancy rising towards the forward region,
  normalised to a grid mean of 1) and a 10% dip on the phi boundaries of 4-cell readout blocks;
* ``g_c`` lognormal gains (sigma ``gain_spread``, mean 1), one draw for the whole sample (one
  detector);
* ``L_r(l) = L0_r * exp(-l / lumi_lifetime_ls)``, ``L0_r`` uniform in [0.6, 1] per run;

counts are Poisson. A share ``fault_fraction`` of runs gets one fault, present from a random
lumisection (in the first half of the run) to its end:

* ``dead_channel``: one cell, mu -> 0;  ``dead_region``: a 4x4 readout block, mu -> 0;
* ``hot_channel``: one cell, mu x U(5, 50);
* ``noisy_region``: a 3-6 x 3-6 block gets extra over-dispersed counts
  Poisson(mu * Gamma(shape 0.5, mean U(1, 3)));
* ``hv_sag``: one half (eta < 0 or eta > 0) of a phi sector 1/8-1/4 of the ring wide,
  mu x U(0.2, 0.7).

Each map is labelled with its fault type (0 = none) and a per-cell mask of the affected cells.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from nanotrig.config import DQM_FAULTS, DQMConfig

__all__ = ["FAULT_NAMES", "channel_gains", "density", "simulate_runs"]

#: Label of each fault type: ``fault_type`` indexes this tuple.
FAULT_NAMES: tuple[str, ...] = ("none", *DQM_FAULTS)
_GAIN_KEY = 0x6A17
_BLOCK = 4


def density(cfg: DQMConfig) -> np.ndarray:
    """(n_eta, n_phi) relative occupancy rho, mean 1."""
    n_eta, n_phi = cfg.shape
    eta = (np.arange(n_eta) + 0.5) / n_eta * 2 * cfg.eta_max - cfg.eta_max
    rho = np.repeat((1 + (eta / cfg.eta_max) ** 2)[:, None], n_phi, axis=1)
    edge = (np.arange(n_phi) % _BLOCK == 0) | (np.arange(n_phi) % _BLOCK == _BLOCK - 1)
    rho[:, edge] *= 0.9
    return rho / rho.mean()


def channel_gains(cfg: DQMConfig, seed: int) -> np.ndarray:
    """(n_eta, n_phi) lognormal gains with mean 1: the same for every run of a sample."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, _GAIN_KEY]))
    s = cfg.gain_spread
    return rng.lognormal(-0.5 * s * s, s, size=cfg.shape)


def _block(rng: np.random.Generator, shape: tuple[int, int], h: int, w: int) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    i = int(rng.integers(0, shape[0] - h + 1))
    j = int(rng.integers(0, shape[1] - w + 1))
    mask[i : i + h, j : j + w] = True
    return mask


def _fault(rng: np.random.Generator, name: str, shape: tuple[int, int]):
    """(mask, multiplier map, noise mean) of one fault."""
    n_eta, n_phi = shape
    mult = np.ones(shape)
    noise = 0.0
    if name in ("dead_channel", "hot_channel"):
        mask = _block(rng, shape, 1, 1)
        mult[mask] = 0.0 if name == "dead_channel" else rng.uniform(5, 50)
    elif name == "dead_region":
        mask = np.zeros(shape, dtype=bool)
        i = int(rng.integers(0, n_eta // _BLOCK)) * _BLOCK
        j = int(rng.integers(0, n_phi // _BLOCK)) * _BLOCK
        mask[i : i + _BLOCK, j : j + _BLOCK] = True
        mult[mask] = 0.0
    elif name == "noisy_region":
        mask = _block(rng, shape, int(rng.integers(3, 7)), int(rng.integers(3, 7)))
        noise = rng.uniform(1, 3)
    elif name == "hv_sag":
        width = int(rng.integers(max(n_phi // 8, 1), max(n_phi // 4, 2) + 1))
        start = int(rng.integers(0, n_phi))
        phi = (start + np.arange(width)) % n_phi
        eta = slice(0, n_eta // 2) if rng.random() < 0.5 else slice(n_eta // 2, n_eta)
        mask = np.zeros(shape, dtype=bool)
        mask[eta, phi] = True
        mult[mask] = rng.uniform(0.2, 0.7)
    else:  # pragma: no cover - names are validated by the config
        raise ValueError(name)
    return mask, mult, noise


def simulate_runs(cfg: DQMConfig, seed: int, chunk_seed: int, n_runs: int) -> dict[str, Any]:
    """Simulate ``n_runs`` runs (worker task); rows are maps in run-major order."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(chunk_seed)
    base = cfg.mean_occupancy * density(cfg) * channel_gains(cfg, seed)
    n_ls = cfg.lumisections_per_run
    ls = np.arange(n_ls)
    maps = np.zeros((n_runs, n_ls, *cfg.shape), dtype=np.int32)
    masks = np.zeros((n_runs, n_ls, *cfg.shape), dtype=np.uint8)
    ftype = np.zeros((n_runs, n_ls), dtype=np.int8)
    lumi = np.zeros((n_runs, n_ls))
    for r in range(n_runs):
        lumi[r] = rng.uniform(0.6, 1.0) * np.exp(-ls / cfg.lumi_lifetime_ls)
        mu = lumi[r][:, None, None] * base[None]
        onset = n_ls
        if rng.random() < cfg.fault_fraction:
            name = cfg.faults[int(rng.integers(len(cfg.faults)))]
            mask, mult, noise = _fault(rng, name, cfg.shape)
            onset = int(rng.integers(0, max(n_ls // 2, 1)))
            mu[onset:] *= mult
            if noise:
                shape = (n_ls - onset, int(mask.sum()))
                extra = rng.gamma(0.5, 2 * noise, size=shape) * mu[onset:][:, mask]
                mu[onset:][:, mask] += extra
            masks[r, onset:] = mask
            ftype[r, onset:] = FAULT_NAMES.index(name)
        maps[r] = rng.poisson(mu)
    return {
        "maps": maps.reshape(-1, *cfg.shape),
        "fault_mask": masks.reshape(-1, *cfg.shape),
        "fault_type": ftype.reshape(-1),
        "luminosity": lumi.reshape(-1).astype(np.float32),
        "lumisection": np.tile(ls, n_runs).astype(np.int32),
        "run_in_chunk": np.repeat(np.arange(n_runs), n_ls).astype(np.int32),
        "n_accepted": n_runs * n_ls,
        "n_events": n_runs,
        "seconds": time.perf_counter() - t0,
    }
