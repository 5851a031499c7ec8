"""hls4ml conversion with bit-exact C-simulation.

``convert_model`` turns a QKeras .h5 into an hls4ml project whose precisions come from the
quantizers (hls4ml's bit-exact pass); ``verify_project`` compiles it with g++ and compares every
layer with the QKeras reference (large inputs stream in chunks through ``build_batch_sim``'s
batched harness, one native call per chunk); ``load_inputs`` reads the input arrays both take.
``estimate_model`` estimates latency and resources from the hls4ml graph (checked against a
budget by ``check_budget``); ``synth_project`` runs vendor C synthesis where installed and
``parse_csynth_xml`` reads its report. ``known_parts`` / ``get_part`` give the FPGA parts of
``nanotrig/parts.yml``; ``verify_and_record`` is ``nanotrig verify`` (writes ``verify.json``).
"""

from nanotrig.hls.batch import BatchSim, build_batch_sim
from nanotrig.hls.budget import check_budget
from nanotrig.hls.convert import convert_model, layer_precisions
from nanotrig.hls.estimate import Estimate, LayerEstimate, estimate_model
from nanotrig.hls.inputs import edge_inputs, load_inputs, stress_inputs, validate_inputs
from nanotrig.hls.model_io import SUPPORTED_LAYERS, load_qkeras_model, prepare_reference
from nanotrig.hls.synth import parse_csynth_xml, synth_project
from nanotrig.hls.verify import (
    VerifyResult,
    keras_layer_outputs,
    verify_and_record,
    verify_project,
)

from nanotrig.parts import Part, get_part, known_parts

__all__ = [
    "SUPPORTED_LAYERS",
    "BatchSim",
    "Estimate",
    "LayerEstimate",
    "Part",
    "VerifyResult",
    "build_batch_sim",
    "check_budget",
    "convert_model",
    "edge_inputs",
    "estimate_model",
    "get_part",
    "keras_layer_outputs",
    "known_parts",
    "layer_precisions",
    "load_inputs",
    "load_qkeras_model",
    "parse_csynth_xml",
    "prepare_reference",
    "stress_inputs",
    "synth_project",
    "validate_inputs",
    "verify_and_record",
    "verify_project",
]
