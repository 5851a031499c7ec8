"""ONNX export of a GarNet tagger (float or QGarNet): two inputs, class scores vs Keras."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from nanotrig.export.onnx_export import keras_to_onnx

from nanotrig.fileio import file_sha256, write_json

__all__ = ["QUANTIZED_ATOL", "export_garnet"]

#: Allowed |ONNX - QKeras| on the class scores of the quantized tagger: onnxruntime's float32
#: kernels for the QGarNet layer round differently from TensorFlow's, so the scores are not
#: bit-identical (measured on the default run: 3.3e-4 at most, argmax identical).
QUANTIZED_ATOL = 1e-3


def export_garnet(
    model, x: list[np.ndarray], out_dir: Path, name: str, opset: int, atol: float,
    spec: dict | None = None,
) -> dict:  # fmt: skip
    """A GarNet tagger (float, or the QGarNet one) -> ONNX (tf2onnx); class scores vs Keras on
    ``x`` (constituents, counts), within ``atol``; ``spec``: the input record for the ONNX
    metadata (:func:`nanotrig.models.garnet_input_record.garnet_input_spec`)."""
    import onnxruntime as ort

    dest = keras_to_onnx(model, out_dir / name, opset, inputs_record=spec)
    sess = ort.InferenceSession(str(dest), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    feeds = dict(zip(names, (np.asarray(a, dtype=np.float32) for a in x), strict=True))
    y_onnx = sess.run(None, feeds)[0]
    y_keras = model.predict(x, batch_size=1024, verbose=0)
    max_diff = float(np.abs(y_onnx - y_keras).max())
    record = {
        "stage": "export",
        "onnx": str(dest),
        "sha256": file_sha256(dest),
        "opset": opset,
        "inputs": names,
        "providers": sess.get_providers(),
        "n_events": len(y_keras),
        "max_abs_diff": max_diff,
        "exact": bool(np.array_equal(y_onnx, y_keras)),
        "argmax_agreement": float(np.mean(y_onnx.argmax(1) == y_keras.argmax(1))),
        "atol": atol,
        "agrees": max_diff <= atol,
    }
    write_json(out_dir / "artifact.json", record)
    return record
