"""Keras -> ONNX with tf2onnx, checked with onnx.checker."""

from __future__ import annotations

import logging
from pathlib import Path

from nanotrig.export.metadata import set_input_metadata

from nanotrig.errors import ModelError
from nanotrig.fileio import atomic_path

__all__ = ["keras_to_onnx"]

log = logging.getLogger(__name__)


def keras_to_onnx(model, dest: Path, opset: int = 13, inputs_record: dict | None = None) -> Path:
    """Convert a float Keras model to ONNX (batch dimension dynamic), validate and write it;
    the model's input record (``inputs_record``, else the model's own) goes into its metadata
    (``nanotrig.inputs``)."""
    import onnx
    import tensorflow as tf
    import tf2onnx

    spec = tuple(
        tf.TensorSpec((None, *t.shape[1:]), tf.float32, name=t.name.split(":")[0])
        for t in model.inputs
    )
    try:
        proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset)
    except Exception as err:  # tf2onnx raises bare exceptions for unsupported ops
        raise ModelError(
            f"tf2onnx could not convert model {model.name}: {str(err).splitlines()[0]}"
        ) from None
    set_input_metadata(proto, model, inputs_record)
    onnx.checker.check_model(proto)
    with atomic_path(dest) as tmp:
        onnx.save_model(proto, str(tmp))
    log.info("wrote %s (opset %d)", dest, opset)
    return Path(dest)
