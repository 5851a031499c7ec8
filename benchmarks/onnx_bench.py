"""Throughput benchmark of every model family (Keras, TF, onnxruntime float and quantized; GPU).

    python benchmarks/onnx_bench.py [--min-seconds 0.5] [--batches 1 64 1024 16384]
        [--families jet_mlp jet_cnn dqm_ae anomaly_vae garnet] [--out DIR]

Prints a markdown table to stdout and writes onnx_bench.json and onnx_bench.md to --out
(default runs/bench). One intra-op thread everywhere; see export/bench.py for the peak formula.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv: list[str] | None = None) -> int:
    from nanotrig.export.bench import BATCH_SIZES, FAMILIES, format_markdown, run_benchmark

    from nanotrig.fileio import write_json, write_text

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-seconds", type=float, default=0.5, help="timing per row")
    ap.add_argument("--min-calls", type=int, default=3, help="calls per row at least")
    ap.add_argument("--batches", type=int, nargs="+", default=list(BATCH_SIZES))
    ap.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    ap.add_argument("--out", type=Path, default=Path("runs/bench"), help="folder for json/md")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    result = run_benchmark(args.batches, args.min_seconds, args.min_calls, args.families)
    table = format_markdown(result)
    write_json(args.out / "onnx_bench.json", result)
    write_text(args.out / "onnx_bench.md", table)
    sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
