"""Batched C-simulation (hls/batch.py) equals hls4ml's own predict() and trace(), bit for bit,
and ``verify_project`` runs it on large inputs streamed from files.

The jet MLP is the benchmark's (benchmarks/csim_bench.py: 16-64-32-32-5, 6-bit, softmax head),
seeded and converted once per module; a tiny QConv1D model covers a second layer family.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from nanotrig.hls import edge_inputs, verify_project
from nanotrig.hls.batch import EventSource, build_batch_sim, harness_source
from qmodels import csim_bench, qb
from typer.testing import CliRunner

from nanotrig.errors import DataError

pytestmark = [
    pytest.mark.skipif(shutil.which("g++") is None, reason="C-simulation needs g++"),
    pytest.mark.filterwarnings("ignore:The `keras.constraints.serialize:UserWarning"),
]

#: Events of the large verification run (random jets plus every edge input, repeated).
N_LARGE = 100_000


def _hls_model(project: Path, work: Path):
    from hls4ml.utils.serialization import deserialize_model

    model = deserialize_model(project / "hls_model.fml", output_dir=str(work / "d"))
    model.config.config.update(OutputDir=str(work / "prj"), InputData=None, OutputPredictions=None)
    return model


@pytest.fixture(scope="module")
def jet(tmp_path_factory) -> Path:
    return csim_bench().convert_jet_mlp(tmp_path_factory.mktemp("jet"))


@pytest.fixture(scope="module")
def jet_x(jet) -> np.ndarray:
    return np.concatenate([csim_bench().jet_inputs(3000), edge_inputs(jet)])


def test_harness_source_calls_the_bridge():
    src = harness_source("prj", 16, 5, [("fc1", 64), ("output", 5)])
    assert '#include "prj_bridge.cpp"' in src and "prj_double(" in src
    assert 'find("output")' in src and 'find("fc1")' in src and "int prj_batch(" in src
    assert "N_TAP = 69" in src and "tap + i * N_TAP + 64" in src
    assert "allocate_trace_storage" not in harness_source("prj", 16, 5)
    two = harness_source("prj", [128, 1], [8])
    assert "prj_double(const_cast<double *>(in + i * N_IN + 0), " in two
    assert "in + i * N_IN + 128), out + i * N_OUT + 0);" in two and "N_IN = 129" in two


def test_batched_equals_predict_and_trace(jet, jet_x, tmp_path):
    hls_model = _hls_model(jet, tmp_path)
    x = np.ascontiguousarray(jet_x.astype(np.float64))
    tapped = build_batch_sim(hls_model, tmp_path / "tap", tap="output", threads=2)
    plain = build_batch_sim(hls_model, tmp_path / "plain")
    assert tapped.threads == 2 and plain.tap is None
    y, logits = tapped.run(x)
    y1, none = plain.run(x)
    assert none is None and y.shape == (len(x), 5) and logits.shape == (len(x), 5)
    np.testing.assert_array_equal(y, y1)
    hls_model.compile()
    np.testing.assert_array_equal(y, hls_model.predict(x))
    assert np.unique(logits).size > 50, "logits nearly constant: the test would be weak"
    # the tap is what hls4ml's trace() records for the logits layer
    y_t, trace = hls_model.trace(x[:400])
    np.testing.assert_array_equal(logits[:400], trace["output"])
    np.testing.assert_array_equal(y[:400], y_t)
    with pytest.raises(DataError, match="15 values"):
        plain.run(x[:, :15])


def test_every_layer_tapped_equals_trace(jet, jet_x, tmp_path):
    """The batched form of trace(): every computed layer of every event, equal to hls4ml's."""
    hls_model = _hls_model(jet, tmp_path)
    x = np.ascontiguousarray(jet_x[:1500].astype(np.float64))
    hls_model.compile()
    y_t, trace = hls_model.trace(x)
    names = list(trace)
    assert len(names) >= 7, names  # fc1..fc3, relu1..relu3, output, softmax
    sim = build_batch_sim(hls_model, tmp_path / "all", tap=names, threads=2)
    y, taps = sim.run(x)
    np.testing.assert_array_equal(y, y_t)
    cols = sim.split(taps)
    assert list(cols) == names and sim.tap is None
    for name in names:
        np.testing.assert_array_equal(cols[name], np.asarray(trace[name]).reshape(len(x), -1))


def _conv1d_model():
    import keras
    from qkeras import QActivation, QConv1D, QDense, quantized_relu

    inp = keras.Input((8, 2), name="x")
    h = QActivation(qb(8, 2), name="qin")(inp)
    h = QConv1D(3, 3, kernel_quantizer=qb(6), bias_quantizer=qb(6), name="conv")(h)
    h = QActivation(quantized_relu(6, 1), name="relu")(h)
    h = keras.layers.Flatten(name="flat")(h)
    h = QDense(4, kernel_quantizer=qb(6), bias_quantizer=qb(6), name="out")(h)
    model = keras.Model(inp, h)
    rng = np.random.default_rng(7)
    model.set_weights([rng.normal(0, 0.5, w.shape) for w in model.get_weights()])
    return model


def test_conv1d_batched_equals_predict(tmp_path):
    from nanotrig.hls import convert_model

    from nanotrig.config import HlsConfig

    path = tmp_path / "conv.h5"
    _conv1d_model().save(path)
    convert_model(path, tmp_path / "out", HlsConfig(latency_budget_ns=None, ii_budget_ns=None))
    hls_model = _hls_model(tmp_path / "out", tmp_path)
    x = np.random.default_rng(3).uniform(-4.5, 4.5, (2000, 16))
    sim = build_batch_sim(hls_model, tmp_path / "batch")
    y, _ = sim.run(x)
    hls_model.compile()
    np.testing.assert_array_equal(y, hls_model.predict(np.ascontiguousarray(x)))
    assert np.unique(y).size > 100


@pytest.mark.parametrize("engine", ["harness", "kernel"])
def test_large_run_bit_exact(jet, tmp_path, engine):
    """~100k events streamed from a .npy: logits bit-exact on every event, softmax in tolerance
    (every event through the harness; the traced ones with the kernel, which leaves the table
    head to hls4ml's trace)."""
    edges = edge_inputs(jet)
    x = csim_bench().jet_inputs(N_LARGE - 10 * len(edges))
    x = np.concatenate([np.tile(edges, (10, 1)), x])
    npy = tmp_path / "x.npy"
    np.save(npy, x)
    res = verify_project(jet, npy, trace_events=2000, chunk_size=32_768, engine=engine)
    assert res.batched and res.ok and res.engine == engine, res.to_dict()
    assert res.n_events == N_LARGE and res.traced_events == 2000
    assert res.events_per_s and res.events_per_s > 0 and res.mismatch_file is None
    rows = {r["layer"]: r for r in res.layers}
    assert rows["output"]["scope"] == "all" and rows["output"]["n_events"] == N_LARGE
    assert rows["output"]["n_mismatch"] == 0 and rows["output"]["max_abs_diff"] == 0.0
    for name in ("fc1", "relu1", "fc2", "relu2", "fc3", "relu3"):
        assert rows[name]["scope"] == "traced" and rows[name]["n_events"] == 2000
        assert rows[name]["n_mismatch"] == 0, rows[name]
    # the softmax head of every event, bit for bit against the table emulator fed with the
    # logits (the kernel computes the head with the emulator, checked against trace())
    assert res.output["kind"] == "lut" and res.output["n_events"] == N_LARGE
    assert res.output["compared_with"] == "emulator" and res.output["n_mismatch"] == 0
    assert res.output["argmax_agreement"] >= 0.95 and res.output["max_abs_diff"] == 0
    assert 0 < res.output["table_error"]["max_abs_diff"] < 0.5
    assert set(res.not_compared) <= {"input_quant"}


@pytest.mark.parametrize("engine", ["harness", "kernel"])
def test_trace_all_compares_every_layer_of_every_event(jet, tmp_path, engine):
    x = csim_bench().jet_inputs(6000)
    res = verify_project(jet, x, batched=True, trace_all=True, trace_events=500, engine=engine)
    assert res.ok and res.engine == engine, res.to_dict()
    rows = {r["layer"]: r for r in res.layers}
    for name in ("fc1", "relu1", "fc2", "relu2", "fc3", "relu3", "output"):
        assert rows[name]["scope"] == "all" and rows[name]["n_events"] == 6000, rows[name]
    softmax_scope = "all" if engine == "harness" else "traced"
    assert rows["softmax"]["scope"] == softmax_scope
    assert rows["softmax"]["kind"] == "lut" and rows["softmax"]["argmax_agreement"] > 0.95
    assert all(rows[n]["n_mismatch"] == 0 for n in rows if rows[n]["kind"] == "exact")


def test_engines_and_their_errors(jet, tmp_path):
    """auto picks the kernel for the jet MLP and an io_parallel Conv1D (exact against trace);
    an unknown engine, or the kernel forced on a project it cannot emulate (Resource
    strategy), is a one-line error."""
    from nanotrig.hls import convert_model
    from nanotrig.hls.int_kernel import supports

    from nanotrig.config import HlsConfig
    from nanotrig.errors import ConfigError, ConversionError

    x = csim_bench().jet_inputs(300)
    assert verify_project(jet, x, batched=True, trace_events=50).engine == "kernel"
    with pytest.raises(ConfigError, match="unknown C-simulation engine 'gpu'"):
        verify_project(jet, x, batched=True, engine="gpu")
    path, work = tmp_path / "conv.h5", tmp_path / "conv"
    _conv1d_model().save(path)
    convert_model(path, work, HlsConfig(latency_budget_ns=None, ii_budget_ns=None))
    xc = np.random.default_rng(5).uniform(-4.5, 4.5, (300, 8, 2))
    res = verify_project(work, xc, batched=True, trace_events=300)
    assert res.engine == "kernel" and res.ok and res.traced_events == 300, res.to_dict()
    resource = tmp_path / "resource"
    convert_model(path, resource, HlsConfig(strategy="Resource", latency_budget_ns=None,
                                            ii_budget_ns=None))  # fmt: skip
    assert "strategy resource" in str(supports(_hls_model(resource, tmp_path)))
    with pytest.raises(ConversionError, match=r"--engine kernel: .*use --engine harness"):
        verify_project(resource, xc, batched=True, engine="kernel")


@pytest.mark.parametrize("engine", ["harness", "kernel"])
def test_batched_catches_a_changed_bias(jet, tmp_path, engine):
    from nanotrig.hls import load_qkeras_model

    work = tmp_path / "tampered"
    shutil.copytree(jet, work)
    ref = load_qkeras_model(work / "keras_model.h5")
    kernel, bias = ref.get_layer("fc3").get_weights()
    bias += np.where(bias > 0, -(2.0**-5), 2.0**-5)  # one LSB of quantized_bits(6, 0)
    ref.get_layer("fc3").set_weights([kernel, bias])
    ref.save(work / "keras_model.h5")
    x = csim_bench().jet_inputs(3000)
    res = verify_project(work, x, batched=True, trace_events=100, chunk_size=1000, engine=engine)
    assert not res.ok and res.engine == engine
    rows = {r["layer"]: r for r in res.layers}
    assert rows["output"]["n_mismatch"] > 0 and rows["output"]["n_events"] == 3000
    assert rows["fc3"]["n_mismatch"] > 0 and rows["fc2"]["n_mismatch"] == 0
    assert res.traced_events > 100  # the mismatching events beyond the first 100 were traced
    saved = np.load(res.mismatch_file)
    assert saved["inputs"].shape == (20, 16)
    np.testing.assert_array_equal(saved["inputs"], x[saved["event_index"]])
    assert not (jet / "mismatches.npz").exists()


# --- input files ------------------------------------------------------------------------------


def test_event_source_streams_h5(tmp_path):
    import h5py

    x = np.arange(50 * 4, dtype=np.float64).reshape(50, 4)
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        f["features"] = x
    with EventSource.open(path, (4,), n_events=45) as src:
        assert src.n == 45
        chunks = list(src.chunks(20))
        assert [s for s, _ in chunks] == [0, 20, 40] and len(chunks[-1][1]) == 5
        np.testing.assert_array_equal(np.concatenate([c for _, c in chunks]), x[:45])
        np.testing.assert_array_equal(src.take(np.array([3, 17, 44])), x[[3, 17, 44]])


def _bad_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    import h5py

    good = np.zeros((40, 16), np.float32)
    trunc = tmp / "truncated.npy"
    np.save(trunc, good)
    trunc.write_bytes(trunc.read_bytes()[:200])
    shape = tmp / "shape.npy"
    np.save(shape, np.zeros((40, 15), np.float32))
    fake = tmp / "fake.h5"
    fake.write_text("not hdf5")
    empty = tmp / "nofeatures.h5"
    with h5py.File(empty, "w") as f:
        f["other"] = good
    nan = tmp / "nan.h5"
    with h5py.File(nan, "w") as f:
        bad = good.copy()
        bad[33, 2] = np.nan
        f["features"] = bad
    return {
        "truncated": (trunc, "not a readable .npy"),
        "shape": (shape, "shape"),
        "fake": (fake, "not an HDF5 file"),
        "nofeatures": (empty, "no dataset 'features'"),
        "nan": (nan, "events 32-40.*NaN"),
    }


def test_bad_input_files_one_line_error(jet, tmp_path):
    from nanotrig.cli import app

    runner = CliRunner()
    for name, (path, message) in _bad_files(tmp_path).items():
        with pytest.raises(DataError, match=message):
            verify_project(jet, path, batched=True, chunk_size=16, trace_events=8)
        if name in ("truncated", "fake"):
            res = runner.invoke(app, ["verify", str(jet), "--inputs", str(path)])
            assert res.exit_code == 2, (res.stdout, res.stderr)
            lines = res.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("nanotrig: error: "), res.stderr


def test_cli_batched_from_h5(jet, tmp_path):
    import h5py

    from nanotrig.cli import app

    path = tmp_path / "jets.h5"
    with h5py.File(path, "w") as f:
        f["features"] = csim_bench().jet_inputs(4000)
    args = ["verify", str(jet), "--inputs", str(path), "--events", "3000", "--trace-events", "300"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, (res.stdout, res.stderr)
    lines = res.stdout.strip().splitlines()
    batched = [ln for ln in lines if ln.startswith("batched (")]
    assert len(batched) == 1 and batched[0].startswith("batched (kernel): 3000 events"), lines
    assert "traced on 300 events" in batched[0]
    assert lines[-2] == f"wrote {jet / 'verify.json'}"
    assert lines[-1].startswith("bit-exact: 3000 events")
