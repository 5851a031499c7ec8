"""L1 anomaly-trigger sample (ADC2021 emulation): generation, HDF5 layout and loading.

Layout (format 2): ``features`` (N, 57) float32 (``feature_names``: MET, e x4, mu x4, jets x10,
each pt, eta, phi); ``labels`` (N,) int64 indexing the ``process_names`` attribute (the four SM
processes W, Z, ttbar, QCD, then the generated signals); ``is_signal`` (N,) bool;
``lepton_charges`` (N, 8) int8 (truth charges of e x4, mu x4; 0 for padding); ``weights`` (N,)
float64 event weights; attribute ``manifest`` (JSON). Events of all processes are shuffled
together with a seeded RNG. A format-1 file (no ``weights``) loads with unit weights.

Weights: 1 for unbiased processes and the signals. With ``bias_pthat_pow`` the QCD and ttbar
events carry Pythia's ``info.weight()``, scaled per process so that the process's weights sum to
its number of kept events: the weighted cocktail keeps exactly the ``fractions``, while the
biased events populate the high-pT tail (many events of small weight there, few of large
weight at low pT). The manifest records the Kish effective size (sum w)^2 / sum w^2 per process.

Each process is a stream of independent Pythia chunks (:mod:`samples.pool`); the trigger (a
lepton above ``lepton_trigger_gev``) is applied per event and the first accepted events in chunk
order are kept, so the SM shares after the trigger are exactly ``fractions``. QCD rarely has a
lepton: with ``qcd_enrichment = heavy_flavour`` it is b-bbar/c-cbar production (about 0.7% of
events pass, i.e. ~140 Pythia events per kept QCD event); ``none`` (all 2->2 QCD) passes
about 10x less often. The manifest records the events generated per process.

Finished chunks are kept in ``.<file name>.chunks/<fingerprint of config and seed>/`` beside the
output while the sample is made: an interrupted run, rerun with the same config, loads them
instead of generating them again. The folder is removed once the file is written.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from nanotrig.samples.l1_detector import FEATURE_NAMES_L1, emulate
from nanotrig.samples.l1_pythia import PROCESS_KEYS, l1_settings
from nanotrig.samples.pool import Stream, run_streams, take_first
from nanotrig.samples.store import REGENERATE, check_output, open_sample, strings

from nanotrig.config import L1_BACKGROUNDS, L1EventConfig
from nanotrig.errors import ConfigError, DataError
from nanotrig.fileio import atomic_path, file_sha256, package_versions

__all__ = [
    "L1_FORMAT_VERSION",
    "L1Sample",
    "event_weights",
    "generate_l1",
    "kish",
    "load_l1",
    "normalise_weights",
    "process_counts",
    "pythia_batch",
]

log = logging.getLogger(__name__)

L1_FORMAT_VERSION = 2
_ROWS = ("features", "lepton_charges", "weights")
_FIX = REGENERATE
_SHUFFLE_KEY = 0x5EED
_MAX_CHUNK_FACTOR = 20
#: Rough trigger acceptance per process (first guess for scheduling only).
_PRIOR = {"W": 0.4, "Z": 0.5, "ttbar": 0.3, "QCD": 0.007, "A_4l": 0.2, "LQ_btau": 0.1}
_PRIOR |= {"h0_tautau": 0.05, "hplus_taunu": 0.013}


@dataclass(frozen=True, eq=False)
class L1Sample:
    """A loaded L1 sample: one row per event."""

    features: np.ndarray  #: (N, 57) float32
    labels: np.ndarray  #: (N,) int64 index into ``process_names``
    is_signal: np.ndarray  #: (N,) bool
    lepton_charges: np.ndarray  #: (N, 8) int8
    weights: np.ndarray  #: (N,) float64 event weights (1 unless generated with a bias)
    feature_names: tuple[str, ...]
    process_names: tuple[str, ...]
    manifest: dict[str, Any]
    path: str = ""

    def __len__(self) -> int:
        return len(self.labels)


def process_counts(cfg: L1EventConfig) -> dict[str, int]:
    """Events kept per process: SM shares by largest remainder, then ``n_signal`` per signal."""
    exact = {p: cfg.n_events * cfg.fractions.get(p, 0.0) for p in L1_BACKGROUNDS}
    counts = {p: math.floor(v) for p, v in exact.items()}
    rest = cfg.n_events - sum(counts.values())
    for p in sorted(exact, key=lambda p: (counts[p] - exact[p], L1_BACKGROUNDS.index(p)))[:rest]:
        counts[p] += 1
    counts |= dict.fromkeys(cfg.signals, cfg.n_signal)
    return counts


def pythia_batch(lines: list[str], n_events: int, process: str = "the process"):
    """``nextBatch`` of ``n_events`` from a Pythia set up with ``lines`` (``prt`` and ``info``)."""
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in lines:
        if not pythia.readString(line):
            raise ConfigError(f"Pythia rejected the setting {line!r}: check its spelling")
    if not pythia.init():
        raise DataError(f"Pythia failed to initialise {process}: check its process settings")
    return pythia.nextBatch(n_events, errorMode="skip")


def run_l1_chunk(cfg: L1EventConfig, process: str, seed: int, n_events: int) -> dict[str, Any]:
    """Generate one Pythia chunk of ``process`` and emulate the detector (worker task)."""
    t0 = time.perf_counter()
    events = pythia_batch(l1_settings(process, cfg, seed), n_events, process)
    t1 = time.perf_counter()
    weights = event_weights(events)
    out = emulate(events.prt, np.random.default_rng(seed), cfg.lepton_trigger_gev)
    keep = out["passed"]
    return {
        "features": out["features"][keep],
        "lepton_charges": out["lepton_charges"][keep],
        "weights": weights[keep],
        "n_accepted": int(keep.sum()),
        "n_events": len(events),
        "pythia_s": t1 - t0,
        "detector_s": time.perf_counter() - t1,
    }


def event_weights(events) -> np.ndarray:
    """Pythia's nominal event weight of each event of a ``nextBatch`` (1 when unbiased)."""
    import awkward as ak

    return ak.to_numpy(events.info.weights[:, 0]).astype(np.float64)


def normalise_weights(w: np.ndarray) -> np.ndarray:
    """Scale one process's weights to sum to its event count (unit weights stay exactly 1)."""
    w = np.asarray(w, np.float64)
    if len(w) == 0 or np.all(w == w[0]):
        return np.ones(len(w))
    if not (np.isfinite(w).all() and (w > 0).all()):
        raise DataError("Pythia returned non-positive or non-finite event weights: check the "
                        "bias settings (bias_pthat_pow)")  # fmt: skip
    return w * (len(w) / w.sum())


def kish(w: np.ndarray) -> float:
    """Kish effective sample size (sum w)^2 / sum w^2."""
    w = np.asarray(w, np.float64)
    return float(w.sum() ** 2 / np.square(w).sum()) if len(w) else 0.0


def cache_dir(cfg: L1EventConfig, seed: int, out_path: Path) -> Path:
    """Where the finished chunks of this config and seed are kept until the file is written."""
    key = json.dumps([cfg.model_dump(mode="json", exclude={"workers"}), seed], sort_keys=True)
    fp = hashlib.sha256(key.encode()).hexdigest()[:16]
    return out_path.parent / f".{out_path.name}.chunks" / fp


def _streams(cfg: L1EventConfig, counts: dict[str, int]) -> list[Stream]:
    streams = []
    for p, n in counts.items():
        if n == 0:
            continue
        need = math.ceil(n / (cfg.chunk_size * _PRIOR[p]))
        streams.append(
            Stream(
                name=f"process {p}",
                task=functools.partial(run_l1_chunk, cfg, p),
                target=n,
                chunk_size=cfg.chunk_size,
                seed_key=PROCESS_KEYS[p],
                max_chunks=max(_MAX_CHUNK_FACTOR * need, 4),
                prior_acceptance=_PRIOR[p],
                hint="too few events pass the lepton trigger; lower lepton_trigger_gev or "
                "the number of events asked for",
            )
        )
    return streams


def generate_l1(
    cfg: L1EventConfig, seed: int, out_path: Path, force: bool = False, progress: bool = True
) -> dict:
    """Generate the SM cocktail and the signals of ``cfg`` and write them to ``out_path``."""
    out_path = check_output(out_path, "L1 sample", force)
    t0 = time.perf_counter()
    counts = process_counts(cfg)
    names = (*L1_BACKGROUNDS, *cfg.signals)
    chunk_dir = cache_dir(cfg, seed, out_path)
    results = run_streams(
        _streams(cfg, counts), seed, cfg.workers, progress, desc="pythia l1", unit="events",
        cache_dir=chunk_dir,
    )  # fmt: skip
    rows: dict[str, list[np.ndarray]] = {k: [] for k in _ROWS}
    labels, stats = [], {}
    for label, p in enumerate(names):
        if counts[p] == 0:
            continue
        chunks = results[f"process {p}"]
        data, stats[p] = take_first(chunks, counts[p], _ROWS)
        data["weights"] = normalise_weights(data["weights"])
        stats[p]["effective_events"] = round(kish(data["weights"]), 1)
        stats[p]["pythia_s"] = round(sum(c["pythia_s"] for c in chunks.values()), 3)
        stats[p]["detector_s"] = round(sum(c["detector_s"] for c in chunks.values()), 3)
        for k in _ROWS:
            rows[k].append(data[k])
        labels.append(np.full(counts[p], label, dtype=np.int64))
        log.info("%s: %d kept from %d events", p, counts[p], stats[p]["events"])
    y = np.concatenate(labels)
    order = np.random.default_rng(np.random.SeedSequence([seed, _SHUFFLE_KEY])).permutation(len(y))
    cols = {k: np.concatenate(v)[order] for k, v in rows.items()}
    y = y[order]
    timing = {p: {k: st.pop(k) for k in ("pythia_s", "detector_s")} for p, st in stats.items()}
    manifest = {
        "format_version": L1_FORMAT_VERSION,
        "kind": "l1",
        "seed": seed,
        "config": cfg.model_dump(mode="json", exclude={"workers"}),
        "generator": {p: l1_settings(p, cfg) for p in names if counts[p]},
        "seeding": "Random:seed = SeedSequence([seed, process_key, chunk]) % 9e8 + 1; the "
        "detector smearing uses numpy default_rng(the same seed)",
        "process_keys": {p: PROCESS_KEYS[p] for p in names},
        "detector": "see samples/l1_detector.py (no pile-up)",
        "weights": "Pythia info.weight() of biased processes (bias_pthat_pow), scaled per "
        "process to sum to its kept events; 1 otherwise",
        "order": "shuffled (numpy default_rng(SeedSequence([seed, 0x5EED])))",
        "counts": stats,
        "versions": package_versions(),
    }
    with atomic_path(out_path) as tmp:
        _write(
            tmp, cols, y, names, np.isin(y, np.arange(len(L1_BACKGROUNDS), len(names))), manifest
        )
    shutil.rmtree(chunk_dir.parent, ignore_errors=True)
    seconds = time.perf_counter() - t0
    log.info("wrote %s: %d events in %.1f s", out_path, len(y), seconds)
    return {
        "path": str(out_path),
        "sha256": file_sha256(out_path),
        "n_events": len(y),
        "n_per_process": {p: counts[p] for p in names},
        "events_generated": {p: st["events"] for p, st in stats.items()},
        "effective_events": {p: st["effective_events"] for p, st in stats.items()},
        "seconds": seconds,
        "cpu": timing,
    }


def _write(path: Path, cols: dict, y: np.ndarray, names, is_signal, manifest: dict) -> None:
    import h5py

    str_dt = h5py.string_dtype()
    with h5py.File(path, "w", libver="earliest", track_order=False) as f:
        f.create_dataset("features", data=cols["features"].astype(np.float32), track_times=False)
        f.create_dataset("labels", data=y.astype(np.int64), track_times=False)
        f.create_dataset("is_signal", data=is_signal.astype(bool), track_times=False)
        charges = cols["lepton_charges"].astype(np.int8)
        f.create_dataset("lepton_charges", data=charges, track_times=False)
        f.create_dataset("weights", data=cols["weights"].astype(np.float64), track_times=False)
        f.attrs.create("feature_names", np.array(FEATURE_NAMES_L1, dtype=object), dtype=str_dt)
        f.attrs.create("process_names", np.array(names, dtype=object), dtype=str_dt)
        f.attrs["manifest"] = json.dumps(manifest, sort_keys=True)


def load_l1(path: str | Path) -> L1Sample:
    """Load and validate an L1 sample; raise ``DataError`` if unusable."""
    p = Path(path)
    keys = ("features", "labels", "is_signal", "lepton_charges")
    with open_sample(p, "L1 sample") as f:
        missing = [k for k in keys if k not in f]
        missing += [k for k in ("feature_names", "process_names", "manifest") if k not in f.attrs]
        if missing:
            raise DataError(f"L1 sample {p} lacks {', '.join(missing)}: {_FIX}")
        try:
            arr = {k: np.asarray(f[k][()]) for k in keys}
            n_rows = len(arr["labels"])
            arr["weights"] = np.asarray(f["weights"][()]) if "weights" in f else np.ones(n_rows)
            feature_names = strings(f.attrs["feature_names"])
            names = strings(f.attrs["process_names"])
            manifest = json.loads(f.attrs["manifest"])
        except (OSError, ValueError, TypeError) as err:
            raise DataError(f"L1 sample {p} is corrupt ({err}): {_FIX}") from None
    n = len(arr["labels"])
    if arr["features"].shape != (n, 57) or len(feature_names) != 57:
        raise DataError(
            f"L1 sample {p}: features have shape {arr['features'].shape}, expected ({n}, 57): "
            f"{_FIX}"
        )
    if arr["is_signal"].shape != (n,) or arr["lepton_charges"].shape != (n, 8):
        raise DataError(f"L1 sample {p}: is_signal/lepton_charges do not match {n} events: {_FIX}")
    if n and (arr["labels"].min() < 0 or arr["labels"].max() >= len(names)):
        raise DataError(f"L1 sample {p}: labels outside 0..{len(names) - 1}: {_FIX}")
    if not np.isfinite(arr["features"]).all():
        raise DataError(f"L1 sample {p}: features hold NaN/inf: {_FIX}")
    w = arr["weights"]
    if w.shape != (n,) or not (np.isfinite(w).all() and (w > 0).all()):
        raise DataError(f"L1 sample {p}: weights are not {n} positive finite numbers: {_FIX}")
    return L1Sample(
        features=arr["features"].astype(np.float32),
        labels=arr["labels"].astype(np.int64),
        is_signal=arr["is_signal"].astype(bool),
        lepton_charges=arr["lepton_charges"].astype(np.int8),
        weights=w.astype(np.float64),
        feature_names=feature_names,
        process_names=names,
        manifest=manifest,
        path=str(p),
    )
