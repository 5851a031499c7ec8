"""Stress events generated on demand (hls/stress.py): the same events whatever the reads."""

from __future__ import annotations

import numpy as np
import pytest
from nanotrig.hls.batch import EventSource
from nanotrig.hls.stress import BLOCK, StressEvents

from nanotrig.errors import DataError


def test_reads_are_reproducible_and_smeared():
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, [1.0, 5.0, 0.1], (50, 3)).astype(np.float32)
    events = StressEvents(x, 2 * BLOCK + 17, smear=0.05, seed=4)
    assert events.shape == (2 * BLOCK + 17, 3) and events.nbytes == events.shape[0] * 12
    whole = events[:]
    parts = np.concatenate([events[a : a + 1000] for a in range(0, len(events), 1000)])
    np.testing.assert_array_equal(parts, whole)  # chunk sizes do not matter
    pick = np.array([3, BLOCK + 5, 2 * BLOCK + 16])
    np.testing.assert_array_equal(events[pick], whole[pick])
    np.testing.assert_array_equal(StressEvents(x, len(events), 0.05, 4)[:], whole)
    assert not np.array_equal(StressEvents(x, len(events), 0.05, 5)[:], whole)
    # every event is a source event moved by about 5 % of each feature's spread
    dist = np.abs(whole[:, None, :] - x[None]).max(axis=2).min(axis=1)
    assert dist.max() < 0.05 * 6 * x.std(axis=0).max() and dist.min() > 0
    with EventSource.open(events, (3,)) as source:  # verify_project reads it like a file
        np.testing.assert_array_equal(next(source.chunks(BLOCK))[1], whole[:BLOCK])


def test_bad_requests_named():
    with pytest.raises(DataError, match="at least one source event"):
        StressEvents(np.zeros((0, 3)), 10)
    events = StressEvents(np.ones((4, 3)), 10)
    with pytest.raises(DataError, match="out of range 0-9"):
        events[np.array([10])]


def test_written_file_equals_the_generated_events(tmp_path):
    """verify's stress file (below 1 GiB) holds the very events generated above it."""
    from nanotrig.hls import stress_inputs

    x = np.random.default_rng(1).normal(0.0, 2.0, (30, 4, 2)).astype(np.float32)
    path = stress_inputs(x, BLOCK + 9, tmp_path / "stress.npy", smear=0.1, seed=7)
    np.testing.assert_array_equal(np.load(path), StressEvents(x, BLOCK + 9, 0.1, 7)[:])
    with pytest.raises(DataError, match="at least one source event"):
        stress_inputs(x[:0], 5, tmp_path / "none.npy")
    assert not (tmp_path / "none.npy").exists()
