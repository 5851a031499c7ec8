"""Learning curve of the float jet MLP: test accuracy and per-class AUC against training jets.

    python benchmarks/jet_learning_curve.py [--config configs/jet_mlp.yml] [--n-per-class 8000]
        [--train-sizes 2000 5000 10000 20000] [--scheduler tcp://HOST:PORT | --dask-workers 2]
        [--sample PATH] [--seed 42]

The sample is generated through the Dask path (``samples.pool.dask_scheduler``): on the cluster
at ``--scheduler`` (which scales past one machine), else on a local Dask cluster of
``--dask-workers`` processes; the file is the same either way. An existing ``--sample`` is reused.
One test and one validation set (the config's fractions) are fixed; each row trains the config's
MLP on the first N jets of a fixed shuffle of the training jets. Prints a markdown table with the
published figures of the hls4ml LHC jet data set beside it (figures, not a pass/fail test).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from jet_feature_stats import PUBLISHED_SCORES

#: Float 16-64-32-32-5 MLP on the hls4ml LHC jet data set (OpenML 42468, 664k training jets): the
#: hls4ml tutorial's executed part1 notebook (source cited in jet_feature_stats.py).
PUBLISHED = PUBLISHED_SCORES["hls4ml tutorial float MLP (part1)"]


@contextlib.contextmanager
def _dask(address: str | None, workers: int):
    """The scheduler address to generate on: ``address``, or a local Dask cluster's."""
    if address:
        yield address
        return
    from dask.distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
        silence_logs=logging.ERROR,
    )  # fmt: skip
    with cluster:
        yield cluster.scheduler_address


def _sample(args, cfg) -> Path:
    from nanotrig.samples.generate import generate_jets
    from nanotrig.samples.pool import dask_scheduler

    path = Path(args.sample)
    if path.exists():
        return path
    scfg = cfg.samples.model_copy(update={"n_per_class": args.n_per_class})
    t0 = time.perf_counter()
    with _dask(args.scheduler, args.dask_workers) as address, dask_scheduler(address):
        rec = generate_jets(scfg, cfg.seed, path, progress=False)
    sys.stderr.write(
        f"generated {rec['n_jets']} jets on Dask in {time.perf_counter() - t0:.0f} s "
        f"(Pythia {rec['cpu']['pythia_s']:.0f} s CPU, features {rec['cpu']['features_s']:.0f} s)\n"
    )
    return path


def _row(n: int, metrics: dict, epochs: int, seconds: float, classes) -> str:
    aucs = " | ".join(f"{metrics['auc'][c]:.3f}" for c in classes)
    return f"| {n} | {metrics['accuracy']:.3f} | {aucs} | {epochs} | {seconds:.0f} |"


def learning_curve(features, labels, classes, feature_names, cfg, train_sizes):
    """Markdown rows: the config's MLP trained on the first N jets of a fixed shuffle of one
    training set, scored on one fixed test set (the config's fractions and seed)."""
    from nanotrig.models.data import Scaler, make_split
    from nanotrig.models.jet_mlp import build_jet_mlp
    from nanotrig.models.metrics import classification_metrics
    from nanotrig.models.train import fit, seed_everything

    m = cfg.model
    split = make_split(labels, m.val_fraction, m.test_fraction, cfg.seed)
    train = np.random.default_rng(cfg.seed).permutation(split["train"])
    y = labels.astype(np.int64)
    for n in sorted(train_sizes):
        if n > len(train):
            sys.stderr.write(f"skipping {n}: only {len(train)} training jets\n")
            continue
        idx = np.sort(train[:n])
        scaler = Scaler.fit(features[idx], feature_names)
        t0 = time.perf_counter()
        seed_everything(cfg.seed)
        model = build_jet_mlp(features.shape[1], len(classes), m.hidden)
        hist = fit(
            model, scaler.transform(features[idx]), y[idx],
            scaler.transform(features[split["val"]]), y[split["val"]],
            epochs=m.epochs, batch_size=m.batch_size, learning_rate=m.learning_rate,
            patience=m.patience, seed=cfg.seed,
        )  # fmt: skip
        scores = model.predict(scaler.transform(features[split["test"]]), 4096, verbose=0)
        metrics = classification_metrics(y[split["test"]], scores, classes)
        yield _row(n, metrics, len(hist["loss"]), time.perf_counter() - t0, classes)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/jet_mlp.yml", help="run config (samples, model)")
    ap.add_argument("--n-per-class", type=int, default=8000, help="jets generated per class")
    ap.add_argument("--train-sizes", type=int, nargs="+", default=[2000, 5000, 10000, 20000])
    ap.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://HOST:PORT)")
    ap.add_argument("--dask-workers", type=int, default=2, help="local Dask cluster processes")
    ap.add_argument("--sample", default="runs/learning_curve/jets.h5", help="sample HDF5 path")
    ap.add_argument("--seed", type=int, default=None, help="override the config's seed")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    from nanotrig.config import load_config

    cfg = load_config(args.config)
    if args.seed is not None:
        cfg = cfg.model_copy(update={"seed": args.seed})
    path = _sample(args, cfg)

    from nanotrig.samples import load_jets

    s = load_jets(path)
    print(f"sample {path}: {len(s.labels)} jets")
    print(f"| training jets | test accuracy | {' | '.join(f'AUC {c}' for c in s.class_names)} "
          "| epochs | s |")  # fmt: skip
    print("|" + "---|" * (len(s.class_names) + 4))
    for line in learning_curve(
        s.features, s.labels, s.class_names, s.feature_names, cfg, args.train_sizes
    ):
        print(line, flush=True)
    classes = s.class_names
    pub = " | ".join(f"{PUBLISHED.get(c, float('nan')):.3f}" for c in classes)
    print(f"| 664000 (the data set, tutorial MLP) | {PUBLISHED['accuracy']:.3f} | {pub} | | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
