"""Trigger decisions at working points: thresholds, efficiencies, mistag rates and the events
whose decision differs between two models (QKeras and the firmware's C-simulation).

An event passes a working point when its score in the point's column is ``>= threshold``.
The default working points are, per column, the thresholds at which the reference (QKeras)
keeps a given share of the signal (50 % and 90 %); the firmware is then judged at the same
thresholds. :class:`FlipCounter` counts differing decisions chunk by chunk in constant memory
(the batched C-simulation of :mod:`nanotrig.hls.verify` streams through it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nanotrig.errors import ConfigError

__all__ = [
    "DEFAULT_EFFICIENCIES",
    "DecisionSpec",
    "FlipCounter",
    "WorkingPoint",
    "binomial_error",
    "decision_table",
    "efficiency_thresholds",
    "parse_thresholds",
]

#: Signal efficiencies (in QKeras) of the default working points, per column.
DEFAULT_EFFICIENCIES = (0.5, 0.9)


def binomial_error(p: float, n: int) -> float:
    """Standard error of an efficiency ``p`` measured on ``n`` events (NaN for none)."""
    return float(np.sqrt(max(p * (1.0 - p), 0.0) / n)) if n else float("nan")


def _outputs(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.asarray(y, dtype=np.float64).reshape(len(y), -1)


@dataclass(frozen=True)
class DecisionSpec:
    """What a model's trigger decides on: ``columns`` names the score columns and
    ``score(inputs, outputs)`` gives them per event, shape (N, len(columns)); by default the
    model's outputs themselves (class probabilities, an anomaly score)."""

    columns: tuple[str, ...]
    score: Callable[[np.ndarray, np.ndarray], np.ndarray] = _outputs


@dataclass(frozen=True)
class WorkingPoint:
    """A threshold on one score column; ``label`` says where it came from."""

    column: int
    name: str
    threshold: float
    label: str = "given"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"column": self.column, "name": self.name, "threshold": self.threshold,
                "label": self.label}  # fmt: skip


def efficiency_thresholds(
    scores: np.ndarray,
    signal: np.ndarray,
    columns: Sequence[str],
    efficiencies: Sequence[float] = DEFAULT_EFFICIENCIES,
) -> list[WorkingPoint]:
    """Per column, the highest threshold keeping at least ``eff`` of its signal events
    (``signal[:, j]`` True) at ``score >= threshold``; columns without signal are skipped."""
    scores, signal = np.asarray(scores, np.float64), np.asarray(signal, bool)
    points = []
    for j, name in enumerate(columns):
        sig = np.sort(scores[signal[:, j], j])[::-1]
        if not len(sig):
            continue
        for eff in efficiencies:
            k = max(1, math.ceil(eff * len(sig) - 1e-9))
            points.append(WorkingPoint(j, name, float(sig[k - 1]), f"{100 * eff:g} % signal"))
    return points


def _passes(scores: np.ndarray, points: Sequence[WorkingPoint]) -> np.ndarray:
    """(N, P) decisions of ``scores`` (N, columns) at each working point."""
    cols = np.array([p.column for p in points], dtype=np.int64)
    thr = np.array([p.threshold for p in points], dtype=np.float64)
    return np.asarray(scores, np.float64)[:, cols] >= thr


@dataclass
class FlipCounter:
    """Running count of events whose decision differs between a reference and a firmware,
    at each working point, over chunks (constant memory)."""

    spec: DecisionSpec
    points: list[WorkingPoint]
    n_events: int = 0
    #: Events whose decision differs at one working point or more.
    events_differ: int = 0
    flips: np.ndarray = field(init=False)
    #: Of the flips: firmware passes where the reference does not.
    gained: np.ndarray = field(init=False)
    #: ``all``: every event of the check; ``traced``: only the events traced layer by layer.
    scope: str = "all"

    def __post_init__(self) -> None:
        self.flips = np.zeros(len(self.points), np.int64)
        self.gained = np.zeros(len(self.points), np.int64)

    def add(self, x: np.ndarray, ref_out: np.ndarray, fw_out: np.ndarray) -> int:
        """Count one chunk (inputs, reference outputs, firmware outputs); its flips."""
        if not self.points:
            self.n_events += len(x)
            return 0
        ref = _passes(self.spec.score(x, ref_out), self.points)
        fw = _passes(self.spec.score(x, fw_out), self.points)
        self.n_events += len(x)
        self.flips += np.sum(ref != fw, axis=0)
        self.gained += np.sum(fw & ~ref, axis=0)
        differ = int(np.sum(np.any(ref != fw, axis=1)))
        self.events_differ += differ
        return differ

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record: events, scope, and per working point its flips."""
        return {
            "n_events": self.n_events,
            "scope": self.scope,
            "events_differ": self.events_differ,
            "total_flips": int(self.flips.sum()),
            "total_gained": int(self.gained.sum()),
            "points": [
                {**p.to_dict(), "flips": int(f), "gained": int(g)}
                for p, f, g in zip(self.points, self.flips, self.gained, strict=True)
            ],
        }


def _rate(passed: np.ndarray, mask: np.ndarray) -> dict[str, float | int]:
    n = int(mask.sum())
    p = float(passed[mask].mean()) if n else float("nan")
    return {"value": p, "error": binomial_error(p, n), "n": n}


def decision_table(
    ref_scores: np.ndarray,
    fw_scores: np.ndarray,
    signal: np.ndarray,
    points: Sequence[WorkingPoint],
) -> list[dict[str, Any]]:
    """Per working point: efficiency (signal passing) and mistag rate (background passing) in
    the reference and the firmware, each with its binomial error, and the differing decisions."""
    signal = np.asarray(signal, bool)
    ref, fw = _passes(ref_scores, points), _passes(fw_scores, points)
    rows = []
    for i, p in enumerate(points):
        sig = signal[:, p.column]
        rows.append({
            **p.to_dict(),
            "qkeras": {"efficiency": _rate(ref[:, i], sig), "mistag": _rate(ref[:, i], ~sig)},
            "firmware": {"efficiency": _rate(fw[:, i], sig), "mistag": _rate(fw[:, i], ~sig)},
            "flips": int(np.sum(ref[:, i] != fw[:, i])),
        })  # fmt: skip
    return rows


def parse_thresholds(values: Sequence[str], columns: Sequence[str]) -> list[WorkingPoint]:
    """``--threshold`` values: ``T`` (every column) or ``COLUMN:T`` (a column's name or
    number); ConfigError naming the bad one."""
    points = []
    for text in values:
        col, sep, num = text.rpartition(":")
        try:
            thr = float(num)
        except ValueError:
            thr = float("nan")
        if not math.isfinite(thr):
            raise ConfigError(
                f"--threshold {text!r}: not a number: give T or COLUMN:T, e.g. 0.5 or "
                f"{columns[0] if columns else 0}:0.5"
            )
        if not sep:
            points += [WorkingPoint(j, name, thr) for j, name in enumerate(columns)]
            continue
        j = columns.index(col) if col in columns else _index(col, len(columns))
        if j is None:
            raise ConfigError(
                f"--threshold {text!r}: no output column {col!r}: choose one of "
                f"{', '.join(columns)} or a number 0..{len(columns) - 1}"
            )
        points.append(WorkingPoint(j, columns[j], thr))
    return points


def _index(text: str, n: int) -> int | None:
    return int(text) if text.isdigit() and int(text) < n else None
