"""Same config + seed -> byte-identical file, whatever the number of workers."""

from __future__ import annotations

import pytest
from nanotrig.samples import generate_jets, load_jets
from nanotrig.samples.generate import chunk_seed
from nanotrig.samples.pythia_jets import PYTHIA_SEED_MAX

from nanotrig.config import JetSampleConfig


def test_chunk_seeds_in_range_and_distinct() -> None:
    seeds = {chunk_seed(s, c, i) for s in (0, 1) for c in "gqWZt" for i in range(50)}
    assert len(seeds) == 2 * 5 * 50
    assert all(1 <= s <= PYTHIA_SEED_MAX for s in seeds)
    assert chunk_seed(3, "W", 7) == chunk_seed(3, "W", 7)


@pytest.mark.slow
def test_sha256_independent_of_workers(tmp_path) -> None:
    base = {"classes": ("q", "W"), "n_per_class": 40, "chunk_size": 20}
    rec1 = generate_jets(JetSampleConfig(**base, workers=1), 5, tmp_path / "a.h5", progress=False)
    rec2 = generate_jets(JetSampleConfig(**base, workers=2), 5, tmp_path / "b.h5", progress=False)
    assert rec1["sha256"] == rec2["sha256"]
    assert rec1["events_generated"] == rec2["events_generated"]
    rec3 = generate_jets(JetSampleConfig(**base, workers=2), 6, tmp_path / "c.h5", progress=False)
    assert rec3["sha256"] != rec1["sha256"]
    s = load_jets(tmp_path / "a.h5")
    assert s.class_names == ("q", "W") and len(s) == 80
