"""Checks of a converted GarNet layer: C-simulation vs :class:`GarnetEmulator` bit for bit, and
the emulator vs the Keras layer within a stated tolerance (README: "GarNet: what is exact and
what is not").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = [
    "KERAS_REL_MEAN_TOL",
    "KERAS_REL_TOL",
    "SATURATED_MAX_FRACTION",
    "compare_csim_emulator",
    "emulator_vs_keras",
    "garnet_edge_inputs",
]

#: Max |emulator - Keras| on the GarNet outputs relative to the largest |output|, on jets whose
#: distance sum never saturates (the 12-bit distance indexing the exp table dominates: 1-4 %).
KERAS_REL_TOL = 0.05
#: Mean |emulator - Keras| relative to the largest |output| (measured below 0.5 %).
KERAS_REL_MEAN_TOL = 0.01
#: Jets whose saturating firmware distance changes an edge weight: allowed share.
SATURATED_MAX_FRACTION = 0.01


def garnet_edge_inputs(
    x_real: np.ndarray, rng: np.random.Generator, n_random: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """Vertex counts 0, 1, N and every count between (one real jet), zeros, the input type's
    extremes and one LSB, +-1000 and random values beyond the range (they saturate)."""
    n_v, n_f = x_real.shape[1:]
    top, low, lsb = 32.0 - 2.0**-10, -32.0, 2.0**-10  # ap_fixed<16,6> extremes
    xs, ns = [], []
    for value in (0.0, top, low, lsb, -lsb, 1000.0, -1000.0):
        for count in (0, 1, n_v):
            xs.append(np.full((n_v, n_f), value))
            ns.append(count)
    for count in range(n_v + 1):
        xs.append(x_real[0])
        ns.append(count)
    alternating = np.where(np.indices((n_v, n_f)).sum(axis=0) % 2 == 0, top, low)
    xs += [alternating, -alternating]
    ns += [n_v, n_v]
    xs += list(rng.uniform(-40.0, 40.0, size=(n_random, n_v, n_f)))
    ns += list(rng.integers(0, n_v + 1, size=n_random))
    return np.stack(xs), np.asarray(ns, dtype=np.float64).reshape(-1, 1)


def compare_csim_emulator(
    hls_model, emulator, x: np.ndarray, n: np.ndarray, mismatch_path: Path | None = None
) -> dict:
    """C-sim vs emulator on every output value; mismatching events go to ``mismatch_path``."""
    from nanotrig.hls.garnet_convert import validate_garnet_inputs

    x, n = validate_garnet_inputs(x, n, x.shape[1], x.shape[2])
    csim = np.asarray(hls_model.predict([x, n]), dtype=np.float64).reshape(len(x), -1)
    emu = emulator.predict(x, n)
    bad = np.flatnonzero((csim != emu).any(axis=1))
    record = {
        "n_events": len(x),
        "n_values": int(csim.size),
        "n_mismatch": int(bad.size),
        "max_abs_diff": float(np.abs(csim - emu).max()) if len(x) else 0.0,
        "ok": bool(bad.size == 0),
    }
    if bad.size and mismatch_path is not None:
        np.savez(mismatch_path, x=x[bad], n=n[bad], csim=csim[bad], emulator=emu[bad])
        record["mismatches"] = str(mismatch_path)
    return record


def emulator_vs_keras(emulator, keras_garnet, x: np.ndarray, n: np.ndarray) -> dict:
    """|emulator - Keras GarNet layer| on real jets, saturated-distance jets counted apart."""
    from nanotrig.hls.garnet_emulator import distance_saturated_events

    emu = emulator.predict(x, n)
    ref = keras_garnet.predict([x, n], batch_size=1024, verbose=0)
    diff = np.abs(emu - ref)
    sat = distance_saturated_events(keras_garnet.get_layer("garnet"), x, n)
    scale = float(np.abs(ref).max())
    rest = diff[~sat]
    max_rel = float(rest.max() / scale) if rest.size and scale else 0.0
    mean_rel = float(rest.mean() / scale) if rest.size and scale else 0.0
    return {
        "n_events": len(x),
        "max_abs_output": scale,
        "max_abs_diff": float(rest.max()) if rest.size else 0.0,
        "mean_abs_diff": float(rest.mean()) if rest.size else 0.0,
        "max_rel_diff": max_rel,
        "mean_rel_diff": mean_rel,
        "saturated_events": int(sat.sum()),
        "saturated_max_abs_diff": float(diff[sat].max()) if sat.any() else 0.0,
        "tolerance": {
            "max_rel": KERAS_REL_TOL,
            "mean_rel": KERAS_REL_MEAN_TOL,
            "saturated_fraction": SATURATED_MAX_FRACTION,
        },
        "ok": bool(
            max_rel <= KERAS_REL_TOL
            and mean_rel <= KERAS_REL_MEAN_TOL
            and sat.mean() <= SATURATED_MAX_FRACTION
        ),
    }
