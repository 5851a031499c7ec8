"""``nanotrig scan``: run a design-space scan's points in parallel on Dask, resumably.

Output layout (``ScanConfig.out_dir``, default ``<run_dir>/scan/<name>/``)::

    scan.json             the scan config, settings hash, float reference, summary, timings
    points/<id>.json      one record per finished point, written as it finishes (atomic)
    scan_table.csv        every point in order (+ scan_table.parquet with pyarrow)
    pareto_lut.png        accuracy vs LUT-equivalent resources, published designs overlaid
    pareto_latency.png    accuracy vs estimated latency
    chosen_config.yml     the chosen point as a RunConfig for 'nanotrig run'

Each point's record is written by the client when its task finishes, so a scan that stops
(Ctrl-C, lost client) resumes where it was: finished points are read back, not recomputed.
A worker that dies mid-point loses nothing: Dask reruns its task on another worker, and the
record is keyed by the point's id, so no point is counted twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nanotrig.quantize.scan_spec import (
    ScanConfig,
    check_space,
    enumerate_points,
    point_configs,
    point_id,
    point_seed,
)

from nanotrig.config import load_config
from nanotrig.errors import ConfigError, DataError, NanotrigError, OutputExistsError
from nanotrig.fileio import file_sha256, package_versions, write_json

__all__ = ["SCAN_FILE", "TABLE_FILE", "model_layer_kinds", "run_scan", "scan_client"]

log = logging.getLogger(__name__)

SCAN_FILE = "scan.json"
TABLE_FILE = "scan_table.csv"
CHOSEN_FILE = "chosen_config.yml"
POINTS_DIR = "points"
#: How long ``--scheduler`` waits to connect.
CONNECT_TIMEOUT = "30s"
_WEIGHTED = {"Dense", "Conv1D", "Conv2D"}


def model_layer_kinds(model_path: Path) -> dict[str, str]:
    """Quantizable layers of a Keras .h5 (``weighted`` or ``activation``), read without TF."""
    import h5py

    try:
        with h5py.File(model_path, "r") as f:
            raw = f.attrs["model_config"]
    except (OSError, KeyError):
        raise DataError(
            f"cannot read the model config of {model_path}: give a run whose model/ holds the "
            "Keras .h5 written by 'nanotrig train'"
        ) from None
    conf = json.loads(raw if isinstance(raw, str) else raw.decode())
    kinds = {}
    for layer in conf["config"]["layers"]:
        cls, lc = layer["class_name"], layer["config"]
        if cls in _WEIGHTED:
            kinds[lc["name"]] = "weighted"
        elif cls == "ReLU" or (cls == "Activation" and lc.get("activation") == "relu"):
            kinds[lc["name"]] = "activation"
    return kinds


def scan_client(scheduler: str | None = None, workers: int | None = None):
    """``(client, cluster)``: a client of the scheduler at ``scheduler``, or of a new
    LocalCluster with ``workers`` single-threaded worker processes (default: every core)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # inherited by the worker processes
    from dask.distributed import Client, LocalCluster

    dask_log = logging.getLogger("distributed")
    if not log.isEnabledFor(logging.DEBUG):  # its INFO lines would flood stderr
        dask_log.setLevel(max(dask_log.getEffectiveLevel(), logging.WARNING))
    if scheduler:
        try:
            return Client(scheduler, timeout=CONNECT_TIMEOUT), None
        except (OSError, TimeoutError, ValueError) as err:
            raise ConfigError(
                f"cannot reach the Dask scheduler at {scheduler!r} ({type(err).__name__}): "
                "give its address as tcp://HOST:PORT (printed by 'dask scheduler')"
            ) from None
    n = workers or os.cpu_count() or 1
    if n < 1:
        raise ConfigError(f"--workers must be positive, got {n}")
    cluster = LocalCluster(
        n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
        silence_logs=logging.ERROR,
    )  # fmt: skip
    return Client(cluster), cluster


def _settings(cfg: ScanConfig, model_file: Path) -> dict[str, Any]:
    """What determines every point's result besides the point itself (hashed for resume)."""
    return {
        "model_sha256": file_sha256(model_file),
        "seed": cfg.seed,
        "epochs": cfg.epochs,
        "learning_rate": cfg.learning_rate,
        "batch_size": cfg.batch_size,
        "max_train_events": cfg.max_train_events,
        "csim_events": cfg.csim_events,
    }


def run_scan(
    cfg: ScanConfig,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    client=None,
    force: bool = False,
    progress: bool = True,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume) the scan; write the table, plots and chosen config; return the summary.

    ``client``: an existing ``dask.distributed.Client`` (then ``scheduler``/``workers`` are
    ignored). ``on_result`` is called with each new point record as it finishes.
    """
    run_dir = Path(cfg.run_dir)
    model_dir, sample = run_dir / "model", run_dir / "data" / "jets.h5"
    from nanotrig.models import MODEL_FILE

    for need in (model_dir / MODEL_FILE, sample, run_dir / "config.yml"):
        if not need.is_file():
            raise DataError(
                f"{need} not found: run_dir must be a 'nanotrig run' directory "
                "(config.yml, model/, data/jets.h5)"
            )
    base = load_config(run_dir / "config.yml")
    check_space(cfg, base, model_layer_kinds(model_dir / MODEL_FILE))
    points = enumerate_points(cfg)
    dims = list(cfg.dimensions())
    settings = _settings(cfg, model_dir / MODEL_FILE)
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    out = _prepare_out(cfg.out_dir, digest, force)
    points_dir = out / POINTS_DIR
    points_dir.mkdir(exist_ok=True)
    header = {
        "scan": cfg.model_dump(mode="json"),
        "settings": settings,
        "settings_hash": digest,
        "n_points": len(points),
        "versions": package_versions(),
    }
    write_json(out / SCAN_FILE, {**_read_json(out / SCAN_FILE), **header})

    jobs = []
    for index, point in enumerate(points):
        qcfg, hcfg, sparsity = point_configs(base, point)
        hcfg = hcfg.model_copy(update={"latency_budget_ns": None, "ii_budget_ns": None})
        jobs.append({
            "id": point_id(point), "index": index, "seed": point_seed(cfg.seed, point),
            "point": point, "quantize": qcfg.model_dump(mode="json"),
            "hls": hcfg.model_dump(mode="json"), "sparsity": sparsity,
            "model_dir": str(model_dir), "sample_path": str(sample),
            "max_train_events": cfg.max_train_events, "epochs": cfg.epochs,
            "learning_rate": cfg.learning_rate, "batch_size": cfg.batch_size,
            "csim_events": cfg.csim_events,
        })  # fmt: skip
    done = {j["id"] for j in jobs if (points_dir / f"{j['id']}.json").is_file()}
    todo = [j for j in jobs if j["id"] not in done]
    log.info("scan %s: %d points, %d already done", cfg.name, len(jobs), len(done))

    summary = _read_json(out / SCAN_FILE)
    float_acc = summary.get("float_accuracy")
    t0 = time.perf_counter()
    failed: list[str] = []
    n_workers = None
    if todo or float_acc is None:
        own = client is None
        cluster = None
        if own:
            client, cluster = scan_client(scheduler, workers)
        try:
            n_workers = len(client.scheduler_info()["workers"])
            float_acc, failed = _compute(
                client, todo, points_dir, digest, model_dir, sample, float_acc, progress,
                on_result,
            )  # fmt: skip
        finally:
            if own:
                client.close()
                if cluster is not None:
                    cluster.close()
    elapsed = time.perf_counter() - t0

    records = [_read_json(points_dir / f"{j['id']}.json") for j in jobs]
    records = [r for r in records if r]
    return _report(
        cfg, base, out, dims, records, float_acc, failed, len(todo), elapsed, n_workers,
        summary=header,
    )  # fmt: skip


def _prepare_out(out: Path, digest: str, force: bool) -> Path:
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"scan output {out} is a file: choose another 'out'")
    old = _read_json(out / SCAN_FILE)
    if out.exists() and any(out.iterdir()):
        if force:
            shutil.rmtree(out)
        elif not old or old.get("settings_hash") != digest:
            raise OutputExistsError(
                f"scan output {out} holds a different scan (model, seed or training settings "
                "changed): pass --force to start over or choose another 'out'"
            )
    out.mkdir(parents=True, exist_ok=True)
    return out


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def _compute(client, todo, points_dir, digest, model_dir, sample, float_acc, progress,
             on_result):  # fmt: skip
    from dask.distributed import as_completed
    from nanotrig.hls.scan_point import evaluate_point, float_reference
    from tqdm import tqdm

    futures = [
        client.submit(
            evaluate_point, job, key=f"nanotrig-scan-{digest}-{job['id']}", pure=False, retries=2
        )
        for job in todo
    ]
    ref = None
    if float_acc is None:
        ref = client.submit(
            float_reference, str(model_dir), str(sample), key=f"nanotrig-scan-{digest}-float",
            pure=False, retries=2,
        )  # fmt: skip
    failed: list[str] = []
    bar = tqdm(total=len(futures), unit="pt", desc="scan", disable=not progress)
    try:
        for fut in as_completed(futures):
            try:
                rec = fut.result()
            except Exception as err:  # a worker crash past Dask's retries, or a bug
                failed.append(fut.key)
                log.error("scan point %s failed: %s: %s", fut.key, type(err).__name__, err)
                continue
            write_json(points_dir / f"{rec['id']}.json", rec)
            bar.update(1)
            if on_result is not None:
                on_result(rec)
        if ref is not None:
            try:
                float_acc = ref.result()
            except Exception as err:  # the table is still useful without the reference
                log.error("float reference failed: %s: %s", type(err).__name__, err)
    finally:
        bar.close()
        for fut in futures:
            fut.release()
    return float_acc, failed


def _report(cfg, base, out, dims, records, float_acc, failed, n_new, elapsed, n_workers,
            summary):  # fmt: skip
    from nanotrig.hls.scan_report import (
        add_derived,
        choose_point,
        chosen_run_config,
        plot_pareto,
        write_chosen,
        write_table,
    )

    add_derived(records, cfg, base, float_acc)
    tables = write_table(records, dims, out / TABLE_FILE)
    ok = [r for r in records if not r.get("error")]
    chosen = choose_point(records, cfg, base) if ok else None
    published = base.model.family == "jet_mlp"
    ref = "n/a" if float_acc is None else f"{float_acc:.4f}"
    title = f"scan {cfg.name}: {len(ok)} points; float accuracy {ref}"
    plots = []
    if ok:
        for cost, name in (
            ("lut_equivalent", "pareto_lut.png"),
            ("latency_ns", "pareto_latency.png"),
        ):
            plots.append(
                plot_pareto(
                    records,
                    cost,
                    out / name,
                    chosen=chosen,
                    published=published,
                    dsp_weight=cfg.dsp_lut_equivalent,
                    float_accuracy=float_acc,
                    title=title,
                )
            )
    chosen_file = None
    if chosen is not None:
        run_cfg = chosen_run_config(base, cfg, chosen, dims)
        chosen_file = write_chosen(out / CHOSEN_FILE, run_cfg, chosen).name
    else:
        log.warning("scan %s: no point fits the budgets: no chosen config written", cfg.name)
    result = {
        **summary,
        "out": str(out),
        "float_accuracy": float_acc,
        "n_done": len(records),
        "n_errors": len(records) - len(ok),
        "n_failed": len(failed),
        "n_computed_now": n_new,
        "workers": n_workers,
        "seconds": round(elapsed, 2),
        "points_per_minute": round(60.0 * n_new / elapsed, 3) if n_new and elapsed else None,
        "tables": tables,
        "plots": plots,
        "chosen": None if chosen is None else {k: chosen.get(k) for k in ("id", *dims,
                                                                      *_CHOSEN_KEYS)},
        "chosen_config": chosen_file,
    }  # fmt: skip
    write_json(out / SCAN_FILE, result)
    if failed:
        raise NanotrigError(
            f"{len(failed)} scan points failed on the workers (see the log); run the scan "
            f"again to retry them: finished points in {out / POINTS_DIR} are kept"
        )
    return result


_CHOSEN_KEYS = ("accuracy", "latency_ns", "ii_ns", "lut", "dsp", "lut_equivalent")
