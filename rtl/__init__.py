"""RTL without a vendor tool: da4ml Verilog of a converted project, Verilator, Yosys.

``build_rtl`` traces the converted io_parallel project's exact fixed-point arithmetic with da4ml
(:mod:`rtl.trace`, casts in :mod:`rtl.casts`), writes Verilog (combinational or pipelined),
compares its Verilator simulation with the QKeras logits, da4ml and the integer kernel bit for
bit (:mod:`rtl.simulate`), and adds Yosys's LUT/FF/CARRY/DSP/BRAM counts and logic depth
(:mod:`rtl.synth`) to the record it writes as ``artifact.json``.
"""

from nanotrig.rtl.build import ARTIFACT_FILE, MISMATCH_FILE, OUTPUTS_FILE, build_rtl
from nanotrig.rtl.layers import read_layers
from nanotrig.rtl.synth import synthesize
from nanotrig.rtl.trace import trace_layers

__all__ = [
    "ARTIFACT_FILE",
    "MISMATCH_FILE",
    "OUTPUTS_FILE",
    "build_rtl",
    "read_layers",
    "synthesize",
    "trace_layers",
]
