"""report.md from a run's report.json: one renderer for every family.

The report opens with the run's name, the family's title, the seed and the stage timings; then
come the sections the family declares (functions of the report dict returning markdown lines:
the shared ones below, or the family's own), then the plots.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nanotrig.family import Family

__all__ = [
    "csim_sections", "estimate_section", "fmt", "hls_section", "no_argmax", "render_report",
    "table", "verify_section",
]  # fmt: skip


def fmt(v, nd: int = 4) -> str:
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return "-" if v is None else str(v)


def table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return [*out, ""]


def verify_section(title: str, v: dict) -> list[str]:
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
    lines += table(["layer", "comparison", "events", "mismatches", "max abs diff"], rows)
    out = v.get("output", {})
    if "argmax_agreement" in out:
        lines += [f"argmax agreement (C-sim vs QKeras): {fmt(out['argmax_agreement'])}", ""]
    return lines


def _ns(v) -> str:
    return "none" if v is None else f"{v:g} ns"


def estimate_section(est: dict | None, hls_dir: str = "hls") -> list[str]:
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
    lines += table([*header, "DSP", "LUT", "cycles", "ns"], rows)
    if est.get("plot"):
        lines += [f"![latency budget per layer]({hls_dir}/{est['plot']})", ""]
    return lines


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
        lines += table(
            ["layer", *keys], [[n, *[p.get(k, "") for k in keys]] for n, p in prec.items()]
        )
    if h.get("estimate"):
        return [*lines, *estimate_section(h["estimate"])]
    return [
        *lines,
        "No latency/resource estimate: hls/estimate.py cannot model a layer of this graph "
        f"({hc['io_type']}); see the convert log. Where Vivado/Vitis HLS is installed, "
        "`nanotrig synth` gives synthesis figures.",
        "",
    ]


def no_argmax(v: dict) -> dict:
    """A verify record without the argmax agreement (meaningless for a score or an AE)."""
    out = {k: w for k, w in v.get("output", {}).items() if k != "argmax_agreement"}
    return {**v, "output": out}


def csim_sections(r: dict, what: str, argmax: bool = True) -> list[str]:
    """ "## C-simulation vs QKeras": the real events (``what``), the edge inputs and the large
    batched check of a :func:`nanotrig.families.common.verify_checks` record."""
    v = r["verify"]
    keep = (lambda rec: rec) if argmax else no_argmax
    lines = ["## C-simulation vs QKeras", ""]
    lines += verify_section(what, keep(v))
    if "edge_inputs" in v:
        lines += verify_section("Edge inputs (zeros, maxima, saturation)", keep(v["edge_inputs"]))
    stress = v.get("stress")
    if not stress:
        return lines
    lines += verify_section(
        f"Large batched check: {stress['n_events']:,} resampled test events "
        f"(smearing {stress['smear']:g} std, `{stress['inputs']}`)",
        keep(stress),
    )
    rate = f"{stress['events_per_s'] or 0:,.0f} events/s"
    if stress.get("engine") == "kernel":
        return [
            *lines,
            "Logits of every event compared, computed by the project's exact integer kernel "
            "(`hls/int_kernel.py`: hls4ml's fixed-point steps on native integers). On the "
            f"{stress['traced_events']:,} events traced layer by layer (rows of scope "
            "`traced`, and the softmax table) hls4ml's own C-simulation ran as well and "
            "equalled the kernel on every layer, bit for bit (checked in the run). "
            f"{stress['seconds']:.1f} s in all, kernel {rate}.",
            "",
        ]
    return [
        *lines,
        f"Outputs{' and logits' if stress.get('lut') else ''} of every event compared; "
        f"rows of scope `traced` cover the {stress['traced_events']:,} events traced "
        f"layer by layer. {stress['seconds']:.1f} s in all, C-simulation harness {rate}.",
        "",
    ]


def render_report(family: Family, r: dict) -> str:
    """report.md of a run of ``family``: title, seed and timings, its sections, the plots."""
    lines = [f"# nanotrig run `{r['name']}`: {family.title}", ""]
    lines += [
        f"Seed {r['seed']}. Stage timings (s): "
        + ", ".join(f"{k} {v}" for k, v in r["timings_s"].items())
        + ".",
        "",
    ]
    for section in family.sections:
        lines += section(r)
    lines += ["## Plots", ""]
    lines += [f"![{k}]({v})" for k, v in r.get("plots", {}).items()]
    return "\n".join(lines) + "\n"
