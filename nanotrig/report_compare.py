"""``report.md`` of ``nanotrig compare``: the jet taggers side by side on the same test jets."""

from __future__ import annotations

from typing import Any

from nanotrig.report import table

__all__ = ["render_compare_markdown"]

_MODEL_NAMES = {"float": "float", "quantized": "quantized (QAT)", "firmware": "firmware"}


def _shape(row: dict[str, Any]) -> str:
    shape = row["inputs"].get("shape")
    return "x".join(map(str, shape)) if shape else "-"


def render_compare_markdown(r: dict[str, Any]) -> str:
    """Human-readable summary of a comparison report."""
    rows, s = r["taggers"], r["samples"]
    classes = list(next(iter(rows.values()))["metrics"]["quantized"]["auc"])
    lines = [f"# nanotrig compare `{r['name']}`: jet taggers on the same test jets", ""]
    lines += [
        f"Seed {r['seed']}. One sample: {s['n_jets']} Pythia 8 + FastJet jets ({s['path']}); "
        "per class " + ", ".join(f"{k} {v}" for k, v in s["n_per_class"].items()) + ". "
        f"Every tagger was trained with the same stratified split and tested on the same "
        f"{r['test_jets']} test jets (checked: identical split indices).",
        "",
        "## Accuracy and AUC (test jets)",
        "",
    ]
    acc_rows = []
    for label, row in rows.items():
        for model, m in row["metrics"].items():
            name = _MODEL_NAMES.get(model, model)
            acc_rows.append([label, name, m["accuracy"], *[m["auc"][c] for c in classes]])
    lines += table(["tagger", "model", "accuracy", *[f"AUC {c}" for c in classes]], acc_rows)
    lines += [
        "The firmware row (GarNet) is the softmax of the C-simulated logits; for the MLP and "
        "CNN the C-simulation equals the quantized model bit for bit up to the logits (below); "
        "their firmware softmax is a lookup table, so their firmware scores differ from the "
        "quantized rows by its rounding (argmax agreement in each tagger's report).",
        "",
        f"![ROC per class, quantized taggers]({r['plots']['roc_compare']})",
        "",
        "## Firmware",
        "",
    ]
    fw_rows = []
    for label, row in rows.items():
        c, e = row["csim"], row["estimate"] or {}
        fw_rows.append(
            [
                label,
                row["family"],
                _shape(row),
                row["parameters"],
                f"{c['mismatching_events']} / {c['events']} vs {c['reference']}",
                "yes" if c["bit_exact"] else "NO",
                "-" if e.get("latency_ns") is None else f"{e['latency_ns']:g}",
                e.get("dsp"),
                e.get("lut"),
                "yes" if row["onnx_agrees"] else "NO",
            ]
        )
    lines += table(
        [
            "tagger", "family", "input", "parameters", "C-sim mismatching events",
            "bit-exact", "latency estimate (ns)", "DSP", "LUT", "ONNX agrees",
        ],
        fw_rows,
    )  # fmt: skip
    lines += [
        "C-sim events: the test jets, the edge inputs and any batched large check of the "
        "tagger's config. Latency and resources are nanotrig's estimate (hls/estimate.py), not "
        "synthesis ('-': no estimate). Each tagger's own report (precisions, per-layer checks, "
        "plots): " + ", ".join(f"[{k}]({v['report']})" for k, v in rows.items()),
        "",
    ]
    if r["failures"]:
        lines += ["## Failed checks", ""]
        lines += [f"- {k}: {v}" for k, v in r["failures"].items()]
        lines.append("")
    return "\n".join(lines)
