"""Yosys figures of a converted project's pipelined RTL, one Yosys process per pipeline stage.

The jet CNN's figures in docs/jet-cnn.md: traces the project (``nanotrig convert`` output) with
the RTL stage's own trace, writes da4ml's Verilog (no Verilator build), then synthesizes each
stage module alone (``synth_xilinx -flatten -noiopad``) and the top with the stages as black
boxes (its registers), one process at a time, and prints per-module counts, CPU seconds and
peak memory and their totals: the per-module synthesis of ``rtl.synth_mode: hierarchical``,
with a figure for every module that finishes even when the whole would not.

    python benchmarks/yosys_stages.py runs/jet_cnn_small/hls --out /tmp/cnn_rtl [--timeout-s S]
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from nanotrig.rtl.synth import parse_stat
from nanotrig.rtl.tools import yosys

STATIC = ("multiplier.v", "mux.v", "negative.v", "shift_adder.v")
KEYS = ("lut", "ff", "carry", "dsp", "bram_18k", "muxf")


def write_design(project: Path, out: Path, name: str = "nanotrig_rtl") -> float:
    """da4ml Verilog of ``project`` under ``out`` (pipelined at 5 ns); da4ml's LUT estimate."""
    from hls4ml.utils.serialization import deserialize_model
    from nanotrig.hls.convert import HLS_MODEL_FILE
    from nanotrig.rtl.layers import read_layers
    from nanotrig.rtl.simulate import write_verilog
    from nanotrig.rtl.trace import trace_layers

    with tempfile.TemporaryDirectory() as work:
        layers = read_layers(deserialize_model(project / HLS_MODEL_FILE, output_dir=work))
        comb = trace_layers(layers).comb
    write_verilog(comb, out, name, 5.0, 5.0, "xcvu9p-flga2104-2L-e")
    return float(comb.cost)


def run_module(src: Path, work: Path, module: str, top: str, timeout_s: float) -> dict:
    """Counts, logic depth, CPU seconds and peak memory of one module (``top``: black boxes)."""
    stat = work / f"stat_{module}.json"
    if module == top:
        stages = " ".join(str(p) for p in sorted(src.glob(f"{top}_stage*.v")))
        script = (f"read_verilog -sv -lib {stages}; read_verilog -sv {src / (top + '.v')}; "
                  f"synth_xilinx -flatten -family xcup -top {top}; "
                  f"tee -q -o {stat} stat -json")  # fmt: skip
    else:
        static = " ".join(str(src / "static" / f) for f in STATIC)
        script = (f"read_verilog -sv {static} {src / (module + '.v')}; synth_xilinx -flatten "
                  f"-noiopad -family xcup -top {module}; tee -q -o {stat} stat -json; "
                  "ltp -noff")  # fmt: skip
    log = work / f"log_{module}.txt"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(["nice", "-n", "10", yosys() or "yosys", "-q", "-l", str(log), "-p", script],
                   check=True, timeout=timeout_s, capture_output=True)  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    counts = parse_stat(json.loads(stat.read_text()), module)
    depth = [int(d) for d in re.findall(r"\(length=(\d+)\)", log.read_text())]
    return {
        **{k: counts[k] for k in KEYS},
        "depth": max(depth) if depth else None,
        "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1),
        "wall_s": round(time.perf_counter() - t0, 1),
        "peak_gb": round(after.ru_maxrss / 1e6, 2),  # the largest child so far, kB
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("project", type=Path, help="converted io_parallel project (nanotrig convert)")
    ap.add_argument("--out", type=Path, required=True, help="new folder for the Verilog and logs")
    ap.add_argument("--timeout-s", type=float, default=3600.0, help="per module")
    args = ap.parse_args()
    if args.out.exists():
        raise SystemExit(f"{args.out} exists: choose a new --out")
    top = "nanotrig_rtl"
    estimate = write_design(args.project, args.out, top)
    src, work = args.out / "src", args.out / "yosys_stages"
    work.mkdir()
    stages = [p.stem for p in src.glob(f"{top}_stage*.v")]
    rows, total = {}, dict.fromkeys((*KEYS, "cpu_s"), 0.0)
    print(f"da4ml estimate {estimate:,.0f} LUT; {len(stages)} stages")
    print("| module | LUT | FF | CARRY | MUXF | depth | CPU s | peak GB |")
    print("|---|---|---|---|---|---|---|---|")
    for module in [top, *sorted(stages, key=lambda s: int(s.rsplit("stage", 1)[1]), reverse=True)]:
        r = rows[module] = run_module(src, work, module, top, args.timeout_s)
        for k in total:
            total[k] += r[k]
        print(f"| {module} | {r['lut']:,} | {r['ff']:,} | {r['carry']:,} | {r['muxf']:,} | "
              f"{r['depth']} | {r['cpu_s']:g} | {r['peak_gb']} |", flush=True)  # fmt: skip
    depth = max(r["depth"] or 0 for r in rows.values())
    print(f"| total | {total['lut']:,.0f} | {total['ff']:,.0f} | {total['carry']:,.0f} | "
          f"{total['muxf']:,.0f} | {depth} | {total['cpu_s']:,.0f} | |")  # fmt: skip
    (work / "figures.json").write_text(json.dumps({"rows": rows, "total": total}, indent=1))


if __name__ == "__main__":
    main()
