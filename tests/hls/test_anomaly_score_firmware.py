"""The anomaly VAE's two scores deployed in firmware: ``model.score: recon`` and ``mu2``.

recon: a tiny VAE (pre-scaled inputs, 57 -> 8 -> latent 2 -> 8 -> 57) trained with QAT for two
epochs on 300 events; its deployed model ``mu_quant -> decoder -> recon_diff -> diff_quant ->
diff_sq -> score``. mu2: a tiny encoder (57 -> 8 -> latent 3), two epochs; ``mu_quant -> mu_sq
-> score`` (the all-ones Dense summing the squares). Each must be exact: the QKeras score equals
the sum of the quantized squares recomputed in float64, the C-simulation (traced) and the
integer kernel (batched) give the QKeras values bit for bit on every layer, and the QDQ ONNX
graph gives the same scores. A bad ``model.score`` is refused in one line.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from nanotrig.models.l1_inputs import quantize_to_input
from nanotrig.quantize.anomaly_qmodel import MU_QUANT_NAME

from nanotrig.config import HlsConfig, QuantBits, QuantizeConfig, parse_config
from nanotrig.errors import ConfigError

INPUT = QuantBits(bits=16, integer=5)
RECON_ROWS = ("recon_diff", "diff_quant", "diff_sq", "score")


def _inputs() -> np.ndarray:
    """300 pre-scaled events on the input grid: signed features too; a few large ones saturate
    diff_quant (+-4)."""
    rng = np.random.default_rng(5)
    x = np.abs(rng.normal(0, 0.6, size=(300, 57)))
    x[:, ::3] -= 0.3
    x[:5, :4] = 9.0
    return quantize_to_input(x, INPUT)


def _qat(x: np.ndarray, qenc, decoder, beta: float) -> None:
    """Two epochs of VAE QAT of ``qenc`` (and ``decoder``) on ``x``."""
    import tensorflow as tf
    from nanotrig.models.anomaly_vae import make_vae_trainer

    vae = make_vae_trainer(qenc, decoder, beta)
    vae.compile(optimizer=tf.keras.optimizers.Adam(1e-2))
    vae.fit(x, epochs=2, batch_size=64, verbose=0)


@pytest.fixture(scope="module")
def recon(tmp_path_factory):
    """(QKeras recon model file, inputs): the tiny VAE after two epochs of QAT."""
    import tensorflow as tf
    from nanotrig.models.anomaly_vae import build_decoder, build_encoder
    from nanotrig.quantize.anomaly_qmodel import build_qdecoder, build_qencoder, build_qrecon_model

    x = _inputs()
    tf.keras.utils.set_random_seed(2)
    cfg = QuantizeConfig()
    qenc = build_qencoder(build_encoder(57, (8,), 2), cfg, cfg.latent)
    qdec = build_qdecoder(build_decoder(57, (8,), 2), cfg)
    _qat(x, qenc, qdec, 1e-4)
    path = tmp_path_factory.mktemp("recon") / "qmodel.h5"
    build_qrecon_model(qenc, qdec, cfg).save(path, save_format="h5")
    return path, x.astype(np.float32)


@pytest.fixture(scope="module")
def mu2(tmp_path_factory):
    """(QKeras mu2 score model file, inputs): the tiny encoder after two epochs of QAT (the
    decoder stays float, as in the run)."""
    import tensorflow as tf
    from nanotrig.models.anomaly_vae import build_decoder, build_encoder
    from nanotrig.quantize.anomaly_qmodel import build_qencoder, build_qscore_model

    x = _inputs()
    tf.keras.utils.set_random_seed(3)
    cfg = QuantizeConfig()
    qenc = build_qencoder(build_encoder(57, (8,), 3), cfg, cfg.latent)
    _qat(x, qenc, build_decoder(57, (8,), 3), 1e-3)
    path = tmp_path_factory.mktemp("mu2") / "qmodel.h5"
    build_qscore_model(qenc).save(path, save_format="h5")
    return path, x.astype(np.float32)


def test_mu2_qkeras_score_is_the_sum_of_quantized_squares(mu2):
    from nanotrig.hls import keras_layer_outputs, load_qkeras_model

    model = load_qkeras_model(mu2[0])
    assert "log_var" not in [la.name for la in model.layers]
    out = keras_layer_outputs(model, mu2[1])
    mu = out[MU_QUANT_NAME].astype(np.float64)
    assert np.unique(mu).size > 10, "the latent means collapsed: the test would prove little"
    np.testing.assert_array_equal(out["score"][:, 0].astype(np.float64), (mu**2).sum(axis=1))


def test_qkeras_score_is_the_sum_of_quantized_squares(recon):
    from nanotrig.hls import keras_layer_outputs, load_qkeras_model

    model = load_qkeras_model(recon[0])
    names = [la.name for la in model.layers]
    assert names[-4:] == list(RECON_ROWS) and "reco" in names and "log_var" not in names
    out = keras_layer_outputs(model, recon[1])
    d = out["diff_quant"].astype(np.float64)
    np.testing.assert_array_equal(d, np.round(d * 2**6) / 2**6)  # quantized_bits(9,2) grid
    assert d.max() == 4 - 2**-6  # saturated, not wrapped
    np.testing.assert_array_equal(out["score"][:, 0].astype(np.float64), (d**2).sum(axis=1))
    raw = out["input_quant"].astype(np.float64) - out["reco"].astype(np.float64)
    np.testing.assert_array_equal(out["recon_diff"].astype(np.float64), raw)  # float32 exact


@pytest.mark.skipif(shutil.which("g++") is None, reason="C-simulation needs g++")
@pytest.mark.parametrize("score", ["recon", "mu2"])
def test_csim_and_integer_kernel_exact(score, request, tmp_path):
    from nanotrig.hls.convert import convert_model
    from nanotrig.hls.verify import verify_project

    path, x = request.getfixturevalue(score)
    convert_model(path, tmp_path / "hls", HlsConfig(io_type="io_parallel"), x, INPUT)
    # the integer kernel on every event and every layer (trace_all: the folded quantizers are
    # paired with their Keras layers as in the trace), checked against hls4ml's trace (C-sim)
    res = verify_project(
        tmp_path / "hls", x, batched=True, engine="kernel", trace_events=100, trace_all=True
    )
    res = res.to_dict()
    assert res["ok"] and res["engine"] == "kernel" and res["n_events"] == len(x), res
    assert res["output"]["n_mismatch"] == 0 and res["output"]["max_abs_diff"] == 0.0
    rows = {r["keras_layer"]: r for r in res["layers"]}
    for row in res["layers"]:
        assert row["n_mismatch"] == 0 and row["max_abs_diff"] == 0.0, row
    if score == "mu2":
        assert {MU_QUANT_NAME, "mu_sq", "score"} <= set(rows), sorted(rows)
        assert all(r["scope"] == "all" and r["n_events"] == len(x) for r in rows.values()), rows
        return
    assert {"reco", "diff_quant", "diff_sq", "score"} <= set(rows), sorted(rows)
    assert rows["diff_quant"]["layer"] == "recon_diff"  # hls4ml folds the quantizer into it
    assert rows["diff_quant"]["scope"] == "all" and rows["diff_quant"]["n_events"] == len(x)
    assert not {"reco", *RECON_ROWS} & set(res["not_compared"]), res["not_compared"]


@pytest.mark.parametrize("score", ["recon", "mu2"])
def test_qdq_onnx_identical(score, request, tmp_path):
    from nanotrig.export.score import export_quantized_score

    path, x = request.getfixturevalue(score)
    rec = export_quantized_score(path, x, tmp_path / "onnx_q")
    assert rec["exact"], rec
    assert rec["max_abs_diff_outputs"] == 0 and rec["file_max_abs_diff_outputs"] == 0


def test_bad_score_refused_in_one_line():
    with pytest.raises(ConfigError) as err:
        model = {"family": "anomaly_vae", "score": "mse"}
        parse_config({"name": "x", "samples": {"kind": "l1"}, "model": model}, source="c.yml")
    msg = str(err.value)
    assert "model.score" in msg and "'mu2' or 'recon'" in msg and "\n" not in msg, msg
