"""Keep ``tf.keras`` the ``keras`` package (Keras 2.15) after QKeras is imported.

TensorFlow 2.15 picks what ``tf.keras`` means on its first use, from ``TF_USE_LEGACY_KERAS``.
QKeras resolves its layers' base classes (``keras``) as it is imported, and then imports
tensorflow-model-optimization, whose ``compat`` module sets ``TF_USE_LEGACY_KERAS=1``. A script
written as QKeras' documentation shows (``from tensorflow import keras``, ``import qkeras``, then
``keras.Input``) therefore mixed two Kerases: ``keras.Input``/``keras.Model`` from ``tf_keras``
around QKeras layers from ``keras``, and the saved .h5 held TensorFlow ops in place of the
QKeras layers. :func:`install` puts the variable back to "0" as soon as that module has run.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys

__all__ = ["MIXED_KERAS_FIX", "TFMOT_COMPAT", "install"]

TFMOT_COMPAT = "tensorflow_model_optimization.python.core.keras.compat"


class _RestoreAfter(importlib.abc.Loader):
    """Run the real loader, then set ``TF_USE_LEGACY_KERAS`` back to "0"."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        try:
            self._loader.exec_module(module)
        finally:
            os.environ["TF_USE_LEGACY_KERAS"] = "0"


class _Finder(importlib.abc.MetaPathFinder):
    """Wraps the loader of tensorflow-model-optimization's ``compat`` module, once."""

    def find_spec(self, name, path, target=None):
        if name != TFMOT_COMPAT:
            return None
        sys.meta_path.remove(self)  # the real finders locate it; we are not asked twice
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _RestoreAfter(spec.loader)
        return spec


def install() -> None:
    """Choose the ``keras`` package for ``tf.keras`` now and after QKeras' import (idempotent)."""
    os.environ["TF_USE_LEGACY_KERAS"] = "0"
    if TFMOT_COMPAT not in sys.modules and not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


#: Why a saved model holds ``TFOpLambda`` layers where QKeras layers were, and the fix.
MIXED_KERAS_FIX = (
    "TensorFlow ops stand where the QKeras layers were: the training script built the model "
    "with tf_keras around QKeras' keras layers; fix: add `import nanotrig` before "
    "`from tensorflow import keras` / `import qkeras` in it, train and save again"
)
