"""Throughput of the jet-sample generator: raw Pythia vs features + I/O, 1 and 2 processes.

    python benchmarks/samples_bench.py [--classes W t] [--events 1000] [--chunk 250]
        [--workers 1 2]

Prints a markdown table to stdout (figures, not a pass/fail test). "overhead %" is the
wall-clock cost of everything after Pythia (jets, features, images, constituents, HDF5) over
raw Pythia; the CPU columns split the per-chunk time spent in each step over Pythia's.
"""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    from nanotrig.samples.throughput import format_table, measure

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", nargs="+", default=["W", "t"], help="jet classes to time")
    ap.add_argument("--events", type=int, default=1000, help="Pythia events per row")
    ap.add_argument("--chunk", type=int, default=250, help="events per Pythia batch")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="process counts")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    rows = measure(tuple(args.classes), args.events, args.chunk, tuple(args.workers))
    sys.stdout.write(format_table(rows) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
