"""QAT of the anomaly VAE: quantized encoder (+ decoder) trained with the VAE loss.

Starts from the float encoder/decoder of the training stage (``init: float``) or from fresh weights
(``scratch``). With ``model.score: mu2`` the decoder is not deployed and stays float; with
``recon`` it is deployed and trained quantized (QAT) too. Writes into ``out_dir``: ``qmodel.h5``
(the deployed QKeras model: encoder to ``mu_quant``, then ``mu_sq`` and ``score``, or for ``recon``
the decoder, ``recon_diff``, ``diff_quant``, ``diff_sq`` and ``score``), ``qencoder.h5`` (and
``qdecoder.h5`` for ``recon``), ``test_inputs.npy`` (background test events then the signals, as
the firmware reads them), ``all_inputs.npy`` (every event, test ones first: for the C-simulation
check), ``test_processes.npy``, ``history.json``, ``metrics.json`` (float and quantized; with the
weighted trigger rates), ``roc.png``, ``scores.png``, ``rate.png`` (L1 rate vs score threshold),
``loss.png`` and ``artifact.json``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from nanotrig.models.anomaly_metrics import anomaly_roc_curves
from nanotrig.models.anomaly_plots import plot_anomaly_roc, plot_rate_curve, plot_scores
from nanotrig.models.anomaly_stage import (
    DECODER_FILE,
    ENCODER_FILE,
    MODEL_FILE,
    background_test_weights,
    evaluate,
    fit_vae,
    load_anomaly_data,
    plot_vae_loss,
)
from nanotrig.quantize.anomaly_qmodel import (
    DIFF_QUANT_NAME,
    ONES_QUANTIZER,
    build_qdecoder,
    build_qencoder,
    build_qrecon_model,
    build_qscore_model,
    score_lsb,
)
from nanotrig.quantize.qmodel import quantizer_strings
from nanotrig.quantize.stage import QMODEL_FILE, load_keras_model, quantize_record

from nanotrig.config import ModelConfig, QuantizeConfig
from nanotrig.fileio import atomic_path, prepare_output_dir, write_json

__all__ = ["quantize_anomaly"]

log = logging.getLogger(__name__)
#: Float mu spread (in mu LSBs) below which the latent counts as unresolved by the firmware.
_MIN_SPREAD_LSB = 8.0


def latent_resolution(encoder, data, cfg: QuantizeConfig, q_bkg: np.ndarray) -> dict:
    """How finely the firmware's mu grid resolves the float latent: the spread of the float
    encoder's mu on the training background in units of the mu LSB, and the number of distinct
    quantized background test scores. A spread of a few LSB (a collapsed latent, mu ~ 0) leaves
    the firmware score a handful of values; warned."""
    lsb = 2.0 ** -(cfg.latent.bits - cfg.latent.integer - 1)
    mu = np.asarray(encoder.predict(data.x[data.train], batch_size=4096, verbose=0)[0])
    spread = [float(v) for v in mu.std(axis=0) / lsb]
    out = {"mu_lsb": lsb, "float_mu_std_lsb": spread,
           "distinct_background_scores": len(np.unique(q_bkg))}  # fmt: skip
    if min(spread) < _MIN_SPREAD_LSB:
        log.warning(
            "float mu spreads over %.1f LSB of the latent type only (collapsed latent?): the "
            "quantized score takes %d distinct background values; lower model.kl_beta",
            min(spread), out["distinct_background_scores"],
        )  # fmt: skip
    return out


def quantize_anomaly(
    model_dir: Path, sample_path: Path, cfg: QuantizeConfig, model_cfg: ModelConfig, seed: int,
    out_dir: Path, force: bool = False,
) -> dict:  # fmt: skip
    """Build the QKeras encoder + score from ``model_dir`` and train it with QAT."""
    from nanotrig.models.train import seed_everything

    model_dir = Path(model_dir)
    encoder = float_encoder = load_keras_model(model_dir / ENCODER_FILE)
    decoder = load_keras_model(model_dir / DECODER_FILE)
    float_model = load_keras_model(model_dir / MODEL_FILE)
    data = load_anomaly_data(sample_path, model_dir, input_bits=cfg.input)
    out_dir = prepare_output_dir(out_dir, force)
    t0 = time.perf_counter()
    seed_everything(seed)
    if cfg.init == "scratch":
        from tensorflow import keras

        encoder = keras.models.clone_model(encoder)
        decoder = keras.models.clone_model(decoder)
    qencoder = build_qencoder(encoder, cfg, cfg.latent)
    recon = model_cfg.score == "recon"
    if recon:
        decoder = build_qdecoder(decoder, cfg)
    history = fit_vae(
        qencoder, decoder, data, beta=model_cfg.kl_beta, epochs=cfg.epochs,
        batch_size=model_cfg.batch_size, learning_rate=cfg.learning_rate,
        patience=cfg.patience, seed=seed,
    )  # fmt: skip
    qmodel = build_qrecon_model(qencoder, decoder, cfg) if recon else build_qscore_model(qencoder)
    lsb = score_lsb(cfg, model_cfg.score)
    q_metrics, (q_bkg, q_sig) = evaluate(qmodel, data, model_cfg, lsb)
    f_metrics, (f_bkg, f_sig) = evaluate(float_model, data, model_cfg)
    latent = latent_resolution(float_encoder, data, cfg, q_bkg)
    for name, row in q_metrics["signals"].items():
        log.info("QKeras VAE: %s AUC %.4f (float %.4f)", name, row["auc"],
                 f_metrics["signals"][name]["auc"])  # fmt: skip

    with atomic_path(out_dir / QMODEL_FILE) as tmp:
        qmodel.save(tmp, save_format="h5")
    with atomic_path(out_dir / "qencoder.h5") as tmp:
        qencoder.save(tmp, save_format="h5")
    if recon:
        with atomic_path(out_dir / "qdecoder.h5") as tmp:
            decoder.save(tmp, save_format="h5")
    every = data.x[np.r_[data.test, data.val, data.train]]  # real events, test ones first
    for name, arr in (("test_inputs.npy", data.x_test), ("all_inputs.npy", every),
                      ("test_processes.npy", data.test_processes.astype(str))):  # fmt: skip
        with atomic_path(out_dir / name) as tmp, open(tmp, "wb") as f:
            np.save(f, arr)
    metrics = {"float": f_metrics, "quantized": q_metrics}
    write_json(out_dir / "history.json", history)
    write_json(out_dir / "metrics.json", metrics)
    plot_vae_loss(history, out_dir / "loss.png", "QKeras VAE (QAT, SM background)")
    plot_anomaly_roc(
        {"float": anomaly_roc_curves(f_bkg, f_sig), "QKeras": anomaly_roc_curves(q_bkg, q_sig)},
        out_dir / "roc.png", len(q_bkg), title="Float vs quantized VAE: ROC per signal",
    )  # fmt: skip
    plot_scores(q_bkg, q_sig, out_dir / "scores.png", title="QKeras VAE: score in firmware")
    plot_rate_curve(
        q_bkg, background_test_weights(data), q_metrics["rates"], out_dir / "rate.png",
        title="QKeras VAE: L1 rate vs score threshold",
    )  # fmt: skip
    quantizers = {
        layer.name: quantizer_strings(cfg, layer.name)
        for layer in qmodel.layers
        if type(layer).__name__ == "QDense" and layer.name != "score"
    }
    quantizers["mu_quant"] = {"activation": f"quantized_bits({cfg.latent.bits},"
                              f"{cfg.latent.integer},alpha=1)"}  # fmt: skip
    if recon:
        quantizers[DIFF_QUANT_NAME] = {"activation": f"quantized_bits({cfg.recon_diff.bits},"
                                       f"{cfg.recon_diff.integer},alpha=1)"}  # fmt: skip
    quantizers["score"] = {"weights": f"{ONES_QUANTIZER} (all ones, frozen)", "bias": "none"}
    record = {
        **quantize_record(qmodel, cfg, seed, model_dir, out_dir, data.x_test.shape[1:], quantizers),
        "score": model_cfg.score,
        "epochs_run": len(history["loss"]),
        "metrics": metrics,
        "auc_drop": {
            k: f_metrics["signals"][k]["auc"] - q_metrics["signals"][k]["auc"]
            for k in q_metrics["signals"]
        },
        "latent_resolution": latent,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    write_json(out_dir / "artifact.json", record)
    return record
