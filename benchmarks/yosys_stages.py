"""Yosys figures of a converted project's pipelined RTL, one Yosys process per pipeline stage.

The jet CNN's figures in docs/jet-cnn.md: traces the project (``nanotrig convert`` output) with
the RTL stage's own trace, writes da4ml's Verilog (no Verilator build), then runs the RTL stage's
own hierarchical synthesis (``rtl.synth_mode: hierarchical``: each stage module alone, then the
top with the stages as black boxes, one process at a time) and prints, as each module finishes,
its counts, logic depth, CPU seconds and peak memory, then the totals: a figure for every module
that finishes even when the whole would not.

    python benchmarks/yosys_stages.py runs/jet_cnn_small/hls --out /tmp/cnn_rtl [--timeout-s S]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

KEYS = ("lut", "ff", "carry", "dsp", "bram_18k", "muxf")


def write_design(project: Path, out: Path, name: str = "nanotrig_rtl"):
    """da4ml Verilog of ``project`` under ``out`` (pipelined at 5 ns): the ``Design`` and
    da4ml's LUT estimate."""
    from hls4ml.utils.serialization import deserialize_model
    from nanotrig.hls.convert import HLS_MODEL_FILE
    from nanotrig.rtl.layers import read_layers
    from nanotrig.rtl.simulate import write_verilog
    from nanotrig.rtl.trace import trace_layers

    with tempfile.TemporaryDirectory() as work:
        layers = read_layers(deserialize_model(project / HLS_MODEL_FILE, output_dir=work))
        comb = trace_layers(layers).comb
    return write_verilog(comb, out, name, 5.0, 5.0, "xcvu9p-flga2104-2L-e"), float(comb.cost)


class ModuleMeter:
    """``synthesize``'s ``on_module``: each module's figures with the CPU time, wall time and
    peak memory of its Yosys process (the children's usage since the previous module)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self._usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._t0 = time.perf_counter()

    def __call__(self, module: str, figures: dict[str, Any]) -> None:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = usage.ru_utime + usage.ru_stime - self._usage.ru_utime - self._usage.ru_stime
        r = self.rows[module] = {
            **{k: figures[k] for k in KEYS},
            "depth": figures["depth"],
            "cpu_s": round(cpu, 1),
            "wall_s": round(time.perf_counter() - self._t0, 1),
            "peak_gb": round(usage.ru_maxrss / 1e6, 2),  # the largest child so far, kB
        }
        self._usage, self._t0 = usage, time.perf_counter()
        print(f"| {module} | {r['lut']:,} | {r['ff']:,} | {r['carry']:,} | {r['muxf']:,} | "
              f"{r['depth']} | {r['cpu_s']:g} | {r['peak_gb']} |", flush=True)  # fmt: skip


def main() -> int:
    from nanotrig.rtl.synth import synthesize

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("project", type=Path, help="converted io_parallel project (nanotrig convert)")
    ap.add_argument("--out", type=Path, required=True, help="new folder for the Verilog and logs")
    ap.add_argument("--timeout-s", type=float, default=36000.0, help="all modules together")
    args = ap.parse_args()
    if args.out.exists():
        raise SystemExit(f"{args.out} exists: choose a new --out")
    design, estimate = write_design(args.project, args.out)
    if not design.stages:
        raise SystemExit(f"{args.project}: the design is not pipelined, it has no stages")
    print(f"da4ml estimate {estimate:,.0f} LUT; {design.stages} stages")
    print("| module | LUT | FF | CARRY | MUXF | depth | CPU s | peak GB |")
    print("|---|---|---|---|---|---|---|---|")
    meter = ModuleMeter()
    result = synthesize(design, timeout_s=args.timeout_s, mode="hierarchical", on_module=meter)
    assert result is not None  # synthesize raises on a timeout unless told to skip
    cpu = sum(r["cpu_s"] for r in meter.rows.values())
    print(f"| total | {result['lut']:,} | {result['ff']:,} | {result['carry']:,} | "
          f"{result['muxf']:,} | {result['logic_depth']} | {cpu:,.0f} | |")  # fmt: skip
    figures = {"rows": meter.rows, "total": {**{k: result[k] for k in KEYS}, "cpu_s": cpu}}
    (args.out / "yosys" / "figures.json").write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
