"""The export stage: float Keras model -> ONNX, with agreement against Keras on test inputs."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from nanotrig.export.onnx_export import keras_to_onnx
from nanotrig.export.runtime import OnnxModel

from nanotrig.config import ExportConfig
from nanotrig.errors import VerificationError
from nanotrig.fileio import (
    atomic_path,
    check_output_dir,
    file_sha256,
    prepare_output_dir,
    write_json,
)
from nanotrig.inputs import check_inputs

__all__ = ["export_model"]


def export_model(
    model_path: Path, inputs: np.ndarray, cfg: ExportConfig, out_dir: Path, force: bool = False,
    compare: Callable[[np.ndarray, np.ndarray, np.ndarray], dict] | None = None,
    raise_on_disagreement: bool = True,
) -> dict:  # fmt: skip
    """Export ``model_path`` to ``out_dir/<stem>.onnx`` and check it against Keras on ``inputs``.

    The model, the inputs (shape, finite values) and ``out_dir`` are checked, and the ONNX file
    is made and run in a temporary folder, before ``out_dir`` is touched: bad input leaves no
    file. ``compare(x, y_onnx, y_keras)`` adds a model's own figures to the record. Raises
    VerificationError (after writing the record) if max |ONNX - Keras| exceeds ``cfg.atol``,
    unless ``raise_on_disagreement`` is False (the record's ``agrees`` says so).
    """
    from nanotrig.quantize import load_keras_model

    model = load_keras_model(model_path)
    x = check_inputs(inputs, model.input_shape[1:], f"model {Path(model_path).name}")
    check_output_dir(out_dir, force)
    name = f"{Path(model_path).stem}.onnx"
    with tempfile.TemporaryDirectory(prefix="nanotrig-export-") as tmp:
        made = keras_to_onnx(model, Path(tmp) / name, cfg.opset)
        onnx_model = OnnxModel(made)
        t0 = time.perf_counter()
        y_onnx = onnx_model.predict(x)
        seconds = time.perf_counter() - t0
        y_keras = model.predict(x, batch_size=4096, verbose=0)
        out_dir = prepare_output_dir(out_dir, force)
        dest = out_dir / name
        with atomic_path(dest) as part:
            shutil.copyfile(made, part)
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
        "atol": cfg.atol,
        "argmax_agreement": float((y_onnx.argmax(1) == y_keras.argmax(1)).mean()),
        "agrees": max_diff <= cfg.atol,
        "events_per_s": round(len(x) / seconds, 1) if seconds > 0 else None,
        **(compare(x, y_onnx, y_keras) if compare is not None else {}),
    }
    write_json(out_dir / "artifact.json", record)
    if not record["agrees"] and raise_on_disagreement:
        raise VerificationError(
            f"ONNX output differs from Keras by {max_diff:.3g} > atol {cfg.atol:g}: "
            "check the opset or the model's custom layers"
        )
    return record
