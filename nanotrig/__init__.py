"""nanotrig: trigger-ML toolchain from Pythia samples to bit-exact hls4ml firmware and ONNX.

The stage packages (``samples``, ``models``, ``quantize``, ``hls``, ``export``) hold the work;
this package holds what they share (errors, typed configs, file I/O) and the front door
(``nanotrig.cli``). Importing it is cheap: TensorFlow and hls4ml load only where used.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
