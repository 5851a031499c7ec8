"""Teach hls4ml's bit-exact precision pass the ``Resize`` layer (Keras UpSampling1D/2D).

hls4ml 1.3's ``bit_exact=True`` propagates (keep-sign, integer, fractional) bits per element
through the graph with one ``produce_kif`` function per layer class; it has none for ``Resize``
and refuses the conversion. Nearest-neighbour upsampling only copies values, so the output of
each element has exactly the type of the input element it copies: the input's kif arrays
repeated along the spatial axes (or, for a non-integer scale, the per-channel maximum, which is
still exact, only possibly wider). Bilinear resizing computes new values and is refused.

The output type is set to the input's own type (rounding and saturation modes included), since
hls4ml's streaming ``resize_nearest`` takes one type for its input and output streams.

The pass dispatches on the layer class (``functools.singledispatch``); there is no public hook
for it, so :func:`register_resize_kif` registers both handlers once on its dispatchers
(idempotent; checked by the DQM autoencoder's bit-exact firmware test).
"""

from __future__ import annotations

import numpy as np

__all__ = ["register_resize_kif", "same_precision"]

_REGISTERED = False


def _resize_kif(layer):
    from hls4ml.model.optimizer.passes.bit_exact import get_input_kifs, get_output_shape

    if layer.attributes.get("algorithm", "nearest") != "nearest":
        raise NotImplementedError(
            f"layer {layer.name}: only nearest-neighbour Resize (UpSampling) is bit-exact here"
        )
    out_shape = tuple(get_output_shape(layer))
    kifs = []
    for arr in get_input_kifs(layer)[0]:
        arr = np.asarray(arr)
        for axis in range(arr.ndim - 1):  # spatial axes; channels last
            factor, rest = divmod(out_shape[axis], arr.shape[axis])
            if rest:  # not an integer scale: the channel's widest type everywhere
                arr = np.broadcast_to(arr.max(axis=axis, keepdims=True), out_shape)
                continue
            arr = np.repeat(arr, factor, axis=axis)
        kifs.append(np.ascontiguousarray(np.broadcast_to(arr, out_shape)).astype(np.int16))
    return tuple(kifs)


def same_precision(node) -> None:
    """The output type is the input's, rounding and saturation modes included: the values are
    copies (resize, padding, cropping), and hls4ml's streaming ``resize_nearest`` takes one type
    for both streams."""
    from copy import copy

    from hls4ml.model.types import NamedType

    src = node.get_input_variable().type.precision
    result_t = NamedType(f"{node.name}_t", copy(src))
    node.attributes["result_t"] = result_t
    node.get_output_variable().type = result_t


def register_resize_kif() -> None:
    """Register the ``Resize`` handlers on hls4ml's bit-exact pass (once)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from hls4ml.model.layers import Resize
    from hls4ml.model.optimizer.passes import bit_exact

    if Resize not in bit_exact._produce_kif.registry:
        bit_exact._produce_kif.register(Resize)(_resize_kif)
    if Resize not in bit_exact.register_precision.registry:
        bit_exact.register_precision.register(Resize)(same_precision)
    _REGISTERED = True
