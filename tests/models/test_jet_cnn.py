"""The jet-image CNN: layers, shapes, its QKeras counterpart and the errors its config names."""

from __future__ import annotations

import numpy as np
import pytest
from nanotrig.models import build_jet_cnn, build_model, sample_inputs
from nanotrig.models.data import load_dataset, save_split

from nanotrig.config import ModelConfig, QuantBits, QuantizeConfig, parse_config
from nanotrig.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def cnn():
    return build_jet_cnn(16, 5, (8, 8), (16,))


def test_layers_and_shapes(cnn):
    names = [layer.name for layer in cnn.layers]
    assert names == [
        "input", "conv1", "relu_c1", "pool1", "conv2", "relu_c2", "pool2", "flatten",
        "fc1", "relu1", "output", "softmax",
    ]  # fmt: skip
    assert cnn.input_shape == (None, 16, 16, 1)
    assert cnn.get_layer("pool1").output_shape == (None, 7, 7, 8)
    assert cnn.get_layer("flatten").output_shape == (None, 2 * 2 * 8)
    assert cnn.output_shape == (None, 5)
    x = np.random.default_rng(0).dirichlet(np.full(256, 0.1), size=3).astype(np.float32)
    y = cnn.predict(x.reshape(3, 16, 16, 1), verbose=0)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)


def test_build_model_picks_the_family():
    cfg = ModelConfig(family="jet_cnn", conv_filters=(4,), dense=())
    m = build_model(cfg, (12, 12, 1), 3)
    assert m.name == "jet_cnn" and m.input_shape == (None, 12, 12, 1)
    assert [la.name for la in m.layers][-2:] == ["output", "softmax"]
    assert "fc1" not in [la.name for la in m.layers]  # empty dense head
    assert build_model(ModelConfig(), (16,), 5).name == "jet_mlp"


def test_qkeras_counterpart(cnn):
    from nanotrig.quantize import INPUT_QUANT_NAME, build_qmodel

    q = build_qmodel(cnn, QuantizeConfig(input=QuantBits(bits=16, integer=1)))
    kinds = {layer.name: type(layer).__name__ for layer in q.layers}
    assert kinds[INPUT_QUANT_NAME] == "QActivation"
    assert kinds["conv1"] == "QConv2D" and kinds["relu_c1"] == "QActivation"
    assert kinds["pool1"] == "MaxPooling2D" and kinds["fc1"] == "QDense"
    np.testing.assert_array_equal(
        q.get_layer("conv2").get_weights()[0], cnn.get_layer("conv2").get_weights()[0]
    )


def test_image_too_small():
    with pytest.raises(ConfigError, match=r"6x6 image is too small for 2 conv blocks"):
        build_jet_cnn(6, 5, (8, 8))
    data = {"name": "x", "samples": {"image_size": 8}, "model": {"family": "jet_cnn"}}
    data["model"]["conv_filters"] = [4, 4, 4]
    with pytest.raises(ConfigError, match=r"model.conv_filters: a 8x8 image is too small"):
        parse_config(data)


@pytest.mark.parametrize(
    ("model", "match"),
    [
        ({"family": "jet_cnn", "conv_filters": []}, r"conv_filters must be positive"),
        ({"family": "jet_cnn", "conv_filters": [8, 0]}, r"conv_filters must be positive"),
        ({"family": "jet_cnn", "dense": [-1]}, r"dense widths must be positive"),
        ({"family": "jet_cnn", "kernel_size": 0}, r"model.kernel_size"),
        ({"family": "jet_cnn", "hidden": [8]}, r"hidden applies to jet_mlp, not jet_cnn"),
        (
            {"family": "jet_mlp", "conv_filters": [4]},
            r"conv_filters applies to dqm_ae/jet_cnn, not jet_mlp",
        ),
        ({"family": "jet_gnn"}, r"model.family"),
    ],
)
def test_config_errors(model, match):
    with pytest.raises(ConfigError, match=match):
        parse_config({"name": "x", "model": model})


def test_mlp_defaults_unchanged():
    cfg = ModelConfig()
    assert cfg.family == "jet_mlp" and cfg.hidden == (64, 32, 32) and cfg.inputs == "features"
    assert ModelConfig(family="jet_cnn").inputs == "images"
    # a resolved config (every key written out) validates again for either family
    for family in ("jet_mlp", "jet_cnn"):
        dumped = ModelConfig(family=family).model_dump(mode="json")
        assert ModelConfig.model_validate(dumped).family == family


class _Sample:
    features = np.zeros((4, 16), np.float32)
    images = None


def test_sample_without_images():
    with pytest.raises(DataError, match=r"load it with parts=\('images',\)"):
        sample_inputs(_Sample(), "images")
    assert sample_inputs(_Sample(), "features").shape == (4, 16)


def test_images_of_another_size_are_refused(tmp_path):
    split = {"train": np.arange(4), "val": np.arange(4, 6), "test": np.arange(6, 8)}
    save_split(tmp_path, split, None, "images", (16, 16, 1))
    labels = np.zeros(8, np.int64)
    with pytest.raises(DataError, match=r"shape \(8, 8, 1\) per jet.*takes \(16, 16, 1\)"):
        load_dataset(np.zeros((8, 8, 8, 1), np.float32), labels, ("g", "q"), tmp_path)
    data = load_dataset(np.ones((8, 16, 16, 1), np.float32), labels, ("g", "q"), tmp_path)
    assert data.scaler is None and data.x_test.shape == (2, 16, 16, 1)
    assert data.x_test.dtype == np.float32 and (data.x_test == 1).all()  # not rescaled
