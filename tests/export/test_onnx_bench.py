"""The throughput benchmark runs and reports every row (figures are printed, not asserted)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from export.bench import BATCH_SIZES, cpu_peak

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "onnx_bench.py"


def test_cpu_peak_formula():
    info = "model name\t: Test CPU\ncpu MHz\t\t: 2000.0\nflags\t\t: sse avx2 fma\n"
    p = cpu_peak(info)
    assert p["fp32_flops_per_s"] == 2e9 * 8 * 2 * 2
    assert p["int8_ops_per_s"] == 2e9 * 32 * 2 * 2 * 0.5


@pytest.mark.benchmark
def test_bench_has_every_row(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("onnx_bench", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--min-seconds", "0", "--min-calls", "1", "--out", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    result = json.loads((tmp_path / "onnx_bench.json").read_text())
    runtimes = ["keras predict", "tf model(x)", "onnxruntime CPU float", "onnxruntime CPU QDQ"]
    if "CUDAExecutionProvider" in result["providers"]:
        runtimes += ["onnxruntime GPU float", "onnxruntime GPU QDQ"]
    for runtime in runtimes:
        for b in BATCH_SIZES:
            assert f"| {runtime} | {b} |" in table
    assert len(result["rows"]) == len(runtimes) * len(BATCH_SIZES)
    assert (tmp_path / "onnx_bench.md").read_text() == table
