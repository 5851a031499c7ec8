"""QKeras counterparts of the float models and quantization-aware training (stage 3)."""

from nanotrig.quantize.ptq import ptq_model
from nanotrig.quantize.qmodel import INPUT_QUANT_NAME, build_qmodel, layer_bits, quantizer_strings
from nanotrig.quantize.stage import QMODEL_FILE, load_keras_model, quantize_model

__all__ = [
    "INPUT_QUANT_NAME",
    "QMODEL_FILE",
    "build_qmodel",
    "layer_bits",
    "load_keras_model",
    "ptq_model",
    "quantize_model",
    "quantizer_strings",
]
