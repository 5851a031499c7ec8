"""Pythia 8 settings of the ADC2021-style processes (SM cocktail and BSM signals).

Everything decays inclusively unless stated: W and Z to e, mu or tau (taus decay in Pythia),
ttbar inclusive. Signals: A(50) -> Z* Z* -> 4 leptons (e, mu), modelled with
Pythia's neutral scalar H2 (id 35; its CP-odd A3 (36) gets a vanishing width for Z* Z* at 50 GeV
and Pythia refuses to initialise); a pair of scalar leptoquarks of
80 GeV, each -> b tau (charge set to 2/3 so that b tau+ conserves it); H0(60) -> tau tau;
H+(60) -> tau nu. QCD is HardQCD:all above ``qcd_pthat_min_gev``, or with
``qcd_enrichment = heavy_flavour`` only b-bbar and c-cbar pair production (gg/qqbar -> QQbar),
whose semi-leptonic decays give the real leptons the trigger needs (see ``generate_l1``).
With ``bias_pthat_pow > 0`` the 2->2 processes (QCD, ttbar) are generated with Pythia's
phase-space bias (pTHat / pTHatMin)^pow and each event carries ``info.weight()`` to undo it
(:data:`BIASED`); W and Z (2->1, no pTHat) are not biased.
"""

from __future__ import annotations

from nanotrig.samples.pool import SEED_MAX

from nanotrig.config import L1_BACKGROUNDS, L1_SIGNALS, L1EventConfig
from nanotrig.errors import ConfigError

__all__ = ["BIASED", "PROCESS_KEYS", "PROCESS_SETTINGS", "bias_settings", "l1_settings"]

_LEPTONIC = "11 13 15"

PROCESS_SETTINGS: dict[str, tuple[str, ...]] = {
    "W": ("WeakSingleBoson:ffbar2W = on", "24:onMode = off", f"24:onIfAny = {_LEPTONIC}"),
    "Z": (
        "WeakSingleBoson:ffbar2gmZ = on",
        "WeakZ0:gmZmode = 2",
        "23:onMode = off",
        f"23:onIfAny = {_LEPTONIC}",
    ),
    "ttbar": ("Top:all = on",),
    "A_4l": (
        "Higgs:useBSM = on",
        "HiggsBSM:gg2H2 = on",
        "35:m0 = 50.",
        "35:onMode = off",
        "35:onIfMatch = 23 23",
        "23:onMode = off",
        "23:onIfAny = 11 13",
    ),
    "LQ_btau": (
        "LeptoQuark:gg2LQLQbar = on",
        "LeptoQuark:qqbar2LQLQbar = on",
        "42:m0 = 80.",
        "42:chargeType = 2",
        "42:oneChannel = 1 1.0 0 5 -15",
    ),
    "h0_tautau": (
        "Higgs:useBSM = on",
        "HiggsBSM:gg2H2 = on",
        "35:m0 = 60.",
        "35:onMode = off",
        "35:onIfMatch = 15 -15",
    ),
    "hplus_taunu": (
        "Higgs:useBSM = on",
        "HiggsBSM:ffbar2H+- = on",
        "37:m0 = 60.",
        "37:onMode = off",
        "37:onIfMatch = 15 16",
    ),
}

#: Stable seeding keys per process (independent of the order in the config).
PROCESS_KEYS: dict[str, int] = {
    name: 0x100 + i for i, name in enumerate((*L1_BACKGROUNDS, *L1_SIGNALS))
}


def _qcd(cfg: L1EventConfig) -> tuple[str, ...]:
    lines = (f"PhaseSpace:pTHatMin = {cfg.qcd_pthat_min_gev:.3f}",)
    if cfg.qcd_enrichment == "heavy_flavour":
        return ("HardQCD:hardbbbar = on", "HardQCD:hardccbar = on", *lines)
    return ("HardQCD:all = on", *lines)


#: Processes with a pTHat (2->2) that ``bias_pthat_pow`` biases.
BIASED = ("QCD", "ttbar")


def bias_settings(process: str, cfg: L1EventConfig) -> tuple[str, ...]:
    """Pythia phase-space biasing lines of ``process`` (none if unbiased)."""
    if process not in BIASED or cfg.bias_pthat_pow <= 0:
        return ()
    return (
        "PhaseSpace:bias2Selection = on",
        f"PhaseSpace:bias2SelectionPow = {cfg.bias_pthat_pow:.3f}",
        f"PhaseSpace:bias2SelectionRef = {cfg.qcd_pthat_min_gev:.3f}",
    )


def l1_settings(process: str, cfg: L1EventConfig, seed: int | None = None) -> list[str]:
    """The Pythia ``readString`` lines for ``process``; ``seed`` adds the random-seed lines."""
    if process == "QCD":
        proc = _qcd(cfg)
    elif process in PROCESS_SETTINGS:
        proc = PROCESS_SETTINGS[process]
    else:
        known = sorted([*PROCESS_SETTINGS, "QCD"])
        raise ConfigError(f"unknown L1 process {process!r}: choose from {known}")
    lines = [f"Beams:eCM = {cfg.ecm_gev:.1f}", "Print:quiet = on", "Next:numberCount = 0", *proc]
    lines += bias_settings(process, cfg)
    if seed is not None:
        if not 1 <= seed <= SEED_MAX:
            raise ConfigError(f"Pythia seed {seed} outside 1..{SEED_MAX}")
        lines += ["Random:setSeed = on", f"Random:seed = {seed}"]
    return lines
