"""Firmware-friendly inputs for the anomaly trigger: power-of-two scaling of the 57 L1 features.

Each feature group (MET, e/gamma, muons, jets, times pT, eta, phi: 12 groups) is divided by
``2**shift``, with one integer ``shift`` per group chosen on the training background: the
smallest power of two at or above the ``quantile`` of the group's nonzero ``|value|``, so that
almost all values land in [-1, 1] and the rest stay well inside the input type's range. The
scaled value is then rounded to the input type ``ap_fixed<B, I+1>`` (``quantized_bits(B, I)``:
``F = B - 1 - I`` fractional bits, round half to even, saturating), which is what the model
reads.

In firmware this costs nothing: an L1 object arrives as integer counts (pT in LSBs of
``2**-p`` GeV, eta/phi in LSBs of ``2**-a``); the input word of the model is the same integer
shifted by ``F - p - shift`` bits (a wire re-labelling, or a right shift dropping low bits),
with no multiplier and no float StandardScaler. The scaling record (``input_scaling.json``)
lists the shift of every feature so a firmware designer can wire it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nanotrig.config import QuantBits
from nanotrig.errors import DataError
from nanotrig.fileio import write_json

__all__ = [
    "SCALING_FILE",
    "PowerOfTwoScaling",
    "feature_groups",
    "feature_units",
    "quantize_to_input",
    "standardise_layer",
]

SCALING_FILE = "input_scaling.json"
#: Largest shift allowed (a 2**16 GeV pT would be far beyond any L1 object).
_MAX_SHIFT = 16


def feature_groups(feature_names: tuple[str, ...]) -> list[str]:
    """Group of each feature: ``<object class>_<quantity>`` (``met_pt``, ``e_eta``, ``jet_phi``)."""
    groups = []
    for name in feature_names:
        obj, _, qty = name.rpartition("_")
        groups.append(f"{obj.rstrip('0123456789')}_{qty}")
    return groups


def feature_units(feature_names: tuple[str, ...]) -> list[str]:
    """Unit of each L1 feature: GeV for pT, rad for phi, 1 for eta."""
    units = {"pt": "GeV", "phi": "rad"}
    return [units.get(name.rpartition("_")[2], "1") for name in feature_names]


def quantize_to_input(x: np.ndarray, bits: QuantBits) -> np.ndarray:
    """Round ``x`` to ``quantized_bits(bits.bits, bits.integer, alpha=1)``'s grid (saturating),
    as QKeras and ``ap_fixed<B, I+1, AP_RND_CONV, AP_SAT>`` do; float32 out."""
    frac = bits.bits - 1 - bits.integer
    lsb = 2.0**-frac
    top, bottom = 2.0**bits.integer - lsb, -(2.0**bits.integer)
    return np.clip(np.round(np.asarray(x, np.float64) / lsb) * lsb, bottom, top).astype(np.float32)


@dataclass(frozen=True)
class PowerOfTwoScaling:
    """Per-feature ``x * 2**-shift``; shifts are integers, one per feature group."""

    shifts: dict[str, int]
    feature_names: tuple[str, ...]
    quantile: float
    #: True: the model applies the scaling itself (raw inputs); False: inputs pre-scaled.
    inside: bool = True

    @classmethod
    def fit(
        cls, x: np.ndarray, feature_names: tuple[str, ...], quantile: float = 0.99
    ) -> PowerOfTwoScaling:
        """Shift per group: ``ceil(log2(q))`` of the group's nonzero ``|x|`` at ``quantile``."""
        x = _check(x, len(feature_names))
        groups = np.array(feature_groups(tuple(feature_names)))
        shifts: dict[str, int] = {}
        for g in dict.fromkeys(groups.tolist()):
            vals = np.abs(x[:, groups == g]).ravel()
            vals = vals[vals > 0]
            q = float(np.quantile(vals, quantile)) if len(vals) else 1.0
            shifts[g] = int(np.clip(np.ceil(np.log2(max(q, 2.0**-_MAX_SHIFT))), 0, _MAX_SHIFT))
        return cls(shifts, tuple(feature_names), quantile)

    @property
    def feature_shifts(self) -> np.ndarray:
        """Shift of every feature, (n_features,) int."""
        return np.array([self.shifts[g] for g in feature_groups(self.feature_names)], dtype=int)

    def transform(self, x: np.ndarray, bits: QuantBits) -> np.ndarray:
        """Model inputs: ``x * 2**-shift`` rounded to the input type of ``bits``."""
        x = _check(x, len(self.feature_names))
        return quantize_to_input(np.ldexp(x.astype(np.float64), -self.feature_shifts), bits)

    def model_inputs(self, x: np.ndarray, bits: QuantBits) -> np.ndarray:
        """What the model reads: the raw features (float32) when it scales them inside, else
        :meth:`transform`."""
        if self.inside:
            return _check(x, len(self.feature_names)).astype(np.float32)
        return self.transform(x, bits)

    def to_dict(self, bits: QuantBits | None = None) -> dict:
        out = {
            "rule": "x * 2**-shift per feature group; shift = ceil(log2(quantile of nonzero |x| "
            "in the training background)), then rounded to the input type",
            "quantile": self.quantile,
            "shifts": self.shifts,
            "feature_names": list(self.feature_names),
            "inside": self.inside,
        }
        if bits is not None:
            out["input_type"] = f"ap_fixed<{bits.bits},{bits.integer + 1}>"
            out["input_lsb"] = 2.0 ** -(bits.bits - 1 - bits.integer)
        return out

    def save(self, path: Path, bits: QuantBits | None = None) -> Path:
        write_json(path, self.to_dict(bits))
        return path

    @classmethod
    def load(cls, path: Path) -> PowerOfTwoScaling:
        import json

        p = Path(path)
        if not p.is_file():
            raise DataError(f"input scaling {p} not found: run the anomaly training stage first")
        d = json.loads(p.read_text())
        return cls({k: int(v) for k, v in d["shifts"].items()}, tuple(d["feature_names"]),
                   float(d["quantile"]), bool(d.get("inside", False)))  # fmt: skip


def standardise_layer(
    scaling: PowerOfTwoScaling, x_train: np.ndarray, raw: QuantBits, model_input: QuantBits
):
    """The model's first layer: ``x * 2**-shift`` per feature (a
    :class:`~nanotrig.models.standardise.Po2Standardise` with offset 0), recording the raw L1
    features it takes (dataset, names, units, raw type ``raw``, training mean and spread)."""
    from nanotrig.models.stage import raw_type
    from nanotrig.models.standardise import Po2Scaling, po2_standardise_layer

    x = _check(x_train, len(scaling.feature_names)).astype(np.float64)
    shifts = scaling.feature_shifts
    po2 = Po2Scaling(
        tuple(0.0 for _ in shifts), tuple(int(s) for s in shifts),
        tuple(float(v) for v in x.mean(axis=0)), tuple(float(v) for v in x.std(axis=0)),
    )  # fmt: skip
    spec = {"dataset": "features", "feature_names": list(scaling.feature_names),
            "units": feature_units(scaling.feature_names), "input_type": raw_type(raw)}  # fmt: skip
    return po2_standardise_layer(po2, spec, model_input)


def _check(x: np.ndarray, n: int) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != n:
        raise DataError(
            f"L1 features have shape {x.shape}, expected (N, {n}): use an L1 sample "
            "(samples.kind: l1) with the 57 ADC2021 features"
        )
    return x
