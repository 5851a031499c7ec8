"""Throughput of the jet MLP: Keras predict, TF model(x), onnxruntime float and QDQ (CPU/GPU).

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
from pathlib import Path

import numpy as np

__all__ = ["BATCH_SIZES", "cpu_peak", "format_markdown", "model_macs", "run_benchmark"]

log = logging.getLogger(__name__)
BATCH_SIZES = (1, 64, 1024, 16384)


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
    """Multiply-accumulates per event of the Dense/Conv layers of a Keras model."""
    macs = 0
    for layer in model.layers:
        cls = type(layer).__name__.lstrip("Q")
        if cls == "Dense" or cls in ("Conv1D", "Conv2D"):
            macs += int(np.prod(layer.kernel.shape)) * int(np.prod(layer.output_shape[1:-1]))
    return macs


def _rate(fn: Callable[[], object], n_events: int, min_seconds: float, min_calls: int) -> float:
    """Events/s of ``fn`` (one warm-up call, then at least min_calls and min_seconds)."""
    fn()
    calls, t0 = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - t0
        if calls >= min_calls and elapsed >= min_seconds:
            return n_events * calls / elapsed


def _ort_session(path: Path, provider: str):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
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


def run_benchmark(
    batch_sizes: Sequence[int] = BATCH_SIZES,
    min_seconds: float = 0.5,
    min_calls: int = 3,
    model=None,
    qmodel=None,
    seed: int = 0,
) -> dict:
    """Time every runtime at every batch size; returns rows plus peak and MAC figures.

    ``model``/``qmodel`` default to ``models.build_jet_mlp(16, 5)`` and its QKeras
    counterpart with the default QuantizeConfig (random weights: speed does not depend on them).
    """
    import onnxruntime as ort

    from export.onnx_export import keras_to_onnx
    from export.qdq import qkeras_to_qdq

    tf_threads = _limit_tf_threads()
    if model is None:
        from models import build_jet_mlp

        model = build_jet_mlp(16, 5)
    if qmodel is None:
        from nanotrig.config import QuantizeConfig
        from quantize import build_qmodel

        qmodel = build_qmodel(model, QuantizeConfig())
    peak = cpu_peak()
    macs = model_macs(model)
    providers = ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in ort.get_available_providers():
        providers.append("CUDAExecutionProvider")
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="nanotrig_bench_") as tmp:
        f_path = keras_to_onnx(model, Path(tmp) / "float.onnx")
        q_path = qkeras_to_qdq(qmodel, Path(tmp) / "qdq.onnx")
        runners: list[tuple[str, str, Callable[[np.ndarray], Callable[[], object]]]] = [
            ("keras predict", "fp32", lambda x: lambda: model.predict(x, len(x), verbose=0)),
            ("tf model(x)", "fp32", lambda x: lambda: model(x, training=False)),
        ]
        for prov in providers:
            dev = "GPU" if prov.startswith("CUDA") else "CPU"
            for label, path, kind in (("float", f_path, "fp32"), ("QDQ", q_path, "int8")):
                sess = _ort_session(path, prov)
                name = sess.get_inputs()[0].name
                runners.append(
                    (
                        f"onnxruntime {dev} {label}",
                        kind if dev == "CPU" else "gpu",
                        lambda x, s=sess, n=name: lambda: s.run(None, {n: x}),
                    )
                )
        for runtime, kind, make in runners:
            for b in batch_sizes:
                x = rng.normal(size=(b, *model.input_shape[1:])).astype(np.float32)
                ev_s = _rate(make(x), b, min_seconds, min_calls)
                ops = ev_s * macs * 2
                ref = {"fp32": peak["fp32_flops_per_s"], "int8": peak["int8_ops_per_s"]}.get(kind)
                rows.append(
                    {
                        "runtime": runtime,
                        "batch": b,
                        "events_per_s": ev_s,
                        "gops_per_s": ops / 1e9,
                        "peak": kind,
                        "frac_of_peak": ops / ref if ref else None,
                    }
                )
                log.info("%s batch %d: %.3g events/s", runtime, b, ev_s)
    by = {(r["runtime"], r["batch"]): r["events_per_s"] for r in rows}
    ratio = {
        b: by[("onnxruntime CPU QDQ", b)] / by[("onnxruntime CPU float", b)] for b in batch_sizes
    }
    return {
        "model": model.name,
        "macs_per_event": macs,
        "ops_per_event": 2 * macs,
        "intra_op_threads": 1,
        "tf_intra_op_threads": tf_threads,
        "onnxruntime": ort.__version__,
        "providers": providers,
        "peak": peak,
        "min_seconds": min_seconds,
        "rows": rows,
        "qdq_over_float_cpu": ratio,
    }


def format_markdown(result: dict) -> str:
    """The benchmark as a markdown table with a header stating peaks and threads."""
    p = result["peak"]
    lines = [
        f"Model {result['model']}: {result['macs_per_event']} MACs/event "
        f"({result['ops_per_event']} ops). One intra-op thread. CPU {p['cpu']}, "
        f"{p['clock_ghz']} GHz, {p['simd_bits']}-bit SIMD, FMA {p['fma']}, VNNI {p['vnni']}: "
        f"one-core peak {p['fp32_flops_per_s'] / 1e9:.1f} GFLOP/s fp32, "
        f"{p['int8_ops_per_s'] / 1e9:.1f} Gop/s int8 ({p['formula']}).",
        "",
        "| runtime | batch | events/s | Gop/s | % of peak |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        frac = f"{100 * r['frac_of_peak']:.2f} ({r['peak']})" if r["frac_of_peak"] else "n/a"
        lines.append(
            f"| {r['runtime']} | {r['batch']} | {r['events_per_s']:,.0f} | "
            f"{r['gops_per_s']:.3f} | {frac} |"
        )
    ratios = ", ".join(f"{b}: {v:.2f}" for b, v in result["qdq_over_float_cpu"].items())
    lines += ["", f"onnxruntime CPU QDQ / float events/s by batch: {ratios}"]
    return "\n".join(lines) + "\n"
