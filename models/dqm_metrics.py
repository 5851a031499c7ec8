"""DQM autoencoder metrics: fault detection from the reconstruction loss, fault localisation.

* per map: ``loss`` = mean over cells of (reconstruction - map)^2 (the MSE the model is trained
  on); ROC AUC per fault type, maps with that fault against good maps. The largest single-cell
  loss is a second score (a dead or hot channel is one cell in a thousand: the mean dilutes it).
* per cell: for each faulty map, does its largest-loss cell lie inside the fault mask
  (``localisation``: the fraction that do, per fault type)? And over all faulty maps' cells, the
  ROC AUC of the per-cell loss for cells inside the mask against cells outside (``cell_auc``).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from nanotrig.errors import DataError

__all__ = ["fault_metrics", "fault_roc_curves", "reconstruction_losses"]


def reconstruction_losses(x: np.ndarray, recon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(per_map, per_cell)`` squared-error losses of maps ``x`` (N, H, W[, 1]) and their
    reconstructions: per_map (N,) is the mean over cells, per_cell (N, H, W)."""
    x, recon = np.asarray(x, np.float64), np.asarray(recon, np.float64)
    if x.shape != recon.shape:
        raise DataError(f"maps {x.shape} and reconstructions {recon.shape} differ in shape")
    cell = (recon - x) ** 2
    if cell.ndim == 4:
        cell = cell[..., 0] if cell.shape[-1] == 1 else cell.sum(-1)
    return cell.mean(axis=(1, 2)), cell


def _auc(positive: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC, or None when one class is missing."""
    n_pos = int(positive.sum())
    if n_pos == 0 or n_pos == len(positive):
        return None
    return float(roc_auc_score(positive, score))


def fault_metrics(
    per_map: np.ndarray,
    per_cell: np.ndarray,
    fault_type: np.ndarray,
    fault_mask: np.ndarray,
    fault_names: tuple[str, ...],
) -> dict:
    """Detection AUC (mean and max cell loss), localisation and counts per fault type.

    ``fault_type`` indexes ``fault_names`` (0 = good); ``fault_mask`` (N, H, W) marks the
    affected cells. Fault types without test maps get None.
    """
    fault_type = np.asarray(fault_type)
    mask = np.asarray(fault_mask).astype(bool)
    if per_cell.shape != mask.shape or len(per_map) != len(fault_type):
        raise DataError(
            f"losses {per_cell.shape} do not match the fault labels {mask.shape}: "
            "compute them on the same maps"
        )
    flat = per_cell.reshape(len(per_cell), -1)
    max_cell = flat.max(axis=1)
    hit = mask.reshape(len(mask), -1)[np.arange(len(flat)), flat.argmax(axis=1)]
    good = fault_type == 0
    out: dict = {"n_good": int(good.sum()), "per_fault": {}}
    for k, name in enumerate(fault_names):
        if k == 0:
            continue
        sel = fault_type == k
        both = good | sel
        out["per_fault"][name] = {
            "n_maps": int(sel.sum()),
            "auc": _auc(sel[both], per_map[both]),
            "auc_max_cell": _auc(sel[both], max_cell[both]),
            "localisation": float(hit[sel].mean()) if sel.any() else None,
        }
    faulty = fault_type > 0
    out["auc_any_fault"] = _auc(faulty, per_map)
    out["localisation"] = float(hit[faulty].mean()) if faulty.any() else None
    out["cell_auc"] = _auc(mask[faulty].ravel(), per_cell[faulty].ravel()) if faulty.any() else None
    out["good_loss_median"] = float(np.median(per_map[good])) if good.any() else None
    return out


def fault_roc_curves(
    per_map: np.ndarray, fault_type: np.ndarray, fault_names: tuple[str, ...]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{fault: (false positive rate on good maps, true positive rate on that fault's maps)}."""
    out = {}
    good = fault_type == 0
    for k, name in enumerate(fault_names):
        sel = fault_type == k
        if k == 0 or not sel.any() or not good.any():
            continue
        both = good | sel
        fpr, tpr, _ = roc_curve(sel[both], per_map[both])
        out[name] = (fpr, tpr)
    return out
