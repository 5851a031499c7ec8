"""RTL figures of the 6-bit jet MLP (benchmarks/csim_bench.py): Yosys, depth, Verilator speed.

    python benchmarks/rtl_bench.py [--events 100000] [--threads 1] [--comb] [--family xcup]
                                   [--out DIR]
    python benchmarks/rtl_bench.py --data jets.h5 [--config configs/jet_mlp.yml]
                                   [--variant BITS.INT:SPARSITY[,LAYER.KEY=VALUE...] ...]
                                   [--hard-dc N] [--method0 wmc|mc] [--epochs N]
                                   [--qat-epochs N] [--seed N] [--no-build] [--no-synth]

Without ``--data``:

The seeded 16-64-32-32-5 QKeras MLP of csim_bench is converted (hls/), then ``build_rtl``
traces it with da4ml up to the logits (the softmax table is left out), writes pipelined Verilog
at the project's 5 ns clock (or combinational with ``--comb``), checks the Verilator outputs bit
for bit against the QKeras logits, da4ml's ``CombLogic.predict`` and the integer kernel on
``--events`` jets (csim_bench's inputs plus the project's edge inputs), and synthesizes it with
Yosys ``synth_xilinx -flatten``. Prints a markdown table and writes rtl_bench.json / .md to
--out (default runs/bench). Figures are printed, not asserted; a mismatch exits 1.

With ``--data`` (a jet sample from ``nanotrig generate``): the TRAINED MLP of
benchmarks/rtl_trained.py, once per ``--variant`` (the input type after standardisation and
the pruned fraction; 6-bit weights, biases and ReLUs as the config says; then any per-layer
settings of ``quantize.layers``, e.g. ``8.3:0.85,fc2.sparsity=0.92,output.sparsity=0.5`` or
``8.3:0.8,relu2.activation=4,fc3.weights=5.0``: KEY one of weights, bias, activation with
VALUE ``BITS[.INTEGER]``, or sparsity with VALUE the layer's pruned fraction, 0 for none;
variants with the same input type share one trained float model): float and 6-bit
accuracies with binomial errors, da4ml's cost with the solver options given, and unless
``--no-build`` the RTL (Verilator on the test jets, the edge inputs and resampled jets up to
``--events``; Yosys unless ``--no-synth``) with the RTL's own accuracy. ``--seed N`` takes
another run seed (another split of the sample, other trainings), ``--qat-epochs N`` sets the
QAT epochs. Writes rtl_trained.json / .md to --out.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import platform
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent


def _csim_bench():
    spec = importlib.util.spec_from_file_location("csim_bench", HERE / "csim_bench.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_benchmark(n_events: int, threads: int, pipeline: bool, family: str, work: Path) -> dict:
    """Convert the jet MLP, build its RTL on ``n_events`` jets; return the figures."""
    import numpy as np
    from nanotrig.hls import edge_inputs
    from nanotrig.rtl import build_rtl

    bench = _csim_bench()
    project = bench.convert_jet_mlp(work / "model")
    x = np.concatenate([edge_inputs(project), bench.jet_inputs(n_events)])
    rec = build_rtl(project, work / "rtl", x, pipeline=pipeline, family=family, threads=threads)
    return {
        "model": "jet MLP 16-64-32-32-5, 6-bit (csim_bench), logits",
        **_rtl_trained().rtl_figures(rec, threads),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }


#: Issue 15's goals for a 6-bit jet MLP.
GOALS = {"lut": 10_000, "dsp": 0, "events_per_s": 100_000}


def goal_lines(r: dict) -> list[str]:
    """Each goal beside the measured figure, met or not; accuracy is not measured here."""
    y, eps = r["yosys"], r["verilator_events_per_s"] or 0
    out = []
    if y.get("lut") is not None:
        ok = y["lut"] <= GOALS["lut"]
        out.append(f"LUT <= {GOALS['lut']:,}: {y['lut']:,} ({'met' if ok else 'NOT met'})")
        ok = y["dsp"] <= GOALS["dsp"]
        out.append(f"DSP = {GOALS['dsp']}: {y['dsp']} ({'met' if ok else 'NOT met'})")
    ok = eps >= GOALS["events_per_s"]
    out.append(f"Verilator >= {GOALS['events_per_s']:,} events/s: {eps:,.0f} "
               f"({'met' if ok else 'NOT met'}, {r['threads']} thread(s))")  # fmt: skip
    out.append("accuracy within 1 % of float: not measured (the model's weights are seeded, "
               "not trained: --data SAMPLE.h5 trains it)")  # fmt: skip
    return out


def format_markdown(r: dict) -> str:
    """The table printed by :func:`main`."""
    y = r["yosys"]
    depth = f"{r['pipeline_stages']} cycles ({r['latency_ns']} ns)" if r["pipeline_stages"] \
        else "combinational"  # fmt: skip
    rows = [
        ("RTL", f"{r['mode']}, {depth} at {r['clock_period_ns']} ns"),
        ("Yosys " + str(y["family"]), f"LUT {y['lut']}, FF {y['ff']}, CARRY {y['carry']}, "
         f"DSP {y['dsp']}, BRAM18 {y['bram_18k']}, logic depth {y['logic_depth']}"),
        ("da4ml estimate", f"LUT {r['da4ml_estimate']['lut']:.0f}, adder depth "
         f"{r['da4ml_estimate']['adder_depth']:.0f}"),
        ("Verilator", f"{r['verilator_events_per_s']:.0f} events/s, {r['threads']} thread(s)"),
        ("exactness", f"{r['mismatching_events']} of {r['events']} events differ "
         "(vs QKeras logits, da4ml predict, integer kernel)"),
        ("seconds", ", ".join(f"{k} {v}" for k, v in r["seconds"].items())),
    ]  # fmt: skip
    lines = [f"RTL of the {r['model']} ({r['cpus']} CPUs)", "", "| | |", "|---|---|"]
    lines += [f"| {a} | {b} |" for a, b in rows]
    lines += ["", "Issue 15's goals, measured (not asserted):", ""]
    lines += [f"- {g}" for g in goal_lines(r)]
    if r["yosys_skipped"]:
        lines.append(f"\nYosys skipped: {r['yosys_skipped']}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from nanotrig.fileio import write_json, write_text

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000, help="jets checked in Verilator")
    ap.add_argument("--threads", type=int, default=1, help="Verilator build/simulation threads")
    ap.add_argument("--comb", action="store_true", help="combinational instead of pipelined")
    ap.add_argument("--family", default="xcup", help="Yosys synth_xilinx family")
    ap.add_argument("--out", type=Path, default=Path("runs/bench"), help="folder for json/md")
    ap.add_argument("--data", type=Path, help="jet sample (HDF5): the trained MLP instead")
    ap.add_argument("--config", type=Path, default=HERE.parent / "configs" / "jet_mlp.yml")
    ap.add_argument(
        "--variant", action="append", help="BITS.INT:SPARSITY[,LAYER.KEY=VALUE...]: input, pruning"
    )
    ap.add_argument("--hard-dc", type=int, help="da4ml hard depth constraint (-1: none)")
    ap.add_argument("--method0", help="da4ml CMVM method (wmc, mc, wmc-dc, ...)")
    ap.add_argument("--epochs", type=int, help="cap the float and QAT epochs")
    ap.add_argument("--qat-epochs", type=int, help="QAT epochs (after --epochs)")
    ap.add_argument("--seed", type=int, help="the run seed (split and training) instead")
    ap.add_argument("--no-build", action="store_true", help="da4ml cost only, no Verilog")
    ap.add_argument("--no-synth", action="store_true", help="no Yosys")
    ap.add_argument("--work", type=Path, help="keep the models and RTL here (default: a temp dir)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.data is not None:
        return _main_trained(args)
    with tempfile.TemporaryDirectory(prefix="nanotrig_rtl_bench_") as tmp:
        result = run_benchmark(args.events, args.threads, not args.comb, args.family, Path(tmp))
    table = format_markdown(result)
    write_json(args.out / "rtl_bench.json", result)
    write_text(args.out / "rtl_bench.md", table)
    sys.stdout.write(table)
    return 0 if result["mismatching_events"] == 0 else 1


def _rtl_trained():
    """benchmarks/rtl_trained.py as a module (it is not a package)."""
    if "rtl_trained" not in sys.modules:
        spec = importlib.util.spec_from_file_location("rtl_trained", HERE / "rtl_trained.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules["rtl_trained"] = mod
        spec.loader.exec_module(mod)
    return sys.modules["rtl_trained"]


def _main_trained(args) -> int:
    """``--data``: the trained MLP's variants (benchmarks/rtl_trained.py)."""
    from nanotrig.fileio import write_json, write_text

    rt = _rtl_trained()
    if not args.data.is_file():
        raise SystemExit(f"--data {args.data}: no such file; give a sample from nanotrig generate")
    if args.qat_epochs is not None and args.qat_epochs < 1:
        raise SystemExit(f"--qat-epochs {args.qat_epochs}: give a positive number of epochs")
    cfg = rt.load_config(args.config, args.epochs, args.qat_epochs)
    if args.seed is not None:
        cfg = cfg.model_copy(update={"seed": args.seed})
    variants = [rt.Variant.parse(v) for v in (args.variant or ["8.3:0.5"])]
    opts = {k: v for k, v in (("hard_dc", args.hard_dc), ("method0", args.method0))
            if v is not None}  # fmt: skip
    rows: list[dict] = []
    float_cache: dict = {}
    with tempfile.TemporaryDirectory(prefix="nanotrig_rtl_trained_") as tmp:
        for variant in variants:
            rows.append(rt.run_variant(
                cfg, args.data, (args.work or Path(tmp)) / variant.label, variant,
                n_events=args.events,
                threads=args.threads, solver_options=opts or None, build=not args.no_build,
                synth=not args.no_synth, family=args.family, float_cache=float_cache,
            ))  # fmt: skip
            sys.stderr.write(rt.format_trained(rows[-1:], GOALS))
    table = rt.format_trained(rows, GOALS)
    result = {"config": str(args.config), "data": str(args.data), "seed": cfg.seed, "rows": rows,
              "machine": platform.machine(), "cpus": os.cpu_count()}  # fmt: skip
    write_json(args.out / "rtl_trained.json", result)
    write_text(args.out / "rtl_trained.md", table)
    sys.stdout.write(table)
    return 0 if all(r.get("mismatching_events", 0) == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
