"""The table emulator (hls/tables.py) equals hls4ml's own templates, bit for bit.

One small C++ program compiled against the installed hls4ml's ``nnet_activation.h`` runs
softmax (latency, stable with two table settings, argmax, legacy), sigmoid and tanh on a few
hundred random inputs and the input type's edges; the emulator, given the same sizes and types,
must return the same values on every event, and must not when a table size or type is wrong.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from nanotrig.hls.fixed_type import FixedType
from nanotrig.hls.tables import TableSpec, emulate

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")

IN_T = FixedType(10, 5, True, "RND_CONV", "SAT")
OUT_T = FixedType(40, 16, True)
RS = FixedType(18, 8, True, "RND", "SAT")
TIGHT = {"inv_table_size": 2048,
         "inv_inp_t": FixedType(18, 4, True, "RND", "SAT"),
         "inv_table_t": FixedType(18, 2, True, "RND", "SAT")}  # fmt: skip

_CPP = r"""
#include "ap_fixed.h"
#include "nnet_utils/nnet_activation.h"
#include <cstdio>
typedef ap_fixed<10,5,AP_RND_CONV,AP_SAT> in_t;
typedef ap_fixed<40,16> out_t;
typedef ap_fixed<18,8,AP_RND,AP_SAT> rs_t;
struct sm : nnet::activ_config {
    static const unsigned n_in = 5, n_slice = 5, n_outer = 1, n_inner = 1;
    static const unsigned exp_table_size = 1024, inv_table_size = 1024;
    static const unsigned parallelization_factor = -1, axis = -1;
    static constexpr float exp_scale = 1.0;
    typedef rs_t exp_table_t; typedef rs_t inv_table_t; typedef rs_t accum_t;
    typedef rs_t inv_inp_t; typedef ap_ufixed<9,4> inp_norm_t;
};
#define IMPL(NAME, KIND) struct NAME : sm { static const nnet::softmax_implementation \
    implementation = nnet::softmax_implementation::KIND; };
IMPL(sm_latency, latency) IMPL(sm_argmax, argmax) IMPL(sm_legacy, legacy)
struct sm_stable : sm {  // hls4ml caps the exp table at 2**width of inp_norm_t
    static const nnet::softmax_implementation implementation = nnet::softmax_implementation::stable;
    static const unsigned exp_table_size = 512;
};
struct sm_tight : sm_stable {
    static const unsigned inv_table_size = 2048;
    typedef ap_fixed<18,4,AP_RND,AP_SAT> inv_inp_t;
    typedef ap_fixed<18,2,AP_RND,AP_SAT> inv_table_t;
};
struct sm_centred : sm_tight {  // the exp sum rounded to the inverse table's index width
    typedef ap_fixed<11,4,AP_RND,AP_SAT> inv_inp_t;
};
struct act : nnet::activ_config { static const unsigned n_in = 5, table_size = 1024; };
template <class F> void run(const in_t x[5], F f) {
    out_t y[5]; f(x, y);
    for (int i = 0; i < 5; i++) printf("%.17g ", y[i].to_double());
}
#define RUN(FN, CFG) \
    run(x, [](const in_t *a, out_t *b) { nnet::FN<in_t, out_t, CFG>((in_t *)a, b); });
int main() {
    double d[5];
    while (scanf("%lf %lf %lf %lf %lf", d, d + 1, d + 2, d + 3, d + 4) == 5) {
        in_t x[5]; for (int i = 0; i < 5; i++) x[i] = d[i];
        RUN(softmax, sm_latency) RUN(softmax, sm_stable) RUN(softmax, sm_argmax)
        RUN(softmax, sm_legacy) RUN(softmax, sm_tight) RUN(sigmoid, act) RUN(tanh, act)
        RUN(softmax, sm_centred)
        printf("\n");
    }
}
"""
CASES = ["latency", "stable", "argmax", "legacy", "tight", "sigmoid", "tanh", "centred"]
#: The exp sum cast, rounding, to exactly the inverse table's index bits (no truncated bits).
CENTRED = FixedType(11, 4, True, "RND", "SAT")


def _spec(case: str) -> TableSpec:
    if case in ("sigmoid", "tanh"):
        return TableSpec(
            case, case, 5, IN_T, OUT_T, table_size=1024, table_t=FixedType(18, 8, True)
        )
    spec = TableSpec(case, "softmax", 5, IN_T, OUT_T, implementation=case, exp_table_t=RS,
                     inv_table_t=RS, accum_t=RS, inv_inp_t=RS,
                     inp_norm_t=FixedType(9, 4, False))  # fmt: skip
    if case in ("stable", "tight", "centred"):  # hls4ml caps the exp table at 2**width of
        spec = spec.with_(implementation="stable", exp_table_size=512)  # inp_norm_t
    if case == "centred":
        return spec.with_(**{**TIGHT, "inv_inp_t": CENTRED})
    return spec.with_(**TIGHT) if case == "tight" else spec


@pytest.fixture(scope="module")
def csim(tmp_path_factory) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Inputs (on the input grid: random, edges, ties) and the C++ outputs per case."""
    import hls4ml

    tmpl = Path(hls4ml.__file__).parent / "templates" / "vivado"
    work = tmp_path_factory.mktemp("tables")
    (work / "t.cpp").write_text(_CPP)
    exe = work / "t"
    subprocess.run(["g++", "-O1", "-std=c++17", f"-I{tmpl}", f"-I{tmpl / 'ap_types'}",
                    str(work / "t.cpp"), "-o", str(exe)], check=True)  # fmt: skip
    rng = np.random.default_rng(0)
    lsb, top, bottom = 2.0**-IN_T.frac, IN_T.hi * 2.0**-IN_T.frac, IN_T.lo * 2.0**-IN_T.frac
    x = rng.integers(IN_T.lo, IN_T.hi + 1, (300, 5)) * lsb
    small = rng.integers(-96, 97, (200, 5)) * lsb  # |x| < 3: the tables' fine region
    edges = np.array([[0] * 5, [top] * 5, [bottom] * 5, [top, bottom, 0, lsb, -lsb],
                      [bottom, bottom, bottom, bottom, top], [lsb, 0, 0, 0, 0]])  # fmt: skip
    x = np.concatenate([edges, small, x])
    text = "\n".join(" ".join(repr(float(v)) for v in row) for row in x)
    out = subprocess.run([str(exe)], input=text, capture_output=True, text=True, check=True)
    vals = np.array([[float(v) for v in line.split()] for line in out.stdout.splitlines()])
    return x, {case: vals[:, 5 * k : 5 * k + 5] for k, case in enumerate(CASES)}


@pytest.mark.parametrize("case", CASES)
def test_emulator_equals_templates(csim, case: str) -> None:
    x, outs = csim
    np.testing.assert_array_equal(emulate(_spec(case), x), outs[case])


@pytest.mark.parametrize(
    ("case", "wrong"),
    [
        ("stable", {"exp_table_size": 256, "inv_table_size": 512}),
        ("stable", {"inv_table_t": FixedType(16, 8, True, "RND", "SAT")}),
        ("latency", {"exp_table_t": FixedType(18, 8, True)}),
        ("tight", {"inv_inp_t": RS}),
        ("centred", {"inv_inp_t": FixedType(11, 4, True, "TRN", "SAT")}),  # truncating index
        ("sigmoid", {"table_size": 256}),  # coarser than the input grid
        ("tanh", {"table_t": FixedType(16, 8, True)}),
    ],
)
def test_wrong_table_setting_is_caught(csim, case: str, wrong: dict) -> None:
    """A wrong table size or type gives values the firmware does not: the check can fail."""
    x, outs = csim
    assert not np.array_equal(emulate(_spec(case).with_(**wrong), x), outs[case])
