"""ONNX export and onnxruntime inference (stage 5)."""

from export.onnx_export import keras_to_onnx
from export.runtime import OnnxModel
from export.stage import export_model

__all__ = ["OnnxModel", "export_model", "keras_to_onnx"]
