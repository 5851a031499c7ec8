"""Classifier metrics: accuracy and one-vs-rest ROC AUC per class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from nanotrig.errors import DataError
from nanotrig.fileio import atomic_path

__all__ = [
    "SCORES_FILE", "classification_metrics", "paired_accuracy_change", "read_test_scores",
    "roc_curves", "write_test_scores",
]  # fmt: skip

#: Class scores of every model of a run on its test jets (``nanotrig compare`` reads them).
SCORES_FILE = "test_scores.npz"


def classification_metrics(
    y_true: np.ndarray, scores: np.ndarray, class_names: tuple[str, ...]
) -> dict:
    """Accuracy and per-class one-vs-rest AUC from class scores (N, C)."""
    pred = scores.argmax(axis=1)
    aucs = {}
    for i, name in enumerate(class_names):
        positive = y_true == i
        aucs[name] = (
            float(roc_auc_score(positive, scores[:, i])) if 0 < positive.sum() < len(y_true)
            else float("nan")
        )  # fmt: skip
    counts = {name: int((y_true == i).sum()) for i, name in enumerate(class_names)}
    return {
        "accuracy": float((pred == y_true).mean()), "auc": aucs, "n_events": len(y_true),
        "n_per_class": counts,
    }  # fmt: skip


def paired_accuracy_change(y_true: np.ndarray, before: np.ndarray, after: np.ndarray) -> dict:
    """Accuracy(after) - accuracy(before) on the same events, with its paired standard error
    (from the events that one model gets right and the other wrong)."""
    a = before.argmax(axis=1) == y_true
    b = after.argmax(axis=1) == y_true
    n, gained, lost = len(y_true), int(np.sum(b & ~a)), int(np.sum(a & ~b))
    diff = (gained - lost) / n
    error = float(np.sqrt(max(gained + lost - n * diff**2, 0.0)) / n)
    return {"value": diff, "error": error, "n_events": n, "gained": gained, "lost": lost}


def roc_curves(y_true: np.ndarray, scores: np.ndarray, class_names: tuple[str, ...]) -> dict:
    """One-vs-rest ROC curves: {class: (false positive rate, true positive rate)}."""
    out = {}
    for i, name in enumerate(class_names):
        fpr, tpr, _ = roc_curve(y_true == i, scores[:, i])
        out[name] = (fpr, tpr)
    return out


def write_test_scores(
    out_dir: Path, labels: np.ndarray, class_names: tuple[str, ...], scores: dict[str, np.ndarray]
) -> Path:
    """Write ``<out_dir>/test_scores.npz``: labels, class names and one (N, C) array per model
    (e.g. ``float``, ``quantized``, ``firmware``), atomically."""
    dest = Path(out_dir) / SCORES_FILE
    with atomic_path(dest) as tmp, open(tmp, "wb") as f:
        np.savez(f, labels=labels, class_names=np.asarray(class_names), **scores)
    return dest


def read_test_scores(path: Path) -> tuple[np.ndarray, tuple[str, ...], dict[str, np.ndarray]]:
    """``(labels, class_names, {model: scores})`` from a :func:`write_test_scores` file."""
    try:
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError) as err:
        msg = f"test scores {path} unreadable ({err}): rerun the run that wrote it"
        raise DataError(msg) from None
    if "labels" not in arrays or "class_names" not in arrays:
        raise DataError(f"test scores {path} lack labels/class_names: rerun the run that wrote it")
    labels, names = arrays.pop("labels"), tuple(str(c) for c in arrays.pop("class_names"))
    return labels, names, arrays
