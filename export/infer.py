"""Batch inference with an ONNX file: inputs .npy / .h5 -> predictions .npy plus a record."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from nanotrig.export.metadata import onnx_input_spec
from nanotrig.export.runtime import OnnxModel
from nanotrig.models.input_check import check_input_file

from nanotrig.errors import DataError
from nanotrig.fileio import atomic_path, file_sha256
from nanotrig.inputs import load_inputs

__all__ = ["infer", "load_inputs"]

log = logging.getLogger(__name__)


def infer(
    onnx_path: str | Path,
    inputs_path: str | Path,
    out_path: str | Path = "preds.npy",
    batch_size: int = 16384,
    providers: list[str] | None = None,
    progress: bool | None = None,
) -> dict:
    """Run ``onnx_path`` on the inputs in ``inputs_path``; write predictions to ``out_path``.

    A file that does not hold what the model expects (its ``nanotrig.inputs`` metadata:
    features, shape, raw values) is refused before anything is written; of an ``.h5`` file,
    the dataset the model records is read (default ``features``; DQM: ``maps``).

    ``out_path`` (.npy) is written atomically. Returns a record: paths, hashes, provider,
    event count, output shape, seconds and events/s.
    """
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".npy":
        raise DataError(f"output {out_path} must end in .npy")
    model = OnnxModel(onnx_path, providers)
    spec = onnx_input_spec(onnx_path) or {}
    dataset = spec.get("dataset") or "features"  # an .h5's dataset: the one the model records
    check_input_file(inputs_path, spec, dataset)
    x = load_inputs(inputs_path, dataset)
    if [*x.shape[1:], 1] == list(spec.get("shape") or ()):
        x = x[..., None]  # maps (N, H, W) as the sample stores them; the model adds no axis
    t0 = time.perf_counter()
    y = model.predict(x, batch_size=batch_size, progress=progress)
    seconds = time.perf_counter() - t0
    with atomic_path(out_path) as tmp, open(tmp, "wb") as f:
        np.save(f, y)
    log.info("wrote %s: %d predictions in %.3f s", out_path, len(y), seconds)
    return {
        "onnx": str(onnx_path),
        "onnx_sha256": file_sha256(onnx_path),
        "inputs": str(inputs_path),
        "out": str(out_path),
        "out_sha256": file_sha256(out_path),
        "providers": model.providers,
        "batch_size": batch_size,
        "n_events": len(x),
        "output_shape": list(y.shape),
        "seconds": round(seconds, 4),
        "events_per_s": round(len(x) / seconds, 1) if seconds > 0 else None,
    }
