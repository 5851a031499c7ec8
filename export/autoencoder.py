"""ONNX export of a float autoencoder (the DQM family): reconstructions and per-map losses
compared with Keras."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from nanotrig.export.onnx_export import keras_to_onnx
from nanotrig.export.runtime import OnnxModel

from nanotrig.config import ExportConfig
from nanotrig.fileio import file_sha256, prepare_output_dir, write_json

__all__ = ["export_float_ae"]


def export_float_ae(
    model_path: Path, x: np.ndarray, cfg: ExportConfig, out_dir: Path, force: bool = False
) -> dict:
    """Float autoencoder -> ONNX (tf2onnx); reconstructions and per-map losses vs Keras."""
    from nanotrig.models.dqm_metrics import reconstruction_losses
    from nanotrig.quantize import load_keras_model

    model = load_keras_model(model_path)
    out_dir = prepare_output_dir(out_dir, force)
    dest = keras_to_onnx(model, out_dir / f"{Path(model_path).stem}.onnx", cfg.opset)
    onnx_model = OnnxModel(dest)
    t0 = time.perf_counter()
    y_onnx = onnx_model.predict(x)
    seconds = time.perf_counter() - t0
    y_keras = model.predict(x, batch_size=1024, verbose=0)
    loss_onnx, _ = reconstruction_losses(x, y_onnx)
    loss_keras, _ = reconstruction_losses(x, y_keras)
    max_diff = float(np.abs(y_onnx - y_keras).max())
    record = {
        "stage": "export",
        "onnx": str(dest),
        "sha256": file_sha256(dest),
        "source_model": str(model_path),
        "opset": cfg.opset,
        "providers": onnx_model.providers,
        "n_events": len(x),
        "max_abs_diff": max_diff,
        "max_abs_diff_loss": float(np.abs(loss_onnx - loss_keras).max()),
        "atol": cfg.atol,
        "agrees": max_diff <= cfg.atol,
        "events_per_s": round(len(x) / seconds, 1) if seconds > 0 else None,
    }
    write_json(out_dir / "artifact.json", record)
    return record
