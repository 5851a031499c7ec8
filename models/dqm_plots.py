"""DQM autoencoder plots: fault-detection ROC per fault type, a map beside its loss map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from nanotrig.models.plots import _save, plt

__all__ = ["plot_ae_loss", "plot_fault_example", "plot_fault_roc"]


def plot_ae_loss(history: dict[str, list[float]], dest: Path, title: str) -> Path:
    """Training and validation reconstruction loss (MSE) per epoch, log scale."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for key in ("loss", "val_loss"):
        if key in history:
            ax.plot(np.arange(1, len(history[key]) + 1), history[key], label=key)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("reconstruction loss (MSE, good maps)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title(title)
    return _save(fig, dest)


def plot_fault_roc(curves: dict[str, dict], dest: Path, title: str = "DQM fault detection") -> Path:
    """ROC per fault type: maps with the fault flagged (TPR) vs good maps flagged (FPR, log x).

    ``curves`` maps a model label to {fault: (fpr, tpr)}; models get different line styles."""
    fig, ax = plt.subplots(figsize=(6, 5))
    styles = ["-", "--", ":", "-."]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for m, (label, per_fault) in enumerate(curves.items()):
        for c, (name, (fpr, tpr)) in enumerate(per_fault.items()):
            ax.plot(
                np.clip(fpr, 1e-3, None), tpr, styles[m % len(styles)],
                color=colors[c % len(colors)], label=f"{name} ({label})",
            )  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlim(1e-3, 1.0)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("good maps flagged (false positive rate)")
    ax.set_ylabel("faulty maps flagged (true positive rate)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(title)
    return _save(fig, dest)


def plot_fault_example(
    x: np.ndarray, recon: np.ndarray, cell_loss: np.ndarray, mask: np.ndarray, title: str,
    dest: Path,
) -> Path:  # fmt: skip
    """One map: input, reconstruction and per-cell loss, the fault's cells outlined in red and
    the largest-loss cell marked with a cross."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    vmax = float(np.percentile(x, 99.5)) or 1.0
    panels = [(x, "normalised occupancy", 0.0, vmax), (recon, "reconstruction", 0.0, vmax)]
    panels.append((cell_loss, "per-cell loss (squared error)", 0.0, float(cell_loss.max()) or 1.0))
    i, j = np.unravel_index(int(np.argmax(cell_loss)), cell_loss.shape)
    for ax, (img, label, lo, hi) in zip(axes, panels, strict=True):
        im = ax.imshow(img, origin="lower", aspect="auto", vmin=lo, vmax=hi, cmap="viridis")
        if mask.any():
            ax.contour(mask.astype(float), levels=[0.5], colors="red", linewidths=1.2)
        ax.plot(j, i, "x", color="white", markersize=8, mew=2)
        ax.set_title(label)
        ax.set_xlabel("phi cell")
        fig.colorbar(im, ax=ax, fraction=0.046)
    axes[0].set_ylabel("eta cell")
    fig.suptitle(title)
    return _save(fig, dest)
