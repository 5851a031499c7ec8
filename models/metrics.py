"""Classifier metrics: accuracy and one-vs-rest ROC AUC per class."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

__all__ = ["classification_metrics", "roc_curves"]


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
    return {"accuracy": float((pred == y_true).mean()), "auc": aucs, "n_events": len(y_true)}


def roc_curves(y_true: np.ndarray, scores: np.ndarray, class_names: tuple[str, ...]) -> dict:
    """One-vs-rest ROC curves: {class: (false positive rate, true positive rate)}."""
    out = {}
    for i, name in enumerate(class_names):
        fpr, tpr, _ = roc_curve(y_true == i, scores[:, i])
        out[name] = (fpr, tpr)
    return out
