"""The export stage: float Keras model -> ONNX, with agreement against Keras on test inputs."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from nanotrig.export.onnx_export import keras_to_onnx
from nanotrig.export.runtime import OnnxModel

from nanotrig.config import ExportConfig
from nanotrig.errors import VerificationError
from nanotrig.fileio import file_sha256, prepare_output_dir, write_json

__all__ = ["export_model"]


def export_model(
    model_path: Path, inputs: np.ndarray, cfg: ExportConfig, out_dir: Path, force: bool = False
) -> dict:
    """Export ``model_path`` to ``out_dir/<stem>.onnx`` and check it against Keras on ``inputs``.

    Raises VerificationError if max |ONNX - Keras| exceeds ``cfg.atol``.
    """
    from nanotrig.quantize import load_keras_model

    model = load_keras_model(model_path)
    out_dir = prepare_output_dir(out_dir, force)
    dest = keras_to_onnx(model, out_dir / f"{Path(model_path).stem}.onnx", cfg.opset)
    onnx_model = OnnxModel(dest)
    t0 = time.perf_counter()
    y_onnx = onnx_model.predict(inputs)
    seconds = time.perf_counter() - t0
    y_keras = model.predict(inputs, batch_size=4096, verbose=0)
    max_diff = float(np.abs(y_onnx - y_keras).max())
    record = {
        "stage": "export",
        "onnx": str(dest),
        "sha256": file_sha256(dest),
        "source_model": str(model_path),
        "opset": cfg.opset,
        "providers": onnx_model.providers,
        "n_events": len(inputs),
        "max_abs_diff": max_diff,
        "atol": cfg.atol,
        "argmax_agreement": float((y_onnx.argmax(1) == y_keras.argmax(1)).mean()),
        "agrees": max_diff <= cfg.atol,
        "events_per_s": round(len(inputs) / seconds, 1) if seconds > 0 else None,
    }
    write_json(out_dir / "artifact.json", record)
    if not record["agrees"]:
        raise VerificationError(
            f"ONNX output differs from Keras by {max_diff:.3g} > atol {cfg.atol:g}: "
            "check the opset or the model's custom layers"
        )
    return record
