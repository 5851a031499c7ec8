"""ONNX export and onnxruntime inference (stage 5): float (tf2onnx) and quantized (QDQ)."""

from nanotrig.export.infer import infer, load_inputs
from nanotrig.export.onnx_export import keras_to_onnx
from nanotrig.export.qcheck import compare_qdq, export_quantized, is_qkeras_model
from nanotrig.export.qdq import build_qdq_proto, qkeras_to_qdq, supported_layers
from nanotrig.export.runtime import OnnxModel
from nanotrig.export.stage import export_model

__all__ = [
    "OnnxModel",
    "build_qdq_proto",
    "compare_qdq",
    "export_model",
    "export_quantized",
    "infer",
    "is_qkeras_model",
    "keras_to_onnx",
    "load_inputs",
    "qkeras_to_qdq",
    "supported_layers",
]
