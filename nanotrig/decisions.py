"""Trigger decisions at working points: thresholds, efficiencies, mistag rates and the events
whose decision differs between the firmware and its references.

An event passes a working point when its score in the point's column is ``>= threshold``.
The default working points are, per column, the thresholds at which QKeras keeps a given share
of the signal (50 % and 90 %); each is then expressed in the firmware's output type
(:func:`snap_points`: the smallest output code at or above it, which decides every firmware
score as the float threshold does) and the firmware is judged there. :class:`FlipCounter`
counts, chunk by chunk in constant memory (the batched C-simulation of
:mod:`nanotrig.hls.verify` streams through it), the *decision flips* against the bit-exact
reference (QKeras up to the logits and the table emulator of :mod:`nanotrig.hls.tables` for a
lookup-table head: what the firmware is specified to compute) and, labelled apart, the
*table-induced differences* against QKeras' float head with the largest distance of such an
event's QKeras score from the threshold.
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
    "snap_points",
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
    #: The scores are firmware output columns (thresholds snap to the output grid); False: a
    #: score computed in numpy from the firmware's outputs (thresholds stay float).
    in_firmware: bool = True


@dataclass(frozen=True)
class WorkingPoint:
    """A threshold on one score column; ``label`` says where it came from."""

    column: int
    name: str
    threshold: float
    label: str = "given"
    #: Before :func:`snap_points`: the threshold as chosen or given (float); ``None``: unsnapped.
    threshold_float: float | None = None
    #: The threshold's integer code in the firmware's output type (``threshold = code * lsb``).
    code: int | None = None
    #: The output type's C++ spelling (e.g. ``ap_ufixed<16,0>``).
    output_type: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        out = {"column": self.column, "name": self.name, "threshold": self.threshold,
               "label": self.label}  # fmt: skip
        if self.code is not None:
            out.update(threshold_float=self.threshold_float, code=self.code,
                       output_type=self.output_type)  # fmt: skip
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WorkingPoint:
        """The point of :meth:`to_dict`."""
        return cls(d["column"], d["name"], d["threshold"], d.get("label", "given"),
                   d.get("threshold_float"), d.get("code"), d.get("output_type"))  # fmt: skip


def snap_points(
    points: Sequence[WorkingPoint], frac_bits: int, output_type: str
) -> list[WorkingPoint]:
    """Each threshold as the smallest code of the output grid (LSB ``2**-frac_bits``) at or
    above it: a firmware score (on that grid) passes it exactly when it passes the float one."""
    lsb = 2.0**-frac_bits
    out = []
    for p in points:
        t = p.threshold if p.threshold_float is None else p.threshold_float
        code = math.ceil(t / lsb)  # exact: lsb is a power of two
        out.append(WorkingPoint(p.column, p.name, code * lsb, p.label, t, code, output_type))
    return out


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
    """Running count, at each working point over chunks (constant memory), of the events whose
    decision differs between the firmware and the bit-exact reference (*flips*) and, labelled
    apart, between the firmware and QKeras' float outputs (*table-induced differences*)."""

    spec: DecisionSpec
    points: list[WorkingPoint]
    n_events: int = 0
    #: Events whose decision differs from the bit-exact reference at one working point or more.
    events_differ: int = 0
    flips: np.ndarray = field(init=False)
    #: Of the flips: firmware passes where the reference does not.
    gained: np.ndarray = field(init=False)
    #: Decisions differing from QKeras' float outputs, those the firmware gains, and the
    #: largest |QKeras score - threshold| among them (-1: none).
    table_diffs: np.ndarray = field(init=False)
    table_gained: np.ndarray = field(init=False)
    table_margin: np.ndarray = field(init=False)
    #: ``all``: every event of the check; ``traced``: only the events traced layer by layer.
    scope: str = "all"
    #: What the flips are counted against.
    reference: str = "bit-exact"
    #: The firmware's lookup-table head (``softmax``), if any: what QKeras computes in float.
    head: str | None = None

    def __post_init__(self) -> None:
        n = len(self.points)
        self.flips, self.gained = np.zeros(n, np.int64), np.zeros(n, np.int64)
        self.table_diffs, self.table_gained = np.zeros(n, np.int64), np.zeros(n, np.int64)
        self.table_margin = np.full(n, -1.0)

    def add(
        self, x: np.ndarray, ref_out: np.ndarray, fw_out: np.ndarray,
        exact_out: np.ndarray | None = None,
    ) -> int:  # fmt: skip
        """Count one chunk: inputs, QKeras outputs (float head), firmware outputs and the
        bit-exact reference's (default: the QKeras outputs, for a model without a table head);
        return its events with a flip."""
        self.n_events += len(x)
        if not self.points:
            return 0
        q_scores = np.asarray(self.spec.score(x, ref_out), np.float64)
        q = _passes(q_scores, self.points)
        fw = _passes(self.spec.score(x, fw_out), self.points)
        ref = q if exact_out is None else _passes(self.spec.score(x, exact_out), self.points)
        self.flips += np.sum(ref != fw, axis=0)
        self.gained += np.sum(fw & ~ref, axis=0)
        table = q != fw
        self.table_diffs += np.sum(table, axis=0)
        self.table_gained += np.sum(fw & ~q, axis=0)
        cols = np.array([p.column for p in self.points], np.int64)
        thr = np.array([p.threshold for p in self.points], np.float64)
        margin = np.where(table, np.abs(q_scores[:, cols] - thr), -1.0)
        self.table_margin = np.maximum(self.table_margin, margin.max(axis=0, initial=-1.0))
        differ = int(np.sum(np.any(ref != fw, axis=1)))
        self.events_differ += differ
        return differ

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record: events, scope, per working point its flips (vs the bit-exact
        reference) and table-induced differences (vs QKeras' float outputs)."""
        margins = [float(m) if m >= 0 else None for m in self.table_margin]
        total = int(self.table_diffs.sum())
        return {
            "n_events": self.n_events,
            "scope": self.scope,
            "reference": self.reference,
            "head": self.head,
            "events_differ": self.events_differ,
            "total_flips": int(self.flips.sum()),
            "total_gained": int(self.gained.sum()),
            "table_induced": {
                "total": total,
                "gained": int(self.table_gained.sum()),
                "lost": total - int(self.table_gained.sum()),
                "max_margin": max((m for m in margins if m is not None), default=None),
            },
            "points": [
                {**p.to_dict(), "flips": int(f), "gained": int(g), "table_diffs": int(t),
                 "table_gained": int(tg), "table_margin": m}
                for p, f, g, t, tg, m in zip(self.points, self.flips, self.gained,
                                             self.table_diffs, self.table_gained, margins,
                                             strict=True)
            ],
        }  # fmt: skip


def _rate(passed: np.ndarray, mask: np.ndarray) -> dict[str, float | int]:
    n = int(mask.sum())
    p = float(passed[mask].mean()) if n else float("nan")
    return {"value": p, "error": binomial_error(p, n), "n": n}


def decision_table(
    ref_scores: np.ndarray,
    fw_scores: np.ndarray,
    signal: np.ndarray,
    points: Sequence[WorkingPoint],
    exact_scores: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Per working point: efficiency (signal passing) and mistag rate (background passing) in
    QKeras (``ref_scores``) and the firmware, each with its binomial error; ``flips``: the
    decisions differing from the bit-exact reference (default QKeras), ``table_diffs``: from
    QKeras."""
    signal = np.asarray(signal, bool)
    ref, fw = _passes(ref_scores, points), _passes(fw_scores, points)
    exact = ref if exact_scores is None else _passes(exact_scores, points)
    rows = []
    for i, p in enumerate(points):
        sig = signal[:, p.column]
        rows.append({
            **p.to_dict(),
            "qkeras": {"efficiency": _rate(ref[:, i], sig), "mistag": _rate(ref[:, i], ~sig)},
            "firmware": {"efficiency": _rate(fw[:, i], sig), "mistag": _rate(fw[:, i], ~sig)},
            "flips": int(np.sum(exact[:, i] != fw[:, i])),
            "table_diffs": int(np.sum(ref[:, i] != fw[:, i])),
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
