"""nanotrig: trigger-ML toolchain from Pythia samples to bit-exact hls4ml firmware and ONNX.

The stage packages (``samples``, ``models``, ``quantize``, ``hls``, ``export``) hold the work;
this package holds what they share (errors, typed configs, file I/O) and the front door
(``nanotrig.cli``). Importing it is cheap: TensorFlow and hls4ml load only where used.
"""

import os

# One Keras for every stage: TensorFlow decides at import whether ``tf.keras`` is the ``keras``
# package or ``tf_keras`` from TF_USE_LEGACY_KERAS. tensorflow-model-optimization (a QKeras
# dependency) sets it to 1 on import, so a child process (a notebook kernel, a worker) would
# inherit it and build models from tf_keras that ``keras`` cannot load back. Every stage
# imports this package before TensorFlow, so they all get the ``keras`` package (Keras 2.15).
os.environ["TF_USE_LEGACY_KERAS"] = "0"

__version__ = "0.1.0"
__all__ = ["__version__"]
