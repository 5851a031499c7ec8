"""The family protocol and its registry (core: imports no stage).

A model family (the jet MLP, the DQM autoencoder, a user's own, ...) is one declared
:class:`Family`: the sample kind it trains on, the ``model:`` keys it reads, its stages in order
(each a plain function of the :class:`RunContext`), its report sections, its one-line summary and
the checks that fail a run. One runner (``nanotrig.runner``) takes any family through its stages;
the CLI verbs call the family's stage functions. Families register once, by name:
:func:`register_family` in code, or an entry point in the group ``nanotrig.families`` (the
built-in ones, declared in ``nanotrig/families/``, and any installed package's).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from nanotrig.errors import ConfigError

__all__ = [
    "STAGE_ORDER",
    "Family",
    "RunContext",
    "Stage",
    "family_names",
    "get_family",
    "register_family",
    "unregister_family",
]

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "nanotrig.families"

#: The stages a run may have, in the order they run; a family declares a subset.
STAGE_ORDER = (
    "generate", "train", "quantize", "convert", "verify", "rtl", "export", "export_quantized",
)  # fmt: skip


@dataclass
class RunContext:
    """What a stage function gets: the config, the run directory, the records of the stages
    before it (``records``) and objects they left in memory (``cache``; empty after a resume, so
    a stage must be able to read what it needs from the run directory)."""

    cfg: Any  # the run's nanotrig.config.RunConfig (not imported: config validates with us)
    run_dir: Path
    timed: Callable[..., Any]  # nanotrig.rundir.StageTimer: timed(name, fn, *args)
    progress: bool = True
    sample: Path | None = None
    records: dict[str, dict] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def data_path(self) -> Path:
        """The run's sample file: ``data/<kind>.h5``."""
        return self.run_dir / "data" / f"{self.cfg.samples.kind}.h5"


@dataclass(frozen=True)
class Stage:
    """One stage of a family's chain.

    ``run(ctx)`` does the work and returns the artifact record (a JSON-able dict).
    ``keys``: the config keys it reads (``"model"``, ``"quantize.input"``, ...); ``after``: the
    stages whose outputs it reads; ``outputs``: what it writes, relative to the run directory.
    A stage whose keys and upstream stages are unchanged is not redone by ``run --resume``;
    ``when(cfg)`` False skips it (an optional stage, e.g. ``rtl``).
    """

    name: str
    run: Callable[[RunContext], dict]
    keys: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    when: Callable[[Any], bool] | None = None  # runs only if when(cfg); default always


#: A report section: the report dict in, markdown lines out.
Section = Callable[[dict], list[str]]


@dataclass(frozen=True)
class Family:
    """A model family, declared once.

    ``model_keys``: the family-specific ``model:`` keys it reads (the others must keep their
    defaults). ``check_config(cfg)`` raises ``ValueError`` for settings it cannot honour.
    ``train(data, cfg, out_dir, force)`` and ``quantize(model_dir, data, cfg, out_dir, force)``
    are the ``nanotrig train`` / ``nanotrig quantize`` verbs. ``failures(report, run_dir)`` lists
    what fails the run (raised after the report is written). ``plots`` names the run's images.
    """

    name: str
    title: str
    sample_kind: str
    stages: tuple[Stage, ...]
    sections: tuple[Section, ...]
    summary: Callable[[dict], str]
    failures: Callable[[dict, Path], list[str]]
    train: Callable[..., dict]
    quantize: Callable[..., dict]
    model_keys: tuple[str, ...] = ()
    plots: Callable[[dict], dict[str, str]] = lambda report: {}
    check_config: Callable[[Any], None] | None = None  # takes the RunConfig
    takes_shared_sample: bool = False
    prunable: bool = False
    description: str = ""
    #: For a family whose model the generic verbs cannot take (GarNet): ``convert_file(qmodel,
    #: out_dir, cfg, force)``, ``verify_file(project_dir, inputs, n_events)`` (its project's
    #: conversion.json names the family) and ``export_file(model, out_dir, inputs, cfg, force)``.
    convert_file: Callable[..., dict] | None = None
    verify_file: Callable[..., dict] | None = None
    export_file: Callable[..., dict] | None = None

    def __post_init__(self) -> None:
        names = [s.name for s in self.stages]
        unknown = [n for n in names if n not in STAGE_ORDER]
        if unknown or names != sorted(names, key=STAGE_ORDER.index):
            raise ValueError(
                f"family {self.name}: stages {names} must be in the order {STAGE_ORDER}"
            )
        for s in self.stages:
            missing = [a for a in s.after if a not in names[: names.index(s.name)]]
            if missing:
                raise ValueError(f"family {self.name}: stage {s.name} runs after {missing}, "
                                 "which come later or are not declared")  # fmt: skip

    def stage(self, name: str) -> Stage | None:
        """The declared stage ``name``, or None."""
        return next((s for s in self.stages if s.name == name), None)


_REGISTRY: dict[str, Family] = {}
_LOADED = {"entry_points": False}


def register_family(family: Family, replace: bool = False) -> Family:
    """Register ``family`` under its name; registering a name twice raises unless ``replace``."""
    if family.name in _registry() and not replace:
        raise ValueError(f"a family named {family.name!r} is already registered")
    _REGISTRY[family.name] = family
    return family


def unregister_family(name: str) -> None:
    """Remove a registered family (tests, notebooks)."""
    _REGISTRY.pop(name, None)


def _registry() -> dict[str, Family]:
    """The registry, with the installed entry points loaded on first use."""
    if not _LOADED["entry_points"]:
        _LOADED["entry_points"] = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in _REGISTRY:
                continue
            fam = ep.load()
            if not isinstance(fam, Family) or fam.name != ep.name:
                raise ConfigError(
                    f"entry point {ep.value} ({ENTRY_POINT_GROUP}) is not a Family named "
                    f"{ep.name!r}: fix the package that declares it"
                )
            _REGISTRY[ep.name] = fam
    return _REGISTRY


def family_names() -> list[str]:
    """Names of every registered family, sorted."""
    return sorted(_registry())


def get_family(name: str) -> Family:
    """The family registered as ``name``; ConfigError naming the known ones otherwise."""
    fam = _registry().get(name)
    if fam is None:
        raise ConfigError(
            f"unknown model family {name!r}: choose one of {', '.join(family_names())} "
            "(or register your own with nanotrig.family.register_family)"
        )
    return fam
