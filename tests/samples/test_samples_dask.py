"""Generation on a Dask cluster (``nanotrig generate --scheduler``) writes the same file as the
local process pool: chunk seeds do not depend on where or in which order chunks run."""

from __future__ import annotations

import logging

import pytest
from nanotrig.samples import generate_sample
from nanotrig.samples.pool import dask_scheduler

from nanotrig.config import DQMConfig
from nanotrig.errors import ConfigError

CFG = DQMConfig(n_runs=6, lumisections_per_run=3, shape=(8, 16), chunk_size=1, workers=2)


def test_dask_output_identical_to_local(tmp_path):
    from dask.distributed import LocalCluster

    generate_sample(CFG, 5, tmp_path / "local.h5")
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=":0", silence_logs=logging.ERROR)  # fmt: skip
    with cluster, dask_scheduler(cluster.scheduler_address):
        generate_sample(CFG, 5, tmp_path / "dask.h5")
    assert (tmp_path / "dask.h5").read_bytes() == (tmp_path / "local.h5").read_bytes()


def test_unreachable_scheduler_is_config_error(tmp_path, monkeypatch):
    import nanotrig.samples.pool

    monkeypatch.setattr(nanotrig.samples.pool, "CONNECT_TIMEOUT", "1s")
    with (
        dask_scheduler("tcp://127.0.0.1:9"),
        pytest.raises(ConfigError, match="cannot reach the Dask scheduler"),
    ):
        generate_sample(CFG, 5, tmp_path / "x.h5")
