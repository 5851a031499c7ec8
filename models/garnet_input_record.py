"""What the GarNet tagger takes, recorded, and the refusal of input files that do not match.

GarNet's inputs are not folded into the model: ln(pT/GeV) is not a per-feature constant
transform (no exact fixed-point form), and the x5 scalings and the +-16 clip sit in front of
hls4ml's GarNet layer, whose HLS path (:mod:`nanotrig.hls.garnet_convert`) takes no extra layer.
The deployed tagger therefore takes the preprocessed constituents of
:func:`nanotrig.models.garnet.garnet_inputs`; this record (``raw: False``, the rule, the
training mean and spread of every feature over filled rows) goes into the project's
``conversion.json`` and the ONNX metadata, and :func:`check_garnet_inputs` refuses arrays that
are not that preprocessing (raw pT instead of ln pT, another order, rows past the count).
"""

from __future__ import annotations

import numpy as np

from nanotrig.errors import DataError

__all__ = ["GARNET_INPUT_RULE", "check_garnet_inputs", "garnet_input_spec"]

GARNET_INPUT_RULE = (
    "per constituent: ln(pT/GeV), 5 eta_rel, 5 phi_rel, 5 delta_r, clipped to +-16; rows past "
    "the vertex count zero (nanotrig.models.garnet.garnet_inputs of a jet sample's "
    "'constituents'); second input: the vertex count"
)
#: Fewer filled rows than this: the value check is skipped (means too noisy).
_MIN_ROWS = 50
#: A feature is off when its mean lies this many training standard deviations away.
_OFF_SIGMAS = 3.0


def _filled(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    rows = np.arange(x.shape[1])[None, :] < np.asarray(n).reshape(-1, 1)
    return np.asarray(x, np.float64)[rows]


def garnet_input_spec(n_vertices: int, x: np.ndarray | None = None, n=None) -> dict:
    """The tagger's input record; with training inputs ``x``, ``n``, their per-feature mean and
    spread over filled rows."""
    from nanotrig.models.garnet import GARNET_FEATURES

    spec: dict = {
        "raw": False,
        "dataset": "constituents",
        "feature_names": list(GARNET_FEATURES),
        "shape": [[int(n_vertices), len(GARNET_FEATURES)], [1]],
        "preprocessing": GARNET_INPUT_RULE,
        "not_in_model": "ln(pT) has no exact fixed-point form; hls4ml's GarNet layer takes no "
        "layer in front of it",
    }
    if x is not None and n is not None:
        rows = _filled(x, n)
        spec["train_mean"] = [float(v) for v in rows.mean(axis=0)]
        spec["train_std"] = [float(v) for v in rows.std(axis=0)]
    return spec


def check_garnet_inputs(x: np.ndarray, n: np.ndarray, spec: dict | None, what: str) -> None:
    """DataError (one line, with the fix) unless ``x``, ``n`` are inputs ``spec`` describes:
    shape (jets, vertices, features), counts within the vertex range, zero rows past the count,
    and feature means within 3 training standard deviations (where ``spec`` has them)."""
    if not spec:
        return
    (m, f), _ = spec["shape"]
    x, n = np.asarray(x), np.asarray(n).reshape(-1)
    fix = f"pass the tagger's inputs: {GARNET_INPUT_RULE}"
    if x.ndim != 3 or x.shape[1:] != (m, f) or len(n) != len(x):
        raise DataError(f"{what} holds constituents {x.shape} and counts {n.shape}, the tagger "
                        f"takes (jets, {m}, {f}) and (jets,): {fix}")  # fmt: skip
    if (n < 0).any() or (n > m).any():
        raise DataError(f"{what} has vertex counts outside [0, {m}]: {fix}")
    past = np.arange(m)[None, :] >= n[:, None]
    if np.any(x[past] != 0):
        raise DataError(f"{what} has nonzero constituents past the vertex count: {fix}")
    mean, std = spec.get("train_mean"), spec.get("train_std")
    rows = _filled(x, n)
    if mean is None or std is None or len(rows) < _MIN_ROWS:
        return
    z = np.abs(rows.mean(axis=0) - mean) / np.where(np.asarray(std) > 0, std, 1.0)
    if (z > _OFF_SIGMAS).any():
        i = int(np.argmax(z))
        raise DataError(
            f"{what} does not hold the tagger's features: {spec['feature_names'][i]} has mean "
            f"{rows[:, i].mean():.4g}, trained on {mean[i]:.4g} +- {std[i]:.3g}: {fix}"
        )
