"""Plots a physicist looks at: ROC curves and training loss curves (PNG, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from nanotrig.fileio import atomic_path

__all__ = ["plot_loss", "plot_roc", "plot_roc_panels", "resolvable_fpr"]


def _save(fig, dest: Path) -> Path:
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return dest


def resolvable_fpr(curves: dict[str, dict]) -> float:
    """The smallest false positive rate the curves resolve: one background event in the largest
    background sample (``roc_curve``'s smallest nonzero step); the mistag axis stops there."""
    steps = [
        float(np.min(fpr[fpr > 0]))
        for per_class in curves.values()
        for fpr, _ in per_class.values()
        if np.any(fpr > 0)
    ]
    return min(steps) if steps else 1e-4


def plot_roc(curves: dict[str, dict], dest: Path, title: str = "Jet tagging ROC") -> Path:
    """ROC curves, signal efficiency vs background mistag rate (log y), one line per class.

    ``curves`` maps a model label (e.g. "float", "6-bit QKeras") to {class: (fpr, tpr)};
    several models are drawn with different line styles.
    """
    fig, ax = plt.subplots(figsize=(6, 5))
    styles = ["-", "--", ":", "-."]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    floor = resolvable_fpr(curves)
    for m, (label, per_class) in enumerate(curves.items()):
        for c, (name, (fpr, tpr)) in enumerate(per_class.items()):
            ax.plot(
                tpr, np.clip(fpr, floor, None), styles[m % len(styles)],
                color=colors[c % len(colors)], label=f"{name} ({label})",
            )  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("signal efficiency (true positive rate)")
    ax.set_ylabel("background efficiency (false positive rate)")
    ax.set_ylim(floor, 1.0)
    ax.set_xlim(0, 1)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(title)
    return _save(fig, dest)


def plot_roc_panels(
    curves: dict[str, dict], dest: Path, title: str = "Jet taggers compared"
) -> Path:
    """One ROC panel per class (signal efficiency vs mistag rate, log y), one line per model.

    ``curves`` maps a model label (e.g. "MLP", "CNN", "GarNet") to {class: (fpr, tpr)}; every
    model must have the same classes."""
    classes = list(next(iter(curves.values())))
    ncol = min(len(classes), 3)
    nrow = -(-len(classes) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.8 * nrow), squeeze=False)
    floor = resolvable_fpr(curves)
    for ax, name in zip(axes.flat, classes, strict=False):
        for label, per_class in curves.items():
            fpr, tpr = per_class[name]
            ax.plot(tpr, np.clip(fpr, floor, None), label=label)
        ax.set_yscale("log")
        ax.set_xlim(0, 1)
        ax.set_ylim(floor, 1.0)
        ax.set_title(f"{name} vs rest")
        ax.set_xlabel("signal efficiency")
        ax.set_ylabel("mistag rate")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(classes) :]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, dest)


def plot_loss(history: dict[str, list[float]], dest: Path, title: str = "Training") -> Path:
    """Training and validation loss (and accuracy where recorded) per epoch."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for key in ("loss", "val_loss"):
        if key in history:
            axes[0].plot(np.arange(1, len(history[key]) + 1), history[key], label=key)
    for key in ("accuracy", "val_accuracy"):
        if key in history:
            axes[1].plot(np.arange(1, len(history[key]) + 1), history[key], label=key)
    axes[0].set_ylabel("categorical cross-entropy")
    axes[1].set_ylabel("accuracy")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend()
        ax.grid(True, alpha=0.3)
    fig.suptitle(title)
    return _save(fig, dest)
