"""DQM sample: generation on the process pool, HDF5 layout and validated loading.

Layout (format 1): ``maps`` (N, H, W) int32 raw counts; ``maps_normalized`` (N, H, W) float32,
counts x (H W) / total (mean 1 per map); ``fault_type`` (N,) int8 indexing the ``fault_names``
attribute (0 = none); ``fault_mask`` (N, H, W) uint8, 1 on the cells the fault affects;
``run``, ``lumisection`` (N,) int32; ``luminosity`` (N,) float32 (relative); ``gains`` (H, W)
float32 the detector's channel gains; attribute ``manifest`` (JSON). Rows are run-major.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from nanotrig.samples.dqm import FAULT_NAMES, channel_gains, simulate_runs
from nanotrig.samples.pool import Stream, run_streams, take_first
from nanotrig.samples.store import REGENERATE, check_output, open_sample, strings, write_array

from nanotrig.config import DQMConfig
from nanotrig.errors import DataError
from nanotrig.fileio import atomic_path, file_sha256, package_versions

__all__ = ["DQM_FORMAT_VERSION", "DQMSample", "generate_dqm", "load_dqm"]

log = logging.getLogger(__name__)

DQM_FORMAT_VERSION = 1
_ROWS = ("maps", "fault_mask", "fault_type", "luminosity", "lumisection")
_FIX = REGENERATE
_STREAM_KEY = 0xD0


@dataclass(frozen=True, eq=False)
class DQMSample:
    """A loaded DQM sample: one row per occupancy map (lumisection)."""

    maps: np.ndarray  #: (N, H, W) int32 raw counts
    maps_normalized: np.ndarray  #: (N, H, W) float32, mean 1 per map
    fault_type: np.ndarray  #: (N,) int8, index into ``fault_names``
    fault_mask: np.ndarray  #: (N, H, W) uint8
    run: np.ndarray  #: (N,) int32
    lumisection: np.ndarray  #: (N,) int32
    luminosity: np.ndarray  #: (N,) float32
    gains: np.ndarray  #: (H, W) float32
    fault_names: tuple[str, ...]
    manifest: dict[str, Any]
    path: str = ""

    def __len__(self) -> int:
        return len(self.fault_type)


def _normalized(maps: np.ndarray) -> np.ndarray:
    total = maps.sum(axis=(1, 2), dtype=np.float64)
    cells = maps.shape[1] * maps.shape[2]
    return (maps * (cells / np.maximum(total, 1.0))[:, None, None]).astype(np.float32)


def generate_dqm(
    cfg: DQMConfig, seed: int, out_path: Path, force: bool = False, progress: bool = True
) -> dict:
    """Simulate ``cfg.n_runs`` runs of occupancy maps and write them atomically to ``out_path``.

    Byte-identical for the same ``cfg`` (``workers`` aside) and ``seed``.
    """
    out_path = check_output(out_path, "DQM sample", force)
    t0 = time.perf_counter()
    n_maps = cfg.n_runs * cfg.lumisections_per_run
    stream = Stream(
        name="dqm runs",
        task=functools.partial(simulate_runs, cfg, seed),
        target=n_maps,
        chunk_size=min(cfg.chunk_size, cfg.n_runs),
        seed_key=_STREAM_KEY,
        max_chunks=math.ceil(cfg.n_runs / min(cfg.chunk_size, cfg.n_runs)),
        prior_acceptance=float(cfg.lumisections_per_run),
    )
    chunks = run_streams([stream], seed, cfg.workers, progress, desc="dqm maps", unit="maps")[
        "dqm runs"
    ]
    data, stats = take_first(chunks, n_maps, _ROWS)
    run = (np.cumsum(data["lumisection"] == 0) - 1).astype(np.int32)
    counts = {name: int((data["fault_type"] == i).sum()) for i, name in enumerate(FAULT_NAMES)}
    manifest = {
        "format_version": DQM_FORMAT_VERSION,
        "kind": "dqm",
        "seed": seed,
        "config": cfg.model_dump(mode="json", exclude={"workers"}),
        "seeding": "gains: SeedSequence([seed, 0x6A17]); chunk k of runs: "
        "SeedSequence([seed, 0xD0, k]) % 9e8 + 1",
        "model": "mu = mean_occupancy * L(ls) * rho(eta) * gain; counts ~ Poisson(mu); "
        "see samples/dqm.py for the fault recipes",
        "counts": {"maps": n_maps, "runs": cfg.n_runs, "maps_per_fault": counts},
        "versions": package_versions(),
    }
    with atomic_path(out_path) as tmp:
        _write(tmp, data, run, channel_gains(cfg, seed), manifest)
    seconds = time.perf_counter() - t0
    log.info("wrote %s: %d maps (%s) in %.1f s", out_path, n_maps, counts, seconds)
    return {
        "path": str(out_path),
        "sha256": file_sha256(out_path),
        "n_maps": n_maps,
        "maps_per_fault": counts,
        "seconds": seconds,
        "cpu": {"simulate_s": sum(c["seconds"] for c in chunks.values()), **stats},
    }


def _write(path: Path, data: dict, run: np.ndarray, gains: np.ndarray, manifest: dict) -> None:
    import h5py

    with h5py.File(path, "w", libver="earliest", track_order=False) as f:
        write_array(f, "maps", data["maps"].astype(np.int32))
        write_array(f, "maps_normalized", _normalized(data["maps"]))
        write_array(f, "fault_mask", data["fault_mask"].astype(np.uint8))
        for name, arr in (
            ("fault_type", data["fault_type"].astype(np.int8)),
            ("run", run),
            ("lumisection", data["lumisection"].astype(np.int32)),
            ("luminosity", data["luminosity"].astype(np.float32)),
            ("gains", gains.astype(np.float32)),
        ):
            f.create_dataset(name, data=arr, track_times=False)
        names = np.array(FAULT_NAMES, dtype=object)
        f.attrs.create("fault_names", names, dtype=h5py.string_dtype())
        f.attrs["manifest"] = json.dumps(manifest, sort_keys=True)


def load_dqm(path: str | Path) -> DQMSample:
    """Load and validate a DQM sample; raise ``DataError`` if unusable."""
    p = Path(path)
    keys = ("maps", "maps_normalized", "fault_type", "fault_mask", "run", "lumisection")
    keys += ("luminosity", "gains")
    with open_sample(p, "DQM sample") as f:
        missing = [k for k in keys if k not in f]
        missing += [k for k in ("fault_names", "manifest") if k not in f.attrs]
        if missing:
            raise DataError(f"DQM sample {p} lacks {', '.join(missing)}: {_FIX}")
        try:
            arrays = {k: np.asarray(f[k][()]) for k in keys}
            names = strings(f.attrs["fault_names"])
            manifest = json.loads(f.attrs["manifest"])
        except (OSError, ValueError, TypeError) as err:
            raise DataError(f"DQM sample {p} is corrupt ({err}): {_FIX}") from None
    maps = arrays["maps"]
    n = len(arrays["fault_type"])
    if maps.ndim != 3 or maps.shape[0] != n:
        raise DataError(f"DQM sample {p}: maps have shape {maps.shape}, not ({n}, H, W): {_FIX}")
    for k in ("maps_normalized", "fault_mask"):
        if arrays[k].shape != maps.shape:
            raise DataError(f"DQM sample {p}: {k} shape {arrays[k].shape} != {maps.shape}: {_FIX}")
    for k in ("run", "lumisection", "luminosity"):
        if arrays[k].shape != (n,):
            raise DataError(f"DQM sample {p}: {k} is not a ({n},) vector: {_FIX}")
    if n and (arrays["fault_type"].min() < 0 or arrays["fault_type"].max() >= len(names)):
        raise DataError(f"DQM sample {p}: fault_type outside 0..{len(names) - 1}: {_FIX}")
    if (maps < 0).any() or not np.isfinite(arrays["maps_normalized"]).all():
        raise DataError(f"DQM sample {p}: negative counts or NaN/inf maps: {_FIX}")
    return DQMSample(
        maps=maps.astype(np.int32),
        maps_normalized=arrays["maps_normalized"].astype(np.float32),
        fault_type=arrays["fault_type"].astype(np.int8),
        fault_mask=arrays["fault_mask"].astype(np.uint8),
        run=arrays["run"].astype(np.int32),
        lumisection=arrays["lumisection"].astype(np.int32),
        luminosity=arrays["luminosity"].astype(np.float32),
        gains=arrays["gains"].astype(np.float32),
        fault_names=names,
        manifest=manifest,
        path=str(p),
    )
