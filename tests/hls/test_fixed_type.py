"""The one ``ap_fixed`` model: vectorised casts equal the exact scalar ones in every mode."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from nanotrig.hls.fixed_type import O_MODES, Q_MODES, FixedType

from nanotrig.errors import ConversionError

TYPES = [
    FixedType(w, i, s, q, o)
    for (w, i, s), q, o in itertools.product(
        [(6, 3, True), (5, 0, False), (9, 9, True)], Q_MODES, O_MODES
    )
]


@pytest.mark.parametrize("t", TYPES, ids=lambda t: t.cpp())
def test_vectorised_casts_equal_the_scalar_ones(t):
    rng = np.random.default_rng(0)
    raw = np.concatenate([rng.integers(-(1 << 14), 1 << 14, 400), np.arange(-70, 70)])
    for frac in (t.frac - 2, t.frac, t.frac + 1, t.frac + 5):  # widening, same, rounding shifts
        want = [t.from_value(int(v), frac) for v in raw]
        assert t.cast(raw, frac).tolist() == want, frac
    # halves, quarters and values past the range, both signs
    x = np.concatenate([rng.normal(0, 8, 400), np.arange(-80, 81) / 8 * 2.0**-t.frac])
    assert t.quantize(x).tolist() == [t.from_float(float(d)) for d in x]


def test_parse_and_cpp_round_trip():
    assert FixedType.parse("ap_fixed<16,6>") == FixedType(16, 6)
    assert FixedType.parse("ap_ufixed<10,0>") == FixedType(10, 0, signed=False)
    assert FixedType.parse("ap_fixed<12,4,AP_TRN,AP_SAT>") == FixedType(12, 4, True, "TRN", "SAT")
    assert FixedType.parse("ap_uint<6>") == FixedType(6, 6, signed=False)
    for t in TYPES:
        assert FixedType.parse(t.cpp()) == t
    with pytest.raises(ConversionError, match="not an ap_fixed"):
        FixedType.parse("float")
    with pytest.raises(ConversionError, match="unknown rounding"):
        FixedType.parse("ap_fixed<8,3,AP_ROUND,AP_SAT>")
