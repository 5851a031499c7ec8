"""Teach hls4ml's bit-exact precision pass ZeroPadding1D/2D and Cropping1D/2D.

hls4ml 1.3's ``bit_exact=True`` has no ``produce_kif`` for these layers and refuses the
conversion. Both only move values: cropping drops border elements, padding adds zeros (which
need no bits). The output kif arrays are the input's, cropped or zero-padded along the spatial
axes (channels last), and the output type is the input's own type (rounding and saturation modes
included), as for :mod:`hls.resize_kif`.

Registered once on the pass's ``singledispatch`` functions by :func:`register_padding_kif`.
"""

from __future__ import annotations

import numpy as np
from nanotrig.hls.resize_kif import same_precision

__all__ = ["register_padding_kif"]

_REGISTERED = False


def _widths(layer, kind: str) -> list[tuple[int, int]]:
    """(before, after) per spatial axis from the layer's pad_*/crop_* attributes."""
    get = layer.attributes.get
    width = (get(f"{kind}_left"), get(f"{kind}_right"))
    if get(f"{kind}_top") is None:
        return [width]
    return [(get(f"{kind}_top"), get(f"{kind}_bottom")), width]


def _pad_kif(layer):
    from hls4ml.model.optimizer.passes.bit_exact import get_input_kifs

    widths = [*_widths(layer, "pad"), (0, 0)]
    return tuple(np.pad(np.asarray(a), widths).astype(np.int16) for a in get_input_kifs(layer)[0])


def _crop_kif(layer):
    from hls4ml.model.optimizer.passes.bit_exact import get_input_kifs

    out = []
    for a in get_input_kifs(layer)[0]:
        a = np.asarray(a)
        index = [slice(lo, a.shape[ax] - hi) for ax, (lo, hi) in enumerate(_widths(layer, "crop"))]
        out.append(np.ascontiguousarray(a[(*index, slice(None))]).astype(np.int16))
    return tuple(out)


def register_padding_kif() -> None:
    """Register the padding and cropping handlers on hls4ml's bit-exact pass (once)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from hls4ml.model.layers import Cropping1D, Cropping2D, ZeroPadding1D, ZeroPadding2D
    from hls4ml.model.optimizer.passes import bit_exact

    for cls, kif in (
        (ZeroPadding1D, _pad_kif),
        (ZeroPadding2D, _pad_kif),
        (Cropping1D, _crop_kif),
        (Cropping2D, _crop_kif),
    ):
        if cls not in bit_exact._produce_kif.registry:
            bit_exact._produce_kif.register(cls)(kif)
        if cls not in bit_exact.register_precision.registry:
            bit_exact.register_precision.register(cls)(same_precision)
    _REGISTERED = True
