"""The throughput benchmark runs and reports every row (figures are printed, not asserted)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from nanotrig.export.bench import BATCH_SIZES, FAMILIES, cpu_peak

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
    assert list(result["families"]) == list(FAMILIES)
    devices = ["CPU", "GPU"] if "CUDAExecutionProvider" in result["providers"] else ["CPU"]
    quantized = {"anomaly_vae": ["QDQ", "quantized tf2onnx"], "garnet": []}
    n_rows = 0
    for family, info in result["families"].items():
        labels = quantized.get(family, ["QDQ"])
        runtimes = ["keras predict", "tf model(x)"]
        runtimes += [f"onnxruntime {d} {lab}" for d in devices for lab in ["float", *labels]]
        batches = [b for b in BATCH_SIZES if family != "dqm_ae" or b <= 1024]
        assert info["batches"] == batches and info["macs_per_event"] > 0
        for runtime in runtimes:
            for b in batches:
                assert f"| {family} | {runtime} | {b} |" in table
        n_rows += len(runtimes) * len(batches)
        ratios = info["quantized_over_float_cpu"]
        assert list(ratios) == labels
        assert all(list(r) == [str(b) for b in batches] for r in ratios.values())
    assert len(result["rows"]) == n_rows
    assert all(r["events_per_s"] > 0 and r["gops_per_s"] > 0 for r in result["rows"])
    assert (tmp_path / "onnx_bench.md").read_text() == table
