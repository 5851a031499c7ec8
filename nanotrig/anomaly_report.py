"""report.md of an anomaly-VAE run: per-signal AUC and TPR, precisions, C-sim, ONNX, plots."""

from __future__ import annotations

from nanotrig.report import _table, _verify_section, hls_section

__all__ = ["render_anomaly_markdown"]


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f} %"


def _metric_rows(label: str, m: dict) -> list[list]:
    return [
        [name, label, r["n_events"], r["auc"], _pct(r["tpr_at_target"]),
         _pct(r["tpr_at_min_fpr"]), _pct(r["tpr_at_zero_bkg"]),
         _pct(r["tpr_at_fpr"].get("0.001"))]
        for name, r in m["signals"].items()
    ]  # fmt: skip


def _no_argmax(v: dict) -> dict:
    """A verify record without argmax agreement (meaningless for a single score)."""
    out = {k: val for k, val in v.get("output", {}).items() if k != "argmax_agreement"}
    return {**v, "output": out}


def _quantized_onnx_lines(eq: dict) -> list[str]:
    """The QDQ score model and its check against QKeras (``export.qcheck``, tolerance 0)."""
    if "error" in eq:
        return [f"QKeras score model, QDQ ONNX: **NOT identical**: {eq['error']}", ""]
    n = eq["n_events"]
    lines = [
        f"QKeras score model as a QDQ ONNX graph {eq['onnx']} ({eq['method']}): score max "
        f"|ONNX - QKeras| {eq['max_abs_diff_outputs']:.3g} in the traced graph "
        f"({round(eq['frac_events_logits_differ'] * n)} of {n} test events differ), "
        f"{eq['file_max_abs_diff_outputs']:.3g} for the file as onnxruntime optimises "
        f"it: **{'identical' if eq['exact'] else 'NOT identical'}**.",
        "",
    ]
    if eq.get("layer_plan"):
        lines += ["Layer plan: " + "; ".join(eq["layer_plan"]) + ".", ""]
    return lines


def render_anomaly_markdown(r: dict) -> str:
    """Human-readable summary of an anomaly-VAE run report."""
    s, t, q, h = r["samples"], r["train"], r["quantize"], r["hls"]
    m, qc = r["config"]["model"], r["config"]["quantize"]
    fm, qm = q["metrics"]["float"], q["metrics"]["quantized"]
    lines = [f"# nanotrig run `{r['name']}`: anomaly-trigger VAE (AXOL1TL-like)", ""]
    lines += ["Seed " + str(r["seed"]) + ". Stage timings (s): "
              + ", ".join(f"{k} {v}" for k, v in r["timings_s"].items()) + ".", ""]  # fmt: skip
    lines += ["## Sample", ""]
    lines += [
        f"{s['n_events']} L1 events (Pythia 8 + parametric detector, {s['path']}): "
        + ", ".join(f"{k} {v}" for k, v in s["n_per_process"].items())
        + f". Trained on SM background only; split {t['sizes']}.",
        "",
    ]
    sc = t["input_scaling"]
    lines += [
        "Inputs: the 57 features times 2^-shift per group, rounded to "
        f"{sc.get('input_type', 'the input type')} (LSB {sc.get('input_lsb', '-')}): a bit "
        "shift of the integer L1 words, no multiplier. Shifts: "
        + ", ".join(f"{k} {v}" for k, v in sc["shifts"].items())
        + ".",
        "",
        f"Model: encoder 57 -> {' -> '.join(map(str, m['vae_hidden']))} -> mu, log_var "
        f"(latent {m['latent_dim']}), mirrored decoder; loss (1 - {m['kl_beta']}) MSE + "
        f"{m['kl_beta']} KL. Deployed: encoder to mu, mu quantized as "
        f"quantized_bits({qc['latent']['bits']},{qc['latent']['integer']}), then "
        "Multiply(mu, mu) and a frozen all-ones Dense(1): score = sum(mu^2) in firmware.",
        "",
        "## Anomaly detection (test events)",
        "",
        qm["statement"],
        "",
    ]
    header = ["signal", "model", "events", "AUC", "TPR @ FPR 1e-5", "TPR @ FPR 1/N",
              "TPR @ 0 bkg", "TPR @ FPR 1e-3"]  # fmt: skip
    lines += _table(header, _metric_rows("float", fm) + _metric_rows("QKeras", qm))
    lines += hls_section(r, f"Precisions from the quantizers ({h['precision_mechanism']}).")
    lines += ["## C-simulation vs QKeras (score layers included)", ""]
    lines += _verify_section("Real events (test events first)", _no_argmax(r["verify"]))
    if "edge_inputs" in r["verify"]:
        lines += _verify_section("Edge inputs (zeros, maxima, saturation)",
                                 _no_argmax(r["verify"]["edge_inputs"]))  # fmt: skip
    if r["verify"].get("stress"):
        st = _no_argmax(r["verify"]["stress"])
        lines += _verify_section(f"Large batched check: {st['n_events']:,} resampled events", st)
    e, eq = r["export"], r["export_quantized"]
    lines += ["## ONNX (onnxruntime)", ""]
    lines += [
        f"Float score model {e['onnx']}: max |ONNX - Keras| = {e['max_abs_diff']:.3g} "
        f"(tolerance {e['atol']:g}) on {e['n_events']} events: "
        f"**{'agrees' if e['agrees'] else 'DISAGREES'}**.",
        "",
    ]
    lines += _quantized_onnx_lines(eq)
    lines += ["## Plots", ""]
    lines += [f"![{k}]({v})" for k, v in r["plots"].items()]
    return "\n".join(lines) + "\n"
