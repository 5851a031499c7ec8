"""The quantized export of a score model (the anomaly trigger): the QDQ graph, with tolerance 0."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from nanotrig.export.qcheck import export_quantized

from nanotrig.errors import VerificationError

__all__ = ["QDQ_METHOD", "export_quantized_score"]

QDQ_METHOD = "QDQ graph (export/qdq.py), checked by export/qcheck.py with tolerance 0"


def export_quantized_score(
    qmodel_path: Path, inputs: np.ndarray, out_dir: Path, force: bool = False
) -> dict:
    """The jet pipeline's quantized export (:func:`export.export_quantized`: QDQ ONNX written to
    ``out_dir/<stem>.qdq.onnx``, compared with QKeras layer by layer and as onnxruntime runs the
    file) with tolerance 0: the score is a sum of integers on a power-of-two grid, so it must
    be identical. Adds ``exact`` (both comparisons identical) and ``method``; a disagreement is
    recorded (``error``), not raised, so that the report is still written."""
    try:
        record = export_quantized(qmodel_path, inputs, out_dir, force=force, atol=0.0)
    except VerificationError as err:
        return {"stage": "export_quantized", "method": QDQ_METHOD, "exact": False,
                "error": str(err)}  # fmt: skip
    return {**record, "method": QDQ_METHOD, "exact": bool(record["agrees"])}
