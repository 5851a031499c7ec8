"""The sample throughput benchmark runs and prints every row (figures are not asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "samples_bench.py"


@pytest.mark.benchmark
@pytest.mark.slow
def test_bench_has_every_row(capsys) -> None:
    spec = importlib.util.spec_from_file_location("samples_bench", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    args = ["--classes", "W", "--events", "40", "--chunk", "20", "--workers", "1", "2"]
    assert mod.main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("| class | processes | raw Pythia ev/s | full ev/s")
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    assert [(r[0], r[1]) for r in rows] == [("W+q", "1"), ("W+q", "2")]
    assert all(float(r[2]) > 0 and float(r[3]) > 0 for r in rows)
