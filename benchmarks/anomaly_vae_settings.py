"""Detection power of the anomaly VAE's deployed score for one training setting.

    python benchmarks/anomaly_vae_settings.py SAMPLE.h5 OUT_DIR [--kl-beta 1e-4]
                                              [--warmup 0] [--latent-dim 3]
                                              [--score mu2|recon]

Trains the float VAE and its QAT copy with the project's ``train_anomaly`` and
``quantize_anomaly`` (configs/anomaly_vae.yml with the overrides) on an L1 sample, then prints
the float mu spread in LSBs of the latent type, the number of distinct QKeras background scores
and, per signal, the weighted float and QKeras AUCs with bootstrap errors (200 resamplings of
background and signal test events, the difference paired). ``--warmup N`` makes early stopping
watch the validation loss only from epoch N (``EarlyStopping(start_from_epoch=N)``, float and
QAT), which the stages do not do. ``--score`` chooses the deployed score (``model.score``:
``mu2`` = sum(mu^2), ``recon`` = the reconstruction error, decoder trained with QAT too).
docs/anomaly-vae.md, "Detection power", has the measured tables.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[1]


def _auc(bkg, sig, w_bkg) -> float:
    import numpy as np
    from sklearn.metrics import roc_auc_score

    y = np.r_[np.zeros(len(bkg)), np.ones(len(sig))]
    return float(roc_auc_score(y, np.r_[bkg, sig], sample_weight=np.r_[w_bkg, np.ones(len(sig))]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sample", type=Path, help="L1 sample .h5 (e.g. a demo run's data/l1.h5)")
    p.add_argument("out", type=Path, help="folder for the trained models (overwritten)")
    p.add_argument("--kl-beta", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=0, help="first epoch early stopping watches")
    p.add_argument("--latent-dim", type=int, default=3)
    p.add_argument("--score", choices=("mu2", "recon"), default="mu2", help="model.score")
    args = p.parse_args(argv)

    import numpy as np
    import tensorflow as tf
    from nanotrig.models.anomaly_stage import (
        background_test_weights,
        load_anomaly_data,
        score_by_process,
        train_anomaly,
    )
    from nanotrig.quantize.anomaly_stage import quantize_anomaly
    from nanotrig.quantize.stage import load_keras_model

    from nanotrig.config import load_config

    if args.warmup:
        tf.keras.callbacks.EarlyStopping = functools.partial(
            tf.keras.callbacks.EarlyStopping, start_from_epoch=args.warmup
        )
    cfg = load_config(REPO / "configs/anomaly_vae.yml")
    mcfg = cfg.model.model_copy(
        update={"kl_beta": args.kl_beta, "latent_dim": args.latent_dim, "score": args.score}
    )
    qcfg = cfg.quantize
    train_anomaly(args.sample, mcfg, cfg.seed, args.out / "model", input_bits=qcfg.input,
                  force=True, raw_input=qcfg.raw_input)  # fmt: skip
    quantize_anomaly(args.out / "model", args.sample, qcfg, mcfg, cfg.seed, args.out / "qmodel",
                     force=True)  # fmt: skip

    data = load_anomaly_data(args.sample, args.out / "model", input_bits=qcfg.input)
    w = background_test_weights(data)

    def scores(path: Path):
        model = load_keras_model(path)
        s = model.predict(data.x_test, batch_size=4096, verbose=0).ravel()
        return score_by_process(s, data.test_processes)

    fb, fs = scores(args.out / "model/model.h5")
    qb, qs = scores(args.out / "qmodel/qmodel.h5")
    w = np.ones(len(fb)) if w is None else w
    mu = load_keras_model(args.out / "model/encoder.h5").predict(data.x[data.train], verbose=0)[0]
    lsb = 2.0 ** -(qcfg.latent.bits - 1 - qcfg.latent.integer)
    print(f"score {args.score}, kl_beta {args.kl_beta}, warm-up {args.warmup}, latent "
          f"{args.latent_dim}: float mu "
          f"spread {[round(float(v), 1) for v in mu.std(0) / lsb]} LSB; distinct QKeras background "
          f"scores {len(np.unique(qb))}")  # fmt: skip
    print("| signal | float AUC | QKeras AUC | float - QKeras |\n|---|---|---|---|")
    rng = np.random.default_rng(1)
    for name in fs:
        reps = []
        for _ in range(200):
            ib = rng.integers(0, len(fb), len(fb))
            i_s = rng.integers(0, len(fs[name]), len(fs[name]))
            reps.append((_auc(fb[ib], fs[name][i_s], w[ib]), _auc(qb[ib], qs[name][i_s], w[ib])))
        r = np.array(reps)
        af, aq = _auc(fb, fs[name], w), _auc(qb, qs[name], w)
        print(f"| {name} | {af:.3f} +- {r[:, 0].std():.3f} | {aq:.3f} +- {r[:, 1].std():.3f} | "
              f"{af - aq:+.3f} +- {(r[:, 0] - r[:, 1]).std():.3f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
