"""hls4ml layer handler for :class:`nanotrig.models.standardise` ``Po2Standardise``.

The layer ``(x - offset) * 2**-shift`` becomes hls4ml's ``ApplyAlpha`` (its BatchNormalization
computation, ``x * scale + bias``) with ``scale = 2**-shift`` and ``bias = -offset * 2**-shift``:
both powers of two times short integers, so hls4ml's bit-exact pass gives the constants and
the result exact types (interval arithmetic on ``x * scale + bias``), and ``x * scale + bias``
equals Keras's ``(x - offset) * 2**-shift`` exactly (no rounding on either side). Registered
once through hls4ml's public ``register_keras_v2_layer_handler``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["register_po2_standardise"]

_REGISTERED = False


def _parse(keras_layer, input_names, input_shapes, data_reader, *args):
    cfg = keras_layer["config"]
    scale = np.ldexp(1.0, -np.asarray(cfg["shifts"], dtype=int))
    bias = -np.asarray(cfg["offsets"], dtype=np.float64) * scale
    n_in = int(np.prod([d for d in input_shapes[0][1:]]))
    layer = {
        "name": cfg["name"],
        "class_name": "ApplyAlpha",
        "inputs": input_names,
        "n_in": n_in,
        "n_out": n_in,
        "n_filt": -1 if len(input_shapes[0]) == 2 else int(input_shapes[0][-1]),
        "scale_data": scale,
        "bias_data": bias,
        "scale_quantizer": None,
        "bias_quantizer": None,
        "scale_precision": None,
        "bias_precision": None,
    }
    return layer, list(input_shapes[0])


def register_po2_standardise() -> None:
    """Register the handler with hls4ml's Keras 2 front end (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from hls4ml.converters import register_keras_v2_layer_handler
    from hls4ml.converters.keras_v2_to_hls import layer_handlers
    from nanotrig.models.standardise import standardise_class

    name = standardise_class().__name__
    if name not in layer_handlers:
        register_keras_v2_layer_handler(name, _parse)
    _REGISTERED = True
