"""The anomaly-VAE training stage: L1 sample -> float VAE trained on SM background only.

The SM background is split into train / validation / test; every signal event is a test event.
The model takes the 57 raw features (physical units, the raw input type once quantized) and
scales them by powers of two inside (:mod:`models.l1_inputs`, first layer ``standardise``); the
quantized model then rounds them to its input type: the deployed model takes what the trigger
sends. Writes into ``out_dir``:
``encoder.h5`` (mu, log_var), ``decoder.h5``, ``model.h5`` (the deployed float model: encoder
up to mu, then the score: sum(mu^2), or with ``model.score: recon`` the decoder on mu and the
reconstruction error sum((x - decoder(mu))^2)), ``split.npz``, ``input_scaling.json``,
``history.json``, ``metrics.json`` (per signal AUC and TPR at FPR 1e-5 or at the smallest
resolvable FPR), ``roc.png``, ``scores.png``, ``loss.png`` and ``artifact.json``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from nanotrig.models.anomaly_metrics import anomaly_metrics, anomaly_roc_curves
from nanotrig.models.anomaly_plots import plot_anomaly_roc, plot_scores
from nanotrig.models.l1_inputs import SCALING_FILE, PowerOfTwoScaling
from nanotrig.models.trigger_rates import rate_metrics, rates_statement

from nanotrig.config import L1_BACKGROUNDS, ModelConfig, QuantBits
from nanotrig.errors import DataError
from nanotrig.fileio import atomic_path, file_sha256, prepare_output_dir, write_json

__all__ = [
    "DECODER_FILE",
    "ENCODER_FILE",
    "MODEL_FILE",
    "AnomalyData",
    "evaluate",
    "fit_vae",
    "load_anomaly_data",
    "plot_vae_loss",
    "score_by_process",
    "train_anomaly",
]

log = logging.getLogger(__name__)
MODEL_FILE = "model.h5"
ENCODER_FILE = "encoder.h5"
DECODER_FILE = "decoder.h5"
SPLIT_FILE = "split.npz"


@dataclass(frozen=True)
class AnomalyData:
    """Model-ready inputs of an L1 sample and its split (indices into the sample)."""

    x: np.ndarray  #: (N, 57) float32: raw features (scaling.inside), else scaled and rounded
    labels: np.ndarray  #: (N,) index into process_names
    process_names: tuple[str, ...]
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray  #: background test events, then every signal event
    scaling: PowerOfTwoScaling
    weights: np.ndarray | None = None  #: (N,) event weights; None: all 1

    def w(self, idx: np.ndarray) -> np.ndarray | None:
        """Weights of the events ``idx`` scaled to mean 1 (None when unweighted)."""
        if self.weights is None or np.all(self.weights == 1.0):
            return None
        w = self.weights[idx]
        return w / w.mean()

    @property
    def x_test(self) -> np.ndarray:
        return self.x[self.test]

    @property
    def test_processes(self) -> np.ndarray:
        """Process name of every test event."""
        return np.asarray(self.process_names)[self.labels[self.test]]


def _split(labels: np.ndarray, cfg: ModelConfig, seed: int) -> dict[str, np.ndarray]:
    bkg = np.flatnonzero(labels < len(L1_BACKGROUNDS))
    sig = np.flatnonzero(labels >= len(L1_BACKGROUNDS))
    order = np.random.default_rng(np.random.SeedSequence([seed, 0xA7])).permutation(bkg)
    n_val, n_test = int(len(bkg) * cfg.val_fraction), int(len(bkg) * cfg.test_fraction)
    if min(n_val, n_test, len(bkg) - n_val - n_test) < 1:
        raise DataError(
            f"the L1 sample has {len(bkg)} background events: too few to split into train, "
            "validation and test; generate more (samples.n_events)"
        )
    return {
        "train": np.sort(order[n_val + n_test :]),
        "val": np.sort(order[:n_val]),
        "test": np.r_[np.sort(order[n_val : n_val + n_test]), sig],
    }


def load_anomaly_data(
    sample_path: Path, model_dir: Path | None = None, cfg: ModelConfig | None = None,
    seed: int = 0, input_bits: QuantBits | None = None,
) -> AnomalyData:  # fmt: skip
    """Read an L1 sample; the split and scaling come from ``model_dir`` when it holds them
    (later stages), else they are made from ``cfg``/``seed`` and fitted on the training
    background (training stage)."""
    from nanotrig.samples.l1_sample import load_l1

    sample = load_l1(sample_path)
    bits = input_bits or QuantBits(bits=16, integer=5)
    saved = model_dir is not None and (Path(model_dir) / SPLIT_FILE).is_file()
    if saved:
        with np.load(Path(model_dir) / SPLIT_FILE) as z:
            split = {k: z[k] for k in ("train", "val", "test")}
        scaling = PowerOfTwoScaling.load(Path(model_dir) / SCALING_FILE)
        if len(sample) <= max(int(v.max()) for v in split.values()):
            raise DataError(f"split of {model_dir} does not fit sample {sample_path}: retrain")
    else:
        split = _split(sample.labels, cfg or ModelConfig(family="anomaly_vae"), seed)
        scaling = PowerOfTwoScaling.fit(sample.features[split["train"]], sample.feature_names)
    return AnomalyData(
        x=scaling.model_inputs(sample.features, bits),
        labels=sample.labels,
        process_names=sample.process_names,
        scaling=scaling,
        weights=sample.weights,
        **split,
    )


def score_by_process(scores: np.ndarray, processes: np.ndarray) -> tuple[np.ndarray, dict]:
    """Split test scores into (SM background, {signal: scores})."""
    scores = np.asarray(scores, np.float64).ravel()
    bkg = scores[np.isin(processes, L1_BACKGROUNDS)]
    sig = {
        str(p): scores[processes == p]
        for p in dict.fromkeys(processes.tolist())
        if p not in L1_BACKGROUNDS
    }
    return bkg, dict(sorted(sig.items()))


def fit_vae(encoder, decoder, data: AnomalyData, *, beta: float, epochs: int, batch_size: int,
            learning_rate: float, patience: int, seed: int) -> dict[str, list[float]]:  # fmt: skip
    """Train encoder + decoder as a VAE on the background train split (early stopping on the
    validation loss, best weights restored); return the history."""
    import tensorflow as tf
    from nanotrig.models.anomaly_vae import make_vae_trainer
    from nanotrig.models.train import seed_everything

    seed_everything(seed)
    vae = make_vae_trainer(encoder, decoder, beta)
    vae.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=learning_rate))
    stop = tf.keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=patience, restore_best_weights=True
    )
    w_train, w_val = data.w(data.train), data.w(data.val)
    val = (data.x[data.val],) if w_val is None else (data.x[data.val], None, w_val)
    hist = vae.fit(
        data.x[data.train], sample_weight=w_train, validation_data=val, epochs=epochs,
        batch_size=batch_size, shuffle=True, callbacks=[stop], verbose=0,
    )  # fmt: skip
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    log.info("VAE: %d epochs, best val_loss %.5f", len(history["loss"]), min(history["val_loss"]))
    return history


def plot_vae_loss(history: dict, dest: Path, title: str) -> Path:
    from nanotrig.models.plots import _save, plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for key in ("loss", "val_loss", "reco_loss", "kl_loss"):
        if key in history:
            ax.plot(np.arange(1, len(history[key]) + 1), history[key], label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend()
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    return _save(fig, dest)


def background_test_weights(data: AnomalyData) -> np.ndarray | None:
    """Weights of the background test events (in the order of :func:`score_by_process`)."""
    idx = data.test[np.isin(data.test_processes, L1_BACKGROUNDS)]
    return data.w(idx)


def evaluate(
    score_model, data: AnomalyData, cfg: ModelConfig | None = None,
    score_lsb: float | None = None,
) -> tuple[dict, tuple[np.ndarray, dict]]:  # fmt: skip
    """Metrics of a score model on the test events (weighted background; trigger rates with
    ``cfg``'s total and L1 rate, thresholds in units of ``score_lsb``), and the scores split by
    process."""
    cfg = cfg or ModelConfig(family="anomaly_vae")
    scores = score_model.predict(data.x_test, batch_size=4096, verbose=0)
    bkg, sig = score_by_process(scores, data.test_processes)
    w = background_test_weights(data)
    metrics = anomaly_metrics(bkg, sig, weights=w)
    metrics["rates"] = rate_metrics(bkg, sig, w, cfg.total_rate_mhz, cfg.l1_rate_khz, score_lsb)
    metrics["rates"]["statement"] = rates_statement(metrics["rates"])
    return metrics, (bkg, sig)


def train_anomaly(
    sample_path: Path, cfg: ModelConfig, seed: int, out_dir: Path,
    input_bits: QuantBits | None = None, force: bool = False, raw_input: QuantBits | None = None,
) -> dict:  # fmt: skip
    """Train the float VAE of ``cfg`` on the background of an L1 sample; write ``out_dir``.
    The encoder takes raw features of type ``raw_input`` and scales them inside."""
    from nanotrig.models.anomaly_vae import build_decoder, build_deployed_model, build_encoder
    from nanotrig.models.l1_inputs import standardise_layer
    from nanotrig.models.train import seed_everything

    from nanotrig.config import QuantizeConfig

    data = load_anomaly_data(sample_path, None, cfg, seed, input_bits)
    out_dir = prepare_output_dir(out_dir, force)
    t0 = time.perf_counter()
    np.savez(out_dir / SPLIT_FILE, train=data.train, val=data.val, test=data.test)
    data.scaling.save(out_dir / SCALING_FILE, input_bits)
    n_features = data.x.shape[1]
    qdefault = QuantizeConfig()
    raw, model_input = raw_input or qdefault.raw_input, input_bits or qdefault.input
    standardise = standardise_layer(data.scaling, data.x[data.train], raw, model_input)
    seed_everything(seed)
    encoder = build_encoder(n_features, cfg.vae_hidden, cfg.latent_dim, standardise)
    decoder = build_decoder(n_features, cfg.vae_hidden, cfg.latent_dim)
    history = fit_vae(
        encoder, decoder, data, beta=cfg.kl_beta, epochs=cfg.epochs, batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate, patience=cfg.patience, seed=seed,
    )  # fmt: skip
    model = build_deployed_model(cfg.score, encoder, decoder)
    metrics, (bkg, sig) = evaluate(model, data, cfg)
    for name, row in metrics["signals"].items():
        log.info("float VAE: %s AUC %.4f", name, row["auc"])
    for name, m in ((MODEL_FILE, model), (ENCODER_FILE, encoder), (DECODER_FILE, decoder)):
        with atomic_path(out_dir / name) as tmp:
            m.save(tmp, save_format="h5")
    write_json(out_dir / "history.json", history)
    write_json(out_dir / "metrics.json", metrics)
    plot_vae_loss(history, out_dir / "loss.png", "Float VAE (SM background)")
    plot_anomaly_roc({"float": anomaly_roc_curves(bkg, sig)}, out_dir / "roc.png", len(bkg),
                     title="Float VAE: ROC per signal (test events)")  # fmt: skip
    plot_scores(bkg, sig, out_dir / "scores.png", title="Float VAE: anomaly score")
    record = {
        "stage": "train",
        "model": str(out_dir / MODEL_FILE),
        "sha256": file_sha256(out_dir / MODEL_FILE),
        "sample": str(sample_path),
        "config": cfg.model_dump(mode="json"),
        "seed": seed,
        "score": cfg.score,
        "inputs": {"kind": "l1_features", "shape": [n_features], "raw": True},
        "input_scaling": data.scaling.to_dict(input_bits),
        "sizes": {
            "train": len(data.train),
            "val": len(data.val),
            "test_background": len(bkg),
            "test_signal": {k: len(v) for k, v in sig.items()},
        },
        "epochs_run": len(history["loss"]),
        "metrics": metrics,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    write_json(out_dir / "artifact.json", record)
    return record
