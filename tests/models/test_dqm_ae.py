"""The DQM autoencoder: shapes, QKeras and ONNX round trips, the fault metrics on a synthetic
case, the run-wise split, and the errors for bad configs, inputs and layers."""

from __future__ import annotations

import numpy as np
import pytest
from nanotrig.models.dqm_ae import build_dqm_ae
from nanotrig.models.dqm_metrics import fault_metrics, reconstruction_losses
from nanotrig.models.dqm_stage import split_runs

from nanotrig.config import QuantBits, QuantizeConfig, parse_config
from nanotrig.errors import ConfigError, DataError, ModelError

NAMES = ("none", "dead_channel", "hot_channel")
QCFG = QuantizeConfig(
    input=QuantBits(bits=16, integer=7), weights=QuantBits(bits=8, integer=1),
    bias=QuantBits(bits=8, integer=2), activation=QuantBits(bits=8, integer=3),
)  # fmt: skip


@pytest.fixture(scope="module")
def ae():
    return build_dqm_ae((16, 32), (8, 4))


def test_layers_and_shapes(ae):
    names = [layer.name for layer in ae.layers]
    assert names == [
        "input", "enc_conv1", "enc_relu1", "pool1", "enc_conv2", "enc_relu2", "pool2",
        "up1", "dec_conv1", "dec_relu1", "up2", "output",
    ]  # fmt: skip
    assert ae.get_layer("pool2").output_shape == (None, 4, 8, 4)  # the bottleneck
    assert ae.output_shape == ae.input_shape == (None, 16, 32, 1)
    assert "Conv2DTranspose" not in {type(la).__name__ for la in ae.layers}
    x = np.random.default_rng(0).poisson(100, (3, 16, 32, 1)).astype(np.float32) / 100
    assert ae.predict(x, verbose=0).shape == x.shape


def test_map_must_divide_by_the_pooling():
    with pytest.raises(ConfigError, match=r"18x32 map .* multiples of 4"):
        build_dqm_ae((18, 32), (8, 4))
    with pytest.raises(ConfigError, match=r"map shape must be \(H, W\)"):
        build_dqm_ae((16, 32, 1))


def test_qkeras_round_trip(ae, tmp_path):
    """QKeras counterpart (UpSampling2D passed through, linear QConv2D output) saved to .h5 and
    read back gives the same reconstructions."""
    from nanotrig.quantize import build_qmodel, load_keras_model

    q = build_qmodel(ae, QCFG)
    kinds = {layer.name: type(layer).__name__ for layer in q.layers}
    assert kinds["up1"] == "UpSampling2D" and kinds["output"] == "QConv2D"
    assert kinds["enc_relu1"] == "QActivation" and kinds["input_quant"] == "QActivation"
    q.save(tmp_path / "q.h5", save_format="h5")
    back = load_keras_model(tmp_path / "q.h5")
    x = np.random.default_rng(1).poisson(100, (4, 16, 32, 1)).astype(np.float32) / 100
    np.testing.assert_array_equal(back.predict(x, verbose=0), q.predict(x, verbose=0))


def test_qdq_onnx_upsampling_is_exact(ae):
    """The QDQ exporter's nearest Resize reproduces UpSampling2D: reconstructions identical."""
    from nanotrig.export import compare_qdq
    from nanotrig.quantize import build_qmodel

    q = build_qmodel(ae, QCFG)
    x = np.random.default_rng(2).poisson(100, (8, 16, 32, 1)).astype(np.float32) / 100
    rec = compare_qdq(q, x)
    assert rec["layers"]["up2"]["max_abs_diff"] == 0.0
    assert rec["max_abs_diff_outputs"] == 0.0


def test_localisation_metric_on_a_synthetic_case():
    """Losses that peak inside the fault mask localise every fault and separate faulty maps."""
    rng = np.random.default_rng(3)
    n, shape = 60, (8, 16)
    ftype = np.repeat([0, 1, 2], n // 3).astype(np.int8)
    mask = np.zeros((n, *shape), np.uint8)
    cell = rng.uniform(0, 0.01, (n, *shape))
    for i in np.flatnonzero(ftype > 0):
        r, c = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        mask[i, r, c] = 1
        cell[i, r, c] = 1.0
    m = fault_metrics(cell.mean(axis=(1, 2)), cell, ftype, mask, NAMES)
    assert m["localisation"] == 1.0 and m["cell_auc"] == 1.0 and m["auc_any_fault"] == 1.0
    for name in NAMES[1:]:
        assert m["per_fault"][name] == {
            "n_maps": 20, "auc": 1.0, "auc_max_cell": 1.0, "localisation": 1.0,
        }  # fmt: skip
    shuffled = fault_metrics(cell.mean(axis=(1, 2)), cell, ftype, np.roll(mask, 1, axis=2), NAMES)
    assert shuffled["localisation"] == 0.0  # the peak is one cell off the (shifted) mask


def test_fault_type_without_maps_gives_none():
    cell = np.ones((4, 8, 8))
    m = fault_metrics(cell.mean(axis=(1, 2)), cell, np.zeros(4, np.int8), cell * 0, NAMES)
    assert m["per_fault"]["dead_channel"] == {
        "n_maps": 0, "auc": None, "auc_max_cell": None, "localisation": None,
    }  # fmt: skip


def test_losses_need_matching_shapes():
    x = np.ones((2, 8, 8, 1))
    per_map, per_cell = reconstruction_losses(x, x * 2)
    np.testing.assert_allclose(per_map, 1.0)
    assert per_cell.shape == (2, 8, 8)
    with pytest.raises(DataError, match="differ in shape"):
        reconstruction_losses(x, np.ones((2, 8, 8)))
    with pytest.raises(DataError, match="do not match the fault labels"):
        fault_metrics(per_map, per_cell, np.zeros(2), np.zeros((2, 4, 4)), NAMES)


def test_split_keeps_runs_whole():
    run = np.repeat(np.arange(10), 5)
    split = split_runs(run, 0.2, 0.3, seed=0)
    assert sorted(np.concatenate(list(split.values()))) == list(range(50))
    parts = {k: set(run[v]) for k, v in split.items()}
    assert len(parts["test"]) == 3 and len(parts["val"]) == 2 and len(parts["train"]) == 5
    assert not (parts["test"] & parts["train"]) and not (parts["val"] & parts["train"])
    with pytest.raises(DataError, match="at least 3"):
        split_runs(np.zeros(5), 0.2, 0.2, seed=0)


def _cfg(**model) -> dict:
    return {"name": "x", "samples": {"kind": "dqm", "shape": [16, 32]},
            "model": {"family": "dqm_ae", **model}}  # fmt: skip


def test_config_errors():
    assert parse_config(_cfg(conv_filters=[8, 4])).model.inputs == "maps"
    with pytest.raises(ConfigError, match=r"set samples\.kind: dqm"):
        parse_config({"name": "x", "model": {"family": "dqm_ae"}})
    with pytest.raises(ConfigError, match="multiples of 8"):
        parse_config(_cfg(conv_filters=[4, 4, 4], pool_size=2) | {"samples": {
            "kind": "dqm", "shape": [12, 32]}})  # fmt: skip
    with pytest.raises(ConfigError, match="dense applies to jet_cnn, not dqm_ae"):
        parse_config(_cfg(dense=[8]))


def test_wrong_input_shape_rejected(ae):
    from nanotrig.hls import validate_inputs

    with pytest.raises(DataError, match=r"inputs have shape \(3, 32, 16, 1\)"):
        validate_inputs(np.ones((3, 32, 16, 1)), ae.input_shape[1:])
    np.testing.assert_array_equal(
        validate_inputs(np.ones((3, 512)), ae.input_shape[1:]), np.ones((3, 16, 32, 1))
    )


def test_conv2d_transpose_rejected():
    """A decoder built with Conv2DTranspose has no QKeras/hls4ml bit-exact path here: both the
    quantizer and the converter's layer check refuse it, naming the layer."""
    from nanotrig.hls.model_io import check_supported
    from nanotrig.quantize import build_qmodel
    from tensorflow import keras

    inp = keras.Input((16, 32, 1), name="maps")
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="enc")(inp)
    x = keras.layers.Conv2DTranspose(1, 3, strides=2, padding="same", name="dec")(x)
    model = keras.Model(inp, x)
    with pytest.raises(ModelError, match=r"layer dec \(Conv2DTranspose\) has no QKeras"):
        build_qmodel(model, QCFG)
    decoder = keras.Model(inp, keras.layers.Conv2DTranspose(1, 3, padding="same", name="up")(inp))
    with pytest.raises(ModelError, match="'up' has unsupported type Conv2DTranspose"):
        check_supported(decoder)


def test_raw_counts_model_scales_inside(tmp_path):
    """normalise: po2_scale: the model takes raw counts and gives, bit for bit, what the same
    weights give on counts scaled by 2**-shift outside; it records its inputs, and a file of
    per-map normalised maps is refused while the sample's (N, H, W) counts are accepted."""
    import h5py
    from nanotrig.models.dqm_stage import DQMData, _standardise, count_shift, model_shift
    from nanotrig.models.input_check import check_input_file
    from nanotrig.models.standardise import input_spec
    from nanotrig.quantize import build_qmodel

    counts = np.random.default_rng(2).poisson(90, (40, 16, 32, 1)).astype(np.float32)
    counts[0, 3, 4, 0] = 90 * 80  # a hot cell
    shift = count_shift(counts)
    assert shift == 6  # round(log2(90))
    split = {"train": np.arange(40), "val": np.arange(0), "test": np.arange(0)}
    data = DQMData(counts, np.zeros(40, int), np.zeros((40, 16, 32)), NAMES, split, shift)
    raw = QuantBits(bits=18, integer=16)
    q = QCFG.model_copy(update={"raw_input": raw})
    new = build_qmodel(build_dqm_ae((16, 32), (4,), standardise=_standardise(data, raw, q.input)),
                       q)  # fmt: skip
    old = build_qmodel(build_dqm_ae((16, 32), (4,)), q)
    old.set_weights(new.get_weights())
    assert model_shift(new) == shift and model_shift(old) is None
    np.testing.assert_array_equal(new.predict(counts, verbose=0),
                                  old.predict(data.target, verbose=0))  # fmt: skip
    spec = input_spec(new)
    assert spec["raw"] and spec["dataset"] == "maps" and spec["shape"] == [16, 32, 1]
    assert spec["standardisation"]["shift"] == [6] and spec["input_type"]["lsb"] == 0.5
    path = tmp_path / "s.h5"
    with h5py.File(path, "w") as f:
        f["maps"] = counts[..., 0].astype(np.int32)
    check_input_file(path, spec, "maps")  # the sample's counts, without the channel axis
    np.save(tmp_path / "norm.npy", counts / counts.mean(axis=(1, 2, 3), keepdims=True))
    with pytest.raises(DataError, match="as if scaled outside the model"):
        check_input_file(tmp_path / "norm.npy", spec)
    with pytest.raises(ConfigError, match=r"quantized_bits\(17,16\) has no fractional bit"):
        parse_config({"name": "x", "quantize": {"raw_input": {"bits": 17, "integer": 16}}})
