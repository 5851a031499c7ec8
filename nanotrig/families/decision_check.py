"""The trigger-decision check of the verify stage, shared by every family.

A family says what its trigger decides on (:class:`DecisionSource`: the score columns, how the
score comes from the model's outputs, and which verified events are signal for each column);
:func:`test_decisions` then sets the working points on the QKeras scores of the verified test
events (``verify.working_points``: shares of the signal kept), expresses them in the firmware's
output type (:func:`nanotrig.decisions.snap_points`, where the score is a firmware output),
counts the firmware's decision flips against the bit-exact reference and, labelled apart, its
table-induced differences from QKeras' float head, compares efficiency and mistag rate and draws
both ROC curves; the stress events are counted by the batched C-simulation at the same
thresholds (:func:`stress_counter`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nanotrig.decisions import (
    DecisionSpec,
    FlipCounter,
    WorkingPoint,
    decision_table,
    efficiency_thresholds,
    snap_points,
)
from nanotrig.family import RunContext

__all__ = [
    "OUTPUTS_FILE",
    "ROC_PLOT",
    "DecisionSource",
    "classifier_decisions",
    "decisions_record",
    "stress_counter",
    "test_decisions",
]

#: Per-event final outputs of the verified events, QKeras and C-simulation (hls/).
OUTPUTS_FILE = "test_outputs.npz"
#: The firmware vs QKeras ROC (hls/).
ROC_PLOT = "decision_roc.png"


@dataclass(frozen=True)
class DecisionSource:
    """A family's trigger decision: ``spec`` (score columns and score function) and
    ``signal(ctx)``: (N, columns) booleans for the first N verified events (the labelled test
    events; N may be fewer than the verified events)."""

    spec: DecisionSpec
    signal: Callable[[RunContext], np.ndarray]


def classifier_decisions() -> Callable[[RunContext], DecisionSource]:
    """A jet tagger's decision: one column per class (its probability), one-vs-rest."""

    def source(ctx: RunContext) -> DecisionSource:
        qdir = ctx.run_dir / "qmodel"
        with np.load(qdir / "test_scores.npz") as f:
            names = tuple(str(c) for c in f["class_names"])
        labels = np.load(qdir / "test_labels.npy")
        return DecisionSource(
            DecisionSpec(names), lambda _: labels[:, None] == np.arange(len(names))
        )

    return source


def test_decisions(
    ctx: RunContext, source: DecisionSource, x: np.ndarray, outputs: Path
) -> dict[str, Any]:
    """The decision record of the verified events: working points set on the QKeras scores of
    the labelled ones, efficiency and mistag rate in QKeras and firmware, flips on all verified
    events, and the ROC plot ``hls/decision_roc.png``."""
    with np.load(outputs) as f:
        ref_out, fw_out = f["keras"], f["csim"]
        exact = f.get("exact", None)
        out_type = (str(f["output_type"]), int(f["frac_bits"])) if "frac_bits" in f else None
        head = str(f["head"]) if "head" in f else ""
    return decisions_record(
        ctx, source.spec, x, ref_out, fw_out, source.signal(ctx), exact_out=exact,
        output_type=out_type, head=head or None,
    )  # fmt: skip


def decisions_record(
    ctx: RunContext, spec: DecisionSpec, x: np.ndarray, ref_out: np.ndarray,
    fw_out: np.ndarray, signal: np.ndarray, note: str = "",
    exact_out: np.ndarray | None = None, output_type: tuple[str, int] | None = None,
    head: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """:func:`test_decisions` on outputs in memory: ``signal`` marks the first (labelled)
    events; ``note`` says what the firmware figures are where they are not plain C-sim;
    ``exact_out``: the bit-exact reference's outputs (default the QKeras ones);
    ``output_type``: (C++ type, fractional bits) of the firmware's output, the grid the
    thresholds snap to (where ``spec.in_firmware``); ``head``: the firmware's lookup-table
    head (``softmax``), if any."""
    ref, fw = spec.score(x, ref_out), spec.score(x, fw_out)
    exact = None if exact_out is None else spec.score(x, exact_out)
    signal = np.asarray(signal, bool)[: len(x)]
    n = len(signal)
    effs = ctx.cfg.verify.working_points
    points = efficiency_thresholds(ref[:n], signal, spec.columns, effs)
    if output_type is not None and spec.in_firmware:
        points = snap_points(points, output_type[1], output_type[0])
    counter = FlipCounter(spec, points, head=head)
    counter.add(x, ref_out, fw_out, exact_out)
    rows = decision_table(ref[:n], fw[:n], signal, points, None if exact is None else exact[:n])
    plot = _roc_plot(ref[:n], fw[:n], signal, spec.columns, ctx.run_dir / "hls" / ROC_PLOT)
    return {
        "columns": list(spec.columns),
        "efficiencies": list(effs),
        "n_labelled": n,
        "n_signal": {c: int(signal[:, j].sum()) for j, c in enumerate(spec.columns)},
        "thresholds_in": (
            f"firmware units ({output_type[0]})" if output_type and spec.in_firmware
            else "float (a score computed in numpy from the firmware's outputs)"
            if not spec.in_firmware else "float"
        ),
        "points": rows,
        "test": counter.to_dict(),
        "roc_plot": f"hls/{plot.name}" if plot else None,
        **({"note": note} if note else {}),
    }  # fmt: skip


def stress_counter(source: DecisionSource, record: dict[str, Any]) -> FlipCounter:
    """A flip counter at the working points of a :func:`test_decisions` record."""
    return FlipCounter(source.spec, [WorkingPoint.from_dict(p) for p in record["points"]])


def _roc_plot(
    ref: np.ndarray, fw: np.ndarray, signal: np.ndarray, columns: tuple[str, ...], dest: Path
) -> Path | None:
    """One panel per column: QKeras and firmware ROC (columns with signal and background)."""
    from sklearn.metrics import roc_curve

    from nanotrig.models.plots import plot_roc_panels

    curves: dict[str, dict] = {"QKeras": {}, "firmware (C-sim)": {}}
    for j, name in enumerate(columns):
        sig = signal[:, j]
        if 0 < sig.sum() < len(sig):
            for label, s in (("QKeras", ref), ("firmware (C-sim)", fw)):
                fpr, tpr, _ = roc_curve(sig, s[:, j])
                curves[label][name] = (fpr, tpr)
    if not curves["QKeras"]:
        return None
    return plot_roc_panels(curves, dest, title="Firmware (C-simulation) vs QKeras ROC")
