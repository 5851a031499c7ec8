"""report.md from a run's report.json: one renderer for every family.

The report opens with the run's name, the family's title, the seed and the stage timings; then
come the sections the family declares (functions of the report dict returning markdown lines:
the shared ones below, or the family's own), then the plots.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from nanotrig.decisions import binomial_error

if TYPE_CHECKING:
    from nanotrig.family import Family

__all__ = [
    "auc_error",
    "binomial_error",
    "csim_headline",
    "csim_sections",
    "estimate_headline",
    "estimate_section",
    "fmt",
    "headline",
    "hls_section",
    "max_table_error",
    "no_argmax",
    "onnx_float_line",
    "pm",
    "precision_table",
    "render_report",
    "rtl_headline",
    "rtl_section",
    "table",
    "verify_section",
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
    """One C-simulation check: a row per layer with its scope (every event, or the events
    traced layer by layer in a batched check), comparison, mismatches and largest difference."""
    lines = [f"### {title}", ""]
    n = v.get("n_events")
    lines.append(
        f"{n:,} events; bit-exact on every layer{_table_clause(v)}: "
        f"**{'yes' if v.get('ok') else 'NO'}**"
        if isinstance(n, int)
        else "-"
    )
    lines.append("")
    rows = [
        [r["layer"], _scope(r["n_events"], v), _comparison(r), r["n_mismatch"],
         r.get("max_abs_diff")]
        for r in v.get("layers", [])
    ]  # fmt: skip
    out = v.get("output", {})
    if v.get("batched") and out and out.get("n_events") != v.get("traced_events"):
        rows.append(["(output)", _scope(out.get("n_events"), v), out.get("kind"),
                     out.get("n_mismatch"), out.get("max_abs_diff")])  # fmt: skip
    lines += table(["layer", "scope", "comparison", "mismatches", "max abs diff"], rows)
    if "argmax_agreement" in out:
        lines += [f"argmax agreement (C-sim vs QKeras): {fmt(out['argmax_agreement'])}", ""]
    errors = {**{r["layer"]: r["table_error"] for r in v.get("layers", []) if "table_error" in r},
              **({out.get("layer", "(output)"): out["table_error"]} if "table_error" in out
                 else {})}  # fmt: skip
    if errors:
        lines += [
            "Table error (separate from the exact comparison: the table emulator vs QKeras' "
            "float activation): "
            + "; ".join(f"max abs diff {e['max_abs_diff']:.3g}, argmax agreement "
                        f"{fmt(e['argmax_agreement'])}" for e in list(errors.values())[-1:]),
            "",
        ]  # fmt: skip
    return lines


def _comparison(row: dict) -> str:
    """``exact`` (vs QKeras), ``table = emulator`` (a table layer vs hls/tables.py), or
    ``table (not emulated)``."""
    if row.get("compared_with") == "emulator":
        return "table = emulator"
    return row["kind"] if row["kind"] != "lut" else "table (not emulated)"


def _table_clause(v: dict) -> str:
    """How the lookup-table layers were compared, for the verdict line."""
    lut = [r for r in v.get("layers", []) if r["kind"] == "lut"]
    if not lut:
        return ""
    if all(r.get("compared_with") == "emulator" for r in lut):
        return " (lookup tables against their fixed-point emulator)"
    return " before the lookup-table activations (not emulated)"


def _scope(n: int | None, v: dict) -> str:
    """'all N' for every event of the check, 'traced N' for the layer-by-layer subset."""
    if n is None:
        return "-"
    return f"all {n:,}" if n == v.get("n_events") else f"traced {n:,}"


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
    share = est.get("device_share")
    if share:
        lines += [
            f"Share of the {share['part']}: LUT {share['lut_pct']:.2f} %, FF {share['ff_pct']:.2f} "
            f"%, DSP {share['dsp_pct']:.2f} %, BRAM_18K {share['bram_pct']:.2f} %.",
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
        lines += precision_table(prec)
    if h.get("estimate"):
        return [*lines, *estimate_section(h["estimate"])]
    return [
        *lines,
        "No latency/resource estimate: hls/estimate.py cannot model a layer of this graph "
        f"({hc['io_type']}); see the convert log. Where Vivado/Vitis HLS is installed, "
        "`nanotrig synth` gives synthesis figures.",
        "",
    ]


#: The precision columns shown on their own; the others go to "tables and other types".
_MAIN_TYPES = ("result", "weight", "bias", "accum")


def precision_table(prec: dict[str, dict]) -> list[str]:
    """Per-layer types: class, comparison, the main types (columns only where some layer has
    one) and the rest (lookup tables, indices) in one column."""
    main = [k for k in _MAIN_TYPES if any(p.get(k) for p in prec.values())]
    rows = []
    for name, p in prec.items():
        rest = [f"{k} {v}" for k, v in p.items() if k not in (*_MAIN_TYPES, "class", "kind") and v]
        rows.append([name, p.get("class", ""), p.get("kind", ""),
                     *[p.get(k) or "" for k in main], "; ".join(rest)])  # fmt: skip
    header = ["layer", "class", "comparison", *main, "tables and other types"]
    if not any(r[-1] for r in rows):
        header, rows = header[:-1], [r[:-1] for r in rows]
    return table(header, rows)


# --- statistical errors and the headline block ---------------------------------------------


def auc_error(auc: float, n_pos: int, n_neg: int) -> float:
    """Hanley-McNeil standard error of a ROC AUC from ``n_pos`` signal, ``n_neg`` background."""
    if not n_pos or not n_neg or not np.isfinite(auc):
        return float("nan")
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)
    return float(np.sqrt(max(var, 0.0) / (n_pos * n_neg)))


def pm(value: float, error: float, nd: int = 3) -> str:
    """``value ± error`` with ``nd`` decimals."""
    return f"{value:.{nd}f} ± {error:.{nd}f}"


def headline(rows: list[tuple[str, str | None]]) -> list[str]:
    """ "## Headline": the figures a physicist checks first, one row each (None: left out)."""
    return ["## Headline", "", *table(["", "figure"], [list(r) for r in rows if r[1] is not None])]


def csim_headline(r: dict) -> str:
    """C-sim vs QKeras in one line: which events, exact or not, the lookup tables apart."""
    v = r["verify"]
    checks = [("real", v), ("edge-case", v.get("edge_inputs")), ("resampled", v.get("stress"))]
    done = [(what, c) for what, c in checks if c]
    ok = all(c["ok"] for _, c in done)
    counts = ", ".join(f"{c['n_events']:,} {what}" for what, c in done)
    lines = [f"{'**bit-exact**' if ok else '**NOT bit-exact**'} on every layer"
             f"{_table_clause(v)} ({counts} events)"]  # fmt: skip
    lut = [la for la in v.get("layers", []) if la["kind"] == "lut"]
    if lut:
        arg = v.get("output", {}).get("argmax_agreement")
        diff = max_table_error(v)
        if diff is None:
            diff = max(la["max_abs_diff"] for la in lut)
        tol = (r.get("hls", {}).get("softmax_tables") or {}).get("tolerance")
        over = (
            f", above the {tol:.3g} the softmax tables were chosen for on the test vectors "
            "(events beyond them reach further; finer tables: hls.softmax)"
            if tol is not None and diff > tol else ""
        )  # fmt: skip
        lines.append(
            f"table error (lookup tables {', '.join(la['layer'] for la in lut)} vs QKeras' "
            f"float activation, reported apart) up to {diff:.3g}{over}"
            + (f", argmax agreement {arg:.4f}" if arg is not None else "")
        )
    return "; ".join(lines)


def max_table_error(v: dict) -> float | None:
    """Largest table error (emulator vs QKeras' float activation) over every check of a verify
    record: real, edge-case and resampled events; None when no table was emulated."""
    errs = [la["table_error"]["max_abs_diff"] for la in v.get("layers", []) if "table_error" in la]
    for c in (v, v.get("edge_inputs"), v.get("stress")):
        if c and "table_error" in c.get("output", {}):
            errs.append(c["output"]["table_error"]["max_abs_diff"])
    return max(errs) if errs else None


def estimate_headline(r: dict) -> str:
    """Latency, II, resources with the device share, and the budget verdict (an estimate)."""
    est = r["hls"].get("estimate")
    if not est:
        return "no estimate for this graph (see the HLS section)"
    share = est.get("device_share") or {}
    where = f" ({share['lut_pct']:.1f} % of the {share['part']} LUTs)" if share else ""
    text = (
        f"{est['latency_ns']:g} ns, II {est['ii_ns']:g} ns; {est['dsp']:,} DSP, "
        f"{est['lut']:,} LUT{where}; an estimate, not synthesis"
    )
    b = est.get("budget")
    if b and (b.get("latency_budget_ns") or b.get("ii_budget_ns")):
        text += (
            f"; budget latency {_ns(b['latency_budget_ns'])}, II {_ns(b['ii_budget_ns'])}: "
            f"**{'met' if b['ok'] else 'EXCEEDED'}**"
        )
    return text


def rtl_headline(r: dict) -> str | None:
    """The rtl stage in one line (None where it did not run)."""
    t = r.get("rtl")
    if not t:
        return None
    v, s = t["verification"], t.get("synthesis")
    depth = (
        f"{t['latency_cycles']} cycles = {t['latency_ns']:g} ns" if t["latency_cycles"]
        else "combinational"
    )  # fmt: skip
    text = (
        f"Verilog {depth}; Verilator {'**bit-exact**' if v['ok'] else '**NOT bit-exact**'} "
        f"with QKeras' logits on {v['n_events']:,} events ({v['mismatching_events']} differ)"
    )
    if s:
        text += (
            f"; Yosys ({s.get('mode', 'flat')}) {s['lut']:,} LUT, {s['ff']:,} FF, {s['dsp']} DSP"
        )
    elif t.get("synthesis_skipped"):
        text += f"; no Yosys figures: {t['synthesis_skipped'].split(';')[0]}"
    return text


def rtl_section(r: dict) -> list[str]:
    """ "## RTL": da4ml Verilog, the Verilator check, Yosys figures beside the HLS estimate."""
    t = r.get("rtl")
    if not t:
        return []
    v, s, ev = t["verification"], t.get("synthesis"), t.get("events", {})
    lines = ["## RTL (da4ml Verilog, Verilator, Yosys)", ""]
    depth = (
        f"pipelined in {t['latency_cycles']} cycles = {t['latency_ns']:g} ns at "
        f"{t['clock_period_ns']:g} ns" if t["latency_cycles"] else "combinational"
    )  # fmt: skip
    lines += [
        f"Layers {', '.join(la['name'] for la in t['layers'])}: Verilog {depth} (`rtl/`)."
        + (f" {t['left_out_reason']}." if t.get("left_out_reason") else ""),
        "",
        f"Verilator vs QKeras' logits (and da4ml's own simulation and the "
        f"{'C-simulation' if 'c_simulation' in v['against'] else 'integer kernel'}): "
        f"{v['n_events']:,} events ({ev.get('verified', 0):,} verified, {ev.get('edge', 0):,} "
        f"edge-case, {ev.get('stress', 0):,} resampled), {v['mismatching_events']} differ: "
        f"**{'bit-exact' if v['ok'] else 'NOT bit-exact'}**; {v['events_per_s'] or 0:,.0f} "
        "events/s.",
        "",
    ]
    b = t.get("budget")
    if b:
        lines += [
            f"Latency budget {b['latency_budget_ns']:g} ns on the exact pipeline depth: "
            f"**{'met' if b['ok'] else 'EXCEEDED'}**.",
            "",
        ]
    est = (r.get("hls") or {}).get("estimate") or {}
    if s:
        rows = [
            [f"Yosys synth_xilinx ({s['family']}, {s.get('mode', 'flat')})", s["lut"], s["ff"],
             s["carry"], s["dsp"], s["bram_18k"], s["logic_depth"]],
            ["da4ml's own estimate", round(t["da4ml_estimate"]["lut"]), None, None, 0, 0, None],
            ["HLS estimate (hls4ml architecture)", est.get("lut"), est.get("ff"), None,
             est.get("dsp"), est.get("bram"), None],
        ]  # fmt: skip
        lines += table(["", "LUT", "FF", "CARRY", "DSP", "BRAM_18K", "logic depth"], rows)
    else:
        lines += [f"No synthesis figures: {t.get('synthesis_skipped')}", ""]
    sec = t.get("seconds", {})
    names = (("verilator_build", "Verilator build"), ("verilator_run", "simulation"),
             ("yosys", "Yosys"), ("total", "in all"))  # fmt: skip
    if any(k in sec for k, _ in names):
        lines += ["Time (s): " + ", ".join(f"{n} {sec[k]:g}" for k, n in names if k in sec)
                  + ".", ""]  # fmt: skip
    return lines


def onnx_float_line(e: dict, what: str, label: str = "", extra: str = "") -> str:
    """The float ONNX model's agreement with Keras (an ``export`` record) in one sentence:
    ``label`` before the file, ``extra`` figures after the event count (``what``)."""
    return (
        f"{label}{e['onnx']} on {', '.join(e['providers'])}: max |ONNX - Keras| = "
        f"{e['max_abs_diff']:.3g} (tolerance {e['atol']:g}) on {e['n_events']} {what}{extra}: "
        f"**{'agrees' if e['agrees'] else 'DISAGREES'}**."
    )


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
            "`traced`) hls4ml's own C-simulation ran as well and equalled the kernel on "
            "every layer, bit for bit (checked in the run); a softmax head is the table "
            "emulator's (`hls/tables.py`) on the kernel's logits. "
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
