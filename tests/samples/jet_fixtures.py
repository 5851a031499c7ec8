"""One small five-class jet sample shared by the jet physics tests.

Not a ``conftest.py``: a second top-level module named ``conftest`` would shadow the repository
root's (``from conftest import DEMO_CONFIG`` in tests/nanotrig), so the test modules import
these fixtures explicitly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nanotrig.config import JetSampleConfig

N_PER_CLASS = 300


@pytest.fixture(scope="session")
def small_cfg() -> JetSampleConfig:
    """The default jet definition: R = 0.4, W and Z jets holding both decay quarks."""
    return JetSampleConfig(n_per_class=N_PER_CLASS, chunk_size=100, workers=2)


@pytest.fixture(scope="session")
def small_sample(tmp_path_factory: pytest.TempPathFactory, small_cfg: JetSampleConfig):
    """(artifact record, loaded JetSample with images and constituents), 300 jets per class."""
    from nanotrig.samples import generate_jets, load_jets

    path = Path(tmp_path_factory.mktemp("jets")) / "jets.h5"
    record = generate_jets(small_cfg, seed=1234, out_path=path, progress=False)
    return record, load_jets(path, parts=("images", "constituents"))


@pytest.fixture(scope="session")
def r08_sample(tmp_path_factory: pytest.TempPathFactory):
    """The jet definition before issue 19 (configs/jet_mlp_r08.yml): R = 0.8, any matched W/Z
    jet; 300 jets per class, features only."""
    from nanotrig.samples import generate_jets, load_jets

    cfg = JetSampleConfig(
        n_per_class=N_PER_CLASS, chunk_size=100, workers=2, jet_r=0.8, contained=()
    )
    path = Path(tmp_path_factory.mktemp("jets_r08")) / "jets.h5"
    generate_jets(cfg, seed=1234, out_path=path, progress=False)
    return load_jets(path)
