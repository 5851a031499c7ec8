"""Session fixtures: one small five-class sample shared by the physics tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from nanotrig.config import JetSampleConfig

N_PER_CLASS = 300


@pytest.fixture(scope="session")
def small_cfg() -> JetSampleConfig:
    return JetSampleConfig(n_per_class=N_PER_CLASS, chunk_size=100, workers=2)


@pytest.fixture(scope="session")
def small_sample(tmp_path_factory: pytest.TempPathFactory, small_cfg: JetSampleConfig):
    """(artifact record, loaded JetSample) for 300 jets of each of g, q, W, Z, t."""
    from samples import generate_jets, load_jets

    path = Path(tmp_path_factory.mktemp("jets")) / "jets.h5"
    record = generate_jets(small_cfg, seed=1234, out_path=path, progress=False)
    return record, load_jets(path)
