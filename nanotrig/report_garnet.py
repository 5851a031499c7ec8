"""report.md of a GarNet tagger run: accuracy and AUC, firmware scope, C-sim checks, ONNX."""

from __future__ import annotations

from nanotrig.report import _estimate_section, _fmt, _table

__all__ = ["render_garnet_markdown"]


def _check_row(what: str, v: dict) -> list:
    return [what, v["n_events"], v["n_mismatch"], v["max_abs_diff"], "yes" if v["ok"] else "NO"]


def render_garnet_markdown(r: dict) -> str:
    """Human-readable summary of a ``jet_garnet`` run report."""
    s, t, q, h, v, e = (r[k] for k in ("samples", "train", "quantize", "hls", "verify", "export"))
    qb = q["garnet_quantizer"]
    lines = [f"# nanotrig run `{r['name']}`: GarNet jet tagger", ""]
    lines += [
        f"Seed {r['seed']}. Stage timings (s): "
        + ", ".join(f"{k} {val}" for k, val in r["timings_s"].items())
        + ".",
        "",
        "## Sample and model",
        "",
        f"{s.get('n_jets', '-')} jets ({s['path']}); split {t['sizes']}. Inputs: the "
        f"{t['inputs']['shape'][0]} hardest constituents x {t['inputs']['shape'][1]} features "
        "(ln pT, 5 eta_rel, 5 phi_rel, 5 dR) plus the vertex count. Model: GarNet (simplified, "
        "collapse mean, 4 aggregators, 8 propagated, 8 outputs), Dense(16) + ReLU, Dense + "
        f"softmax; {t['parameters']} parameters, {t['epochs_run']} epochs.",
        "",
        f"Quantization: the GarNet layer as `QGarNet` with `quantized_bits({qb['bits']},"
        f"{qb['integer']})` transforms, {q['training']} ({q['epochs_run']} QAT epochs).",
        "",
        "**Firmware scope: " + ", ".join(h["in_firmware"]) + " are converted to HLS and "
        "C-simulated (the tagger up to its logits); "
        + ", ".join(h["outside_firmware"])
        + " runs outside the firmware, in float.** The firmware row below is the softmax of "
        "the emulated logits, which equal the C-simulation bit for bit.",
        "",
        "## Test-set performance",
        "",
    ]
    m = r["metrics"]
    classes = list(next(iter(m.values()))["auc"])
    rows = [[k, x["accuracy"], *[x["auc"][c] for c in classes]] for k, x in m.items()]
    extra = [("QGarNet before QAT (post-training)", q["metrics_before_qat"]),
             ("QGarNet QAT, float head", q["metrics_after_qat_float_head"])]  # fmt: skip
    for i, (label, x) in enumerate(extra, start=1):
        rows.insert(i, [label, x["accuracy"], *[x["auc"][c] for c in classes]])
    lines += _table(["model", "accuracy", *[f"AUC {c}" for c in classes]], rows)
    fw = m["firmware logits + softmax"]
    lines += [
        "QGarNet QAT: the QAT tagger with its Dense head rounded to ap_fixed<16,6>, the model "
        "converted. Firmware vs that QKeras tagger: argmax agreement "
        f"{_fmt(fw['argmax_agreement_vs_qkeras'])} on {fw['n_events']} test jets.",
        "",
        "## Firmware precisions",
        "",
    ]
    rows = [[f"GarNet {k}", p] for k, p in h["precisions"].items()]
    rows += [[f"Dense head {k}", p] for k, p in h.get("head_precisions", {}).items()]
    lines += _table(["type", "precision"], rows)
    lines += [
        f"distance: {h['distance_t']}; reuse factor {h['reuse_factor']}. Project: "
        f"`{h['project_dir']}`.",
        "",
    ]
    lines += _estimate_section(h.get("estimate")) or [
        "No latency/resource estimate: hls/estimate.py cannot model a layer of this graph.",
        "",
    ]
    lines += [
        "## C-simulation vs emulator (bit for bit)",
        "",
    ]
    rows = [_check_row(f"jets ({v['test_jets']} test jets first)", v)]
    if "edge_inputs" in v:
        rows.append(_check_row("edge inputs", v["edge_inputs"]))
    lines += _table(["inputs", "events", "mismatching events", "max abs diff", "identical"], rows)
    k = v["emulator_vs_keras"]
    tol = k["tolerance"]
    lines += [
        "## Emulator vs the QKeras GarNet layer (not exact)",
        "",
        f"On {k['n_events']} jets, largest |output| {k['max_abs_output']:.3f}: max |diff| "
        f"{k['max_abs_diff']:.4f} ({100 * k['max_rel_diff']:.2f} %, tolerance "
        f"{100 * tol['max_rel']:g} %), mean {k['mean_abs_diff']:.5f} "
        f"({100 * k['mean_rel_diff']:.3f} %, tolerance {100 * tol['mean_rel']:g} %); "
        f"{k['saturated_events']} jets with a saturated distance sum (max |diff| "
        f"{k['saturated_max_abs_diff']:.4f}; allowed share {100 * tol['saturated_fraction']:g} %)"
        f": **{'within tolerance' if k['ok'] else 'OUTSIDE tolerance'}**. The 12-bit distance "
        "that indexes hls4ml's exp table dominates (README, GarNet section).",
        "",
        "## ONNX",
        "",
        f"Float tagger: {e['onnx']} (inputs {', '.join(e['inputs'])}) on "
        f"{', '.join(e['providers'])}: max |ONNX - Keras| = {e['max_abs_diff']:.3g} (tolerance "
        f"{e['atol']:g}), argmax agreement {_fmt(e['argmax_agreement'])} on {e['n_events']} "
        f"test jets: **{'agrees' if e['agrees'] else 'DISAGREES'}**.",
        "",
    ]
    eq = r.get("export_quantized")
    if eq:
        lines += [
            f"Quantized tagger (tf2onnx of the QGarNet graph, its quantizers as float32 ops): "
            f"{eq['onnx']}: max |ONNX - QKeras| = {eq['max_abs_diff']:.3g} (tolerance "
            f"{eq['atol']:g}; not bit-identical: float32 round-off differs between TensorFlow's "
            "and onnxruntime's kernels for the layer), "
            f"argmax agreement {_fmt(eq['argmax_agreement'])}: "
            f"**{'agrees' if eq['agrees'] else 'DISAGREES'}**. No QDQ form: the QDQ builder "
            "(export/qdq.py) takes chains of standard layers, not GarNet.",
            "",
        ]
    lines += [
        "## Plots",
        "",
    ]
    lines += [f"![{name}]({p})" for name, p in r["plots"].items()]
    return "\n".join(lines) + "\n"
