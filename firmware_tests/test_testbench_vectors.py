"""The HLS project is ready for Vivado/Vitis HLS: sources, build script and test vectors."""

from __future__ import annotations

import json

import numpy as np


def test_project_files(mini_run):
    hls_dir = mini_run["run_dir"] / "hls"
    record = json.loads((hls_dir / "conversion.json").read_text())
    prj = hls_dir / record["project_dir"]
    name = record["project_name"]
    for rel in (
        f"firmware/{name}.cpp",
        f"firmware/{name}.h",
        "firmware/parameters.h",
        "build_prj.tcl",
        f"{name}_test.cpp",
        "tb_data/tb_input_features.dat",
        "tb_data/tb_output_predictions.dat",
    ):
        assert (prj / rel).is_file(), rel
    tcl = (prj / "project.tcl").read_text()
    assert mini_run["config"]["hls"]["part"] in tcl


def test_test_vectors_are_the_keras_outputs(mini_run):
    """tb_data holds the test inputs and the QKeras reference predictions for them."""
    hls_dir = mini_run["run_dir"] / "hls"
    record = json.loads((hls_dir / "conversion.json").read_text())
    prj = hls_dir / record["project_dir"]
    x_in = np.loadtxt(prj / "tb_data" / "tb_input_features.dat", ndmin=2)
    y_out = np.loadtxt(prj / "tb_data" / "tb_output_predictions.dat", ndmin=2)
    assert x_in.shape == (record["test_vectors"], 16)
    assert y_out.shape == (record["test_vectors"], 5)
    np.testing.assert_allclose(y_out.sum(axis=1), 1.0, atol=1e-5)  # softmax outputs
    x_test = np.load(mini_run["run_dir"] / "qmodel" / "test_inputs.npy")
    np.testing.assert_allclose(x_in, x_test[: len(x_in)], rtol=1e-6, atol=1e-6)


def test_precisions_from_quantizers(mini_run):
    """Weights carry the QKeras quantizer's type; the ReLU output is the quantized_relu type."""
    precisions = mini_run["hls"]["precisions"]
    q = mini_run["config"]["quantize"]
    w = q["weights"]
    assert precisions["fc1"]["weight"].startswith("fixed<")
    width = int(precisions["fc1"]["weight"].split("<")[1].split(",")[0])
    assert width <= w["bits"]
    relu = precisions["relu1"]["result"]
    assert relu.startswith(f"ufixed<{q['activation']['bits']},")
