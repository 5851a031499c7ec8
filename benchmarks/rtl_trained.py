"""The TRAINED jet MLP for benchmarks/rtl_bench.py ``--data``: float model, 6-bit QAT (+ pruning),
conversion, da4ml cost and the built RTL, with the accuracies the firmware reaches.

The float 16-64-32-32-5 MLP and its QKeras model are trained with the project's own code
(``models.train_model``, ``quantize.quantize_model``: QAT from the float weights, pruning to
``sparsity`` during QAT) on a jet sample from ``nanotrig generate``, with the settings of a run
config (``configs/jet_mlp.yml``) except the input type, the sparsity, the per-layer settings
(``quantize.layers``: bits, pruned fraction) and the epochs given here.
Accuracies are on the sample's test jets (the run's split), with binomial errors; the RTL's
accuracy is the argmax of the Verilator logits on those jets (the softmax is monotonic).
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: The per-layer knobs of a variant (``LAYER.KEY=VALUE``) and the quantize config's names.
LAYER_KEYS = ("weights", "bias", "activation", "sparsity")


@dataclass(frozen=True)
class Variant:
    """One quantization of the MLP: the input type after standardisation, the pruning and
    per-layer overrides (``quantize.layers``: bits and pruned fraction of named layers)."""

    input_bits: int
    input_integer: int
    sparsity: float
    layers: tuple[tuple[str, str, str], ...] = ()

    @property
    def label(self) -> str:
        extra = "".join(f"-{n}.{k[0]}{v}" for n, k, v in self.layers)
        return f"in{self.input_bits}.{self.input_integer}-s{self.sparsity:g}{extra}"

    @classmethod
    def parse(cls, text: str) -> Variant:
        """``BITS.INTEGER:SPARSITY[,LAYER.KEY=VALUE...]`` (e.g. ``8.3:0.5`` or
        ``8.3:0.8,fc2.sparsity=0.9,relu2.activation=4``): KEY one of weights, bias,
        activation (VALUE ``BITS`` or ``BITS.INTEGER``) or sparsity (VALUE a fraction)."""
        head, *rest = text.split(",")
        try:
            bits, tail = head.split(".", 1)
            integer, sparsity = tail.split(":", 1)
            base = (int(bits), int(integer), float(sparsity))
        except ValueError:
            msg = f"bad variant {text!r}: write BITS.INTEGER:SPARSITY, e.g. 8.3:0.5"
            raise SystemExit(msg) from None
        layers = []
        for item in rest:
            name, _, kv = item.partition(".")
            key, _, value = kv.partition("=")
            if not name or key not in LAYER_KEYS or not value:
                raise SystemExit(
                    f"bad layer setting {item!r} in variant {text!r}: write LAYER.KEY=VALUE "
                    f"with KEY one of {', '.join(LAYER_KEYS)}, e.g. fc2.sparsity=0.9"
                )
            layers.append((name, key, value))
        variant = cls(*base, layers=tuple(layers))
        variant.layer_overrides()  # bad values refused here, before any training
        return variant

    def layer_overrides(self) -> dict:
        """The variant's ``quantize.layers`` (``LayerBits`` by layer name)."""
        from nanotrig.config import LayerBits

        raw: dict[str, dict[str, Any]] = {}
        for name, key, value in self.layers:
            if key == "sparsity":
                raw.setdefault(name, {})[key] = value
            else:
                b, _, i = value.partition(".")
                raw.setdefault(name, {})[key] = {"bits": b, "integer": i or 0}
        try:
            return {name: LayerBits.model_validate(v) for name, v in raw.items()}
        except ValueError as exc:
            first = str(exc).splitlines()
            msg = f"bad layer setting in variant {self.label}: {' '.join(first[:3])}"
            raise SystemExit(msg) from None


#: The Yosys figures kept in the benchmark's record.
YOSYS_KEYS = ("family", "lut", "ff", "carry", "dsp", "bram_18k", "muxf", "logic_depth", "seconds")


def rtl_figures(rec: dict[str, Any], threads: int) -> dict[str, Any]:
    """The figures of a ``build_rtl`` record that the RTL benchmarks print."""
    v, s = rec["verification"], rec["synthesis"] or {}
    return {
        "mode": rec["mode"],
        "clock_period_ns": rec["clock_period_ns"],
        "pipeline_stages": rec["pipeline_stages"],
        "latency_ns": rec["latency_ns"],
        "events": v["n_events"],
        "mismatching_events": v["mismatching_events"],
        "against": v["against"],
        "verilator_events_per_s": v["events_per_s"],
        "threads": threads,
        "yosys": {k: s.get(k) for k in YOSYS_KEYS},
        "yosys_skipped": rec["synthesis_skipped"],
        "da4ml_estimate": rec["da4ml_estimate"],
        "seconds": rec["seconds"],
        "versions": {k: rec["versions"].get(k) for k in ("da4ml", "verilator", "yosys")},
    }


def binomial(p: float, n: int) -> float:
    """Standard error of an accuracy ``p`` measured on ``n`` events."""
    return math.sqrt(max(p * (1 - p), 0.0) / n) if n else float("nan")


def load_config(path: Path, epochs: int | None, qat_epochs: int | None = None):
    """The run config, with the float and QAT epochs capped at ``epochs`` when given, and the
    QAT epochs set to ``qat_epochs`` (after that cap) when given."""
    from nanotrig.config import load_config as load

    cfg = load(path)
    model, quantize = cfg.model, cfg.quantize
    if epochs is not None:
        model = model.model_copy(update={"epochs": epochs})
        quantize = quantize.model_copy(update={"epochs": epochs})
    if qat_epochs is not None:
        quantize = quantize.model_copy(update={"epochs": qat_epochs})
    return cfg.model_copy(update={"model": model, "quantize": quantize})


def train_float(cfg, data: Path, work: Path, variant: Variant) -> dict:
    """The float model (its standardisation clipped to the variant's input type)."""
    from nanotrig.models import train_model

    from nanotrig.config import QuantBits

    model_input = QuantBits(bits=variant.input_bits, integer=variant.input_integer)
    return train_model(
        data, cfg.model, cfg.seed, work, force=True, raw_input=cfg.quantize.raw_input,
        model_input=model_input,
    )  # fmt: skip


def quantize_variant(cfg, data: Path, model_dir: Path, work: Path, variant: Variant) -> dict:
    """QAT (+ pruning) of the float model in ``model_dir`` into ``work``; the quantize record."""
    from nanotrig.quantize import quantize_model

    from nanotrig.config import QuantBits

    qcfg = cfg.quantize.model_copy(
        update={
            "input": QuantBits(bits=variant.input_bits, integer=variant.input_integer),
            "sparsity": variant.sparsity,
            "layers": {**cfg.quantize.layers, **variant.layer_overrides()},
        }
    )
    return quantize_model(model_dir, data, qcfg, cfg.seed, work, force=True)


def convert_variant(cfg, qdir: Path, work: Path, variant: Variant) -> Path:
    """hls4ml io_parallel project of the QKeras model (no budget gate: figures, not a run)."""
    from nanotrig.hls import convert_model

    from nanotrig.config import QuantBits

    hcfg = cfg.hls.model_copy(update={"latency_budget_ns": None, "ii_budget_ns": None})
    x = np.load(qdir / "test_inputs.npy")
    bits = QuantBits(bits=variant.input_bits, integer=variant.input_integer)
    convert_model(qdir / "qmodel.h5", work, hcfg, test_inputs=x, input_bits=bits, force=True)
    return work


def da4ml_cost(hls_dir: Path, solver_options: dict[str, Any] | None = None) -> dict:
    """da4ml's own LUT estimate and adder depth of the traced project (no Verilog), and the
    fraction of the Dense kernels' quantized weights that are zero."""
    import tempfile

    from hls4ml.utils.serialization import deserialize_model
    from nanotrig.hls._capture import captured_stdout
    from nanotrig.hls.convert import HLS_MODEL_FILE
    from nanotrig.rtl.layers import read_layers
    from nanotrig.rtl.trace import trace_layers

    with tempfile.TemporaryDirectory(prefix="nanotrig_cost_") as work, captured_stdout():
        hls_model = deserialize_model(hls_dir / HLS_MODEL_FILE, output_dir=work)
        layers = read_layers(hls_model)
        trace = trace_layers(layers, solver_options=solver_options)
    dense = [la for la in layers.layers if la.kind == "dense"]
    w = np.concatenate([la.weights.ravel() for la in dense])
    return {
        "zero_weights": round(float(np.mean(w == 0)), 4),
        "nonzero_weights": {la.name: int(np.count_nonzero(la.weights)) for la in dense},
        "lut": round(float(trace.comb.cost), 1),
        "adder_depth": float(max(trace.comb.out_latency)),
        "seconds": round(trace.seconds, 2),
    }


def speed_events(x_test: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` events resampled from the test jets, smeared by 5 % of each feature's spread
    (as the run's stress events), for the Verilator speed and a larger exactness check."""
    rng = np.random.default_rng(seed)
    pick = x_test[rng.integers(0, len(x_test), n)]
    noise = rng.standard_normal(pick.shape).astype(np.float32)
    return (pick + 0.05 * x_test.std(axis=0) * noise).astype(np.float32)


def run_variant(
    cfg, data: Path, work: Path, variant: Variant, *, n_events: int, threads: int,
    solver_options: dict[str, Any] | None, build: bool, synth: bool, family: str = "xcup",
    float_cache: dict | None = None,
) -> dict:  # fmt: skip
    """Train, quantize, convert and (``build``) build the RTL of one variant; the figures.

    ``float_cache`` (input type -> (model folder, record)) reuses a float model trained for an
    earlier variant with the same input type (the same seeded training, not repeated)."""
    from nanotrig.hls import edge_inputs
    from nanotrig.rtl import build_rtl

    secs: dict[str, float] = {}
    t0 = time.perf_counter()
    key = (variant.input_bits, variant.input_integer)
    if float_cache is not None and key in float_cache:
        src, frec = float_cache[key]
        shutil.copytree(src, work / "model", dirs_exist_ok=True)
    else:
        frec = train_float(cfg, data, work / "model", variant)
        if float_cache is not None:
            float_cache[key] = (work / "model", frec)
    secs["train"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    qrec = quantize_variant(cfg, data, work / "model", work / "qmodel", variant)
    secs["qat"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    hls_dir = convert_variant(cfg, work / "qmodel", work / "hls", variant)
    secs["convert"] = round(time.perf_counter() - t0, 1)
    m = qrec["metrics"]
    n = qrec["accuracy_change"]["n_events"]
    f_acc, q_acc = m["float"]["accuracy"], m["quantized"]["accuracy"]
    out: dict[str, Any] = {
        "variant": variant.label,
        "input_type": f"quantized_bits({variant.input_bits},{variant.input_integer})",
        "sparsity": variant.sparsity,
        "layers": [list(t) for t in variant.layers],
        "weight_sparsity": qrec["weight_sparsity"],
        "n_test": n,
        "float_model_epochs": frec.get("epochs_run"),
        "qat_epochs": qrec["epochs_run"],
        "float_accuracy": [f_acc, binomial(f_acc, n)],
        "qkeras_accuracy": [q_acc, binomial(q_acc, n)],
        "qkeras_minus_float": [qrec["accuracy_change"]["value"], qrec["accuracy_change"]["error"]],
        "solver_options": solver_options or {},
        "da4ml": da4ml_cost(hls_dir, solver_options),
        "seconds": secs,
    }
    if not build:
        return out
    x_test = np.load(work / "qmodel" / "test_inputs.npy")
    y_test = np.load(work / "qmodel" / "test_labels.npy")
    extra = speed_events(x_test, max(0, n_events - len(x_test)))
    x = np.concatenate([x_test, edge_inputs(hls_dir).reshape(-1, x_test.shape[1]), extra])
    rec = build_rtl(
        hls_dir, work / "rtl", x, family=family, synth=synth, threads=threads, force=True,
        solver_options=solver_options,
    )  # fmt: skip
    logits = np.load(work / "rtl" / "rtl_outputs.npy")[: len(x_test)]
    r_acc = float(np.mean(logits.argmax(axis=1) == y_test))
    figures = rtl_figures(rec, threads)
    figures["rtl_seconds"] = figures.pop("seconds")
    out.update({"rtl_accuracy": [r_acc, binomial(r_acc, n)], **figures})
    return out


def _pm(pair: list[float]) -> str:
    return f"{100 * pair[0]:.2f} +- {100 * pair[1]:.2f} %"


def format_trained(rows: list[dict], goals: dict) -> str:
    """A markdown table of the variants (and the goals, measured, for the built ones)."""
    head = ["variant", "zero weights", "float acc.", "6-bit QKeras acc.", "QKeras - float",
            "da4ml LUT est.", "adder depth"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        d = r["qkeras_minus_float"]
        lines.append(
            f"| {r['variant']} {r['solver_options'] or ''} | "
            f"{100 * r['da4ml']['zero_weights']:.0f} % | "
            f"{_pm(r['float_accuracy'])} | {_pm(r['qkeras_accuracy'])} | "
            f"{100 * d[0]:+.2f} +- {100 * d[1]:.2f} % | {r['da4ml']['lut']:,.0f} | "
            f"{r['da4ml']['adder_depth']:.0f} |"
        )
    for r in rows:
        if "rtl_accuracy" not in r:
            continue
        y = r["yosys"]
        depth = f"{r['pipeline_stages']} cycles = {r['latency_ns']} ns" if r["pipeline_stages"] \
            else "combinational"  # fmt: skip
        lines += [
            "",
            f"Built: {r['variant']} {r['solver_options'] or ''}",
            "",
            f"- RTL: {r['mode']}, {depth} at {r['clock_period_ns']} ns",
            f"- Yosys {y['family']}: LUT {y['lut']}, FF {y['ff']}, CARRY {y['carry']}, "
            f"DSP {y['dsp']}, BRAM18 {y['bram_18k']}, logic depth {y['logic_depth']}"
            if y.get("lut") is not None else f"- Yosys skipped: {r['yosys_skipped']}",
            f"- accuracy on {r['n_test']:,} test jets: float {_pm(r['float_accuracy'])}, "
            f"QKeras {_pm(r['qkeras_accuracy'])}, RTL (Verilator logits) {_pm(r['rtl_accuracy'])}",
            f"- exactness: {r['mismatching_events']} of {r['events']:,} events differ "
            "(vs QKeras logits, da4ml predict, integer kernel)",
            f"- Verilator: {r['verilator_events_per_s']:,.0f} events/s, {r['threads']} thread(s)",
            f"- seconds: {r['seconds']} {r['rtl_seconds']}",
            "",
            "Issue 15's goals, measured (not asserted):",
            "",
        ]  # fmt: skip
        lut, eps = y.get("lut"), r["verilator_events_per_s"] or 0
        drop = r["float_accuracy"][0] - r["rtl_accuracy"][0]
        if lut is not None:
            ok = "met" if lut <= goals["lut"] else "NOT met"
            lines.append(f"- LUT <= {goals['lut']:,}: {lut:,} ({ok})")
            lines.append(f"- DSP = 0: {y['dsp']} ({'met' if y['dsp'] == 0 else 'NOT met'})")
        lines.append(f"- Verilator >= {goals['events_per_s']:,} events/s: {eps:,.0f} "
                     f"({'met' if eps >= goals['events_per_s'] else 'NOT met'})")  # fmt: skip
        lines.append(
            f"- accuracy within 1 % of float: float - RTL = {100 * drop:+.2f} % (paired error "
            f"{100 * r['qkeras_minus_float'][1]:.2f} %; {'met' if drop <= 0.01 else 'NOT met'})"
        )
    return "\n".join(lines) + "\n"
