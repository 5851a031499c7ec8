"""``nanotrig compare CONFIG.yml``: the jet taggers side by side on the same test jets.

One jet sample is generated (features, images and constituents of the same jets), then every
tagger listed under ``taggers`` (a ``nanotrig run`` config of family jet_mlp, jet_cnn or
jet_garnet) runs its whole chain on that sample with the comparison's seed and split, so all of
them are trained, quantized, converted, C-simulated and tested on the same jets. Their model,
quantize, hls, verify and export sections are theirs; their ``samples`` section, ``seed`` and
``model.val_fraction``/``test_fraction`` are replaced by the comparison's.

Layout of ``<out_root>/<name>/``::

    config.yml            the resolved comparison config
    data/jets.h5          the shared sample (hard-linked into every tagger's run)
    <tagger>/             a full ``nanotrig run`` directory per tagger (report.md inside)
    roc_compare.png       ROC per class, the taggers overlaid (quantized models)
    report.json, report.md
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, ValidationError, field_validator

from nanotrig.config import (
    JetSampleConfig,
    RunConfig,
    _Strict,
    load_config,
    read_yaml,
    validation_message,
)
from nanotrig.errors import ConfigError, DataError, VerificationError
from nanotrig.family import family_names, get_family
from nanotrig.fileio import package_versions, write_json, write_text
from nanotrig.rundir import open_run
from nanotrig.runner import run_chain

__all__ = ["CompareConfig", "load_compare_config", "run_compare"]

log = logging.getLogger(__name__)


class SplitConfig(_Strict):
    """The train/validation/test split every tagger of a comparison uses (stratified, seeded)."""

    val_fraction: float = Field(0.2, gt=0, lt=0.5)
    test_fraction: float = Field(0.2, gt=0, lt=0.5)


class CompareConfig(_Strict):
    """``nanotrig compare CONFIG.yml``: jet taggers trained and tested on one sample."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Comparison name; its folder.")
    seed: int = Field(42, ge=0, le=2**31 - 1, description="Seeds the sample, split, training.")
    out_root: Path = Path("runs")
    samples: JetSampleConfig = JetSampleConfig()
    split: SplitConfig = SplitConfig()
    taggers: dict[str, Path] = Field(
        description="Tagger label -> its run config (relative paths: to this config's folder)."
    )

    @field_validator("taggers")
    @classmethod
    def _some_taggers(cls, v: dict[str, Path]) -> dict[str, Path]:
        if len(v) < 2:
            raise ValueError(f"need at least two taggers to compare, got {len(v)}")
        bad = [k for k in v if not k.replace("_", "").replace("-", "").isalnum()]
        if bad:
            raise ValueError(f"tagger labels name folders: use letters, digits, _ or -, not {bad}")
        return v


def load_compare_config(
    path: str | Path, out_root: Path | None = None
) -> tuple[CompareConfig, dict[str, RunConfig]]:
    """Read and validate a comparison config and the run config of every tagger in it
    (``out_root`` replaces the config's).

    Each tagger's config is rebuilt around the comparison's sample, seed and split (and named
    after its label); a tagger that is not a jet tagger, or that cannot take the shared sample
    (e.g. a CNN larger than the images), is refused in one line."""
    p = Path(path)
    data = read_yaml(p, "comparison config")
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: top level must be a mapping, got {type(data).__name__}")
    try:
        cfg = CompareConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(
            validation_message(err, str(p), "comparison config", "configs/jet_taggers.yml")
        ) from None
    if out_root is not None:
        cfg = cfg.model_copy(update={"out_root": Path(out_root)})
    members = {}
    for label, member_path in cfg.taggers.items():
        mp = member_path if member_path.is_absolute() else p.parent / member_path
        member = load_config(mp)
        taggers = [n for n in family_names() if get_family(n).takes_shared_sample]
        if member.model.family not in taggers:
            raise ConfigError(
                f"{p}: taggers.{label}: {mp} is a {member.model.family} run, not a jet tagger: "
                f"list configs of family {', '.join(taggers)}"
            )
        dump = member.model_dump(mode="json")
        dump.update(
            name=label,
            seed=cfg.seed,
            out_root=str(Path(cfg.out_root) / cfg.name),
            samples=cfg.samples.model_dump(mode="json"),
        )
        dump["model"].update(cfg.split.model_dump())
        try:
            members[label] = RunConfig.model_validate(dump)
        except ValidationError as err:
            msg = err.errors()[0]["msg"].removeprefix("Value error, ")
            raise ConfigError(
                f"{p}: taggers.{label} ({mp}) does not fit the shared sample: {msg}"
            ) from None
    return cfg, members


def run_compare(
    cfg: CompareConfig, members: dict[str, RunConfig], force: bool = False, progress: bool = True
) -> dict[str, Any]:
    """Generate the shared sample, run every tagger's chain on it, write the side-by-side report.

    Raises VerificationError after the report is written if a tagger's chain failed its checks
    (C-simulation not bit-exact, ONNX disagreeing), and DataError if the taggers' test jets differ.
    """
    from nanotrig.models.metrics import SCORES_FILE, read_test_scores
    from nanotrig.samples import generate_jets

    run_dir, _ = open_run(cfg, force)
    sample_path = run_dir / "data" / "jets.h5"
    sample = generate_jets(cfg.samples, cfg.seed, sample_path, progress=progress)
    reports, failures = {}, {}
    for label, member in members.items():
        log.info("[compare] tagger %s (%s)", label, member.model.family)
        try:
            reports[label] = run_chain(member, progress=progress, sample=sample_path)
        except VerificationError as err:  # the member's report exists: compare, then fail
            failures[label] = str(err)
            reports[label] = _read_json(run_dir / label / "report.json")
    test_idx = _same_test_jets(run_dir, list(members))
    scores = {m: read_test_scores(run_dir / m / "qmodel" / SCORES_FILE) for m in members}
    rows = {label: tagger_row(run_dir / label, reports[label], scores[label]) for label in members}
    plot = _plot(run_dir, scores)
    report = {
        "name": cfg.name,
        "seed": cfg.seed,
        "config": cfg.model_dump(mode="json"),
        "versions": package_versions(),
        "samples": sample,
        "test_jets": len(test_idx),
        "taggers": rows,
        "failures": failures,
        "plots": {"roc_compare": plot},
    }
    from nanotrig.report_compare import render_compare_markdown

    write_json(run_dir / "report.json", report)
    write_text(run_dir / "report.md", render_compare_markdown(report))
    if failures:
        raise VerificationError(
            f"tagger(s) {', '.join(failures)} failed their checks (see {run_dir / 'report.md'}): "
            + "; ".join(f"{k}: {v}" for k, v in failures.items())
        )
    return report


def tagger_row(
    tagger_dir: Path, report: dict[str, Any],
    test_scores: tuple[np.ndarray, tuple[str, ...], dict[str, np.ndarray]],
) -> dict[str, Any]:  # fmt: skip
    """One tagger's figures on the test jets: metrics per model (from its ``test_scores.npz``,
    read by ``read_test_scores``), parameters, C-simulation checks, latency/resource estimate
    and ONNX agreement."""
    from nanotrig.models.metrics import SCORES_FILE, classification_metrics

    labels, names, scores = test_scores
    hls = report.get("hls", {})
    est = hls.get("estimate") or {}
    return {
        "family": report["family"],
        "inputs": report["train"].get("inputs", {}),
        "parameters": report["train"].get("parameters"),
        "metrics": {k: classification_metrics(labels, s, names) for k, s in scores.items()},
        "csim": {
            **csim_summary(report["verify"]),
            "reference": "emulator" if report["family"] == "jet_garnet" else "QKeras",
        },
        "estimate": {k: est.get(k) for k in ("latency_ns", "ii_ns", "dsp", "lut", "ff", "bram")}
        if est
        else None,
        "onnx_agrees": report["export"]["agrees"],
        "report": f"{tagger_dir.name}/report.md",
        "scores": f"{tagger_dir.name}/qmodel/{SCORES_FILE}",
    }


def csim_summary(verify: dict[str, Any]) -> dict[str, Any]:
    """Events C-simulated and events with a mismatch, over every check of a verify record."""
    checks = [verify, verify.get("edge_inputs"), verify.get("stress")]
    checks = [c for c in checks if c]
    return {
        "events": sum(c["n_events"] for c in checks),
        "mismatching_events": sum(_mismatches(c) for c in checks),
        "bit_exact": all(c["ok"] for c in checks),
    }


def _mismatches(check: dict[str, Any]) -> int:
    if "n_mismatch" in check:  # GarNet: C-sim vs the emulator, events with any differing output
        return int(check["n_mismatch"])
    exact = [r["n_mismatch"] for r in check.get("layers", []) if r.get("kind") == "exact"]
    return int(max(exact, default=0))


def _same_test_jets(run_dir: Path, labels: list[str]) -> np.ndarray:
    """The test indices every tagger used; DataError if they differ."""
    splits = {}
    for label in labels:
        with np.load(run_dir / label / "model" / "split.npz") as s:
            splits[label] = s["test"]
    first = labels[0]
    for label in labels[1:]:
        if not np.array_equal(splits[label], splits[first]):
            raise DataError(
                f"taggers {first} and {label} were tested on different jets: their splits differ "
                "(a bug: the comparison sets one split for all)"
            )
    return splits[first]


def _plot(run_dir: Path, test_scores: dict[str, tuple]) -> str:
    from nanotrig.models.metrics import roc_curves
    from nanotrig.models.plots import plot_roc_panels

    curves = {
        label: roc_curves(labels, scores["quantized"], names)
        for label, (labels, names, scores) in test_scores.items()
    }
    plot_roc_panels(
        curves, run_dir / "roc_compare.png", title="Quantized jet taggers on the same test jets"
    )
    return "roc_compare.png"


def _read_json(path: Path) -> dict[str, Any]:
    import json

    return json.loads(path.read_text())
