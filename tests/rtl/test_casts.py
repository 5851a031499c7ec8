"""rtl/casts.py: every ap_fixed cast the RTL supports equals hls4ml's, on every source value.

Each cast is traced alone with da4ml, evaluated with ``CombLogic.predict`` on every code of the
source type, and compared with :class:`hls.int_kernel.FixedType` (itself checked against
``ap_fixed`` exhaustively in tests/hls/test_int_kernel.py).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from nanotrig.hls.fixed_type import FixedType
from nanotrig.rtl.casts import OVERFLOW, ROUNDING, cast, kif

from nanotrig.errors import ConversionError

#: (source W, I, signed), (target W, I, signed): narrowing, sign changes, widening wraps, a
#: source narrower than the target's LSB, and the jet MLP's accumulator -> ReLU cast.
PAIRS = [
    ((10, 4, True), (6, 2, True)),
    ((10, 4, True), (5, 1, False)),
    ((8, 4, True), (8, 6, False)),
    ((9, 3, False), (6, 3, True)),
    ((6, -2, True), (4, 1, True)),
    ((12, 3, True), (6, 0, False)),
]


def _traced(src: FixedType, dst: FixedType, relu: bool = False):
    from da4ml.trace import FixedVariableArray, FixedVariableArrayInput, comb_trace

    inp = FixedVariableArrayInput(1)
    x = inp.quantize(*kif(src))
    v = x._vars[0].relu() if relu else x._vars[0]
    out = FixedVariableArray(np.array([cast(v, dst)], dtype=object), x.solver_options)
    return comb_trace(inp, out, keep_dead_inputs=True)


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_cast_equals_ap_fixed(src, dst):
    s = FixedType(*src)
    codes = np.arange(s.lo, s.hi + 1)
    values = codes * 2.0**-s.frac
    for q, o in itertools.product(ROUNDING, OVERFLOW):
        t = FixedType(*dst, rounding=q, overflow=o)
        got = _traced(s, t).predict(values[:, None])[:, 0]
        want = np.array([t.from_value(int(c), s.frac) for c in codes]) * 2.0**-t.frac
        np.testing.assert_array_equal(got, want, err_msg=f"{src} -> {dst} {q} {o}")
        if not s.signed or t.signed:
            continue
        relu = _traced(s, t, relu=True).predict(values[:, None])[:, 0]
        want_relu = [t.from_value(max(int(c), 0), s.frac) * 2.0**-t.frac for c in codes]
        np.testing.assert_array_equal(relu, want_relu, err_msg=f"relu {src} -> {dst} {q} {o}")


def test_sat_zero_refused():
    with pytest.raises(ConversionError, match="SAT_ZERO overflow: nanotrig rtl supports WRAP"):
        _traced(FixedType(8, 4, True), FixedType(4, 2, True, "TRN", "SAT_ZERO"))
