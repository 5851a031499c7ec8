"""``QGarNet``: hls4ml's GarNet with ``quantize_transforms=True`` that survives serialisation.

``hls4ml.contrib.garnet.GarNet(quantize_transforms=True, total_bits=B, int_bits=I)`` quantizes
the FLR kernel and bias and the Fout kernel with ``quantized_bits(B, I, 0, alpha=1)``
(``contrib/garnet.py`` l. 64-83), but ``get_config`` (l. 247-263) drops ``total_bits`` and
``int_bits``: the layer cannot be rebuilt from its config, and hls4ml's handler cannot see them
(it substitutes ternary weights; see ``hls.garnet_convert``). ``QGarNet`` is the same layer with
those two keys in its config and its own class name, which ``hls.garnet_convert`` registers an
hls4ml handler for.
"""

from __future__ import annotations

from hls4ml.contrib.garnet import GarNet

__all__ = ["QGarNet", "transform_quantizer"]


def transform_quantizer(total_bits: int, int_bits: int):
    """The quantizer GarNet applies to its FLR kernel/bias and Fout kernel."""
    from qkeras import quantized_bits

    return quantized_bits(total_bits, int_bits, 0, alpha=1)


class QGarNet(GarNet):
    """GarNet with quantized transforms; ``total_bits`` and ``int_bits`` are required."""

    def __init__(self, *args, total_bits: int, int_bits: int, **kwargs) -> None:
        kwargs["quantize_transforms"] = True
        super().__init__(*args, total_bits=total_bits, int_bits=int_bits, **kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(total_bits=self._total_bits, int_bits=self._int_bits)
        config.pop("quantize_transforms", None)
        return config
