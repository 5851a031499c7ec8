"""One-screen summaries of the CLI verbs' records (``--json`` prints the whole record instead).

Each summary says what was written where and the headline figures; the full record is in the
artifact JSON beside the output (and on stdout with ``--json``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["SUMMARIES", "summary_lines"]


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _counts(d: dict[str, Any] | None) -> str:
    return ", ".join(f"{k} {v}" for k, v in (d or {}).items())


def _generate(r: dict[str, Any]) -> list[str]:
    if "n_jets" in r:
        what = f"{r['n_jets']} jets ({_counts(r.get('n_per_class'))})"
    elif "n_maps" in r:
        what = f"{r['n_maps']} DQM maps ({_counts(r.get('maps_per_fault'))})"
    else:
        what = f"{r.get('n_events')} L1 events ({_counts(r.get('n_per_process'))})"
    return [f"wrote {r['path']}: {what} in {r.get('seconds', 0):.0f} s"]


def _validate(r: dict[str, Any]) -> list[str]:
    plots = r.get("plots") or []
    where = str(Path(plots[0]).parent) if plots else "-"
    return [
        f"checked {r['path']} ({r['kind']}, {r.get('n')} rows): valid",
        f"wrote {len(plots)} plots and validation.json to {where}",
    ]


def _metric_line(name: str, m: dict[str, Any]) -> str:
    """The headline test figures of a metrics record (tagger, anomaly VAE or DQM autoencoder)."""
    if "signals" in m:  # anomaly: AUC per signal
        aucs = ", ".join(f"{k} {v['auc']:.3f}" for k, v in m["signals"].items())
        return f"{name} AUC per signal: {aucs}"
    if "auc_any_fault" in m:  # DQM autoencoder
        loc = m.get("localisation")
        return f"{name} fault-detection AUC {m['auc_any_fault']:.4f}" + (
            f", localisation {loc:.3f}" if loc is not None else ""
        )
    auc = m.get("auc")
    mean_auc = sum(auc.values()) / len(auc) if isinstance(auc, dict) and auc else float("nan")
    return f"{name} test accuracy {m.get('accuracy', float('nan')):.4f}, mean AUC {mean_auc:.4f}"


def _train(r: dict[str, Any]) -> list[str]:
    head = f"wrote {r['model']} ({r.get('epochs_run')} epochs, {r.get('seconds', 0):.0f} s)"
    if "parameters" in r:
        head = head[:-1] + f", {r['parameters']} parameters)"
    return [head, _metric_line("float", r.get("metrics") or {})]


def _quantize(r: dict[str, Any]) -> list[str]:
    if r.get("mode") == "ptq":
        return _ptq(r)
    m = r.get("metrics") or {}
    lines = [f"wrote {r['model']} ({r.get('epochs_run')} QAT epochs, {r.get('seconds', 0):.0f} s)"]
    for key in ("float", "quantized"):
        if key in m:
            lines.append(_metric_line(key, m[key]))
    if m and "quantized" not in m:  # GarNet: the quantized model's metrics only
        lines.append(_metric_line("quantized", m))
    if "accuracy_drop" in r:
        lines.append(f"accuracy drop {r['accuracy_drop']:+.4f}")
    return lines


def _ptq(r: dict[str, Any]) -> list[str]:
    folds = r.get("batchnorm_folded") or []
    lines = [
        f"wrote {r['model']} (post-training quantization of {r['float_model']}, no training)",
        f"input quantizer quantized_bits({r['input_quantizer']['bits']},"
        f"{r['input_quantizer']['integer']}); {len(r['quantizers'])} Dense/Conv layers quantized"
        + (f"; BatchNormalization folded: {_folds(folds)}" if folds else ""),
    ]
    for what in ("weights", "activations"):
        sat = {k: v for k, v in (r.get(f"saturated_{what}") or {}).items() if v > 0}
        if sat:
            lines.append(
                f"saturated {what} (give these more integer bits): "
                + ", ".join(f"{k} {100 * v:.1f}%" for k, v in sat.items())
            )
    acc, change = r.get("accuracy"), r.get("accuracy_change")
    if acc and change:
        lines.append(
            f"accuracy on {r['n_events']} events: float {acc['float']:.4f}, quantized "
            f"{acc['quantized']:.4f}, paired change {100 * change['value']:+.2f} "
            f"± {100 * change['error']:.2f} points"
        )
    elif r.get("agreement"):
        a = r["agreement"]
        arg = a.get("argmax_agreement")
        agree = f", argmax agreement {arg:.4f}" if arg is not None else ""
        lines.append(
            f"float vs quantized on {r['n_events']} events (no labels): max|diff| "
            f"{a['max_abs_diff']:.3g}{agree}"
        )
    else:
        lines.append("no inputs given: pass --inputs (and --labels) for the accuracy change")
    return lines


def _folds(folds: list[dict[str, Any]]) -> str:
    def one(f: dict[str, Any]) -> str:
        sat = f.get("saturated_weights")
        return f"{f['layer']} into {f['folded_into']}" + (
            f" ({100 * sat:.1f}% of its weights saturate)" if sat else ""
        )

    return ", ".join(one(f) for f in folds)


def _convert(r: dict[str, Any]) -> list[str]:
    precisions = r.get("precisions") or {}
    lut = r.get("lut_layers") or []
    lines = [
        f"wrote {r['out']}/{r['project_dir']} and conversion.json",
        f"precisions: {len(precisions)} layers bit-exact by construction"
        + (f", {len(lut)} lookup-table ({', '.join(lut)})" if lut else ""),
    ]
    bn = r.get("batchnorm")
    if bn:
        change = bn.get("change_vs_given_model")
        lines.append(
            f"BatchNormalization folded (as QKeras QConv2DBatchnorm): {_folds(bn['folded'])}; "
            "the reference is the folded model"
            + (
                f" (vs the model as given on the test vectors: max|diff| "
                f"{change['max_abs_diff']:.3g})"
                if change
                else ""
            )
        )
    est = r.get("estimate")
    if est is None:
        lines.append("estimate: none (the graph holds a layer the estimate does not model)")
        return lines
    lines.append(
        f"estimate (not synthesis): latency {est['latency_ns']:g} ns "
        f"({est['latency_cycles']} cycles at {est['clock_ns']:g} ns), II {est['ii_ns']:g} ns"
    )
    res = f"DSP {est['dsp']}, LUT {est['lut']}, FF {est['ff']}, BRAM_18K {est['bram']}"
    share = est.get("device_share")
    if share:
        res += (
            f" = {share['dsp_pct']:.2g} / {share['lut_pct']:.2g} / {share['ff_pct']:.2g} / "
            f"{share['bram_pct']:.2g} % of {share['part']}"
        )
    lines.append(f"resources: {res}")
    budget = est.get("budget")
    if budget is None:
        lines.append("budget: none set (--latency-budget-ns, --ii-ns)")
    else:
        limits = ", ".join(
            f"{k.removesuffix('_budget_ns')} <= {v:g} ns"
            for k, v in budget.items()
            if k.endswith("_budget_ns") and v is not None
        )
        lines.append(f"budget: within ({limits})")
    return lines


def _synth(r: dict[str, Any]) -> list[str]:
    s = r.get("synthesis") or {}
    res = ", ".join(f"{k.upper()} {s.get(k)}" for k in ("dsp", "lut", "ff", "bram"))
    return [
        f"{r['tool']} report {r['report_path']} and synth.json ({r.get('seconds', 0):.0f} s)",
        f"synthesis: latency {s.get('latency_worst_ns')} ns ({s.get('latency_worst_cycles')} "
        f"cycles, worst case), II {s.get('ii_max_cycles')} cycles; {res}",
    ]


def _export(r: dict[str, Any]) -> list[str]:
    verdict = "agrees" if r["agrees"] else "DISAGREES"
    return [
        f"wrote {r['onnx']} (opset {r['opset']}) and artifact.json",
        f"onnxruntime {verdict} with Keras on {r['n_events']} events: max |diff| "
        f"{r['max_abs_diff']:.3g} (atol {r['atol']:g}), argmax agreement "
        f"{r['argmax_agreement']:.4f}",
    ]


def _export_qdq(r: dict[str, Any]) -> list[str]:
    verdict = "within" if r["agrees"] else "NOT within"
    return [
        f"wrote {r['onnx']} (integer QDQ, opset {r['opset']}) and qdq_artifact.json",
        f"QDQ vs QKeras on {r['n_events']} events: {r['exactness']}",
        f"the written file vs QKeras outputs: max |diff| {r['file_max_abs_diff_outputs']:.3g}, "
        f"{verdict} atol {r['atol']:g}; argmax agreement {r['file_argmax_agreement']:.4f}",
    ]


def _infer(r: dict[str, Any]) -> list[str]:
    return [
        f"wrote {r['out']}: predictions of shape {tuple(r['output_shape'])}",
        f"{r['n_events']} events on {r['providers'][0]} in {r['seconds']:.3g} s"
        + (f" ({r['events_per_s']:.0f} events/s)" if r.get("events_per_s") else ""),
    ]


SUMMARIES: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "generate": _generate,
    "samples validate": _validate,
    "train": _train,
    "quantize": _quantize,
    "convert": _convert,
    "synth": _synth,
    "export": _export,
    "export qdq": _export_qdq,
    "infer": _infer,
}


def summary_lines(verb: str, record: dict[str, Any]) -> list[str]:
    """The human summary of ``verb``'s record: a few lines. A record without the keys the
    summary reads (a family of one's own may return any record) gets a generic line."""
    try:
        return SUMMARIES[verb](record)
    except (KeyError, TypeError, ValueError, AttributeError):
        written = [str(v) for k, v in record.items() if k in ("model", "onnx", "path", "out")]
        where = f": {', '.join(written)}" if written else ""
        return [f"{verb} done{where} (--json prints the whole record: {', '.join(record)})"]
