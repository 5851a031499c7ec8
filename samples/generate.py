"""Orchestration: seeded Pythia chunks on a process pool -> selected jets -> one HDF5 file.

Each chunk (class, index) is an independent Pythia run seeded from (seed, class, index) via
``np.random.SeedSequence``; results are taken in chunk order and the first ``n_per_class``
accepted jets of each class are kept, so the file does not depend on ``workers`` or timing.
Jets of all classes are shuffled together with a seeded RNG before writing.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nanotrig.config import JetSampleConfig
from nanotrig.errors import DataError, OutputExistsError
from nanotrig.fileio import atomic_path, file_sha256, package_versions
from samples.jet_features import (
    FEATURE_NAMES,
    JET_ABS_ETA_MAX,
    SOFTDROP_BETA,
    SOFTDROP_ZCUT,
    jet_features,
    leading_jets,
)
from samples.pythia_jets import HARD_PARTON_IDS, PYTHIA_SEED_MAX, generate_batch, pythia_settings
from samples.store import FORMAT_VERSION, write_jets

__all__ = ["chunk_seed", "generate_jets", "run_chunk"]

log = logging.getLogger(__name__)

#: Stable per-class keys for seeding (independent of the order of ``cfg.classes``).
_CLASS_KEY = {"g": 0, "q": 1, "W": 2, "Z": 3, "t": 4}
_SHUFFLE_KEY = 0x5EED
#: Give up on a class after this many times the chunks a 100% acceptance would need.
MAX_CHUNK_FACTOR = 50
_PRIOR_ACCEPTANCE = 0.7
_KIN = ("jet_pt", "jet_eta", "jet_mass")


def chunk_seed(seed: int, cls: str, index: int) -> int:
    """Pythia seed (1..900_000_000) of chunk ``index`` of class ``cls``."""
    state = np.random.SeedSequence([seed, _CLASS_KEY[cls], index]).generate_state(1, np.uint64)
    return int(state[0] % PYTHIA_SEED_MAX) + 1


def run_chunk(cfg: JetSampleConfig, cls: str, seed: int, n_events: int) -> dict[str, Any]:
    """Generate one chunk and return its selected jets' features and kinematics (worker task)."""
    t0 = time.perf_counter()
    hard_id = HARD_PARTON_IDS[cls]
    batch = generate_batch(pythia_settings(cls, cfg, seed), n_events, hard_id)
    t1 = time.perf_counter()
    match_dr = cfg.match_dr if hard_id is not None else None
    sel = leading_jets(batch.particles, batch.hard, cfg.jet_r, cfg.jet_pt_range_gev, match_dr)
    feats = jet_features(sel["constituents"], cfg.jet_r)
    finite = np.isfinite(feats).all(axis=1)
    t2 = time.perf_counter()
    return {
        "features": feats[finite].astype(np.float32),
        "jet_pt": sel["pt"][finite].astype(np.float32),
        "jet_eta": sel["eta"][finite].astype(np.float32),
        "jet_mass": sel["mass"][finite].astype(np.float32),
        "n_events": batch.n_events,
        "n_nonfinite": int((~finite).sum()),
        "pythia_s": t1 - t0,
        "features_s": t2 - t1,
    }


def _quiet_stdout() -> None:
    """Worker initializer: send C++ chatter (FastJet banner, Pythia) to stderr, not stdout."""
    os.dup2(2, 1)


@dataclass
class _ClassState:
    chunks: dict[int, dict[str, Any]] = field(default_factory=dict)
    pending: int = 0
    next_index: int = 0

    def accepted(self) -> int:
        return sum(len(c["features"]) for c in self.chunks.values())

    def prefix_done(self, n: int) -> bool:
        total, i = 0, 0
        while i in self.chunks:
            total += len(self.chunks[i]["features"])
            if total >= n:
                return True
            i += 1
        return False


def _want(st: _ClassState, cfg: JetSampleConfig, workers: int) -> int:
    events = sum(c["n_events"] for c in st.chunks.values())
    acc = st.accepted() / events if events else _PRIOR_ACCEPTANCE
    still = cfg.n_per_class - st.accepted()
    need = math.ceil(max(still, 0) / (max(acc, 0.01) * cfg.chunk_size)) - st.pending
    return min(need, 2 * workers)


def _run_pool(cfg: JetSampleConfig, seed: int, progress: bool) -> dict[str, _ClassState]:
    from tqdm import tqdm

    states = {cls: _ClassState() for cls in cfg.classes}
    max_chunks = MAX_CHUNK_FACTOR * math.ceil(cfg.n_per_class / cfg.chunk_size)
    pending: dict[Future, tuple[str, int]] = {}
    # fork: no re-import of __main__ (scripts/notebooks need no main guard); the parent never
    # loads Pythia or FastJet, so the children start clean.
    ctx = multiprocessing.get_context("fork")
    bar = tqdm(total=0, unit="ev", desc="pythia", disable=not progress, dynamic_ncols=True)
    with ProcessPoolExecutor(cfg.workers, mp_context=ctx, initializer=_quiet_stdout) as pool:
        try:
            while True:
                for cls, st in states.items():
                    if st.prefix_done(cfg.n_per_class):
                        continue
                    for _ in range(_want(st, cfg, cfg.workers)):
                        if st.next_index >= max_chunks:
                            break
                        s = chunk_seed(seed, cls, st.next_index)
                        fut = pool.submit(run_chunk, cfg, cls, s, cfg.chunk_size)
                        pending[fut] = (cls, st.next_index)
                        st.next_index += 1
                        st.pending += 1
                        bar.total += cfg.chunk_size
                    if not st.pending and st.next_index >= max_chunks:
                        raise DataError(
                            f"class {cls}: only {st.accepted()} of {cfg.n_per_class} jets after "
                            f"{st.next_index} chunks of {cfg.chunk_size} events: acceptance is "
                            "too low; widen jet_pt_range_gev / match_dr or check pthat_range_gev"
                        )
                bar.refresh()
                if not pending:
                    return states
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    cls, idx = pending.pop(fut)
                    st = states[cls]
                    if fut.cancelled():  # look-ahead chunk of a class already complete
                        st.pending -= 1
                        bar.total -= cfg.chunk_size
                        continue
                    res = fut.result()
                    st.chunks[idx] = res
                    st.pending -= 1
                    bar.update(res["n_events"])
                    if res["n_events"] < cfg.chunk_size:
                        bar.total -= cfg.chunk_size - res["n_events"]
                    if st.prefix_done(cfg.n_per_class):
                        for f2, (c2, _) in pending.items():
                            if c2 == cls:
                                f2.cancel()
        finally:
            for fut in pending:
                fut.cancel()
            bar.close()


def _collect(st: _ClassState, n: int) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """First ``n`` accepted jets in chunk order, and the statistics of the chunks used."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("features", *_KIN)}
    total = events = nonfinite = used = 0
    for i in range(len(st.chunks)):
        if total >= n or i not in st.chunks:
            break
        c = st.chunks[i]
        for k in parts:
            parts[k].append(c[k])
        total += len(c["features"])
        events += c["n_events"]
        nonfinite += c["n_nonfinite"]
        used += 1
    out = {k: np.concatenate(v)[:n] for k, v in parts.items()}
    stats = {"events": events, "chunks": used, "accepted": total, "nonfinite_dropped": nonfinite}
    return out, stats


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
            "neutrinos_removed": True,
            "grooming": {
                "softdrop_beta": SOFTDROP_BETA,
                "z_cut": SOFTDROP_ZCUT,
                "recluster": "C/A",
            },
            "ecf_measure": "pt_R",
            "nonfinite_feature_jets": "dropped",
        },
        "order": "shuffled (numpy default_rng(SeedSequence([seed, 0x5EED])))",
        "counts": stats,
        "versions": package_versions(),
    }


def _log_class(cls: str, st: _ClassState, stats: dict[str, int]) -> None:
    cpu_py = sum(c["pythia_s"] for c in st.chunks.values())
    cpu_ft = sum(c["features_s"] for c in st.chunks.values())
    ev = sum(c["n_events"] for c in st.chunks.values())
    log.info(
        "%s: %d jets accepted from %d events (acceptance %.3f, %d non-finite dropped); "
        "per core %.0f ev/s Pythia, %.0f ev/s with jets+features",
        cls, stats["accepted"], stats["events"],
        stats["accepted"] / max(stats["events"], 1), stats["nonfinite_dropped"],
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
    states = _run_pool(cfg, seed, progress)
    feats, labels, kin, stats = [], [], {k: [] for k in _KIN}, {}
    for label, cls in enumerate(cfg.classes):
        data, stats[cls] = _collect(states[cls], cfg.n_per_class)
        feats.append(data["features"])
        labels.append(np.full(len(data["features"]), label, dtype=np.int64))
        for k in _KIN:
            kin[k].append(data[k])
        _log_class(cls, states[cls], stats[cls])
    features = np.concatenate(feats)
    y = np.concatenate(labels)
    kins = {k: np.concatenate(v) for k, v in kin.items()}
    order = np.random.default_rng(np.random.SeedSequence([seed, _SHUFFLE_KEY])).permutation(len(y))
    manifest = _manifest(cfg, seed, stats)
    with atomic_path(out_path) as tmp:
        write_jets(
            tmp,
            features[order],
            y[order],
            {k: v[order] for k, v in kins.items()},
            FEATURE_NAMES,
            tuple(cfg.classes),
            manifest,
        )
    seconds = time.perf_counter() - t0
    cpu = {
        "pythia_s": sum(c["pythia_s"] for st in states.values() for c in st.chunks.values()),
        "features_s": sum(c["features_s"] for st in states.values() for c in st.chunks.values()),
        "events_total": sum(c["n_events"] for st in states.values() for c in st.chunks.values()),
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
