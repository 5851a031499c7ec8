"""Our 16 jet features against the hls4ml LHC jet data set's published statistics (issue 19).

    python benchmarks/jet_feature_stats.py runs/jet_mlp_demo/data/jets.h5 [--score]
        [--n-per-class 1000] [--split-seeds 1 2]

Prints, per feature, our sample's mean, std, min, max and 1/25/50/75/99 % quantiles, then the
box-plot figures in standard units (lower whisker, Q1, median, Q3, upper whisker; whiskers at
1.5 IQR clipped to the data, as matplotlib draws them) beside the data set's, read off the
published box plots (``PUBLISHED_BOX``), and the raw groomed mass and multiplicity quartiles beside
the data set's (``PUBLISHED_RAW``). ``--score`` adds the float-MLP and boosted-tree scores of the
issue-19 studies (scikit-learn, 70 / 30 splits): accuracy, per-class AUCs and the heavy (t, W, Z)
against light (g, q) AUC, next to the published ones (``PUBLISHED_SCORES``). Figures, not a test.

Sources of the published figures (OpenML 42468, 830,000 jets, classes about equal):

- ``PUBLISHED_BOX`` / ``PUBLISHED_RAW``: the hls4ml tutorial, part1_getting_started.ipynb as
  executed on branch csee-e6868-spring2021 (github.com/fastmachinelearning/hls4ml-tutorial, commit
  f758e5586dc8e0daf717b93ef98d32f8ad7eb1e2): ``plt.boxplot(X, showfliers=False)`` of the raw
  features and of ``X_train_val`` after ``StandardScaler`` (664,000 jets), read to the pixel
  (standard units +- 0.03; mass +- 1 GeV; multiplicity +- 1).
- ``PUBLISHED_SCORES``: the same notebook's 16-64-32-32-5 float MLP (30 epochs, early stopping;
  its ROC legend and printed accuracy on the 166,000 test jets) and its part4 6-bit QKeras model
  (pruned; executed on the same branch); the QKeras 6-bit model of the
  hls4ml example models (qonnx_model_zoo pull request 3: 0.7620 on the same test set); the
  16-32-32-32-5 MLP of the HSF "deep-learning-intro-for-hep" main project (its expected heavy
  against light ROC, 100 points, integrated here: AUC 0.930).
"""

from __future__ import annotations

import argparse

import numpy as np

#: Data set, standard units: (lower whisker, Q1, median, Q3, upper whisker), by feature.
PUBLISHED_BOX: dict[str, tuple[float, float, float, float, float]] = {
    "j_zlogz": (-2.75, -0.73, -0.08, 0.63, 2.68),
    "j_c1_b0_mmdt": (-1.58, -0.25, 0.34, 0.63, 1.09),
    "j_c1_b1_mmdt": (-1.29, -0.96, 0.01, 0.37, 2.35),
    "j_c1_b2_mmdt": (-0.86, -0.80, -0.21, 0.01, 1.28),
    "j_c2_b1_mmdt": (-1.19, -0.77, -0.21, 0.44, 2.22),
    "j_c2_b2_mmdt": (-0.64, -0.57, -0.41, 0.01, 0.92),
    "j_d2_b1_mmdt": (-2.59, -0.70, -0.05, 0.57, 2.48),
    "j_d2_b2_mmdt": (-1.48, -0.83, -0.15, 0.57, 2.68),
    "j_d2_a1_b1_mmdt": (-2.59, -0.70, -0.05, 0.57, 2.48),
    "j_d2_a1_b2_mmdt": (-2.52, -0.86, 0.05, 0.79, 2.32),
    "j_m2_b1_mmdt": (-2.46, -0.83, -0.02, 0.76, 2.68),
    "j_m2_b2_mmdt": (-1.61, -0.90, -0.15, 0.76, 3.20),
    "j_n2_b1_mmdt": (-3.20, -0.80, 0.14, 0.83, 2.00),
    "j_n2_b2_mmdt": (-1.77, -0.90, -0.05, 0.83, 2.39),
    "j_mass_mmdt": (-1.35, -0.99, 0.08, 0.34, 2.35),
    "j_multiplicity": (-2.10, -0.73, -0.18, 0.60, 2.58),
}
#: Data set, raw units (GeV, counts): (lower whisker, Q1, median, Q3, upper whisker).
PUBLISHED_RAW: dict[str, tuple[float, float, float, float, float]] = {
    "j_mass_mmdt": (0.0, 19.0, 80.0, 94.0, 205.0),
    "j_multiplicity": (6.0, 36.0, 48.0, 64.0, 105.0),
}
#: Published scores on the data set: accuracy and AUCs (g, q, W, Z, t; heavy vs light).
PUBLISHED_SCORES: dict[str, dict[str, float]] = {
    "hls4ml tutorial float MLP (part1)": {
        "accuracy": 0.7503,
        "g": 0.9282,
        "q": 0.8955,
        "W": 0.9481,
        "Z": 0.9402,
        "t": 0.9554,
    },
    "hls4ml tutorial QKeras 6-bit, pruned (part4)": {
        "accuracy": 0.7458,
        "g": 0.9243,
        "q": 0.8923,
        "W": 0.9446,
        "Z": 0.9349,
        "t": 0.9516,
    },
    "qonnx_model_zoo PR 3, QKeras 6-bit": {"accuracy": 0.7620},
    "HSF deep-learning-intro main project, 16-32-32-32-5": {"heavy_vs_light": 0.930},
}


def box(x: np.ndarray) -> tuple[float, float, float, float, float]:
    """Matplotlib's box: whiskers at the furthest data within 1.5 IQR of the quartiles."""
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    iqr = q3 - q1
    lo = float(x[x >= q1 - 1.5 * iqr].min())
    hi = float(x[x <= q3 + 1.5 * iqr].max())
    return lo, float(q1), float(med), float(q3), hi


def load(path: str, n_per_class: int | None) -> tuple[np.ndarray, np.ndarray, list, list]:
    """Features, labels, feature and class names; the first ``n_per_class`` jets of each class."""
    import h5py

    with h5py.File(path, "r") as f:
        x = f["features"][:].astype(np.float64)
        y = f["labels"][:]
        names = [str(n) for n in f.attrs["feature_names"]]
        classes = [str(c) for c in f.attrs["class_names"]]
    if n_per_class:
        keep = np.sort(np.concatenate([np.flatnonzero(y == k)[:n_per_class] for k in np.unique(y)]))
        x, y = x[keep], y[keep]
    return x, y, names, classes


def stats_tables(x: np.ndarray, names: list[str]) -> list[str]:
    """Markdown tables: our raw statistics; box figures against the data set's."""
    out = [
        "| feature | mean | std | min | 1 % | 25 % | 50 % | 75 % | 99 % | max |",
        "|---" * 10 + "|",
    ]
    for i, n in enumerate(names):
        v = x[:, i]
        q = np.percentile(v, [1, 25, 50, 75, 99])
        row = [v.mean(), v.std(), v.min(), *q, v.max()]
        out.append(f"| {n} | " + " | ".join(f"{r:.4g}" for r in row) + " |")
    head = "| feature (standard units) | whisker lo | Q1 | median | Q3 | whisker hi "
    head += "| data set: lo / Q1 / med / Q3 / hi | largest difference |"
    out += ["", head, "|---" * 7 + "|"]
    for i, n in enumerate(names):
        v = x[:, i]
        ours = [(b - v.mean()) / v.std() for b in box(v)]
        pub = PUBLISHED_BOX.get(n)
        diff = max(abs(a - b) for a, b in zip(ours, pub, strict=True)) if pub else float("nan")
        pubs = " / ".join(f"{p:+.2f}" for p in pub) if pub else "-"
        out.append(
            f"| {n} | " + " | ".join(f"{o:+.2f}" for o in ours) + f" | {pubs} | {diff:.2f} |"
        )
    out += ["", "| feature (raw) | ours: lo / Q1 / med / Q3 / hi | data set | mean, std: ours "
            "| data set (from its two box plots) |", "|---" * 5 + "|"]  # fmt: skip
    for n, pub in PUBLISHED_RAW.items():
        v = x[:, names.index(n)]
        std = (pub[3] - pub[1]) / (PUBLISHED_BOX[n][3] - PUBLISHED_BOX[n][1])
        mean = pub[2] - PUBLISHED_BOX[n][2] * std
        out.append(
            f"| {n} | " + " / ".join(f"{b:.0f}" for b in box(v))
            + " | " + " / ".join(f"{p:.0f}" for p in pub)
            + f" | {v.mean():.1f}, {v.std():.1f} | {mean:.1f}, {std:.1f} |"
        )  # fmt: skip
    return out


def score(x: np.ndarray, y: np.ndarray, classes: list[str], seeds: list[int]) -> list[str]:
    """Float MLP (64-32-32) and boosted trees on 70 / 30 splits: accuracy and AUCs per seed."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    heavy = [classes.index(c) for c in ("W", "Z", "t") if c in classes]
    out = ["| model | split | accuracy | AUC " + " / ".join(classes) + " | heavy vs light AUC |",
           "|---|---|---|---|---|"]  # fmt: skip
    for seed in seeds:
        tr, te = train_test_split(np.arange(len(y)), test_size=0.3, stratify=y, random_state=seed)
        models = {
            "MLP": make_pipeline(StandardScaler(), MLPClassifier(
                (64, 32, 32), early_stopping=True, max_iter=300, random_state=0)),
            "trees": HistGradientBoostingClassifier(max_iter=100, random_state=0),
        }  # fmt: skip
        for key, model in models.items():
            model.fit(x[tr], y[tr])
            p = model.predict_proba(x[te])
            aucs = [roc_auc_score(y[te] == k, p[:, k]) for k in range(len(classes))]
            hv = roc_auc_score(np.isin(y[te], heavy), p[:, heavy].sum(axis=1))
            out.append(
                f"| {key} | {seed} | {np.mean(p.argmax(1) == y[te]):.3f} | "
                + " / ".join(f"{a:.3f}" for a in aucs) + f" | {hv:.3f} |"
            )  # fmt: skip
    for name, s in PUBLISHED_SCORES.items():
        aucs = " / ".join(f"{s[c]:.3f}" if c in s else "-" for c in classes)
        acc = f"{s['accuracy']:.3f}" if "accuracy" in s else "-"
        hv = f"{s['heavy_vs_light']:.3f}" if "heavy_vs_light" in s else "-"
        out.append(f"| {name} (data set) | - | {acc} | {aucs} | {hv} |")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sample", help="HDF5 from nanotrig generate")
    ap.add_argument("--n-per-class", type=int, default=None, help="first N jets of each class")
    ap.add_argument("--score", action="store_true", help="also train and score the classifiers")
    ap.add_argument("--split-seeds", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args(argv)
    x, y, names, classes = load(args.sample, args.n_per_class)
    print(f"{args.sample}: {len(y)} jets, per class {np.bincount(y).tolist()}")
    print("\n".join(stats_tables(x, names)))
    if args.score:
        print()
        print("\n".join(score(x, y, classes, args.split_seeds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
