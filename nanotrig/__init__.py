"""nanotrig: trigger-ML toolchain from Pythia samples to bit-exact hls4ml firmware and ONNX.

The stage packages (``samples``, ``models``, ``quantize``, ``hls``, ``export``) hold the work;
this package holds what they share (errors, typed configs, file I/O) and the front door
(``nanotrig.cli``). Importing it is cheap: TensorFlow and hls4ml load only where used.
"""

from nanotrig.keras_choice import install as _install_keras_choice

# One Keras for every stage and for the user's own script: TensorFlow decides on first use
# whether ``tf.keras`` is the ``keras`` package or ``tf_keras``, from TF_USE_LEGACY_KERAS.
# tensorflow-model-optimization (a QKeras dependency) sets it to 1 on import, after QKeras has
# built its layers on ``keras``; a script that imports nanotrig (before or after QKeras, as long
# as it has not used ``keras`` yet) and a child process (a notebook kernel, a worker) get the
# ``keras`` package (Keras 2.15) throughout. See nanotrig/keras_choice.py.
_install_keras_choice()

__version__ = "0.1.0"
__all__ = ["__version__"]
