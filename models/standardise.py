"""Input standardisation inside the model, in exact fixed-point arithmetic.

The deployed model takes the features as the trigger sends them (physical units). Its first
layer, :class:`Po2Standardise`, computes ``(x - offset) * 2**-shift`` per feature: ``shift`` is
the integer nearest ``log2`` of the feature's standard deviation on the training jets and
``offset`` its mean rounded to a multiple of ``2**(shift - OFFSET_FRAC_BITS)`` (never finer than
the raw input type's LSB). On inputs on the raw type's grid this is exact in float32 (Keras,
ONNX) and in fixed point (an adder and a wire shift in firmware): hls4ml converts it to a
scale-and-bias layer whose bit-exact precision pass derives exact types from these constants.

The layer also carries what the model expects (:func:`input_spec`): the HDF5 dataset, the
feature names and units, the shape and the training mean and spread of every feature, so that
every stage can record it and refuse inputs that do not match.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from nanotrig.config import QuantBits

__all__ = [
    "OFFSET_FRAC_BITS",
    "STANDARDISE_NAME",
    "Po2Scaling",
    "input_spec",
    "po2_standardise_layer",
    "standardise_class",
]

#: Name of the layer in every model that standardises inside.
STANDARDISE_NAME = "standardise"
#: Offsets are multiples of ``2**(shift - OFFSET_FRAC_BITS)``: 1/256 of the feature's scale.
OFFSET_FRAC_BITS = 8


@dataclass(frozen=True)
class Po2Scaling:
    """Per-feature ``offset`` (raw units) and integer ``shift``, plus the training statistics."""

    offsets: tuple[float, ...]
    shifts: tuple[int, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, x: np.ndarray, raw: QuantBits) -> Po2Scaling:
        """Fit on training features ``x`` (N, F) in raw units, for raw inputs of type ``raw``."""
        x = np.asarray(x, dtype=np.float64)
        mean, std = x.mean(axis=0), x.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        shifts = np.rint(np.log2(std)).astype(int)
        raw_frac = raw.bits - 1 - raw.integer
        grid = np.ldexp(1.0, np.maximum(shifts - OFFSET_FRAC_BITS, -raw_frac))
        top = 2.0**raw.integer
        offsets = np.clip(np.round(mean / grid) * grid, -top, top - grid)
        return cls(
            tuple(float(v) for v in offsets), tuple(int(s) for s in shifts),
            tuple(float(v) for v in mean), tuple(float(v) for v in std),
        )  # fmt: skip


def standardise_class():
    """The Keras layer class (built on first use: TensorFlow loads only when needed)."""
    global _CLASS
    if _CLASS is None:
        _CLASS = _make_class()
    return _CLASS


_CLASS: Any = None


def _make_class():
    import keras
    import tensorflow as tf

    class Po2Standardise(keras.layers.Layer):
        """``(x - offset) * 2**-shift`` per feature (last axis), clipped to ``[-clip, clip]``
        (None: not clipped); ``spec`` describes the inputs."""

        def __init__(self, offsets, shifts, clip: float | None = None, spec: dict | None = None,
                     **kwargs) -> None:  # fmt: skip
            super().__init__(**kwargs)
            self.offsets = [float(v) for v in offsets]
            self.shifts = [int(s) for s in shifts]
            self.clip = None if clip is None else float(clip)
            self._spec_json = json.dumps(dict(spec or {}), sort_keys=True)
            self._offset = tf.constant(self.offsets, dtype=tf.float32)
            self._scale = tf.constant(np.ldexp(1.0, -np.array(self.shifts)), dtype=tf.float32)

        @property
        def spec(self) -> dict:
            """What the model expects as input (plain JSON types)."""
            return json.loads(self._spec_json)

        def call(self, inputs):
            y = (inputs - self._offset) * self._scale
            return y if self.clip is None else tf.clip_by_value(y, -self.clip, self.clip)

        def get_config(self) -> dict:
            return {
                **super().get_config(),
                "offsets": list(self.offsets),
                "shifts": list(self.shifts),
                "clip": self.clip,
                "spec": self.spec,
            }

    return Po2Standardise


def po2_standardise_layer(
    scaling: Po2Scaling, spec: dict, model_input: QuantBits, name: str = STANDARDISE_NAME
):
    """A :class:`Po2Standardise` layer for ``scaling``; ``spec`` as :func:`input_spec` gives.

    The output is clipped to ``+-2**model_input.integer``: the quantizer of the model's input
    (``model_input``) saturates there anyway, and without the clip QKeras's float32
    straight-through quantizer leaves its grid on values beyond ``2**(23 - frac)`` (raw
    inputs at the edge of their type, scaled up by ``2**-shift``)."""
    spec = {**spec, "train_mean": list(scaling.mean), "train_std": list(scaling.std)}
    clip = 2.0**model_input.integer
    return standardise_class()(scaling.offsets, scaling.shifts, clip, spec=spec, name=name)


def input_spec(model) -> dict | None:
    """What ``model`` expects as input, from its :class:`Po2Standardise` layer (None if none):
    dataset, feature names, units, shape, ``raw: True`` and the standardisation constants."""
    for layer in model.layers:
        if type(layer).__name__ == "Po2Standardise":
            spec = dict(layer.spec)
            spec.update(
                raw=True,
                shape=[int(d) for d in model.input_shape[1:]],
                standardisation={
                    "layer": layer.name,
                    "rule": "(x - offset) * 2**-shift per feature, clipped to [-clip, clip]",
                    "offset": [float(v) for v in layer.offsets],
                    "shift": [int(v) for v in layer.shifts],
                    "clip": layer.clip,
                },
            )
            return spec
    return None
