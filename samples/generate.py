"""Jet samples: seeded Pythia chunks on a process pool -> selected jets -> one HDF5 file.

Each chunk (class, index) is an independent Pythia run seeded from (seed, class, index) via
``np.random.SeedSequence`` (see :mod:`samples.pool`); the first ``n_per_class`` accepted jets of
each class in chunk order are kept, so the file does not depend on ``workers`` or timing.
Jets of all classes are shuffled together with a seeded RNG before writing. Alongside the 16
features each jet gets an eta-phi image and a padded constituent list (:mod:`samples.jet_images`).
"""

from __future__ import annotations

import functools
import logging
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from nanotrig.samples.jet_features import (
    FEATURE_NAMES,
    JET_ABS_ETA_MAX,
    SOFTDROP_BETA,
    SOFTDROP_ZCUT,
    jet_features,
    leading_jets,
)
from nanotrig.samples.jet_images import CONSTITUENT_FEATURES, constituent_arrays, jet_images
from nanotrig.samples.pool import Stream, run_streams, stream_seed, take_first
from nanotrig.samples.pythia_jets import HARD_PARTON_IDS, generate_batch, pythia_settings
from nanotrig.samples.store import FORMAT_VERSION, write_jets

from nanotrig.config import JetSampleConfig
from nanotrig.errors import OutputExistsError
from nanotrig.fileio import atomic_path, file_sha256, package_versions

__all__ = ["chunk_seed", "generate_jets", "run_chunk", "share_jets"]

log = logging.getLogger(__name__)

#: Stable per-class keys for seeding (independent of the order of ``cfg.classes``).
_CLASS_KEY = {"g": 0, "q": 1, "W": 2, "Z": 3, "t": 4}
_SHUFFLE_KEY = 0x5EED
#: Give up on a class after this many times the chunks a 100% acceptance would need.
MAX_CHUNK_FACTOR = 50
_PRIOR_ACCEPTANCE = 0.7
_KIN = ("jet_pt", "jet_eta", "jet_mass")
_ROWS = ("features", *_KIN, "images", "constituents", "n_constituents")


def chunk_seed(seed: int, cls: str, index: int) -> int:
    """Pythia seed (1..900_000_000) of chunk ``index`` of class ``cls``."""
    return stream_seed(seed, _CLASS_KEY[cls], index)


def run_chunk(cfg: JetSampleConfig, cls: str, seed: int, n_events: int) -> dict[str, Any]:
    """Generate one chunk and return its selected jets' features, kinematics, images and
    constituent lists (worker task)."""
    t0 = time.perf_counter()
    hard_id = HARD_PARTON_IDS[cls]
    contained = cls in cfg.contained
    batch = generate_batch(pythia_settings(cls, cfg, seed), n_events, hard_id, contained)
    t1 = time.perf_counter()
    match_dr = cfg.match_dr if hard_id is not None else None
    sel = leading_jets(
        batch.particles, batch.hard, cfg.jet_r, cfg.jet_pt_range_gev, match_dr, batch.decay
    )
    cons = sel["constituents"]
    feats = jet_features(cons, cfg.jet_r, cfg.feature_backend)
    finite = np.isfinite(feats).all(axis=1)
    t2 = time.perf_counter()
    cons = cons[finite]
    pt, eta, phi = sel["pt"][finite], sel["eta"][finite], sel["phi"][finite]
    images = jet_images(cons, pt, eta, phi, cfg.image_size, cfg.image_extent)
    clist, n_cons = constituent_arrays(cons, eta, phi, cfg.n_constituents)
    t3 = time.perf_counter()
    return {
        "features": feats[finite].astype(np.float32),
        "jet_pt": pt.astype(np.float32),
        "jet_eta": eta.astype(np.float32),
        "jet_mass": sel["mass"][finite].astype(np.float32),
        "images": images,
        "constituents": clist,
        "n_constituents": n_cons,
        "n_accepted": int(finite.sum()),
        "n_events": batch.n_events,
        "counters": {
            "nonfinite_dropped": int((~finite).sum()),
            **({"not_contained": sel["n_not_contained"]} if contained else {}),
        },
        "pythia_s": t1 - t0,
        "features_s": t2 - t1,
        "lowlevel_s": t3 - t2,
    }


def _streams(cfg: JetSampleConfig) -> list[Stream]:
    max_chunks = MAX_CHUNK_FACTOR * math.ceil(cfg.n_per_class / cfg.chunk_size)
    return [
        Stream(
            name=f"class {cls}",
            task=functools.partial(run_chunk, cfg, cls),
            target=cfg.n_per_class,
            chunk_size=cfg.chunk_size,
            seed_key=_CLASS_KEY[cls],
            max_chunks=max_chunks,
            prior_acceptance=_PRIOR_ACCEPTANCE,
            hint="acceptance is too low; widen jet_pt_range_gev / match_dr or check "
            "pthat_range_gev",
        )
        for cls in cfg.classes
    ]


def _manifest(cfg: JetSampleConfig, seed: int, stats: dict[str, dict[str, int]]) -> dict:
    return {
        "format_version": FORMAT_VERSION,
        "kind": "jets",
        "seed": seed,
        "config": cfg.model_dump(mode="json", exclude={"workers"}),
        "generator": {cls: pythia_settings(cls, cfg) for cls in cfg.classes},
        "seeding": "Random:seed = SeedSequence([seed, class_key, chunk]) % 9e8 + 1",
        "class_keys": {cls: _CLASS_KEY[cls] for cls in cfg.classes},
        "selection": {
            "jet_algorithm": "anti-kT",
            "jet_abs_eta_max": JET_ABS_ETA_MAX,
            "leading_jet_only": True,
            "match": {
                cls: {"pdg_id": HARD_PARTON_IDS[cls], "status": "|22|,|23|", "dr": cfg.match_dr}
                for cls in cfg.classes
                if HARD_PARTON_IDS[cls] is not None and cfg.match_dr is not None
            },
            "contained": {
                cls: "every decay quark of the matched resonance within jet_r of the jet axis"
                for cls in cfg.classes
                if cls in cfg.contained
            },
            "neutrinos_removed": True,
            "grooming": {
                "softdrop_beta": SOFTDROP_BETA,
                "z_cut": SOFTDROP_ZCUT,
                "recluster": "C/A",
            },
            "ecf_measure": "pt_R",
            "nonfinite_feature_jets": "dropped",
        },
        "low_level": {
            "centre": "jet axis (E-scheme anti-kT four-momentum), no rotation",
            "image": {
                "size": cfg.image_size,
                "extent": cfg.image_extent,
                "axes": "[jet, eta_rel bin, phi_rel bin]",
                "pixel": "sum of constituent pT / jet pT",
            },
            "constituents": {
                "n_max": cfg.n_constituents,
                "features": list(CONSTITUENT_FEATURES),
                "order": "pT descending, zero-padded",
            },
        },
        "order": "shuffled (numpy default_rng(SeedSequence([seed, 0x5EED])))",
        "counts": stats,
        "versions": package_versions(),
    }


def _log_class(cls: str, chunks: dict[int, dict[str, Any]], stats: dict[str, int]) -> None:
    cpu_py = sum(c["pythia_s"] for c in chunks.values())
    cpu_ft = sum(c["features_s"] + c["lowlevel_s"] for c in chunks.values())
    ev = sum(c["n_events"] for c in chunks.values())
    log.info(
        "%s: %d jets accepted from %d events (acceptance %.3f, %d non-finite dropped); "
        "per core %.0f ev/s Pythia, %.0f ev/s with jets+features",
        cls, stats["accepted"], stats["events"],
        stats["accepted"] / max(stats["events"], 1), stats.get("nonfinite_dropped", 0),
        ev / max(cpu_py, 1e-9), ev / max(cpu_py + cpu_ft, 1e-9),
    )  # fmt: skip


def generate_jets(
    cfg: JetSampleConfig, seed: int, out_path: Path, force: bool = False, progress: bool = True
) -> dict:
    """Generate ``cfg.n_per_class`` jets per class and write them atomically to ``out_path``.

    The file is byte-identical for the same ``cfg`` (``workers`` aside) and ``seed``.
    Returns the artifact record (path, sha256, counts, seconds, events generated per class).
    """
    out_path = Path(out_path)
    if out_path.exists() and not force:
        raise OutputExistsError(
            f"jet sample {out_path} already exists: pass --force to overwrite it "
            "or choose another output path"
        )
    t0 = time.perf_counter()
    if cfg.feature_backend == "numba":
        from nanotrig.samples.substructure import load_kernels

        load_kernels()  # compiled (or loaded from numba's cache) once, before the workers fork
    results = run_streams(
        _streams(cfg), seed, cfg.workers, progress, desc="pythia jets", unit="jets"
    )
    rows: dict[str, list[np.ndarray]] = {k: [] for k in _ROWS}
    labels, stats = [], {}
    for label, cls in enumerate(cfg.classes):
        chunks = results[f"class {cls}"]
        data, stats[cls] = take_first(chunks, cfg.n_per_class, _ROWS)
        for k in _ROWS:
            rows[k].append(data[k])
        labels.append(np.full(len(data["features"]), label, dtype=np.int64))
        stats[cls].setdefault("nonfinite_dropped", 0)
        _log_class(cls, chunks, stats[cls])
    y = np.concatenate(labels)
    order = np.random.default_rng(np.random.SeedSequence([seed, _SHUFFLE_KEY])).permutation(len(y))
    cols = {k: np.concatenate(v)[order] for k, v in rows.items()}
    manifest = _manifest(cfg, seed, stats)
    with atomic_path(out_path) as tmp:
        write_jets(
            tmp,
            cols["features"],
            y[order],
            {k: cols[k] for k in _KIN},
            FEATURE_NAMES,
            tuple(cfg.classes),
            manifest,
            images=cols["images"],
            constituents=cols["constituents"],
            n_constituents=cols["n_constituents"],
            image_extent=cfg.image_extent,
        )
    seconds = time.perf_counter() - t0
    all_chunks = [c for chunks in results.values() for c in chunks.values()]
    cpu = {
        "pythia_s": sum(c["pythia_s"] for c in all_chunks),
        "features_s": sum(c["features_s"] for c in all_chunks),
        "lowlevel_s": sum(c["lowlevel_s"] for c in all_chunks),
        "events_total": sum(c["n_events"] for c in all_chunks),
    }
    log.info("wrote %s: %d jets in %.1f s", out_path, len(y), seconds)
    return {
        "path": str(out_path),
        "sha256": file_sha256(out_path),
        "n_jets": len(y),
        "n_per_class": {cls: int((y == i).sum()) for i, cls in enumerate(cfg.classes)},
        "seconds": seconds,
        "events_generated": {cls: stats[cls]["events"] for cls in cfg.classes},
        "cpu": cpu,
    }


def share_jets(src: Path, dst: Path) -> dict:
    """Give a run an existing jet sample: ``src`` (validated by ``load_jets``) is hard-linked,
    or copied atomically, to ``dst``. Returns the record :func:`generate_jets` gives, with
    ``shared_from``; used by ``nanotrig compare`` to train every tagger on one sample."""
    from nanotrig.samples.store import load_jets

    src, dst = Path(src), Path(dst)
    sample = load_jets(src)
    if dst.exists():
        raise OutputExistsError(f"jet sample {dst} already exists: choose another run directory")
    t0 = time.perf_counter()
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed
        with atomic_path(dst) as tmp:
            shutil.copyfile(src, tmp)
    y = np.asarray(sample.labels)
    return {
        "path": str(dst),
        "sha256": file_sha256(dst),
        "shared_from": str(src),
        "n_jets": len(y),
        "n_per_class": {c: int((y == i).sum()) for i, c in enumerate(sample.class_names)},
        "seconds": round(time.perf_counter() - t0, 2),
    }
