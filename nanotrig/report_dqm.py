"""report.md of a DQM autoencoder run: fault detection and localisation, firmware, ONNX."""

from __future__ import annotations

from nanotrig.report import _fmt, _table, _verify_section, hls_section

__all__ = ["render_dqm_markdown"]


def _metric_rows(metrics: dict[str, dict]) -> list[list]:
    """One row per fault type and model: maps, AUC (mean loss), AUC (max cell), localisation."""
    rows = []
    for label, m in metrics.items():
        for name, f in m["per_fault"].items():
            rows.append([name, label, f["n_maps"], f["auc"], f["auc_max_cell"], f["localisation"]])
        rows.append(["any fault", label, sum(f["n_maps"] for f in m["per_fault"].values()),
                     m["auc_any_fault"], None, m["localisation"]])  # fmt: skip
    return rows


def _no_argmax(v: dict) -> dict:
    """A verify record without the argmax agreement (a classifier figure, not an AE's)."""
    out = {k: w for k, w in v.get("output", {}).items() if k != "argmax_agreement"}
    return {**v, "output": out}


def render_dqm_markdown(r: dict) -> str:
    """Human-readable summary of a DQM autoencoder run report."""
    s, t, q, h = r["samples"], r["train"], r["quantize"], r["hls"]
    m = r["config"]["model"]
    lines = [f"# nanotrig run `{r['name']}`: DQM autoencoder", ""]
    lines += ["Seed {}. Stage timings (s): ".format(r["seed"])]
    lines[-1] += ", ".join(f"{k} {v}" for k, v in r["timings_s"].items()) + "."
    shape = "x".join(map(str, t["inputs"]["shape"]))
    lines += ["", "## Sample and model", ""]
    lines += [
        f"{s['n_maps']} occupancy maps ({s['path']}); per fault type: "
        + ", ".join(f"{k} {v}" for k, v in s["maps_per_fault"].items())
        + f". Split by run (maps): {t['sizes']}; trained on the good maps only "
        f"({t['trained_on']}).",
        "",
        f"Model: convolutional autoencoder on normalised maps ({shape}): Conv2D("
        f"{m['kernel_size']}x{m['kernel_size']}, same) + ReLU + MaxPooling2D({m['pool_size']}) "
        f"with {m['conv_filters']} filters, mirrored by UpSampling2D + Conv2D + ReLU, linear "
        f"Conv2D(1) output; {t['parameters']} parameters. Loss: MSE over cells.",
        "",
        "## Fault detection and localisation (test runs)",
        "",
        "AUC: maps with the fault against good maps, scored by the map's mean squared error "
        "(the trained loss) or by its largest cell loss. Localisation: share of faulty maps "
        "whose largest-loss cell lies in the fault's cells.",
        "",
    ]
    lines += _table(
        ["fault", "model", "maps", "AUC (MSE)", "AUC (max cell)", "localisation"],
        _metric_rows(q["metrics"]),
    )
    cell = {k: v.get("cell_auc") for k, v in q["metrics"].items()}
    lines += [
        "Per-cell AUC (cells inside fault masks vs outside, over the faulty maps): "
        + ", ".join(f"{k} {_fmt(v)}" for k, v in cell.items())
        + ".",
        "",
    ]
    iq = h["input_quantizer"]
    lines += hls_section(r, f"Input quantizer: quantized_bits({iq['bits']},{iq['integer']}).")
    lines += ["## C-simulation vs QKeras", ""]
    lines += _verify_section("Occupancy maps (test runs first)", _no_argmax(r["verify"]))
    if "edge_inputs" in r["verify"]:
        lines += _verify_section(
            "Edge inputs (zeros, maxima, saturation)", _no_argmax(r["verify"]["edge_inputs"])
        )
    e, eq = r["export"], r.get("export_quantized") or {}
    lines += ["## ONNX", ""]
    lines += [
        f"Float: {e['onnx']} on {', '.join(e['providers'])}: max |ONNX - Keras| = "
        f"{e['max_abs_diff']:.3g} (tolerance {e['atol']:g}) on {e['n_events']} maps, per-map "
        f"loss max |diff| {e['max_abs_diff_loss']:.3g}: "
        f"**{'agrees' if e['agrees'] else 'DISAGREES'}**.",
        "",
    ]
    if "error" in eq:
        lines += [f"Quantized (QDQ): **DISAGREES**: {eq['error']}", ""]
    elif eq:
        lines += [
            f"Quantized (QDQ): {eq['onnx']}: reconstructions identical to QKeras on "
            f"{eq['n_events']} maps: **{'yes' if eq['logits_exact'] else 'NO'}** (max |diff| "
            f"{eq['max_abs_diff_outputs']:.3g}).",
            "",
        ]
    lines += ["## Plots", ""]
    lines += [f"![{k}]({v})" for k, v in r["plots"].items()]
    return "\n".join(lines) + "\n"
