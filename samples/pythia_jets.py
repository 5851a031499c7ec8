"""Pythia 8 event generation for the five jet classes (one batch of events per call)."""

from __future__ import annotations

import awkward as ak

from nanotrig.config import JetSampleConfig
from nanotrig.errors import ConfigError, DataError

__all__ = [
    "CLASS_PROCESSES",
    "HARD_PARTON_IDS",
    "PYTHIA_SEED_MAX",
    "SCALAR_MASS_GEV",
    "SCALAR_PROCESSES",
    "EventBatch",
    "decay_quarks",
    "generate_batch",
    "pythia_settings",
]

#: Pythia accepts ``Random:seed`` in 1..900_000_000.
PYTHIA_SEED_MAX = 900_000_000

_W_HADRONIC = ("24:onMode = off", "24:onIfAny = 1 2 3 4 5")

#: Hard-process switches per class (Pythia manual keywords); W, Z and t decay hadronically.
CLASS_PROCESSES: dict[str, tuple[str, ...]] = {
    "g": ("HardQCD:gg2gg = on", "HardQCD:qqbar2gg = on"),
    "q": ("HardQCD:qq2qq = on", "HardQCD:qqbar2qqbarNew = on", "HardQCD:gg2qqbar = on"),
    "W": ("WeakDoubleBoson:ffbar2WW = on", *_W_HADRONIC),
    "Z": (
        "WeakDoubleBoson:ffbar2gmZgmZ = on",
        "WeakZ0:gmZmode = 2",
        "23:onMode = off",
        "23:onIfAny = 1 2 3 4 5",
    ),
    "t": ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on", *_W_HADRONIC),
}

#: ``boson_production: scalar``: W and Z from a heavy CP-even scalar (Pythia's H2, id 35) of this
#: mass, each boson at pT up to about m/2 = 1 TeV. A scalar decays to longitudinal W/Z, whose
#: quark pairs share the momentum evenly (z ~ 6 z (1 - z)); the pair-produced W/Z are mostly
#: transverse (z ~ 3 z^2), and more of their decays fail the grooming's z > 0.1.
SCALAR_MASS_GEV = 2000.0
_SCALAR = (
    "Higgs:useBSM = on",
    "HiggsBSM:gg2H2 = on",
    f"35:m0 = {SCALAR_MASS_GEV:.1f}",
    "35:mWidth = 20.0",
    "35:doForceWidth = on",
    f"35:mMin = {0.75 * SCALAR_MASS_GEV:.1f}",
    f"35:mMax = {1.25 * SCALAR_MASS_GEV:.1f}",
    "35:onMode = off",
)
SCALAR_PROCESSES: dict[str, tuple[str, ...]] = {
    "W": (*_SCALAR, "35:onIfMatch = 24 -24", *_W_HADRONIC),
    "Z": (*_SCALAR, "35:onIfMatch = 23 23", "23:onMode = off", "23:onIfAny = 1 2 3 4 5"),
}

#: PDG id of the hard-process particle a jet of this class is matched to (None: no matching).
HARD_PARTON_IDS: dict[str, int | None] = {"g": None, "q": None, "W": 24, "Z": 23, "t": 6}

_NEUTRINOS = (12, 14, 16)


#: Resonances a hard decay quark is traced back through (a top's quarks include its W's).
_RESONANCES = (6, 23, 24)


class EventBatch:
    """Final-state visible particles, hard-process W/Z/t and their decay quarks of one batch."""

    __slots__ = ("decay", "hard", "n_events", "particles")

    def __init__(
        self, particles: ak.Array, hard: ak.Array, n_events: int, decay: ak.Array | None = None
    ) -> None:
        self.particles = particles  #: events x particles {px, py, pz, E}
        self.hard = hard  #: events x hard partons {px, py, pz, E} (empty lists for g/q)
        self.n_events = n_events
        #: events x decay quarks {px, py, pz, E} with their resonance's {rpx, rpy, rpz, rE}
        self.decay = decay


def pythia_settings(cls: str, cfg: JetSampleConfig, seed: int | None = None) -> list[str]:
    """The Pythia ``readString`` lines for class ``cls``; ``seed`` adds the random-seed lines.
    The pTHat window applies to the 2 -> 2 processes (not to the scalar's 2 -> 1)."""
    if cls not in CLASS_PROCESSES:
        raise ConfigError(f"unknown jet class {cls!r}: choose from {sorted(CLASS_PROCESSES)}")
    lo, hi = cfg.pthat_range_gev
    scalar = cfg.boson_production == "scalar" and cls in SCALAR_PROCESSES
    lines = [
        f"Beams:eCM = {cfg.ecm_gev:.1f}",
        "Print:quiet = on",
        "Next:numberCount = 0",
        *(SCALAR_PROCESSES[cls] if scalar else CLASS_PROCESSES[cls]),
        f"PhaseSpace:pTHatMin = {lo:.3f}",
        f"PhaseSpace:pTHatMax = {hi:.3f}",
    ]
    if seed is not None:
        if not 1 <= seed <= PYTHIA_SEED_MAX:
            raise ConfigError(f"Pythia seed {seed} outside 1..{PYTHIA_SEED_MAX}")
        lines += ["Random:setSeed = on", f"Random:seed = {seed}"]
    return lines


def _four_vectors(prt: ak.Array) -> ak.Array:
    return ak.zip({"px": prt.p.px, "py": prt.p.py, "pz": prt.p.pz, "E": prt.p.e})


def decay_quarks(prt: ak.Array) -> ak.Array:
    """Events x the quarks of every W, Z and top decay (|status| 23, |id| 1-5, a resonance's
    daughter) with the four-momentum of the hard-process resonance each descends from: its first
    copy, up through recoil copies and, for a top's W, through the top (``rpx .. rE``)."""
    import numpy as np

    counts = ak.to_numpy(ak.num(prt.id))
    start = np.concatenate([[0], np.cumsum(counts)])[:-1]
    event = np.repeat(np.arange(len(counts)), counts)

    def flat(x: ak.Array) -> np.ndarray:
        return ak.to_numpy(ak.flatten(x))

    pid, status = np.abs(flat(prt.id)), np.abs(flat(prt.status))
    m1 = flat(prt.mother1)
    mother = np.where(m1 > 0, m1 + start[event], -1)

    def is_resonance(idx: np.ndarray) -> np.ndarray:
        return (idx >= 0) & np.isin(pid[np.maximum(idx, 0)], _RESONANCES)

    q = np.flatnonzero((status == 23) & (pid >= 1) & (pid <= 5) & is_resonance(mother))
    root = mother[q]
    for _ in range(len(pid)):
        up = mother[root]
        move = is_resonance(up)
        if not move.any():
            break
        root = np.where(move, up, root)
    per_event = np.bincount(event[q], minlength=len(counts))
    cols = {}
    for k, src in (("px", "px"), ("py", "py"), ("pz", "pz"), ("E", "e")):
        v = flat(prt.p[src])
        cols[k], cols["r" + k] = v[q], v[root]
    return ak.unflatten(ak.zip({k: ak.Array(v) for k, v in cols.items()}), per_event)


def generate_batch(
    settings: list[str], n_events: int, hard_id: int | None, decays: bool = False
) -> EventBatch:
    """Initialise Pythia with ``settings`` and generate ``n_events`` events in one batch.

    Keeps final-state particles without neutrinos and, if ``hard_id`` is given, the first copies
    of the hard-process particles with that |PDG id| (|status| 22 or 23); ``decays`` adds
    :func:`decay_quarks`.
    """
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in settings:
        if not pythia.readString(line):
            raise ConfigError(f"Pythia rejected the setting {line!r}: check its spelling")
    if not pythia.init():
        raise DataError(f"Pythia failed to initialise with {settings}: check the process settings")
    events = pythia.nextBatch(n_events, errorMode="skip")
    prt = events.prt
    aid = abs(prt.id)
    visible = (prt.status > 0) & (aid != _NEUTRINOS[0]) & (aid != _NEUTRINOS[1])
    visible = visible & (aid != _NEUTRINOS[2])
    particles = _four_vectors(prt[visible])
    if hard_id is None:
        hard = _four_vectors(prt[aid < 0])  # empty lists, same structure
    else:
        ast = abs(prt.status)
        hard = _four_vectors(prt[(aid == hard_id) & ((ast == 22) | (ast == 23))])
    decay = decay_quarks(prt) if decays else None
    return EventBatch(particles, hard, len(events), decay)
