"""Quantized model -> ONNX through tf2onnx, for graphs the QDQ builder does not take.

The QDQ path (:mod:`export.qdq`) handles chains of layers, ``Multiply()([x, x])`` included:
``nanotrig run`` writes the anomaly score model as QDQ (:func:`nanotrig.export.score.
export_quantized_score`). This module stays for other graphs, the anomaly notebook and the
benchmark's comparison row. tf2onnx converts the QKeras graph as TensorFlow runs it: each
quantizer becomes ``Mul``/``Round``/``Min``/``Max`` in float32, so the ONNX model computes the
same float32 operations as QKeras and its outputs are compared for exact equality (several
times slower than the QDQ graph in onnxruntime).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from nanotrig.export.onnx_export import keras_to_onnx
from nanotrig.export.runtime import OnnxModel

from nanotrig.fileio import file_sha256, prepare_output_dir, write_json

__all__ = ["export_quantized_tf2onnx"]


def export_quantized_tf2onnx(
    model_path: Path, inputs: np.ndarray, out_dir: Path, opset: int = 13, force: bool = False
) -> dict:
    """Export the QKeras model ``model_path`` to ``out_dir/<stem>.onnx``; compare it with
    QKeras on ``inputs`` event by event (``exact``: every output identical)."""
    from nanotrig.quantize import load_keras_model

    model = load_keras_model(model_path)
    out_dir = prepare_output_dir(out_dir, force)
    dest = keras_to_onnx(model, out_dir / f"{Path(model_path).stem}.onnx", opset)
    onnx_model = OnnxModel(dest)
    x = np.asarray(inputs, dtype=np.float32)
    t0 = time.perf_counter()
    y_onnx = np.asarray(onnx_model.predict(x)).reshape(len(x), -1)
    seconds = time.perf_counter() - t0
    y_keras = np.asarray(model.predict(x, batch_size=4096, verbose=0)).reshape(len(x), -1)
    bad = np.any(y_onnx != y_keras, axis=1)
    record = {
        "stage": "export_quantized",
        "onnx": str(dest),
        "sha256": file_sha256(dest),
        "source_model": str(model_path),
        "method": "tf2onnx of the QKeras graph (float32 quantizer ops)",
        "opset": opset,
        "providers": onnx_model.providers,
        "n_events": len(x),
        "n_mismatch": int(bad.sum()),
        "max_abs_diff": float(np.max(np.abs(y_onnx.astype(np.float64) - y_keras))),
        "exact": not bad.any(),
        "events_per_s": round(len(x) / seconds, 1) if seconds > 0 else None,
    }
    write_json(out_dir / "artifact.json", record)
    return record
