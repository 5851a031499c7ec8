"""C-simulation throughput per model family: hls4ml ``predict()`` vs the batched harness.

    python benchmarks/csim_bench.py [--events 1000000] [--predict-events 20000] [--threads 1 2]
                                    [--families jet_mlp jet_cnn dqm_ae anomaly_vae jet_garnet]
                                    [--out DIR]

For each family a seeded QKeras model (6-bit; the autoencoder 8-bit) of the shipped
architecture is converted (hls/): the 16-64-32-32-5 jet MLP (io_parallel; input
quantized_bits(16,5), 6-bit weights, biases and quantized_relu(6,0), softmax head), the 16x16
jet CNN of configs/jet_cnn.yml and the 32x64 DQM autoencoder of configs/dqm_ae.yml (both
io_stream), and the anomaly trigger's deployed encoder + score of configs/anomaly_vae.yml
(io_parallel: mu, then the score sum(mu^2) through a Multiply and a frozen Dense; no tap).
GarNet (the QGarNet tagger of configs/jet_garnet.yml up to its logits, 32 constituents x 4
features) has no batch harness or integer kernel: its exact engine is the numpy emulator
(hls/garnet_emulator.py + garnet_head.py), timed against ``predict()`` and checked against it
on every event ``predict()`` ran (``--events / 10`` jets).
Timed in the same run: hls4ml's ``predict()`` (one ctypes call per event), the batch harness of
hls/batch.py (with and without the logits tap, per thread count), the exact integer kernel of
hls/int_kernel.py (every family: Dense, Conv, pooling, upsampling, Multiply; the last layer
before a table head, per thread count; listed under ``kernel_rows`` in the json, with
``x_predict``: its events/s over ``predict()``'s) and ``verify_project`` end to end on a .npy of
the events.
The CNN runs ``--events / 100`` events and the DQM autoencoder
``--events / 1000`` (a streamed image or map costs that much more than a jet). Prints a
markdown table and writes csim_bench.json and csim_bench.md to --out (default runs/bench).
Figures are printed, not asserted; the outputs of every timed path are checked bit for bit
against ``predict()`` (the integer kernel's logits against the harness's tap).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: Layer widths of the jet MLP (configs/jet_mlp.yml).
HIDDEN = (64, 32, 32)
N_FEATURES, N_CLASSES = 16, 5


def jet_mlp_qmodel(seed: int = 0):
    """The 6-bit QKeras jet MLP (16-64-32-32-5, softmax head) with seeded weights."""
    import keras
    import numpy as np
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    def qb(bits: int, integer: int = 0):
        return quantized_bits(bits, integer, alpha=1)

    inp = keras.Input((N_FEATURES,), name="input_1")
    x = QActivation(qb(16, 5), name="input_quant")(inp)
    for i, width in enumerate(HIDDEN, start=1):
        x = QDense(width, kernel_quantizer=qb(6), bias_quantizer=qb(6), name=f"fc{i}")(x)
        x = QActivation(quantized_relu(6, 0), name=f"relu{i}")(x)
    x = QDense(N_CLASSES, kernel_quantizer=qb(6), bias_quantizer=qb(6), name="output")(x)
    x = keras.layers.Activation("softmax", name="softmax")(x)
    model = keras.Model(inp, x, name="jet_mlp_q")
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.5, w.shape) for w in model.get_weights()])
    return model


def jet_inputs(n: int, seed: int = 1):
    """Standardised-jet-like float32 inputs: mostly normal, some beyond the input range."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(0, 2.0, (n, N_FEATURES))
    wide = rng.random(n) < 0.05
    x[wide] = rng.uniform(-40, 40, (int(wide.sum()), N_FEATURES))
    return x.astype(np.float32)


def jet_cnn_qmodel(seed: int = 0):
    """The 6-bit QKeras jet CNN of configs/jet_cnn.yml (16x16x1, conv 8-8, dense 16)."""
    import numpy as np
    from nanotrig.models import build_jet_cnn
    from nanotrig.quantize.qmodel import build_qmodel

    from nanotrig.config import QuantBits, QuantizeConfig

    six = QuantBits(bits=6, integer=0)
    cfg = QuantizeConfig(input=QuantBits(bits=16, integer=1), weights=six, bias=six, activation=six)
    model = build_qmodel(build_jet_cnn(16, N_CLASSES, (8, 8), (16,)), cfg)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.5, w.shape) for w in model.get_weights()])
    return model


def image_inputs(n: int, seed: int = 1):
    """Jet-image-like float32 inputs (n, 16, 16, 1): sparse pT fractions summing to 1."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.dirichlet(np.full(256, 0.05), size=n) * rng.uniform(0.8, 1.0, (n, 1))
    return x.reshape(n, 16, 16, 1).astype(np.float32)


def dqm_ae_qmodel(seed: int = 0):
    """The 8-bit QKeras DQM autoencoder of configs/dqm_ae.yml (32x64 maps, filters 8-4)."""
    import numpy as np
    from nanotrig.models.dqm_ae import build_dqm_ae
    from nanotrig.quantize.qmodel import build_qmodel

    from nanotrig.config import QuantBits, QuantizeConfig

    cfg = QuantizeConfig(
        input=QuantBits(bits=16, integer=7), weights=QuantBits(bits=8, integer=1),
        bias=QuantBits(bits=8, integer=2), activation=QuantBits(bits=8, integer=3),
    )  # fmt: skip
    model = build_qmodel(build_dqm_ae((32, 64), (8, 4)), cfg)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.3, w.shape) for w in model.get_weights()])
    return model


def map_inputs(n: int, seed: int = 1):
    """Occupancy-map-like float32 inputs (n, 32, 64, 1): normalised counts near 1, a few hot."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.poisson(100.0, (n, 32, 64, 1)) / 100.0
    hot = rng.random((n, 32, 64, 1)) < 0.002
    return np.where(hot, 40.0, x).astype(np.float32)


def anomaly_qmodel(seed: int = 0):
    """The QKeras anomaly model of configs/anomaly_vae.yml with ``model.score: mu2`` (the
    config now deploys ``recon``; the benchmark's figures are for this one): the encoder up to
    mu (quantized_bits(10,2)) and the score sum(mu^2) (Multiply + frozen all-ones QDense)."""
    import numpy as np
    from nanotrig.models.anomaly_vae import build_encoder
    from nanotrig.quantize.anomaly_qmodel import build_qencoder, build_qscore_model

    from nanotrig.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "anomaly_vae.yml")
    encoder = build_encoder(N_L1_FEATURES, cfg.model.vae_hidden, cfg.model.latent_dim)
    rng = np.random.default_rng(seed)
    encoder.set_weights([rng.normal(0, 0.3, w.shape) for w in encoder.get_weights()])
    return build_qscore_model(build_qencoder(encoder, cfg.quantize, cfg.quantize.latent))


def l1_inputs(n: int, seed: int = 1):
    """L1-event-like float32 inputs (n, 57) after the power-of-two scaling: a few objects,
    zero padding for the rest."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.5, (n, N_L1_FEATURES))
    x[rng.random((n, N_L1_FEATURES)) < 0.5] = 0.0
    return x.astype(np.float32)


#: GarNet tagger of configs/jet_garnet.yml: constituents per jet, features per constituent.
GARNET_VERTICES, GARNET_FEATURES = 32, 4


def garnet_qmodel(seed: int = 0):
    """The deployed QGarNet tagger of configs/jet_garnet.yml (GarNet transforms
    quantized_bits(10,4), Dense head up to the logits) with seeded weights."""
    import numpy as np
    from nanotrig.models.garnet import build_garnet_tagger
    from nanotrig.quantize.garnet_stage import build_qgarnet_tagger, round_head_weights

    from nanotrig.config import QuantBits

    model = build_garnet_tagger(GARNET_VERTICES, GARNET_FEATURES, N_CLASSES)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.3, w.shape) for w in model.get_weights()])
    qmodel = build_qgarnet_tagger(model, QuantBits(bits=10, integer=4))
    round_head_weights(qmodel)  # ap_fixed<16,6> head, as the quantize stage does
    return qmodel


def garnet_inputs(n: int, seed: int = 1):
    """Constituent-like inputs: ``(x (n, 32, 4) float32, counts (n, 1))``, rows past the count
    zero."""
    import numpy as np

    rng = np.random.default_rng(seed)
    counts = rng.integers(0, GARNET_VERTICES + 1, (n, 1))
    x = rng.normal(0.0, 1.5, (n, GARNET_VERTICES, GARNET_FEATURES))
    x *= np.arange(GARNET_VERTICES)[None, :, None] < counts[:, :, None]
    return x.astype(np.float32), counts.astype(np.float32)


#: Features of an L1 event (MET, 4 e/gamma, 4 mu, 10 jets x pT, eta, phi).
N_L1_FEATURES = 57
#: family -> (QKeras model builder, inputs, io_type, events divisor, layer the harness taps)
FAMILIES = {
    "jet_mlp": (jet_mlp_qmodel, jet_inputs, "io_parallel", 1, "output"),
    "jet_cnn": (jet_cnn_qmodel, image_inputs, "io_stream", 100, "output"),
    "dqm_ae": (dqm_ae_qmodel, map_inputs, "io_stream", 1000, "output"),
    "anomaly_vae": (anomaly_qmodel, l1_inputs, "io_parallel", 1, None),
}


#: GarNet: converted by hls/garnet_convert.py, its exact engine the emulator; events divisor.
GARNET, GARNET_DIVISOR = "jet_garnet", 10


def convert_family(family: str, out_dir: Path, seed: int = 0) -> Path:
    """Save ``family``'s benchmark model and convert it into ``out_dir``; return the project."""
    from nanotrig.hls import convert_model

    from nanotrig.config import HlsConfig

    build, _, io_type, _, _ = FAMILIES[family]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{family}_q.h5"
    build(seed).save(path)
    cfg = HlsConfig(io_type=io_type, latency_budget_ns=None, ii_budget_ns=None)
    convert_model(path, out_dir / "hls", cfg)
    return out_dir / "hls"


def convert_jet_mlp(out_dir: Path, seed: int = 0) -> Path:
    """Save the jet MLP and convert it into ``out_dir``; return the converted directory."""
    return convert_family("jet_mlp", out_dir, seed)


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def run_benchmark(
    n_events: int, n_predict: int, threads: list[int], work: Path,
    families: tuple[str, ...] = ("jet_mlp",),
) -> dict[str, object]:  # fmt: skip
    """Time every path on each family's converted project; return rows and settings."""
    rows: list[dict[str, object]] = []
    kernel_rows: list[dict[str, object]] = []
    for family in families:
        if family == GARNET:
            family_rows, family_kernel = _garnet_rows(n_events, n_predict, work / family)
            rows += family_rows
            kernel_rows += family_kernel
            continue
        _, inputs, _, divisor, _ = FAMILIES[family]
        n = max(1, n_events // divisor)
        m = max(1, min(n_predict // divisor, n))
        family_rows, family_kernel = _family_rows(family, inputs(n), m, threads, work / family)
        rows += family_rows
        kernel_rows += family_kernel
    return {"rows": rows, "kernel_rows": kernel_rows, "n_events": n_events,
            "machine": platform.machine(), "cpus": os.cpu_count(),
            "families": list(families)}  # fmt: skip


def _family_rows(
    family: str, x, m: int, threads: list[int], work: Path
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """``(rows, integer kernel rows)`` of one family."""
    import numpy as np
    from hls4ml.utils.serialization import deserialize_model
    from nanotrig.hls import verify_project
    from nanotrig.hls._capture import captured_stdout
    from nanotrig.hls.batch import build_batch_sim
    from nanotrig.hls.int_kernel import build_int_kernel, supports

    project = convert_family(family, work / "model")
    n = len(x)
    x64 = x.reshape(n, -1).astype(np.float64)
    with captured_stdout():
        hls_model = deserialize_model(project / "hls_model.fml", output_dir=str(work / "d"))
    hls_model.config.config.update(
        OutputDir=str(work / "predict"), InputData=None, OutputPredictions=None
    )
    rows: list[dict[str, object]] = []
    t0 = time.perf_counter()
    with captured_stdout():
        hls_model.compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    y_ref = hls_model.predict(np.ascontiguousarray(x64[:m]))
    dt = time.perf_counter() - t0
    rows.append(_row(family, "hls4ml predict()", 1, m, dt, compile_s))
    logits = None
    for tap in dict.fromkeys((None, FAMILIES[family][4])):  # no tap, then the family's
        t0 = time.perf_counter()
        sim = build_batch_sim(hls_model, work / f"batch_{tap}", tap=tap, threads=max(threads))
        compile_s = time.perf_counter() - t0
        for k in threads:
            t0 = time.perf_counter()
            y, logits = sim.run(x64, threads=k)
            dt = time.perf_counter() - t0
            if not np.array_equal(y[:m], np.asarray(y_ref).reshape(m, -1)):
                raise RuntimeError(f"{family}: batched harness disagrees with hls4ml predict()")
            name = "batch harness" + (" + logits tap" if tap else "")
            rows.append(_row(family, name, k, n, dt, compile_s))
    kernel_rows: list[dict[str, object]] = []
    if supports(hls_model) is None:
        t0 = time.perf_counter()
        kernel = build_int_kernel(hls_model, work / "int_kernel")
        compile_s = time.perf_counter() - t0
        # the kernel's last layer against the harness: the tapped logits, or the output
        ref = logits if kernel.head is not None else y
        if kernel.head is not None and kernel.last_layer != FAMILIES[family][4]:
            raise RuntimeError(f"{family}: the harness taps another layer than {kernel.last_layer}")
        for k in threads:
            t0 = time.perf_counter()
            got = kernel.run(x64, threads=k)[kernel.last_layer]
            dt = time.perf_counter() - t0
            if not np.array_equal(got, ref):
                raise RuntimeError(f"{family}: integer kernel disagrees with the batch harness")
            name = f"int kernel ({kernel.last_layer})"
            row = _row(family, name, k, n, dt, compile_s)
            row["x_predict"] = round(float(row["events_per_s"]) / float(rows[0]["events_per_s"]), 1)
            kernel_rows.append(row)
    npy = work / "inputs.npy"
    np.save(npy, x)
    t0 = time.perf_counter()
    res = verify_project(project, npy, batched=True, trace_events=min(10_000, n), threads=1)
    dt = time.perf_counter() - t0
    if not res.ok:
        raise RuntimeError(f"{family}: verify_project found mismatches: {res.to_dict()['output']}")
    name = "verify_project (batched, end to end)"
    rows.append(_row(family, name, 1, n, dt, res.compile_seconds))
    return rows, kernel_rows


def _garnet_rows(
    n_events: int, n_predict: int, work: Path
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """GarNet's exact engine is its numpy emulator (hls/garnet_emulator.py + garnet_head.py: the
    C-simulation of the tagger up to its logits, bit for bit): timed against ``predict()``,
    its outputs checked against ``predict()``'s on every event ``predict()`` ran."""
    import numpy as np
    from nanotrig.hls.garnet_convert import convert_garnet
    from nanotrig.hls.garnet_emulator import GarnetEmulator
    from nanotrig.hls.garnet_head import GarnetTaggerEmulator

    n = max(1, n_events // GARNET_DIVISOR)
    m = max(1, min(n_predict // GARNET_DIVISOR, n))
    qmodel = garnet_qmodel()
    t0 = time.perf_counter()
    hls_model = convert_garnet(qmodel, work / "hls", head=True)  # converts and compiles
    compile_s = time.perf_counter() - t0
    x, counts = garnet_inputs(n)
    x64, c64 = x.astype(np.float64), counts.astype(np.float64)
    t0 = time.perf_counter()
    y_ref = np.asarray(hls_model.predict([x64[:m], c64[:m]]), dtype=np.float64).reshape(m, -1)
    dt = time.perf_counter() - t0
    rows = [_row(GARNET, "hls4ml predict()", 1, m, dt, compile_s)]
    t0 = time.perf_counter()
    tagger = GarnetTaggerEmulator.from_model(GarnetEmulator.from_hls_layer(hls_model), qmodel)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    got = tagger.predict(x64, c64)
    dt = time.perf_counter() - t0
    if not np.array_equal(got[:m], y_ref):
        raise RuntimeError("jet_garnet: the emulator disagrees with hls4ml predict()")
    row = _row(GARNET, "emulator (logits)", 1, n, dt, build_s)
    row["x_predict"] = round(float(row["events_per_s"]) / float(rows[0]["events_per_s"]), 1)
    return rows, [row]


def _row(
    family: str, name: str, threads: int, n: int, seconds: float, compile_s: float
) -> dict[str, object]:
    return {
        "family": family,
        "path": name,
        "threads": threads,
        "events": n,
        "seconds": round(seconds, 3),
        "events_per_s": round(_rate(n, seconds), 1),
        "compile_seconds": round(compile_s, 2),
    }


def format_markdown(result: dict[str, object]) -> str:
    """The table printed by :func:`main`."""
    lines = [
        f"C-simulation throughput, quantized models ({result['cpus']} CPUs)",
        "",
        "| family | path | threads | events | seconds | events/s | compile s | x predict() |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in [*result["rows"], *result.get("kernel_rows", [])]:  # type: ignore[misc]
        ratio = f"{r['x_predict']:.0f}" if "x_predict" in r else ""
        lines.append(
            f"| {r['family']} | {r['path']} | {r['threads']} | {r['events']} | "
            f"{r['seconds']:.3f} | {r['events_per_s']:.0f} | {r['compile_seconds']:.1f} | "
            f"{ratio} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from nanotrig.fileio import write_json, write_text

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000, help="events for the batched paths")
    ap.add_argument("--predict-events", type=int, default=20_000, help="events for predict()")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="harness threads")
    names = [*FAMILIES, GARNET]
    ap.add_argument("--families", nargs="+", default=names, choices=names)
    ap.add_argument("--out", type=Path, default=Path("runs/bench"), help="folder for json/md")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="nanotrig_csim_bench_") as tmp:
        result = run_benchmark(
            args.events, args.predict_events, sorted(args.threads), Path(tmp),
            tuple(args.families),
        )  # fmt: skip
    table = format_markdown(result)
    write_json(args.out / "csim_bench.json", result)
    write_text(args.out / "csim_bench.md", table)
    sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
