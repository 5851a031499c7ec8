"""The exact integer kernel (hls/int_kernel.py) equals the batch harness bit for bit, per layer.

Three converted models: the benchmark's 6-bit jet MLP (benchmarks/csim_bench.py), a QKeras MLP
whose hls4ml config forces narrow types of every rounding and overflow mode (wrapping and
saturating accumulators, rounded products), and a plain Keras MLP (ap_fixed<16,6> defaults).
The casts themselves are checked exhaustively against ``ap_fixed`` (every mode, every source
value) by a small C++ program compiled against hls4ml's ap_types.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from nanotrig.hls import edge_inputs
from nanotrig.hls.batch import build_batch_sim
from nanotrig.hls.fixed_type import O_MODES, Q_MODES, FixedType
from nanotrig.hls.int_kernel import _PRELUDE, build_int_kernel, supports
from qmodels import csim_bench, qb, seeded

from nanotrig.errors import ConversionError, DataError

pytestmark = [
    pytest.mark.skipif(shutil.which("g++") is None, reason="the integer kernel needs g++"),
    pytest.mark.filterwarnings("ignore:The `keras.constraints.serialize:UserWarning"),
]


def _convert(model, out: Path, overrides=None, io_type: str = "io_parallel"):
    """hls4ml (Vitis, name granularity) with per-layer precision ``overrides``; not compiled."""
    import hls4ml
    from nanotrig.hls._capture import captured_stdout

    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    for name, prec in (overrides or {}).items():
        cfg["LayerName"][name]["Precision"].update(prec)
    with captured_stdout():
        return hls4ml.converters.convert_from_keras_model(
            model, hls_config=cfg, backend="Vitis", io_type=io_type, output_dir=str(out)
        )


def _edges(t: FixedType, width: int, rng) -> np.ndarray:
    """Events at the input type's edges: bounds, ties, far outside, tiny, zero."""
    lsb = 2.0**-t.frac
    top, bottom = t.hi * lsb, t.lo * lsb
    scalars = [0.0, -0.0, top, bottom, top + lsb / 2, bottom - lsb / 2, lsb / 2, -lsb / 2,
               1.5 * lsb, -1.5 * lsb, 2.5 * lsb, -2.5 * lsb, 1e-30, -1e-30, 1e6, -1e6,
               3e38, -3e38, 4 * top, 4 * bottom]  # fmt: skip
    rows = [np.full(width, v) for v in scalars]
    grid = rng.integers(2 * t.lo, 2 * t.hi + 2, (200, width)) * (lsb / 2)  # on the grid and ties
    return np.concatenate([np.stack(rows), grid])


def _assert_exact(kernel, hls_model, x: np.ndarray, work: Path) -> dict[str, np.ndarray]:
    names = list(kernel.layers[1:])
    sim = build_batch_sim(hls_model, work, tap=names)
    y, taps = sim.run(x)
    cols = sim.split(taps)
    got = kernel.run(x, layers="all", threads=2)
    for name in names:
        np.testing.assert_array_equal(got[name], cols[name], err_msg=name)
    if kernel.head is None:
        np.testing.assert_array_equal(got[kernel.last_layer], y)
    return got


# --- the casts, exhaustively against ap_fixed ---------------------------------------------------

_CAST_PAIRS = [  # (source, target W, I, signed): rounding, narrowing, widening, sign changes
    ((12, 4, True), (6, 2, True)),
    ((12, 4, True), (5, 1, False)),
    ((10, 3, False), (6, 3, True)),
    ((11, 2, True), (14, 4, True)),
]


def _cast_program(doubles: np.ndarray) -> str:
    lines = []
    for (src, dst), q, o in itertools.product(_CAST_PAIRS, Q_MODES, O_MODES):
        (w1, i1, s1), (w, i, s) = src, dst
        st = f"ap_{'' if s1 else 'u'}fixed<{w1}, {i1}>"
        dt = f"ap_{'' if s else 'u'}fixed<{w}, {i}, AP_{q}, AP_{o}>"
        t = FixedType(w, i, s, q, o)
        lo, hi = (-(1 << (w1 - 1)), (1 << (w1 - 1)) - 1) if s1 else (0, (1 << w1) - 1)
        shift, f1 = (w1 - i1) - t.frac, w1 - i1
        lines.append(f"""    for (long v = {lo}; v <= {hi}; ++v) {{
        {st} a = std::ldexp(double(v), -{f1});
        {dt} b = a;
        std::printf("%ld %ld\\n", (long)std::ldexp(b.to_double(), {t.frac}),
                    (long)nk::cvt<{shift}, {t.cpp_args()}, true>(v));
    }}
    for (double d : D) {{
        {dt} b = d;
        std::printf("%ld %ld\\n", (long)std::ldexp(b.to_double(), {t.frac}),
                    (long)nk::from_double<{t.frac}, {t.cpp_args()}>(d));
    }}""")
    values = ", ".join(repr(float(v)) for v in doubles)
    body = "\n".join(lines)
    return f"""#include "ap_fixed.h"
#include <cstdio>
{_PRELUDE}
static const double D[] = {{{values}}};
int main() {{
{body}
    return 0;
}}
"""


def test_casts_match_ap_fixed_exhaustively(tmp_path):
    """Every mode pair, every source value and edge doubles: C++ and Python casts = ap_fixed."""
    import hls4ml

    ap_types = Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"
    rng = np.random.default_rng(0)
    ticks = np.arange(-300, 301) / 16  # every 1/16 from -18.75: ties of all the targets
    tiny = [1e-300, -1e-300, 1e-30, -1e-30, 0.5 - 2**-55, -0.5 + 2**-55, 3e38, -3e38]
    tiny += [1e300, -1e300, 2.0**62, -(2.0**62), 2.0**70 + 2**20, 12345.5, -12345.5]
    doubles = np.concatenate([ticks, ticks + 2**-40, ticks - 2**-40, tiny, rng.normal(0, 8, 300)])
    src = tmp_path / "casts.cpp"
    src.write_text(_cast_program(doubles))
    exe = tmp_path / "casts"
    cmd = ["g++", "-O1", "-std=c++17", f"-I{ap_types}", str(src), "-o", str(exe)]
    subprocess.run(cmd, check=True, capture_output=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    pairs = np.array(out.split(), dtype=np.int64).reshape(-1, 2)
    assert len(pairs) > 100_000
    np.testing.assert_array_equal(pairs[:, 1], pairs[:, 0])  # C++ kernel casts
    # the Python casts (weights, biases, range analysis) on the same cases
    pos = 0
    for (src_t, dst), q, o in itertools.product(_CAST_PAIRS, Q_MODES, O_MODES):
        (w1, i1, s1), t = src_t, FixedType(*dst, q, o)
        lo, hi = (-(1 << (w1 - 1)), (1 << (w1 - 1)) - 1) if s1 else (0, (1 << w1) - 1)
        want = pairs[pos : pos + hi - lo + 1, 0]
        got = [t.from_value(v, w1 - i1) for v in range(lo, hi + 1)]
        np.testing.assert_array_equal(got, want, err_msg=f"{t}")
        pos += hi - lo + 1
        want = pairs[pos : pos + len(doubles), 0]
        np.testing.assert_array_equal([t.from_float(d) for d in doubles], want, err_msg=f"{t}")
        pos += len(doubles)


# --- (a) the 6-bit jet MLP ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def jet(tmp_path_factory):
    from hls4ml.utils.serialization import deserialize_model
    from nanotrig.hls._capture import captured_stdout

    work = tmp_path_factory.mktemp("jet")
    project = csim_bench().convert_jet_mlp(work)
    with captured_stdout():
        model = deserialize_model(project / "hls_model.fml", output_dir=str(work / "d"))
    return project, model


def test_jet_mlp_kernel_equals_harness(jet, tmp_path):
    project, hls_model = jet
    assert supports(hls_model) is None
    kernel = build_int_kernel(hls_model, tmp_path / "k")
    assert kernel.last_layer == "output" and kernel.head == "softmax"
    assert kernel.layers == ("input_1", "fc1", "relu1", "fc2", "relu2", "fc3", "relu3", "output")
    t = kernel.types["input_1"]
    assert t == FixedType(16, 6, True, "RND_CONV", "SAT")
    rng = np.random.default_rng(5)
    x = np.concatenate([
        csim_bench().jet_inputs(20_000).astype(np.float64),
        edge_inputs(project).astype(np.float64),
        _edges(t, 16, rng),
        rng.uniform(-1e4, 1e4, (500, 16)),
    ])  # fmt: skip
    got = _assert_exact(kernel, hls_model, x, tmp_path / "h")
    assert np.unique(got["output"]).size > 50
    # float32 events, one thread, only the logits; the same library is reused
    again = build_int_kernel(hls_model, tmp_path / "k")
    assert again.lib_path == kernel.lib_path
    x32 = x[:3000].astype(np.float32)
    y32 = again.run(x32, chunk_size=1000)
    assert list(y32) == ["output"]
    np.testing.assert_array_equal(y32["output"], kernel.run(x32.astype(np.float64))["output"])
    with pytest.raises(DataError, match="15 values"):
        kernel.run(x[:, :15])
    with pytest.raises(DataError, match="'softmax' is not emulated"):
        kernel.run(x, layers=["softmax"])


# --- (b) narrow types of every mode ---------------------------------------------------------------


def _mixed_model():
    import keras
    from qkeras import QActivation, QDense, quantized_relu

    inp = keras.Input((10,), name="x")
    h = QActivation(qb(10, 3), name="qin")(inp)
    h = QDense(12, kernel_quantizer=qb(8, 3), bias_quantizer=qb(8, 3), name="fc1")(h)
    h = QActivation(quantized_relu(4, 2), name="relu1")(h)
    h = QDense(6, kernel_quantizer=qb(8, 3), bias_quantizer=qb(8, 3), name="fc2")(h)
    h = QActivation(qb(6, 2), name="q2")(h)
    h = QDense(3, kernel_quantizer=qb(8, 3), bias_quantizer=qb(8, 3), name="fc3")(h)
    return seeded(keras.Model(inp, h), 3)


#: fc1: wrapping accumulator; fc2: rounded products, saturating accumulator; fc3: accumulator
#: saturating to zero; the results and the input in the other modes.
MIXED = {
    "x": {"result": "fixed<10,4,RND_INF,SAT_SYM>"},
    "fc1": {"accum": "fixed<9,4,TRN,WRAP>", "result": "fixed<8,3,RND,SAT>"},
    "fc2": {"accum": "fixed<7,3,RND,SAT>", "result": "fixed<7,2,RND_ZERO,SAT_SYM>"},
    "q2": {"result": "fixed<5,2,RND_CONV,SAT_ZERO>"},
    "fc3": {"accum": "fixed<8,3,TRN_ZERO,SAT_ZERO>", "result": "fixed<9,3,RND_MIN_INF,WRAP>"},
}


def test_mixed_precision_modes_equal_harness(tmp_path):
    hls_model = _convert(_mixed_model(), tmp_path / "prj", MIXED)
    kernel = build_int_kernel(hls_model, tmp_path / "k")
    assert kernel.head is None and kernel.last_layer == "fc3_linear"
    assert {"qin", "fc1", "fc1_linear", "relu1", "fc2", "fc3"} <= set(kernel.layers)
    modes = {(t.rounding, t.overflow) for t in kernel.types.values()}
    assert {("RND_INF", "SAT_SYM"), ("RND", "SAT"), ("RND_MIN_INF", "WRAP")} <= modes
    fc2 = hls_model.graph["fc2"]
    assert str(fc2.get_attr("accum_t").precision) == "fixed<7,3,RND,SAT,0>"
    src = kernel.lib_path.with_suffix(".cpp").read_text()
    # per-addition saturation (fc2, fc3), rounded products (fc2), one final wrap (fc1)
    assert "nk::ovf<7, true, 1>(acc[j] + nk::cvt<2, 7, true, 2, 1" in src
    assert "nk::ovf<8, true, 2>(acc[j] + " in src and "nk::ovf<9, true, 0>(acc[j])" in src
    rng = np.random.default_rng(1)
    x = rng.normal(0, 3, (20_000, 10))
    x[::5] *= 40
    x = np.concatenate([x, _edges(FixedType(10, 4, True, "RND_INF", "SAT_SYM"), 10, rng)])
    got = _assert_exact(kernel, hls_model, x, tmp_path / "h")
    # the narrow types do overflow: the wrapped fc1 sums differ from the float sums
    w, b = (np.asarray(v.data, dtype=np.float64) for v in hls_model.graph["fc1"].get_weights())
    wide = got["qin"] @ w + b
    assert np.any(np.abs(wide) >= 8), "fc1 accumulator never wraps: the test would be weak"
    assert np.unique(got["fc3"]).size > 100


# --- (c) plain Keras, ap_fixed<16,6> defaults ---------------------------------------------------


def test_plain_keras_dense_equals_harness(tmp_path):
    import keras

    inp = keras.Input((8,), name="x")
    h = keras.layers.Dense(16, activation="relu", name="d1")(inp)
    h = keras.layers.Dense(8, name="d2")(h)
    h = keras.layers.Activation("linear", name="lin")(h)
    h = keras.layers.Dense(4, name="d3")(h)
    hls_model = _convert(seeded(keras.Model(inp, h), 4), tmp_path / "prj")
    kernel = build_int_kernel(hls_model, tmp_path / "k")
    assert kernel.last_layer == "d3" and kernel.head is None
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(0, 4, (10_000, 8)), _edges(FixedType(16, 6, True), 8, rng)])
    got = _assert_exact(kernel, hls_model, x, tmp_path / "h")
    assert np.unique(got["d3"]).size > 1000


# --- refusals -------------------------------------------------------------------------------------


def test_unsupported_projects_raise_one_line(tmp_path):
    import keras

    inp = keras.Input((6,), name="x")
    h = keras.layers.Dense(5, name="d1")(inp)
    h = keras.layers.Activation("tanh", name="th")(h)
    h = keras.layers.Dense(3, name="d2")(h)
    model = seeded(keras.Model(inp, h), 1)
    mid_table = _convert(model, tmp_path / "a")
    reason = supports(mid_table)
    assert reason and "'th'" in reason and "batch harness" in reason and "\n" not in reason
    with pytest.raises(ConversionError, match=r"layer 'th' \(Activation\).*batch harness"):
        build_int_kernel(mid_table, tmp_path / "ka")
    plain = keras.Model(inp, keras.layers.Dense(3, name="d2")(keras.layers.Dense(5)(inp)))
    stream = _convert(seeded(plain, 1), tmp_path / "b", io_type="io_stream")
    assert supports(stream) is None  # io_stream is emulated too (test_int_kernel_layers.py)
