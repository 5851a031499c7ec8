"""Resumable sample production: finished chunks are kept on disk and a rerun skips them."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from nanotrig.samples.pool import Stream, run_streams, stream_seed

SEED, KEY = 7, 0x42


def _task(log_dir: str, fail_seed: int, seed: int, n: int) -> dict:
    """A cheap chunk: ``n`` seeded numbers, half accepted; logs its seed; fails on ``fail_seed``."""
    (Path(log_dir) / f"{seed}").touch()
    if seed == fail_seed:
        raise RuntimeError("worker lost")
    x = np.random.default_rng(seed).random(n)
    keep = x < 0.5
    return {"x": x[keep], "n_accepted": int(keep.sum()), "n_events": n}


def _run(tmp: Path, name: str, fail_seed: int, cache: Path | None) -> dict:
    log_dir = tmp / name
    log_dir.mkdir()
    stream = Stream(name="s", task=functools.partial(_task, str(log_dir), fail_seed), target=200,
                    chunk_size=50, seed_key=KEY, max_chunks=40, prior_acceptance=0.5)  # fmt: skip
    return run_streams([stream], SEED, 1, progress=False, cache_dir=cache)["s"]


def test_rerun_skips_finished_chunks(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError, match="worker lost"):
        _run(tmp_path, "first", stream_seed(SEED, KEY, 3), cache)
    kept = sorted(int(f.stem.split("-")[1]) for f in cache.glob("*.pkl"))
    assert {0, 1} <= set(kept) and 3 not in kept

    resumed = _run(tmp_path, "second", -1, cache)
    regenerated = {int(f.name) for f in (tmp_path / "second").iterdir()}
    assert not regenerated & {stream_seed(SEED, KEY, i) for i in kept}  # finished: skipped
    assert stream_seed(SEED, KEY, 3) in regenerated

    fresh = _run(tmp_path, "fresh", -1, None)
    got = np.concatenate([resumed[i]["x"] for i in sorted(resumed)])[:200]
    want = np.concatenate([fresh[i]["x"] for i in sorted(fresh)])[:200]
    np.testing.assert_array_equal(got, want)  # the same rows as an uninterrupted run
