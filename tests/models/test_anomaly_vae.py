"""Anomaly VAE: shapes, the score sum(mu^2) inside the (quantized) model, power-of-two input
scaling, metrics at a background rate, and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from nanotrig.models.anomaly_metrics import anomaly_metrics, fpr_statement, tpr_at_k
from nanotrig.models.l1_inputs import PowerOfTwoScaling, feature_groups, quantize_to_input
from nanotrig.samples.l1_detector import FEATURE_NAMES_L1

from nanotrig.config import QuantBits, QuantizeConfig, load_config, parse_config
from nanotrig.errors import ConfigError, DataError, ModelError

INPUT = QuantBits(bits=16, integer=5)
LATENT = QuantBits(bits=10, integer=2)


@pytest.fixture(scope="module")
def encoder():
    import tensorflow as tf
    from nanotrig.models.anomaly_vae import build_encoder

    tf.keras.utils.set_random_seed(3)
    return build_encoder(57, (32, 16), 4)


@pytest.fixture(scope="module")
def grid_inputs() -> np.ndarray:
    """Random events on the input grid (what the scaling produces)."""
    rng = np.random.default_rng(0)
    return quantize_to_input(rng.normal(0, 1.5, size=(300, 57)), INPUT)


def test_shapes_and_float_score(encoder, grid_inputs):
    from nanotrig.models.anomaly_vae import build_decoder, build_score_model

    mu, log_var = encoder.predict(grid_inputs, verbose=0)
    assert mu.shape == log_var.shape == (300, 4)
    assert build_decoder(57, (32, 16), 4).predict(mu, verbose=0).shape == (300, 57)
    score_model = build_score_model(encoder)
    assert [la.name for la in score_model.layers][-2:] == ["mu_sq", "score"]
    score = score_model.predict(grid_inputs, verbose=0)
    assert score.shape == (300, 1)
    np.testing.assert_allclose(score[:, 0], (mu.astype(np.float64) ** 2).sum(1), rtol=1e-5)


def test_quantized_score_is_exactly_sum_mu_squared(encoder, grid_inputs):
    from nanotrig.quantize.anomaly_qmodel import build_qencoder, build_qscore_model
    from tensorflow import keras

    qenc = build_qencoder(encoder, QuantizeConfig(latent=LATENT), LATENT)
    qmodel = build_qscore_model(qenc)
    names = [la.name for la in qmodel.layers]
    assert names[1] == "input_quant" and names[-3:] == ["mu_quant", "mu_sq", "score"]
    assert "log_var" not in names  # the deployed part is the encoder up to mu
    score_layer = qmodel.get_layer("score")
    assert not score_layer.trainable and score_layer.use_bias is False
    np.testing.assert_array_equal(score_layer.get_weights()[0], np.ones((4, 1)))
    mu = keras.Model(qmodel.inputs, qmodel.get_layer("mu_quant").output).predict(
        grid_inputs, verbose=0
    )
    lsb = 2.0 ** -(LATENT.bits - 1 - LATENT.integer)
    np.testing.assert_array_equal(np.round(mu / lsb) * lsb, mu)  # mu on the latent grid
    score = qmodel.predict(grid_inputs, verbose=0)[:, 0]
    np.testing.assert_array_equal(score, (mu.astype(np.float64) ** 2).sum(1))


def test_run_writes_exact_qdq_score_model(encoder, grid_inputs, tmp_path):
    """What ``nanotrig run`` writes to ``onnx_q/`` (:func:`export_quantized_score`): a QDQ graph
    (integer QGemm hidden layers) whose score is identical to QKeras on every input, including
    zeros and saturating ones, and the report section that states it."""
    import onnx
    from nanotrig.export import OnnxModel
    from nanotrig.export.score import export_quantized_score
    from nanotrig.quantize.anomaly_qmodel import build_qencoder, build_qscore_model

    from conftest import REPO
    from nanotrig.families.anomaly_vae import quantized_onnx_lines

    q = load_config(REPO / "configs" / "anomaly_vae.yml").quantize  # the shipped precisions
    qmodel = build_qscore_model(build_qencoder(encoder, q, q.latent))
    qmodel.save(tmp_path / "qmodel.h5", save_format="h5")
    edge = np.stack([np.zeros(57), np.full(57, 1e4), np.full(57, -1e4), np.full(57, 31.99)])
    x = np.concatenate([grid_inputs, edge]).astype(np.float32)
    rec = export_quantized_score(tmp_path / "qmodel.h5", x, tmp_path / "onnx_q")
    assert rec["exact"] and "error" not in rec, rec
    assert rec["max_abs_diff_outputs"] == rec["file_max_abs_diff_outputs"] == 0.0
    assert all(la["max_abs_diff"] == 0.0 for la in rec["layers"].values()), rec["layers"]
    path = tmp_path / "onnx_q" / "qmodel.qdq.onnx"
    assert rec["onnx"] == str(path) and (tmp_path / "onnx_q" / "qdq_artifact.json").is_file()
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"QuantizeLinear", "QGemm"} <= ops
    got = OnnxModel(path, ["CPUExecutionProvider"]).predict(x, progress=False)
    np.testing.assert_array_equal(got, qmodel.predict(x, verbose=0))
    text = "\n".join(quantized_onnx_lines(rec))
    assert "QDQ ONNX graph" in text and "**identical**" in text


def test_unsupported_encoder_layer_is_refused():
    from nanotrig.quantize.anomaly_qmodel import build_qencoder
    from tensorflow import keras

    inp = keras.Input(shape=(57,))
    x = keras.layers.Dense(8, name="fc1")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    enc = keras.Model(inp, [keras.layers.Dense(3, name="mu")(x),
                            keras.layers.Dense(3, name="log_var")(x)])  # fmt: skip
    with pytest.raises(ModelError, match=r"bn \(BatchNormalization\) has no QKeras counterpart"):
        build_qencoder(enc, QuantizeConfig(), LATENT)


def test_scaling_is_a_power_of_two_per_group():
    rng = np.random.default_rng(1)
    x = np.zeros((500, 57))
    groups = np.array(feature_groups(FEATURE_NAMES_L1))
    x[:, groups == "jet_pt"] = rng.uniform(0, 300, size=(500, 10))  # -> 2**9 = 512
    x[:, groups == "met_pt"] = rng.uniform(0, 60, size=(500, 1))  # -> 2**6 = 64
    x[:, groups == "e_eta"] = rng.uniform(-2.5, 2.5, size=(500, 4))  # -> 2**2 = 4
    x = np.round(x * 2) / 2  # integer counts of 0.5 (GeV or eta units), as L1 words are
    s = PowerOfTwoScaling.fit(x, FEATURE_NAMES_L1, quantile=1.0)
    assert s.shifts["jet_pt"] == 9 and s.shifts["met_pt"] == 6 and s.shifts["e_eta"] == 2
    assert s.shifts["met_eta"] == 0  # all zeros: no shift
    assert all(isinstance(v, int) for v in s.shifts.values())
    y = s.transform(x, INPUT)
    # a pure shift: exact in both directions while the count's LSB (0.5) is at least the
    # input LSB 2**-10 times 2**shift (jet pT: 2**-1 GeV); finer bits are shifted out
    np.testing.assert_array_equal(np.ldexp(y.astype(np.float64), s.feature_shifts), x)
    assert np.abs(y).max() <= 1.0
    finer = s.transform(x + 0.125, INPUT)
    lsb_gev = np.ldexp(2.0**-10, s.feature_shifts)
    np.testing.assert_array_equal(finer, quantize_to_input((x + 0.125) / np.ldexp(1.0,
                                  s.feature_shifts), INPUT))  # fmt: skip
    assert lsb_gev[groups == "jet_pt"][0] == 0.5


def test_scaling_rounds_and_saturates_like_the_input_type():
    lsb = 2.0**-10
    y = quantize_to_input(np.array([[0.5 * lsb, 1.5 * lsb, 100.0, -100.0]]), INPUT)
    np.testing.assert_array_equal(y, [[0.0, 2 * lsb, 32 - lsb, -32.0]])  # half to even, SAT


def test_scaling_wrong_shape():
    s = PowerOfTwoScaling.fit(np.ones((10, 57)), FEATURE_NAMES_L1)
    with pytest.raises(DataError, match=r"shape \(10, 56\), expected \(N, 57\)"):
        s.transform(np.ones((10, 56)), INPUT)


def test_convert_refuses_wrong_input_shape(encoder, tmp_path):
    from nanotrig.hls import convert_model
    from nanotrig.quantize.anomaly_qmodel import build_qencoder, build_qscore_model

    from nanotrig.config import HlsConfig

    qmodel = build_qscore_model(build_qencoder(encoder, QuantizeConfig(), LATENT))
    qmodel.save(tmp_path / "q.h5", save_format="h5")
    with pytest.raises(DataError, match=r"inputs have shape \(5, 56\): the model takes \(n, 57\)"):
        convert_model(tmp_path / "q.h5", tmp_path / "hls", HlsConfig(),
                      test_inputs=np.zeros((5, 56)))  # fmt: skip
    assert not (tmp_path / "hls").exists()


def test_metrics_state_the_background_statistics():
    bkg = np.arange(100, dtype=float)
    sig = np.array([98.5, 99.5, 150.0, 0.0])
    assert tpr_at_k(bkg, sig, 0) == (99.0, 0.5)  # nothing above the max background
    assert tpr_at_k(bkg, sig, 1) == (98.0, 0.75)  # FPR 1/N
    m = anomaly_metrics(bkg, {"s": sig})
    assert m["min_resolvable_fpr"] == 0.01 and not m["target_resolvable"]
    assert m["signals"]["s"]["tpr_at_target"] is None
    assert "smallest resolvable FPR is 1/N = 0.01" in m["statement"]
    assert "100,000 background events" in fpr_statement(100)
    big = anomaly_metrics(np.arange(200_000.0), {"s": np.array([199_998.5, 5.0])})
    assert big["target_resolvable"] and big["signals"]["s"]["tpr_at_target"] == 0.5


def test_config_family_needs_l1_and_its_own_keys():
    from conftest import REPO

    cfg = load_config(REPO / "configs" / "anomaly_vae.yml")
    assert cfg.model.family == "anomaly_vae" and cfg.samples.kind == "l1"
    assert parse_config(cfg.model_dump(mode="json")) == cfg
    with pytest.raises(ConfigError, match=r"anomaly_vae trains on L1 events: set samples\.kind"):
        parse_config({"name": "x", "model": {"family": "anomaly_vae"}})
    with pytest.raises(ConfigError, match=r"hidden applies to jet_mlp, not anomaly_vae"):
        parse_config({"name": "x", "samples": {"kind": "l1"},
                      "model": {"family": "anomaly_vae", "hidden": [8]}})  # fmt: skip
    with pytest.raises(ConfigError, match=r"latent_dim applies to anomaly_vae, not jet_mlp"):
        parse_config({"name": "x", "model": {"latent_dim": 5}})


def test_raw_input_encoder_equals_scaling_outside():
    """The deployed encoder on raw L1 features (scaling + rounding inside) gives, bit for bit,
    what the same weights give on features scaled and rounded outside (the former inputs);
    the model records what it takes, and the decoder reconstructs the scaled inputs."""
    import tensorflow as tf
    from nanotrig.models.anomaly_vae import build_encoder, reconstruction_target
    from nanotrig.models.l1_inputs import standardise_layer
    from nanotrig.models.standardise import input_spec
    from nanotrig.quantize.anomaly_qmodel import build_qencoder, build_qscore_model

    rng = np.random.default_rng(5)
    groups = np.array(feature_groups(FEATURE_NAMES_L1))
    x = rng.uniform(-3, 3, size=(200, 57))
    pt = np.char.endswith(groups.astype(str), "_pt")
    x[:, pt] = rng.exponential(40, size=(200, int(pt.sum())))
    x[:5, pt] = 1500.0  # beyond the raw type's range (+-1024 GeV): saturates, not wraps
    x = (np.round(x * 64) / 64).astype(np.float32)  # on an L1-like grid (2**-6)
    q = QuantizeConfig(latent=LATENT)
    s = PowerOfTwoScaling.fit(x, FEATURE_NAMES_L1)
    tf.keras.utils.set_random_seed(3)
    raw_enc = build_encoder(57, (16,), 3, standardise_layer(s, x, q.raw_input, q.input))
    tf.keras.utils.set_random_seed(3)
    old_enc = build_encoder(57, (16,), 3)
    old_enc.set_weights(raw_enc.get_weights())
    new = build_qscore_model(build_qencoder(raw_enc, q, LATENT))
    old = build_qscore_model(build_qencoder(old_enc, q, LATENT))
    assert [la.name for la in new.layers][1:4] == ["raw_input_quant", "standardise", "input_quant"]
    x_sat = x.copy()
    x_sat[:5, pt] = 1024 - 2.0**-11  # the raw type saturates there
    outside = PowerOfTwoScaling(s.shifts, s.feature_names, s.quantile, inside=False)
    before = old.predict(outside.model_inputs(x_sat, INPUT), verbose=0)
    np.testing.assert_array_equal(new.predict(x, verbose=0), before)
    spec = input_spec(new)
    assert spec["raw"] and spec["feature_names"] == list(FEATURE_NAMES_L1)
    assert spec["units"][:3] == ["GeV", "1", "rad"]
    assert spec["standardisation"]["offset"] == [0.0] * 57
    assert spec["standardisation"]["shift"] == s.feature_shifts.tolist()
    target = reconstruction_target(build_qencoder(raw_enc, q, LATENT))
    np.testing.assert_array_equal(target.predict(x, verbose=0), outside.model_inputs(x_sat, INPUT))
