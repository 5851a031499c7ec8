"""The anomaly VAE's latent score (``model.score: mu2``, sum(mu**2)) deployed in firmware.

A tiny QKeras encoder (pre-scaled inputs, 57 -> 8 -> latent 3) trained with QAT for two epochs
on 300 events; its deployed model ``encoder -> mu_quant -> mu_sq -> score`` (the all-ones Dense
summing the squares) must be exact: the QKeras score equals sum(mu_quant**2) recomputed in
float64, the C-simulation (traced) and the integer kernel (batched) give the QKeras values bit
for bit on every layer, and the QDQ ONNX graph gives the same scores.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from nanotrig.models.l1_inputs import quantize_to_input

from nanotrig.config import HlsConfig, QuantBits, QuantizeConfig

INPUT = QuantBits(bits=16, integer=5)


@pytest.fixture(scope="module")
def mu2(tmp_path_factory):
    """(QKeras mu2 score model file, inputs): the tiny encoder after two epochs of QAT."""
    import tensorflow as tf
    from nanotrig.models.anomaly_vae import build_decoder, build_encoder, make_vae_trainer
    from nanotrig.quantize.anomaly_qmodel import build_qencoder, build_qscore_model

    rng = np.random.default_rng(11)
    x = np.abs(rng.normal(0, 0.6, size=(300, 57)))
    x[:, ::4] -= 0.3  # signed features too, and a few large ones
    x[:5, :4] = 9.0
    x = quantize_to_input(x, INPUT)
    tf.keras.utils.set_random_seed(3)
    cfg = QuantizeConfig()
    qenc = build_qencoder(build_encoder(57, (8,), 3), cfg, cfg.latent)
    vae = make_vae_trainer(qenc, build_decoder(57, (8,), 3), 1e-3)
    vae.compile(optimizer=tf.keras.optimizers.Adam(1e-2))
    vae.fit(x, epochs=2, batch_size=64, verbose=0)
    model = build_qscore_model(qenc)
    path = tmp_path_factory.mktemp("mu2") / "qmodel.h5"
    model.save(path, save_format="h5")
    return path, x.astype(np.float32)


def test_qkeras_score_is_the_sum_of_quantized_squares(mu2):
    from nanotrig.hls import keras_layer_outputs, load_qkeras_model
    from nanotrig.quantize.anomaly_qmodel import MU_QUANT_NAME

    model = load_qkeras_model(mu2[0])
    assert "log_var" not in [la.name for la in model.layers]
    out = keras_layer_outputs(model, mu2[1])
    mu = out[MU_QUANT_NAME].astype(np.float64)
    assert np.unique(mu).size > 10, "the latent means collapsed: the test would prove little"
    score = out[model.layers[-1].name][:, 0].astype(np.float64)
    np.testing.assert_array_equal(score, (mu**2).sum(axis=1))


@pytest.mark.skipif(shutil.which("g++") is None, reason="C-simulation needs g++")
def test_csim_and_integer_kernel_exact(mu2, tmp_path):
    from nanotrig.hls.convert import convert_model
    from nanotrig.hls.verify import verify_project
    from nanotrig.models.anomaly_vae import SCORE_LAYERS
    from nanotrig.quantize.anomaly_qmodel import MU_QUANT_NAME

    path, x = mu2
    convert_model(path, tmp_path / "hls", HlsConfig(io_type="io_parallel"), x, INPUT)
    res = verify_project(
        tmp_path / "hls", x, batched=True, engine="kernel", trace_events=100, trace_all=True
    ).to_dict()
    assert res["ok"] and res["engine"] == "kernel" and res["n_events"] == len(x), res
    assert res["output"]["n_mismatch"] == 0 and res["output"]["max_abs_diff"] == 0.0
    rows = {r["keras_layer"]: r for r in res["layers"]}
    assert {MU_QUANT_NAME, *SCORE_LAYERS} <= set(rows), sorted(rows)  # mu, the square, the sum
    for row in res["layers"]:
        assert row["scope"] == "all" and row["n_events"] == len(x), row
        assert row["n_mismatch"] == 0 and row["max_abs_diff"] == 0.0, row


def test_qdq_onnx_identical(mu2, tmp_path):
    from nanotrig.export.score import export_quantized_score

    rec = export_quantized_score(mu2[0], mu2[1], tmp_path / "onnx_q")
    assert rec["exact"], rec
    assert rec["max_abs_diff_outputs"] == 0 and rec["file_max_abs_diff_outputs"] == 0
