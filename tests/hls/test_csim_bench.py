"""The C-simulation benchmark runs and reports every row (figures are printed, not asserted)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "csim_bench.py"


@pytest.mark.benchmark
@pytest.mark.skipif(shutil.which("g++") is None, reason="C-simulation needs g++")
def test_bench_has_every_row(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("csim_bench_main", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    argv = ["--events", "3000", "--predict-events", "500", "--threads", "1"]
    argv += ["--families", "jet_mlp", "jet_cnn", "dqm_ae", "anomaly_vae"]
    assert mod.main([*argv, "--out", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    result = json.loads((tmp_path / "csim_bench.json").read_text())
    expected = []
    sizes = (("jet_mlp", 3000, 500), ("jet_cnn", 30, 5), ("dqm_ae", 3, 1))
    for family, n, m in (*sizes, ("anomaly_vae", 3000, 500)):
        expected.append((family, "hls4ml predict()", 1, m))
        paths = ["batch harness"] + (
            ["batch harness + logits tap"] if family != "anomaly_vae" else []
        )
        for path in paths:
            expected.append((family, path, 1, n))
        expected.append((family, "verify_project (batched, end to end)", 1, n))
    for family, path, threads, events in expected:
        assert f"| {family} | {path} | {threads} | {events} |" in table, table
    got = [(r["family"], r["path"], r["threads"], r["events"]) for r in result["rows"]]
    assert got == expected
    # rates are rounded to 0.1 event/s: a starved machine can print 0.0, so the time is checked
    assert all(r["seconds"] > 0 and r["events_per_s"] >= 0 for r in result["rows"])
    assert (tmp_path / "csim_bench.md").read_text() == table
