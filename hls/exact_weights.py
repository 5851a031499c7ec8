"""Give power-of-two and binary (XNOR) weights and binary activations plain fixed-point types.

hls4ml 1.3 stores ``quantized_po2`` weights (and the power-of-two scale of an
``alpha='auto_po2'`` quantizer) as exponents, binary weights and activations as one-bit XNOR
codes (0 for -1). Its bit-exact precision pass does not know these encodings: it reads the codes
as values (binary weights typed ``ufixed<1,1>``, so every -1 becomes 0) and leaves the exponent
types undeclared (the C++ does not compile). The values themselves are small exact binary
fractions, so this pass, run right before ``bit_exact`` in hls4ml's ``convert`` flow, replaces
each such weight by the plain values (-1/+1, +-2^k) in a fixed-point type that holds them
exactly, and types a binary activation's output as a signed 2-bit integer (-1/+1). The
firmware then multiplies instead of using shifts or XNOR gates (same values, a few more LUTs).

Registered once through hls4ml's public ``register_pass`` and ``update_flow``
(:func:`register_exact_weights`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["PASS_NAME", "register_exact_weights"]

PASS_NAME = "nanotrig_exact_special_weights"
_FLOW = "convert"
_BEFORE = "bit_exact"
_REGISTERED = False


def _special_weights(node) -> list[str]:
    from hls4ml.model.types import ExponentWeightVariable, WeightVariable, XnorPrecisionType

    out = []
    for name, var in node.attributes.items():
        if not isinstance(var, WeightVariable):
            continue
        if isinstance(var, ExponentWeightVariable) or isinstance(
            var.type.precision, XnorPrecisionType
        ):
            out.append(name)
    return out


def _binary_output(node) -> bool:
    from hls4ml.model.types import XnorPrecisionType

    out = node.get_output_variable()
    return out is not None and isinstance(out.type.precision, XnorPrecisionType)


def _plain_weight(node, name: str):
    from hls4ml.model.optimizer.passes.bit_exact import to_hls4ml_fixed
    from hls4ml.model.types import ExponentWeightVariable, WeightVariable
    from hls4ml.utils.qinterval import minimal_kif

    var = node.attributes[name]
    data = np.asarray(var.data, dtype=np.float64)
    if not isinstance(var, ExponentWeightVariable):  # XNOR code: 1 is +1, 0 is -1
        data = 2.0 * data - 1.0
    elif node.class_name == "ApplyAlpha" and node.get_attr(f"{name}_data") is not None:
        # QKeras' own power-of-two scale: hls4ml re-quantizes it with a po2 quantizer whose
        # exponent range can miss it (a scale of 2 with 2 bits becomes 1)
        # (flat, per output channel: a (1, n) array would add an axis to every kif downstream)
        data = np.asarray(node.get_attr(f"{name}_data"), dtype=np.float64).reshape(-1)
    k, i, f = (int(np.max(a)) for a in minimal_kif(data))
    named = to_hls4ml_fixed(k, i, f, var.type.name)
    new = WeightVariable(
        var.name, type_name=named.name, precision=named.precision, data=data, index=node.index
    )
    new.data_unquantized = getattr(var, "data_unquantized", data)
    node.attributes[name] = new
    node.attributes[f"{name}_t"] = new.type


def _make_pass():
    from hls4ml.model.optimizer import OptimizerPass

    class ExactSpecialWeights(OptimizerPass):
        """Exponent / XNOR weights and XNOR activation outputs -> plain fixed-point values."""

        def match(self, node) -> bool:
            return bool(_special_weights(node)) or _binary_output(node)

        def transform(self, model, node) -> bool:
            from hls4ml.model.types import FixedPrecisionType, NamedType

            for name in _special_weights(node):
                _plain_weight(node, name)
            if _binary_output(node):
                out = node.get_output_variable()
                out.type = NamedType(out.type.name, FixedPrecisionType(2, 2, True))
                node.attributes["result_t"] = out.type
            return False

    return ExactSpecialWeights


def register_exact_weights() -> None:
    """Register the pass and put it right before ``bit_exact`` in the ``convert`` flow (once)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from hls4ml.model.flow import get_flow, update_flow
    from hls4ml.model.optimizer import get_available_passes, register_pass

    if PASS_NAME not in get_available_passes():
        register_pass(PASS_NAME, _make_pass())
    opts = list(get_flow(_FLOW).optimizers)
    if PASS_NAME not in opts:
        tail = opts[opts.index(_BEFORE) :]
        update_flow(_FLOW, remove_optimizers=tail)
        update_flow(_FLOW, add_optimizers=[PASS_NAME, *tail])
    _REGISTERED = True
