"""Validation plots of a sample file (any kind) and a JSON summary of the figures shown.

``validate_sample(path, out_dir)`` writes PNGs and ``validation.json`` into ``out_dir``:

* jets: groomed mass, N2, multiplicity per class; the average image per class;
* l1: object multiplicities and leading-object pT spectra per process;
* dqm: an example map per fault type with the faulty cells outlined, and per-type statistics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from nanotrig.samples.api import load_sample, sample_kind

from nanotrig.fileio import atomic_path, write_json

__all__ = ["validate_sample"]


def _save(fig: Any, path: Path) -> str:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90, metadata={"Software": None})
    plt.close(fig)
    return str(path)


def _figure(n: int, size: float = 3.2):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(n, 5)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(
        rows, cols, figsize=(size * cols, size * rows), squeeze=False, layout="constrained"
    )
    for a in axes.ravel()[n:]:
        a.axis("off")
    return fig, axes.ravel()


def _hist_by(ax, values, labels, names, bins, title: str, log: bool = False) -> None:
    for i, name in enumerate(names):
        v = values[labels == i]
        v = v[np.isfinite(v)]
        if len(v):
            ax.hist(v, bins=bins, histtype="step", density=True, label=name)
    ax.set_title(title)
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize=7)


def image_radius(images: np.ndarray, extent: float) -> np.ndarray:
    """pT-weighted mean distance from the jet axis of each image: sum(p r) / sum(p)."""
    size = images.shape[1]
    c = (np.arange(size) + 0.5) / size * 2 * extent - extent
    r = np.hypot(c[:, None], c[None, :])
    return (images * r).sum(axis=(1, 2)) / np.maximum(images.sum(axis=(1, 2)), 1e-12)


def _jets(path: Path, out: Path) -> dict:
    from nanotrig.samples.store import load_jets

    s = load_jets(path, parts=("images",))
    col = {n: i for i, n in enumerate(s.feature_names)}
    fig, ax = _figure(3, 4)
    for a, (name, bins, title) in zip(
        ax,
        (
            ("j_mass_mmdt", np.linspace(0, 300, 61), "groomed mass [GeV]"),
            ("j_n2_b1_mmdt", np.linspace(0, 0.5, 51), "N2 (beta=1)"),
            ("j_multiplicity", np.arange(0, 151, 3), "multiplicity"),
        ),
        strict=True,
    ):
        _hist_by(a, s.features[:, col[name]], s.labels, s.class_names, bins, title)
    plots = [_save(fig, out / "jets_features.png")]
    fig, ax = _figure(len(s.class_names))
    e = s.image_extent
    for i, (a, name) in enumerate(zip(ax, s.class_names, strict=False)):
        mean = s.images[s.labels == i].mean(axis=0)
        a.imshow(np.log10(mean + 1e-5), origin="lower", extent=(-e, e, -e, e), cmap="viridis")
        a.set_title(f"{name}: mean image (log10)")
        a.set_xlabel("phi_rel")
        a.set_ylabel("eta_rel")
    plots.append(_save(fig, out / "jets_images.png"))
    radius = image_radius(s.images, e)
    summary = {
        name: {
            "n": int((s.labels == i).sum()),
            "median_mass_mmdt": float(np.median(s.features[s.labels == i, col["j_mass_mmdt"]])),
            "median_n2_b1": float(np.median(s.features[s.labels == i, col["j_n2_b1_mmdt"]])),
            "median_multiplicity": float(
                np.median(s.features[s.labels == i, col["j_multiplicity"]])
            ),
            "mean_image_radius": float(radius[s.labels == i].mean()),
        }
        for i, name in enumerate(s.class_names)
    }
    return {"n": len(s), "plots": plots, "per_class": summary}


def _l1(path: Path, out: Path) -> dict:
    from nanotrig.samples.l1_sample import load_l1

    s = load_l1(path)
    f = s.features
    blocks = {"e": (3, 4), "mu": (15, 4), "jet": (27, 10)}
    mult = {k: (f[:, a : a + 3 * n : 3] > 0).sum(axis=1) for k, (a, n) in blocks.items()}
    fig, ax = _figure(3, 4)
    for a, (k, (_, n)) in zip(ax, blocks.items(), strict=True):
        _hist_by(a, mult[k], s.labels, s.process_names, np.arange(n + 2) - 0.5, f"number of {k}")
    plots = [_save(fig, out / "l1_multiplicities.png")]
    fig, ax = _figure(4, 4)
    spectra = {"MET": 0, "leading e": 3, "leading mu": 15, "leading jet": 27}
    for a, (title, i) in zip(ax, spectra.items(), strict=True):
        v = np.where(f[:, i] > 0, f[:, i], np.nan)
        _hist_by(a, v, s.labels, s.process_names, np.linspace(0, 300, 31), f"{title} pT", True)
    plots.append(_save(fig, out / "l1_pt_spectra.png"))
    summary = {
        name: {
            "n": int((s.labels == i).sum()),
            **{f"mean_n_{k}": float(m[s.labels == i].mean()) for k, m in mult.items()},
            "median_met": float(np.median(f[s.labels == i, 0])),
        }
        for i, name in enumerate(s.process_names)
        if (s.labels == i).any()
    }
    return {"n": len(s), "plots": plots, "per_process": summary}


def _dqm(path: Path, out: Path) -> dict:
    from nanotrig.samples.dqm_sample import load_dqm

    s = load_dqm(path)
    fig, ax = _figure(len(s.fault_names), 3.6)
    ax = ax[: len(s.fault_names)]
    for i, (a, name) in enumerate(zip(ax, s.fault_names, strict=False)):
        rows = np.nonzero(s.fault_type == i)[0]
        a.set_title(name)
        if not len(rows):
            a.axis("off")
            continue
        k = rows[len(rows) // 2]
        a.imshow(s.maps_normalized[k], origin="lower", aspect="auto", cmap="viridis")
        if s.fault_mask[k].any():
            a.contour(s.fault_mask[k], levels=[0.5], colors="red", linewidths=1.2)
        a.set_xlabel(f"phi cell (run {s.run[k]}, ls {s.lumisection[k]})")
        a.set_ylabel("eta cell")
    plots = [_save(fig, out / "dqm_examples.png")]
    good = s.fault_type == 0
    ref = s.maps_normalized[good].mean(axis=0) if good.any() else None
    summary = {}
    for i, name in enumerate(s.fault_names):
        sel = s.fault_type == i
        entry: dict[str, Any] = {"maps": int(sel.sum())}
        if sel.any() and i and ref is not None:
            m = s.fault_mask[sel].astype(bool)
            ratio = s.maps_normalized[sel][m].sum() / np.broadcast_to(ref, m.shape)[m].sum()
            entry["faulty_over_good_occupancy"] = float(ratio)
        summary[name] = entry
    return {"n": len(s), "plots": plots, "per_fault": summary}


def validate_sample(path: str | Path, out_dir: str | Path) -> dict:
    """Plot the sample at ``path`` into ``out_dir``; returns (and writes as validation.json) the
    kind, row count, plot paths and per-class/process/fault summary numbers."""
    path = Path(path)
    kind = sample_kind(path)
    load_sample(path)  # full validation first: a broken file fails before any plot
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = {"jets": _jets, "l1": _l1, "dqm": _dqm}[kind](path, out)
    record = {"kind": kind, "path": str(path), **result}
    write_json(out / "validation.json", record)
    return record
