"""ONNX export of a float autoencoder (the DQM family): the reconstructions and the per-map
losses compared with Keras."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from nanotrig.export.stage import export_model

from nanotrig.config import ExportConfig

__all__ = ["export_float_ae"]


def _loss_difference(
    x: np.ndarray, y_onnx: np.ndarray, y_keras: np.ndarray, shift: int | None = None
) -> dict:
    from nanotrig.models.dqm_metrics import reconstruction_losses

    x = x if shift is None else np.ldexp(np.asarray(x, np.float64), -shift)
    loss_onnx, _ = reconstruction_losses(x, y_onnx)
    loss_keras, _ = reconstruction_losses(x, y_keras)
    return {"max_abs_diff_loss": float(np.abs(loss_onnx - loss_keras).max())}


def export_float_ae(
    model_path: Path, x: np.ndarray, cfg: ExportConfig, out_dir: Path, force: bool = False,
    shift: int | None = None,
) -> dict:  # fmt: skip
    """Float autoencoder -> ONNX (:func:`export_model`, tf2onnx) with the per-map loss
    difference (against the inputs times ``2**-shift`` for a model that scales raw counts
    inside); a disagreement is recorded (``agrees``), not raised, so the report is written."""
    from functools import partial

    return export_model(
        model_path, x, cfg, out_dir, force=force, compare=partial(_loss_difference, shift=shift),
        raise_on_disagreement=False,
    )  # fmt: skip
