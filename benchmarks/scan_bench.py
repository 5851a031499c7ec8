"""Design-space scan throughput: scan points per minute on 1 and 2 local Dask workers.

    python benchmarks/scan_bench.py [--run-dir runs/jet_mlp_demo] [--points 20] [--workers 1 2]

Without --run-dir a small jet-MLP run is made first (Pythia jets + float training, in a
temporary folder). The same random scan (configs/scan_jet_mlp.yml's space, --points points,
short fine-tunes) then runs once per worker count, each on a fresh LocalCluster; the tables
must be identical. Prints a markdown table to stdout (figures, not a pass/fail test); the last
scan's table, Pareto plots and chosen config stay in the output folder it names.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
SCAN_CONFIG = REPO / "configs" / "scan_jet_mlp.yml"
RUN_CONFIG = REPO / "configs" / "jet_mlp.yml"


def make_run(root: Path, n_per_class: int) -> Path:
    """A small jet-MLP run directory: config.yml, data/jets.h5 (Pythia), model/ (float)."""
    from nanotrig.models import train_model
    from nanotrig.samples import generate_jets

    from nanotrig.config import parse_config

    data = yaml.safe_load(RUN_CONFIG.read_text())
    data.update(name="scan_bench", out_root=str(root))
    data["samples"].update(n_per_class=n_per_class, chunk_size=100)
    data["model"].update(epochs=15, patience=4)
    cfg = parse_config(data, source="bench config")
    run = root / cfg.name
    run.mkdir(parents=True)
    (run / "config.yml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    generate_jets(cfg.samples, cfg.seed, run / "data" / "jets.h5", progress=False)
    train_model(run / "data" / "jets.h5", cfg.model, cfg.seed, run / "model")
    return run


def main(argv: list[str] | None = None) -> int:
    from nanotrig.hls.scan_run import TABLE_FILE, run_scan
    from nanotrig.quantize.scan_spec import parse_scan_config

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", type=Path, help="existing 'nanotrig run' directory")
    ap.add_argument("--points", type=int, default=20, help="scan points (random search)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts")
    ap.add_argument("--epochs", type=int, default=2, help="QAT epochs per point")
    ap.add_argument("--n-per-class", type=int, default=300, help="jets per class (new run)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    tmp = Path(tempfile.mkdtemp(prefix="nanotrig-scan-bench-"))
    t0 = time.perf_counter()
    run = args.run_dir or make_run(tmp, args.n_per_class)
    setup_s = time.perf_counter() - t0
    spec = yaml.safe_load(SCAN_CONFIG.read_text())
    spec.update(run_dir=str(run), n_points=args.points, epochs=args.epochs,
                max_train_events=3000, search="random")  # fmt: skip
    rows, tables = [], []
    for n in args.workers:
        out = tmp / f"scan_w{n}"
        cfg = parse_scan_config({**spec, "out": str(out)}, source="bench scan")
        load = os.getloadavg()[0]
        s = run_scan(cfg, workers=n, progress=False)
        tables.append((out / TABLE_FILE).read_text())
        busy = sum(json.loads(p.read_text())["seconds"] for p in (out / "points").iterdir())
        rows.append((n, s["n_computed_now"], s["seconds"], s["points_per_minute"], busy, load))
    same = all(t == tables[0] for t in tables)
    lines = [
        f"jet-MLP scan, {args.points} points, {args.epochs} QAT epochs/point "
        f"(run dir {run}; made in {setup_s:.0f} s)" if not args.run_dir else
        f"jet-MLP scan, {args.points} points, {args.epochs} QAT epochs/point (run dir {run})",
        "",
        "| workers | points | wall s (incl. cluster start) | points/min | worker s per point "
        "| load avg before |",
        "| --- | --- | --- | --- | --- | --- |",
        *(f"| {n} | {p} | {sec:.1f} | {rate:.2f} | {busy / max(p, 1):.1f} | {load:.1f} |"
          for n, p, sec, rate, busy, load in rows),
        "",
        f"cores: {os.cpu_count()}; a load average above the core count means other processes "
        "share them (worker s per point then grows with the worker count)",
        "",
        f"tables identical across worker counts: {same}",
        f"last scan's table, Pareto plots and chosen config: {tmp / f'scan_w{args.workers[-1]}'}",
    ]  # fmt: skip
    sys.stdout.write("\n".join(lines) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
