"""Firmware acceptance for the jet CNN: io_stream C-simulation vs QKeras, bit for bit.

The project under test is the one ``nanotrig run`` wrote for a tiny version of
configs/jet_cnn.yml (``conftest.mini_cnn_run``): a Conv2D/MaxPool CNN trained and quantized on
real Pythia jet images, converted with ``io_stream``. C-simulation (g++) must give the same
fixed-point values as QKeras on every layer up to the logits, for every generated image (the
train, validation and test images: more than a thousand) and for the edge inputs of the input
type, both through hls4ml ``trace`` and through the batched engine (the exact integer kernel of
:mod:`hls.int_kernel`, which covers io_stream convolutions and pooling). The
softmax is a lookup table in firmware: compared bit for bit with its fixed-point emulator; its
error against QKeras (the table error) is asserted within the tolerance convert chose it for.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytestmark = [
    pytest.mark.slow,  # Pythia, training and g++: about 2.5 minutes on 2 cores
    pytest.mark.skipif(shutil.which("g++") is None, reason="C-simulation needs g++"),
]

CNN_LAYERS = ["conv1", "relu_c1", "pool1", "conv2", "relu_c2", "pool2", "flatten", "fc1",
              "relu1", "output"]  # fmt: skip


@pytest.fixture(scope="module")
def all_images(mini_cnn_run) -> np.ndarray:
    """Every generated jet image of the run (train + val + test), as the model takes them."""
    from nanotrig.models.data import load_sample_dataset

    run_dir = mini_cnn_run["run_dir"]
    d = load_sample_dataset(run_dir / "data" / "jets.h5", run_dir / "model")
    return np.concatenate([d.x_train, d.x_val, d.x_test])


@pytest.fixture(scope="module")
def images_result(mini_cnn_run, all_images):
    from nanotrig.hls import verify_project

    return verify_project(mini_cnn_run["run_dir"] / "hls", all_images)


def _exact_rows(result) -> list[dict]:
    return [r for r in result.layers if r["kind"] == "exact"]


def _assert_exact(rows: list[dict], n: int) -> None:
    for row in rows:
        assert row["n_events"] == n, row
        assert row["n_mismatch"] == 0, row
        assert row["max_abs_diff"] == 0.0, row


def test_enough_real_images(all_images, mini_cnn_run):
    assert all_images.shape[0] >= 1000 and all_images.shape[1:] == (16, 16, 1)
    assert all_images.min() >= 0.0 and all_images.max() <= 1.0  # pT fractions
    assert mini_cnn_run["config"]["hls"]["io_type"] == "io_stream"


def test_every_layer_bit_exact_on_real_images(images_result, all_images):
    rows = _exact_rows(images_result)
    compared = [r["keras_layer"] for r in rows]
    # hls4ml folds Flatten into a no-op reshape of the stream: everything else is traced
    assert [n for n in CNN_LAYERS if n != "flatten"] == [n for n in compared if n != "flatten"]
    _assert_exact(rows, len(all_images))
    assert set(images_result.not_compared) <= {"input_quant", "flatten"}
    assert images_result.ok


def test_softmax_argmax_agreement(images_result, capsys):
    soft = [r for r in images_result.layers if r["kind"] == "lut"]
    assert [r["keras_layer"] for r in soft] == ["softmax"]
    row = soft[0]
    err = row["table_error"]
    with capsys.disabled():
        print(
            f"\n[firmware] CNN softmax table error (emulator vs QKeras): max|diff| "
            f"{err['max_abs_diff']:.4f}, argmax agreement {err['argmax_agreement']:.4f} on "
            f"{row['n_events']} images"
        )
    # the table itself is exact against its emulator; its error against QKeras is the
    # tolerance convert chose the tables for (hls.softmax.tolerance, 2**-7)
    assert row["compared_with"] == "emulator" and row["n_mismatch"] == 0, row
    assert err["max_abs_diff"] <= 2**-7
    assert err["argmax_agreement"] >= 0.95


def test_batched_engine_streams_the_cnn(mini_cnn_run, all_images):
    """The batched engine (the integer kernel: auto picks it for the io_stream CNN) gives every
    image's logits bit-exact, and equals ``trace()`` on the traced subset (checked inside)."""
    from nanotrig.hls import verify_project

    result = verify_project(
        mini_cnn_run["run_dir"] / "hls", all_images, batched=True, trace_events=100
    )
    assert result.batched and result.n_events == len(all_images) and result.engine == "kernel"
    logits = [r for r in result.layers if r.get("scope") == "all"]
    assert [r["layer"] for r in logits] == ["output"]
    _assert_exact(logits, len(all_images))
    traced = [r for r in _exact_rows(result) if r.get("scope") == "traced"]
    assert traced and all(r["n_mismatch"] == 0 for r in traced)
    assert result.output["kind"] == "lut" and result.output["argmax_agreement"] >= 0.95
    assert result.ok


def test_pipeline_checks_test_set_and_edges(mini_cnn_run):
    """The run itself verified every test image and the edge inputs (zeros, maxima,
    saturation) of ap_fixed<16,2> layer by layer, with no mismatch."""
    from nanotrig.hls import edge_inputs

    v = mini_cnn_run["verify"]
    n_test = mini_cnn_run["train"]["sizes"]["test"]
    assert v["ok"] and v["n_events"] == n_test
    _assert_exact(_exact_rows_dict(v), n_test)
    edges = v["edge_inputs"]
    x = edge_inputs(mini_cnn_run["run_dir"] / "hls")
    assert edges["ok"] and edges["n_events"] == len(x)
    assert (x == 0).all(axis=(1, 2, 3)).any() and (np.abs(x) > 2.0).any(axis=(1, 2, 3)).sum() >= 4
    _assert_exact(_exact_rows_dict(edges), len(x))
    assert edges["reference_inexact_events"] == 0


def _exact_rows_dict(v: dict) -> list[dict]:
    rows = [r for r in v["layers"] if r["kind"] == "exact"]
    assert {r["keras_layer"] for r in rows} >= {"conv1", "pool2", "fc1", "output"}
    return rows


def test_onnx_agrees(mini_cnn_run):
    e, q = mini_cnn_run["export"], mini_cnn_run["export_quantized"]
    assert e["agrees"] and e["max_abs_diff"] <= e["atol"] and e["argmax_agreement"] == 1.0
    assert q["logits_exact"] and q["max_abs_diff_logits"] == 0.0


def test_report_names_the_cnn(mini_cnn_run):
    report = (mini_cnn_run["run_dir"] / "report.md").read_text()
    assert "jet CNN" in report.splitlines()[0]
    assert "Model: jet CNN (`jet_cnn`) on jet images (16x16x1" in report
    for section in ("## Accuracy", "AUC t", "## C-simulation vs QKeras", "### Edge inputs",
                    "## ONNX (quantized model, QDQ"):  # fmt: skip
        assert section in report
    assert "### Latency and resources: estimate, not synthesis" in report
    acc = mini_cnn_run["quantize"]["metrics"]["quantized"]["accuracy"]
    assert acc > 0.3  # better than chance (0.2) even on the tiny sample


def test_report_without_estimate(mini_cnn_run):
    """A graph the estimate cannot model converts without one; the report says so."""
    from nanotrig.family import get_family
    from nanotrig.report import render_report

    r = {**mini_cnn_run, "hls": {**mini_cnn_run["hls"], "estimate": None}}
    text = render_report(get_family("jet_cnn"), r)
    assert "No latency/resource estimate" in text and "(io_stream)" in text
    assert "### Latency and resources" not in text
