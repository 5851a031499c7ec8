"""Throughput of every model family: Keras predict, TF model(x), onnxruntime float and
quantized (QDQ, the graph ``nanotrig run`` writes to ``onnx_q/``; for the anomaly score model
also tf2onnx of the QKeras graph, for comparison), CPU and GPU if present.

Every figure is also given as a fraction of one core's peak, estimated from /proc/cpuinfo:

    fp32 peak = clock x (SIMD bits / 32) lanes x 2 (FMA = 2 FLOP) x 2 FMA units
    int8 peak = clock x (SIMD bits / 8) lanes x 2 (MAC = 2 ops) x 2 units x (1 with VNNI,
                1/2 without: VPMADDUBSW + VPMADDWD + VPADDD instead of one VPDPBUSD)

with SIMD bits 512 (avx512f), 256 (avx2) or 128, and the clock the highest "cpu MHz" listed
(the current clock, not the turbo maximum: an estimate). Achieved op/s = events/s x MACs x 2.
All sessions use one intra-op thread (the machine is shared; ratios are what matter).
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "BATCH_SIZES",
    "FAMILIES",
    "Family",
    "build_family",
    "cpu_peak",
    "format_markdown",
    "model_macs",
    "run_benchmark",
]

log = logging.getLogger(__name__)
BATCH_SIZES = (1, 64, 1024, 16384)
FAMILIES = ("jet_mlp", "jet_cnn", "dqm_ae", "anomaly_vae", "garnet")
CONFIG_FILES = {
    "jet_mlp": "jet_mlp",
    "jet_cnn": "jet_cnn",
    "dqm_ae": "dqm_ae",
    "anomaly_vae": "anomaly_vae",
    "garnet": "jet_garnet",
}
ANOMALY_FEATURES = 57  # the ADC2021-style L1 inputs


def cpu_peak(cpuinfo: str | None = None) -> dict:
    """One core's estimated fp32 FLOP/s and int8 op/s from /proc/cpuinfo (see module doc)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    flags = set(re.search(r"^flags\s*:(.*)$", cpuinfo, re.M).group(1).split()) if cpuinfo else set()
    mhz = [float(m) for m in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", cpuinfo, re.M)] or [2000.0]
    name = re.search(r"^model name\s*:\s*(.*)$", cpuinfo, re.M)
    simd = 512 if "avx512f" in flags else 256 if "avx2" in flags else 128
    fma = 2 if "fma" in flags else 1
    vnni = bool({"avx512_vnni", "avx_vnni"} & flags)
    hz = max(mhz) * 1e6
    units = 2
    return {
        "cpu": name.group(1).strip() if name else "unknown",
        "clock_ghz": round(hz / 1e9, 3),
        "simd_bits": simd,
        "fma": fma == 2,
        "vnni": vnni,
        "fp32_flops_per_s": hz * (simd // 32) * fma * units,
        "int8_ops_per_s": hz * (simd // 8) * 2 * units * (1.0 if vnni else 0.5),
        "formula": "fp32: clock*(simd/32)*2(FMA)*2 units; int8: clock*(simd/8)*2*2 units"
        "*(1 VNNI | 0.5 without)",
    }


def model_macs(model) -> int:
    """Multiply-accumulates per event of the Dense/Conv (and GarNet) layers of a Keras model.

    GarNet (simplified, mean collapse): per vertex the FLR and S kernels and the A x P
    aggregation, then the Fout kernel once.
    """
    macs = 0
    for layer in model.layers:
        cls = type(layer).__name__.lstrip("Q")
        if cls == "Dense" or cls in ("Conv1D", "Conv2D"):
            macs += int(np.prod(layer.kernel.shape)) * int(np.prod(layer.output_shape[1:-1]))
        elif cls == "GarNet":
            w = {v.name.split("/")[-1].split(":")[0]: tuple(v.shape) for v in layer.weights}
            n_vert = int(layer.input_shape[0][1])
            flr, s = w["FLR_kernel"], w["S_kernel"]
            per_vertex = int(np.prod(flr)) + int(np.prod(s)) + s[1] * flr[1]
            macs += n_vert * per_vertex + int(np.prod(w["Fout_kernel"]))
    return macs


@dataclass
class Family:
    """A benchmarked model: float Keras model, its quantized counterpart and how it exports."""

    name: str
    model: object
    qmodel: object | None = None
    # quantized exports: "QDQ" (export.qdq) and/or "tf2onnx" (export.tf_quantized)
    qmethods: tuple[str, ...] = ()
    max_batch: int | None = None  # larger batches skipped (memory, time)
    inputs: Callable[[np.random.Generator, int], list[np.ndarray]] | None = None

    def make_inputs(self, rng: np.random.Generator, n: int) -> list[np.ndarray]:
        if self.inputs is not None:
            return self.inputs(rng, n)
        shapes = [tuple(t.shape[1:]) for t in self.model.inputs]
        return [rng.normal(size=(n, *sh)).astype(np.float32) for sh in shapes]


def _seeded(model, rng: np.random.Generator):
    """Random non-zero biases (the builders start them at zero, which lets onnxruntime drop
    the Add of the float model: trained models have biases)."""
    for layer in model.layers:
        ws = layer.get_weights()
        if ws and type(layer).__name__ in ("Dense", "Conv2D"):
            layer.set_weights([ws[0], rng.normal(0, 0.2, ws[1].shape).astype(np.float32)])
    return model


def build_family(name: str, seed: int = 0, config_dir: Path | None = None) -> Family:
    """The shipped architecture ``name`` (settings from configs/<name>.yml), seeded weights."""
    import tensorflow as tf
    from nanotrig.quantize import build_qmodel

    from nanotrig.config import load_config

    cfg_dir = config_dir or Path(__file__).resolve().parents[1] / "configs"
    cfg = load_config(cfg_dir / f"{CONFIG_FILES[name]}.yml")
    m, q = cfg.model, cfg.quantize
    tf.keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    if name == "jet_mlp":
        from nanotrig.models import build_jet_mlp

        model = _seeded(build_jet_mlp(16, 5, m.hidden), rng)
        return Family(name, model, build_qmodel(model, q), ("QDQ",))
    if name == "jet_cnn":
        from nanotrig.models import build_jet_cnn

        model = build_jet_cnn(
            cfg.samples.image_size, len(cfg.samples.classes), m.conv_filters, m.dense,
            m.kernel_size, m.pool_size,
        )  # fmt: skip
        model = _seeded(model, rng)
        return Family(name, model, build_qmodel(model, q), ("QDQ",))
    if name == "dqm_ae":
        from nanotrig.models.dqm_ae import build_dqm_ae

        model = _seeded(build_dqm_ae(cfg.samples.shape, m.conv_filters, m.kernel_size), rng)
        return Family(name, model, build_qmodel(model, q), ("QDQ",), max_batch=1024)
    if name == "anomaly_vae":
        from nanotrig.models.anomaly_vae import build_encoder, build_score_model
        from nanotrig.quantize.anomaly_qmodel import build_qencoder, build_qscore_model

        encoder = _seeded(build_encoder(ANOMALY_FEATURES, m.vae_hidden, m.latent_dim), rng)
        qscore = build_qscore_model(build_qencoder(encoder, q, q.latent))
        return Family(name, build_score_model(encoder), qscore, ("QDQ", "tf2onnx"))
    if name == "garnet":
        from nanotrig.models.garnet import build_garnet_tagger

        n_vert = cfg.samples.n_constituents
        model = _seeded(build_garnet_tagger(n_vert, 4, len(cfg.samples.classes)), rng)

        def inputs(r: np.random.Generator, n: int) -> list[np.ndarray]:
            nv = r.integers(1, n_vert + 1, size=(n, 1)).astype(np.float32)
            x = r.normal(0, 2, (n, n_vert, 4)).astype(np.float32)
            return [x * (np.arange(n_vert)[None, :, None] < nv[..., None]), nv]

        return Family(name, model, inputs=inputs)
    raise ValueError(f"unknown family {name!r}: use one of {', '.join(FAMILIES)}")


def _rate(fn: Callable[[], object], n_events: int, min_seconds: float, min_calls: int) -> float:
    """Events/s of ``fn``: one warm-up call, then at least min_calls and min_seconds; the
    median call time (robust to other jobs on a shared machine)."""
    fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return n_events / float(np.median(times))


def _ort_session(path: Path, provider: str):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=[provider])


def _limit_tf_threads() -> int | None:
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TF already initialised (e.g. inside pytest): keep its setting
        log.warning("TensorFlow already initialised: its thread count could not be set to 1")
    return tf.config.threading.get_intra_op_parallelism_threads() or None


def _one(x: list[np.ndarray]):
    return x[0] if len(x) == 1 else x


def _bench_family(fam: Family, batch_sizes, min_seconds, min_calls, peak, providers, rng, tmp):
    from nanotrig.export.onnx_export import keras_to_onnx
    from nanotrig.export.qdq import qkeras_to_qdq

    model = fam.model
    macs = model_macs(model)
    f_path = keras_to_onnx(model, tmp / f"{fam.name}.onnx")
    onnx_models = [("float", f_path, "fp32")]
    if "QDQ" in fam.qmethods:
        onnx_models.append(("QDQ", qkeras_to_qdq(fam.qmodel, tmp / f"{fam.name}.qdq.onnx"), "int8"))
    if "tf2onnx" in fam.qmethods:  # float32 quantizer ops: fp32 peak
        q_path = keras_to_onnx(fam.qmodel, tmp / f"{fam.name}.q.onnx")
        onnx_models.append(("quantized tf2onnx", q_path, "fp32"))
    runners: list[tuple[str, str, Callable[[list[np.ndarray]], Callable[[], object]]]] = [
        ("keras predict", "fp32", lambda x: lambda: model.predict(_one(x), len(x[0]), verbose=0)),
        ("tf model(x)", "fp32", lambda x: lambda: model(_one(x), training=False)),
    ]
    for prov in providers:
        dev = "GPU" if prov.startswith("CUDA") else "CPU"
        for label, path, kind in onnx_models:
            sess = _ort_session(path, prov)
            names = [i.name for i in sess.get_inputs()]
            runners.append(
                (
                    f"onnxruntime {dev} {label}",
                    kind if dev == "CPU" else "gpu",
                    lambda x, s=sess, n=names: lambda: s.run(None, dict(zip(n, x, strict=True))),
                )
            )
    batches = [b for b in batch_sizes if fam.max_batch is None or b <= fam.max_batch]
    rows = []
    for runtime, kind, make in runners:
        for b in batches:
            ev_s = _rate(make(fam.make_inputs(rng, b)), b, min_seconds, min_calls)
            ops = ev_s * macs * 2
            ref = {"fp32": peak["fp32_flops_per_s"], "int8": peak["int8_ops_per_s"]}.get(kind)
            rows.append(
                {
                    "family": fam.name,
                    "runtime": runtime,
                    "batch": b,
                    "events_per_s": ev_s,
                    "gops_per_s": ops / 1e9,
                    "peak": kind,
                    "frac_of_peak": ops / ref if ref else None,
                }
            )
            log.info("%s %s batch %d: %.3g events/s", fam.name, runtime, b, ev_s)
    by = {(r["runtime"], r["batch"]): r["events_per_s"] for r in rows}
    ratio = {
        label: {b: by[(f"onnxruntime CPU {label}", b)] / by[("onnxruntime CPU float", b)]
                for b in batches}
        for label, _, _ in onnx_models[1:]
    }  # fmt: skip
    info = {
        "model": model.name,
        "macs_per_event": macs,
        "ops_per_event": 2 * macs,
        "quantized_exports": list(fam.qmethods),
        "batches": batches,
        "quantized_over_float_cpu": ratio,
    }
    return rows, info


def run_benchmark(
    batch_sizes: Sequence[int] = BATCH_SIZES,
    min_seconds: float = 0.5,
    min_calls: int = 3,
    families: Sequence[str | Family] = FAMILIES,
    seed: int = 0,
) -> dict:
    """Time every runtime at every batch size for every family; returns rows, per-family MAC
    counts and quantized/float ratios, and the peak figures.

    ``families``: names (see :func:`build_family`; seeded weights: speed does not depend on
    them) or ready :class:`Family` objects.
    """
    import onnxruntime as ort

    tf_threads = _limit_tf_threads()
    peak = cpu_peak()
    providers = ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in ort.get_available_providers():
        providers.append("CUDAExecutionProvider")
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    info: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="nanotrig_bench_") as tmp:
        for fam in families:
            fam = build_family(fam, seed) if isinstance(fam, str) else fam
            fam_rows, info[fam.name] = _bench_family(
                fam, batch_sizes, min_seconds, min_calls, peak, providers, rng, Path(tmp)
            )
            rows += fam_rows
    return {
        "families": info,
        "intra_op_threads": 1,
        "tf_intra_op_threads": tf_threads,
        "onnxruntime": ort.__version__,
        "providers": providers,
        "peak": peak,
        "min_seconds": min_seconds,
        "rows": rows,
    }


def format_markdown(result: dict) -> str:
    """The benchmark as a markdown table with a header stating peaks and threads."""
    p = result["peak"]
    lines = [
        f"One intra-op thread. CPU {p['cpu']}, {p['clock_ghz']} GHz, {p['simd_bits']}-bit SIMD, "
        f"FMA {p['fma']}, VNNI {p['vnni']}: one-core peak {p['fp32_flops_per_s'] / 1e9:.1f} "
        f"GFLOP/s fp32, {p['int8_ops_per_s'] / 1e9:.1f} Gop/s int8 ({p['formula']}). "
        f"onnxruntime {result['onnxruntime']}, providers {', '.join(result['providers'])}.",
        "",
        "| family | runtime | batch | events/s | Gop/s | % of peak |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        frac = f"{100 * r['frac_of_peak']:.2f} ({r['peak']})" if r["frac_of_peak"] else "n/a"
        lines.append(
            f"| {r['family']} | {r['runtime']} | {r['batch']} | {r['events_per_s']:,.0f} | "
            f"{r['gops_per_s']:.3f} | {frac} |"
        )
    lines += ["", "| family | MACs/event | quantized / float events/s (onnxruntime CPU) by batch |"]
    lines.append("|---|---:|---|")
    for name, f in result["families"].items():
        ratios = "; ".join(
            f"{label}: " + ", ".join(f"{b}: {v:.2f}" for b, v in by_batch.items())
            for label, by_batch in f["quantized_over_float_cpu"].items()
        )
        lines.append(f"| {name} | {f['macs_per_event']} | {ratios or 'no quantized export'} |")
    return "\n".join(lines) + "\n"
