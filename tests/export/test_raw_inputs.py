"""The deployed jet MLP takes raw features (mini run): the HLS project and both ONNX files
record what they take, score the run's own sample as the report does, and refuse files that do
not hold the model's raw features, writing nothing."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
from nanotrig.export.metadata import onnx_input_spec
from typer.testing import CliRunner

from nanotrig.cli import app
from nanotrig.report import binomial_error

runner = CliRunner()


def _sample(run_dir):
    with h5py.File(run_dir / "data" / "jets.h5", "r") as f:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in f.attrs["feature_names"]]
        return f["features"][()], f["labels"][()], names


def test_project_and_onnx_record_raw_inputs(mini_run):
    run = mini_run["run_dir"]
    x, _, names = _sample(run)
    conv = json.loads((run / "hls" / "conversion.json").read_text())
    spec = conv["inputs"]
    assert spec["raw"] is True and spec["feature_names"] == names and spec["shape"] == [16]
    assert spec["dataset"] == "features" and spec["units"][names.index("j_mass_mmdt")] == "GeV"
    assert spec["ap_type"].startswith("ap_fixed<22,11") and conv["input_quantizer"]["bits"] == 22
    for onnx in (run / "onnx" / "model.onnx", run / "onnx_q" / "qmodel.qdq.onnx"):
        got = onnx_input_spec(onnx)
        assert got["feature_names"] == names and got["standardisation"] == spec["standardisation"]
    # the testbench vectors are raw features of the test jets
    with np.load(run / "model" / "split.npz") as s:
        test = s["test"]
    tb = np.load(run / "hls" / "tb_input.npy")
    np.testing.assert_array_equal(tb, x[test][: len(tb)].astype(np.float32))


def test_standardisation_verified_bit_exact(mini_run):
    v = mini_run["verify"]
    rows = {r["keras_layer"]: r for r in v["layers"]}
    assert rows["input_quant"]["layer"] == "standardise"  # the folded standardisation
    assert v["stress"]["engine"] == "kernel"  # the integer kernel emulates it (scale step)
    for check in (v, v["edge_inputs"], v["stress"]):
        assert check["ok"], check
        assert all(r["n_mismatch"] == 0 for r in check["layers"] if r["kind"] == "exact")


def test_infer_on_the_runs_sample_gives_the_report_accuracy(mini_run, tmp_path):
    run = mini_run["run_dir"]
    _, y, _ = _sample(run)
    with np.load(run / "model" / "split.npz") as s:
        test = s["test"]
    metrics = mini_run["quantize"]["metrics"]
    for onnx, key in (("onnx/model.onnx", "float"), ("onnx_q/qmodel.qdq.onnx", "quantized")):
        out = tmp_path / f"{key}.npy"
        args = ["infer", str(run / onnx), "--inputs", str(run / "data" / "jets.h5")]
        res = runner.invoke(app, [*args, "--out", str(out), "--cpu"])
        assert res.exit_code == 0, res.stderr
        acc = float((np.load(out)[test].argmax(1) == y[test]).mean())
        want = metrics[key]["accuracy"]
        assert abs(acc - want) <= binomial_error(want, len(test)), (key, acc, want)


def test_mismatched_files_are_refused_and_nothing_written(mini_run, tmp_path):
    run = mini_run["run_dir"]
    x, _, names = _sample(run)
    z = tmp_path / "standardised.npy"
    np.save(z, ((x - x.mean(0)) / x.std(0)).astype(np.float32))
    out = tmp_path / "p.npy"
    res = runner.invoke(app, ["infer", str(run / "onnx" / "model.onnx"), "--inputs", str(z),
                              "--out", str(out)])  # fmt: skip
    assert res.exit_code != 0 and "standardised-looking" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not out.exists()
    swapped = tmp_path / "swapped.h5"
    shutil.copyfile(run / "data" / "jets.h5", swapped)
    with h5py.File(swapped, "a") as f:
        f.attrs["feature_names"] = [names[1], names[0], *names[2:]]
    before = (run / "hls" / "verify.json").read_bytes()
    res = runner.invoke(app, ["verify", str(run / "hls"), "--inputs", str(swapped)])
    assert res.exit_code != 0 and f"column 0: '{names[0]}'" in res.stderr, res.stderr
    assert (run / "hls" / "verify.json").read_bytes() == before
