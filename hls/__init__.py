"""hls4ml conversion with bit-exact C-simulation.

``convert_model`` turns a QKeras .h5 into an hls4ml project whose precisions come from the
quantizers (hls4ml's bit-exact pass); ``verify_project`` compiles it with g++ and compares every
layer with the QKeras reference; ``load_inputs`` reads the input arrays both take.
"""

from hls.convert import convert_model, layer_precisions
from hls.inputs import edge_inputs, load_inputs, validate_inputs
from hls.model_io import SUPPORTED_LAYERS, load_qkeras_model, prepare_reference
from hls.verify import VerifyResult, keras_layer_outputs, verify_project

__all__ = [
    "SUPPORTED_LAYERS",
    "VerifyResult",
    "convert_model",
    "edge_inputs",
    "keras_layer_outputs",
    "layer_precisions",
    "load_inputs",
    "load_qkeras_model",
    "prepare_reference",
    "validate_inputs",
    "verify_project",
]
