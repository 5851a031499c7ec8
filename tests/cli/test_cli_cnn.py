"""The jet CNN through the front door: an io_stream conversion of a QKeras CNN, and its bad
input (wrong image shape, an unsupported layer, too many conv blocks for the image) refused in
one line on stderr with exit code 2, before anything is written. No g++ compile happens here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nanotrig.cli import app

pytestmark = pytest.mark.filterwarnings(
    "ignore:The `keras.constraints.serialize:UserWarning",
    "ignore:The `keras.initializers.serialize:UserWarning",
    "ignore:You are saving your model as an HDF5 file:UserWarning",
)

runner = CliRunner()
CNN_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "jet_cnn.yml"
SIDE = 16


def _err(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nanotrig: error: "), result.stderr
    return lines[0]


def _images(n: int, seed: int = 0) -> np.ndarray:
    """Jet-image-like inputs: pT fractions of ``SIDE`` x ``SIDE`` pixels summing to one."""
    rng = np.random.default_rng(seed)
    x = rng.dirichlet(np.full(SIDE * SIDE, 0.05), size=n).astype(np.float32)
    return x.reshape(n, SIDE, SIDE, 1)


@pytest.fixture(scope="module")
def qcnn_path(tmp_path_factory) -> Path:
    """A small QKeras jet CNN (models + quantize code, seeded weights), saved as .h5."""
    from nanotrig.models import build_jet_cnn
    from nanotrig.quantize import build_qmodel

    from nanotrig.config import QuantBits, QuantizeConfig

    model = build_jet_cnn(SIDE, 5, (4, 4), (8,))
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(0, 0.5, w.shape) for w in model.get_weights()])
    qmodel = build_qmodel(model, QuantizeConfig(input=QuantBits(bits=16, integer=1)))
    path = tmp_path_factory.mktemp("qcnn") / "qcnn.h5"
    qmodel.save(path, save_format="h5")
    return path


@pytest.fixture(scope="module")
def project(qcnn_path, tmp_path_factory) -> Path:
    """``nanotrig convert`` of the CNN with the hls section of configs/jet_cnn.yml."""
    tmp = tmp_path_factory.mktemp("cnn_project")
    np.save(tmp / "x.npy", _images(20))
    out = tmp / "hls"
    result = runner.invoke(
        app,
        ["convert", str(qcnn_path), "--out", str(out), "--config", str(CNN_CONFIG),
         "--inputs", str(tmp / "x.npy")],
    )  # fmt: skip
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return out


def test_convert_streams_the_cnn(project):
    import json

    rec = json.loads((project / "conversion.json").read_text())
    assert rec["hls"]["io_type"] == "io_stream"
    assert rec["input_shape"] == [SIDE, SIDE, 1]
    assert rec["input_quantizer"]["bits"] == 16 and rec["input_quantizer"]["integer"] == 1
    classes = {name: p["class"] for name, p in rec["precisions"].items()}
    assert classes["conv1"] == "Conv2D" and classes["pool1"] == "Pooling2D"
    assert classes["softmax"] == "Softmax"
    assert rec["test_vectors"] == 20 and np.load(project / "tb_input.npy").shape == (20, 256)


@pytest.mark.parametrize(
    "shape", [(4, SIDE, SIDE), (4, SIDE - 1, SIDE - 1, 1), (4, SIDE * SIDE - 1)]
)
def test_convert_wrong_image_shape(qcnn_path, tmp_path, shape):
    np.save(tmp_path / "x.npy", np.zeros(shape, np.float32))
    out = tmp_path / "o"
    args = ["convert", str(qcnn_path), "--out", str(out), "--config", str(CNN_CONFIG),
            "--inputs", str(tmp_path / "x.npy")]  # fmt: skip
    line = _err(runner.invoke(app, args))
    assert f"shape {shape}" in line and "(n, 16, 16, 1)" in line
    assert not out.exists()


@pytest.mark.parametrize("shape", [(4, SIDE, SIDE), (4, SIDE * SIDE + 1), (4, 2, SIDE, SIDE, 1)])
def test_verify_wrong_image_shape(project, tmp_path, shape):
    np.save(tmp_path / "x.npy", np.zeros(shape, np.float32))
    before = sorted(p.name for p in project.iterdir())
    line = _err(runner.invoke(app, ["verify", str(project), "--inputs", str(tmp_path / "x.npy")]))
    assert "shape" in line and "(n, 256)" in line
    assert sorted(p.name for p in project.iterdir()) == before


def test_verify_wrong_image_shape_library(project):
    from nanotrig.hls import verify_project

    from nanotrig.errors import DataError

    with pytest.raises(DataError, match=r"shape \(3, 16, 16\).*\(n, 16, 16, 1\)"):
        verify_project(project, np.zeros((3, SIDE, SIDE), np.float32))


def test_convert_conv2d_transpose(tmp_path):
    """An upsampling decoder layer has no bit-exact conversion: named, with the supported list."""
    import keras
    from qkeras import QActivation, QConv2D, quantized_bits

    q = quantized_bits(6, 0, alpha=1)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            QActivation(quantized_bits(16, 1, alpha=1), name="input_quant"),
            QConv2D(2, 3, kernel_quantizer=q, bias_quantizer=q, name="conv1"),
            keras.layers.Conv2DTranspose(2, 3, name="deconv"),
        ]
    )
    model.save(tmp_path / "deconv.h5")
    out = tmp_path / "o"
    line = _err(
        runner.invoke(
            app,
            ["convert", str(tmp_path / "deconv.h5"), "--out", str(out), "--io-type", "io_stream"],
        )
    )
    assert "'deconv'" in line and "Conv2DTranspose" in line and "QConv2D" in line
    assert not out.exists()


def test_run_too_many_conv_blocks(tmp_path):
    cfg = tmp_path / "c.yml"
    cfg.write_text(
        "name: x\nsamples: {image_size: 8}\nmodel: {family: jet_cnn, conv_filters: [4, 4, 4]}\n"
    )
    line = _err(runner.invoke(app, ["run", str(cfg), "--out-root", str(tmp_path / "runs")]))
    assert "model.conv_filters" in line and "8x8 image is too small for 3 conv blocks" in line
    assert not (tmp_path / "runs").exists()
