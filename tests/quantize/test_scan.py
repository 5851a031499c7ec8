"""Scans on local Dask clusters: same table with 1 or 2 workers, a killed worker loses and
duplicates no point, an interrupted scan resumes, and the products (table, Pareto plots, chosen
RunConfig) are written."""

from __future__ import annotations

import os
import signal

import pytest
import yaml
from nanotrig.hls.scan_run import TABLE_FILE, run_scan, scan_client
from nanotrig.quantize.scan_spec import parse_scan_config
from scan_fixtures import make_synthetic_run, scan_config

from nanotrig.config import parse_config
from nanotrig.errors import ConfigError, OutputExistsError

pytestmark = pytest.mark.slow

SPACE = {"weights": [4, 6], "activation": [4, 6], "reuse_factor": [1, 2], "sparsity": [0.0, 0.5]}
N_POINTS = 4  # random draw from the 16-point grid


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_synthetic_run(tmp_path_factory.mktemp("scan_run"))


def _cfg(run_dir, out, **kw):
    data = scan_config(run_dir, out, **SPACE)
    data.update(search="random", n_points=N_POINTS, **kw)
    return parse_scan_config(data)


@pytest.fixture(scope="module")
def client1():
    """A one-worker local cluster shared by the tests below (its start costs a TF import)."""
    client, cluster = scan_client(workers=1)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def serial(run_dir, client1, tmp_path_factory):
    """The scan on one worker: the reference table."""
    out = tmp_path_factory.mktemp("serial")
    summary = run_scan(_cfg(run_dir, out), client=client1, progress=False)
    return summary, (out / TABLE_FILE).read_text()


def test_products(serial, run_dir):
    summary, table = serial
    out = summary["out"]
    assert summary["n_done"] == N_POINTS and summary["n_errors"] == 0 and summary["workers"] == 1
    assert len(table.strip().splitlines()) == N_POINTS + 1
    assert table.splitlines()[0].startswith("index,id,seed,weights,activation,reuse_factor")
    for name in ("pareto_lut.png", "pareto_latency.png", "chosen_config.yml"):
        assert os.path.getsize(os.path.join(out, name)) > 0
    with open(os.path.join(out, "chosen_config.yml")) as fh:
        chosen = yaml.safe_load(fh)
    cfg = parse_config(chosen, source="chosen")
    assert cfg.quantize.weights.bits == summary["chosen"]["weights"]
    assert cfg.hls.reuse_factor == summary["chosen"]["reuse_factor"]
    # pruned points really are sparse
    rows = [r.split(",") for r in table.strip().splitlines()[1:]]
    head = table.splitlines()[0].split(",")
    sp, ws = head.index("sparsity"), head.index("weight_sparsity")
    for r in rows:
        assert float(r[ws]) >= float(r[sp]) - 0.02


def test_two_workers_same_table_and_worker_killed(serial, run_dir, tmp_path):
    """Two workers, one SIGKILLed while it computes a point: the table is complete, has no
    duplicate and equals the one-worker table byte for byte."""
    client, cluster = scan_client(workers=2)
    seen: list[str] = []
    killed: list[int] = []

    def kill_one(rec):
        seen.append(rec["id"])
        if killed:
            return
        busy = [w for w, keys in client.processing().items() if keys]
        if busy:
            pids = client.run(os.getpid, workers=[busy[0]])
            pid = pids[busy[0]]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    try:
        summary = run_scan(
            _cfg(run_dir, tmp_path), client=client, progress=False, on_result=kill_one
        )
    finally:
        client.close()
        cluster.close()
    assert killed, "no worker was busy to kill"
    assert sorted(seen) == sorted(set(seen)) and len(seen) == N_POINTS
    assert summary["n_done"] == N_POINTS and summary["n_failed"] == 0
    assert (tmp_path / TABLE_FILE).read_text() == serial[1]


def test_resume_skips_finished_points(serial, run_dir, client1, tmp_path):
    import shutil

    src = serial[0]["out"]
    shutil.copytree(src, tmp_path, dirs_exist_ok=True)
    points = sorted((tmp_path / "points").iterdir())
    for p in points[:2]:
        p.unlink()
    (tmp_path / TABLE_FILE).unlink()
    again: list[str] = []
    summary = run_scan(_cfg(run_dir, tmp_path), client=client1, progress=False,
                       on_result=lambda r: again.append(r["id"]))  # fmt: skip
    assert sorted(again) == sorted(p.stem for p in points[:2])
    assert summary["n_computed_now"] == 2
    assert (tmp_path / TABLE_FILE).read_text() == serial[1]


def test_changed_settings_refuse_resume(serial, run_dir, client1):
    with pytest.raises(OutputExistsError, match=r"holds a different scan.*--force"):
        run_scan(_cfg(run_dir, serial[0]["out"], epochs=2), client=client1, progress=False)


def test_unknown_layer_is_config_error_before_work(run_dir, client1, tmp_path):
    cfg = parse_scan_config(scan_config(run_dir, tmp_path, layers={"fc7": {"weights": [4]}}))
    with pytest.raises(ConfigError, match="unknown layer 'fc7': quantizable layers are fc1"):
        run_scan(cfg, client=client1, progress=False)
    assert not (tmp_path / "points").exists()


def test_csim_check_per_point(run_dir, client1, tmp_path):
    """csim_events: each point is also C-simulated (g++) and must be bit-exact."""
    data = scan_config(run_dir, tmp_path, weights=[4], sparsity=[0.5])
    cfg = parse_scan_config({**data, "csim_events": 30})
    summary = run_scan(cfg, client=client1, progress=False)
    header, row = (tmp_path / TABLE_FILE).read_text().splitlines()
    rec = dict(zip(header.split(","), row.split(","), strict=True))
    assert summary["n_errors"] == 0
    assert rec["csim_ok"] == "True" and rec["csim_mismatches"] == "0"
