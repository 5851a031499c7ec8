"""report.md from the run's report.json: the figures a physicist checks first."""

from __future__ import annotations

__all__ = ["hls_section", "render_markdown"]


def _fmt(v, nd: int = 4) -> str:
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return "-" if v is None else str(v)


def _table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return [*out, ""]


def _verify_section(title: str, v: dict) -> list[str]:
    lines = [f"### {title}", ""]
    lines.append(
        f"{v.get('n_events', '-')} events; bit-exact outside lookup-table activations: "
        f"**{'yes' if v.get('ok') else 'NO'}**"
    )
    lines.append("")
    rows = [
        [r["layer"], r["kind"], r["n_events"], r["n_mismatch"], r.get("max_abs_diff")]
        for r in v.get("layers", [])
    ]
    if v.get("batched"):
        out = v.get("output", {})
        rows.append(["(output)", out.get("kind"), out.get("n_events"), out.get("n_mismatch"),
                     out.get("max_abs_diff")])  # fmt: skip
    lines += _table(["layer", "comparison", "events", "mismatches", "max abs diff"], rows)
    out = v.get("output", {})
    if "argmax_agreement" in out:
        lines += [f"argmax agreement (C-sim vs QKeras): {_fmt(out['argmax_agreement'])}", ""]
    return lines


def _ns(v) -> str:
    return "none" if v is None else f"{v:g} ns"


def _estimate_section(est: dict | None, hls_dir: str = "hls") -> list[str]:
    """Per-layer latency/resource ESTIMATE (hls/estimate.py), the budget check and its plot."""
    if not est:
        return []
    lines = ["### Latency and resources: estimate, not synthesis", ""]
    lines += [
        f"Estimated latency {est['latency_cycles']} cycles = {est['latency_ns']} ns at "
        f"{est['clock_ns']} ns, II {est['ii_cycles']} cycles ({est['ii_ns']} ns); "
        f"DSP {est['dsp']}, LUT {est['lut']}, FF {est['ff']}, BRAM_18K {est['bram']} "
        f"({est.get('confidence', 'estimate')}).",
        "",
    ]
    budget = est.get("budget")
    if budget:
        lines += [
            f"Budget: latency {_ns(budget['latency_budget_ns'])}, II "
            f"{_ns(budget['ii_budget_ns'])}: **{'met' if budget['ok'] else 'EXCEEDED'}**.",
            "",
        ]
    rows = [
        [
            r["name"], r["class_name"], r["precision"], f"{r['n_nonzero']}/{r['n_mult']}",
            r["n_dsp_mult"], r["n_lut_mult"], r["dsp"], r["lut"], f"{r['cycles']:.2f}",
            f"{r['latency_ns']:.1f}",
        ]
        for r in est.get("layers", [])
    ]  # fmt: skip
    header = ["layer", "class", "precision", "nonzero/mults", "DSP mults", "LUT mults"]
    lines += _table([*header, "DSP", "LUT", "cycles", "ns"], rows)
    if est.get("plot"):
        lines += [f"![latency budget per layer]({hls_dir}/{est['plot']})", ""]
    return lines


#: Readable name of each model family, for titles.
_FAMILY_NAMES = {"jet_mlp": "jet MLP", "jet_cnn": "jet CNN"}


def _family(r: dict) -> str:
    return r["config"]["model"].get("family", "jet_mlp")


def _model_line(r: dict) -> str:
    m, family = r["config"]["model"], _family(r)
    inputs = r["train"].get("inputs") or {"kind": "features", "shape": None}
    shape = "x".join(map(str, inputs["shape"])) if inputs.get("shape") else "-"
    if family == "jet_cnn":
        arch = (
            f"Conv2D({m['kernel_size']}x{m['kernel_size']}) + ReLU + MaxPooling2D("
            f"{m['pool_size']}) blocks with {m['conv_filters']} filters, Flatten, Dense "
            f"{m['dense']}, softmax"
        )
        what = f"jet images ({shape}, pT fractions)"
    else:
        arch = f"hidden layers {m['hidden']}"
        what = f"{inputs['kind']} ({shape})"
    name = _FAMILY_NAMES.get(family, family)
    return f"Model: {name} (`{family}`) on {what}: {arch}."


def render_markdown(r: dict) -> str:
    """Human-readable summary of a run report."""
    s, q, e = r["samples"], r["quantize"], r["export"]
    fm, qm = q["metrics"]["float"], q["metrics"]["quantized"]
    title = _FAMILY_NAMES.get(_family(r), _family(r))
    lines = [f"# nanotrig run `{r['name']}`: {title} tagger", ""]
    lines += [f"Seed {r['seed']}. Stage timings (s): "]
    lines[-1] += ", ".join(f"{k} {v}" for k, v in r["timings_s"].items()) + "."
    lines += ["", "## Sample", ""]
    lines += [
        f"{s['n_jets']} jets from Pythia 8 + FastJet ({s['path']}); per class: "
        + ", ".join(f"{k} {v}" for k, v in s["n_per_class"].items())
        + f". Split: {r['train']['sizes']}.",
        "",
        _model_line(r),
        "",
        "## Accuracy (test jets)",
        "",
    ]
    classes = list(fm["auc"])
    lines += _table(
        ["model", "accuracy", *[f"AUC {c}" for c in classes]],
        [
            ["float", fm["accuracy"], *[fm["auc"][c] for c in classes]],
            ["QKeras (QAT)", qm["accuracy"], *[qm["auc"][c] for c in classes]],
        ],
    )
    lines += [f"Accuracy drop from quantization: {100 * q['accuracy_drop']:.2f} %.", ""]
    lines += hls_section(r)
    lines += ["## C-simulation vs QKeras", ""]
    lines += _verify_section("Test jets", r["verify"])
    if "edge_inputs" in r["verify"]:
        lines += _verify_section(
            "Edge inputs (zeros, maxima, saturation)", r["verify"]["edge_inputs"]
        )
    stress = r["verify"].get("stress")
    if stress:
        lines += _verify_section(
            f"Large batched check: {stress['n_events']:,} resampled test events "
            f"(smearing {stress['smear']:g} std, `{stress['inputs']}`)",
            stress,
        )
        rate = f"{stress['events_per_s'] or 0:,.0f} events/s"
        if stress.get("engine") == "kernel":
            lines += [
                "Logits of every event compared, computed by the project's exact integer kernel "
                "(`hls/int_kernel.py`: hls4ml's fixed-point steps on native integers). On the "
                f"{stress['traced_events']:,} events traced layer by layer (rows of scope "
                "`traced`, and the softmax table) hls4ml's own C-simulation ran as well and "
                "equalled the kernel on every layer, bit for bit (checked in the run). "
                f"{stress['seconds']:.1f} s in all, kernel {rate}.",
                "",
            ]
        else:
            lines += [
                f"Outputs{' and logits' if stress.get('lut') else ''} of every event compared; "
                f"rows of scope `traced` cover the {stress['traced_events']:,} events traced "
                f"layer by layer. {stress['seconds']:.1f} s in all, C-simulation harness "
                f"{rate}.",
                "",
            ]
    lines += ["## ONNX (float model, onnxruntime)", ""]
    lines += [
        f"{e['onnx']} on {', '.join(e['providers'])}: max |ONNX - Keras| = {e['max_abs_diff']:.3g} "
        f"(tolerance {e['atol']:g}) on {e['n_events']} jets, argmax agreement "
        f"{e['argmax_agreement']:.4f}: **{'agrees' if e['agrees'] else 'DISAGREES'}**.",
        "",
    ]
    eq = r.get("export_quantized")
    if eq:
        lines += [
            "## ONNX (quantized model, QDQ, onnxruntime)",
            "",
            f"{eq['onnx']}: logits identical to QKeras on {eq['n_events']} jets: "
            f"**{'yes' if eq['logits_exact'] else 'NO'}** (max |diff| "
            f"{eq['max_abs_diff_logits']:.3g}); softmax max |diff| "
            f"{eq['max_abs_diff_outputs']:.3g}; argmax agreement {eq['argmax_agreement']:.4f}.",
            "",
        ]
    lines += ["## Plots", ""]
    lines += [f"![{k}]({v})" for k, v in r["plots"].items()]
    return "\n".join(lines) + "\n"


def hls_section(r: dict, note: str = "") -> list[str]:
    """ "## HLS conversion" of a run report: settings, per-layer precisions and the estimate;
    ``note``: a family's sentence after the settings."""
    h, hc = r["hls"], r["config"]["hls"]
    lines = [
        "## HLS conversion",
        "",
        f"Backend {hc['backend']}, part {hc['part']}, clock {hc['clock_period_ns']} ns, "
        f"{hc['io_type']}, {hc['strategy']} strategy, reuse factor {hc['reuse_factor']}. "
        f"Project: `{h.get('project_dir', '-')}`." + (f" {note}" if note else ""),
        "",
    ]
    prec = h.get("precisions", {})
    if prec:
        keys = sorted({k for p in prec.values() for k in p})
        lines += _table(
            ["layer", *keys], [[n, *[p.get(k, "") for k in keys]] for n, p in prec.items()]
        )
    if h.get("estimate"):
        return [*lines, *_estimate_section(h["estimate"])]
    return [
        *lines,
        "No latency/resource estimate: hls/estimate.py cannot model a layer of this graph "
        f"({hc['io_type']}); see the convert log. Where Vivado/Vitis HLS is installed, "
        "`nanotrig synth` gives synthesis figures.",
        "",
    ]
