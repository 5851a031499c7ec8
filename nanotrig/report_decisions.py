"""The report's "Trigger decisions" section, shared by every family: the firmware's decisions
at the working points of the verify stage's decision check (``report["verify"]["decisions"]``)
against the bit-exact reference (*decision flips*) and, labelled apart, against QKeras' float
head (*table-induced differences*)."""

from __future__ import annotations

from nanotrig.report import max_table_error, table

__all__ = ["decisions_headline", "decisions_section", "flips_line", "table_line"]


def _pct(rate: dict) -> str:
    """``value ± error`` in percent, with the events it was measured on."""
    if not rate["n"]:
        return "-"
    return f"{100 * rate['value']:.2f} ± {100 * rate['error']:.2f} %"


def _scope(f: dict) -> str:
    return "" if f["scope"] == "all" else ", traced events only"


def flips_line(test: dict, stress: dict | None = None) -> str:
    """``decision flips, firmware vs bit-exact reference: F of N (test), G of M (stress)``."""
    ref = test.get("reference", "bit-exact")
    ref = "bit-exact reference" if ref == "bit-exact" else ref
    text = f"decision flips, firmware vs {ref}: {test['total_flips']:,} of {test['n_events']:,} "
    text += f"(test{_scope(test)})"
    if stress:
        text += f", {stress['total_flips']:,} of {stress['n_events']:,} (stress{_scope(stress)})"
    return text


def _table(f: dict) -> dict:
    """The table-induced record of a flip count (older records: none)."""
    return f.get("table_induced") or {"total": 0, "gained": 0, "lost": 0, "max_margin": None}


def _table_totals(test: dict, stress: dict | None) -> tuple[int, int, float]:
    """Table-induced differences of the test and stress counts: total, gained in firmware and
    the largest |QKeras score - threshold| among them (-1 without any)."""
    parts = [_table(test)] + ([_table(stress)] if stress else [])
    margins = [p["max_margin"] for p in parts if p["max_margin"] is not None]
    return (
        sum(p["total"] for p in parts),
        sum(p["gained"] for p in parts),
        max(margins, default=-1.0),
    )


def table_line(test: dict, stress: dict | None, err: float | None) -> str:
    """``table-induced differences vs QKeras float softmax: K (...)``: the count, the gained /
    lost split and whether every such event lies within the table error ``err`` of its
    threshold."""
    k, gained, margin = _table_totals(test, stress)
    text = f"table-induced differences vs QKeras float {test.get('head') or 'outputs'}: {k:,}"
    if not k:
        return text
    text += f" ({gained:,} gained, {k - gained:,} lost in firmware; "
    if err is None:
        return text + f"largest |QKeras score - threshold| {margin:.3g}; no table error measured)"
    if margin <= err:
        return text + f"all within table error {err:.3g} of the threshold, largest {margin:.3g})"
    return text + f"largest |QKeras score - threshold| {margin:.3g} EXCEEDS table error {err:.3g})"


def _no_points(d: dict) -> str:
    """Why a decision check has no working point: no signal among its labelled events."""
    return (
        f"no working point: none of the {d['n_labelled']:,} labelled test events is signal (the "
        "working points keep a share of each column's signal); raise verify.n_events so that "
        "signal events are among the verified ones"
    )


def decisions_headline(r: dict) -> str | None:
    """Decision flips on the test and stress events in one line (None without the check)."""
    v = r.get("verify", {})
    d = v.get("decisions")
    if not d:
        return None
    if not d["points"]:
        return f"**not checked**: {_no_points(d)}"
    stress = v.get("stress", {}).get("decision_flips")
    total = d["test"]["total_flips"] + (stress["total_flips"] if stress else 0)
    verdict = "**0 decision flips**" if total == 0 else "**DECISIONS DIFFER**"
    return (
        f"{verdict}: {flips_line(d['test'], stress)}; "
        f"{table_line(d['test'], stress, max_table_error(v))}"
    )


def _threshold(p: dict) -> str:
    if p.get("code") is None:
        return f"{p['threshold']:.6g}"
    return f"{p['threshold']:.6g} (code {p['code']}; QKeras {p['threshold_float']:.6g})"


def decisions_section(r: dict) -> list[str]:
    """ "## Trigger decisions": per working point, efficiency and mistag rate in QKeras and in
    firmware (binomial errors), the flips against the bit-exact reference and the table-induced
    differences from QKeras, test and stress."""
    v = r.get("verify", {})
    d = v.get("decisions")
    lines = ["## Trigger decisions: firmware (C-simulation) vs the bit-exact reference", ""]
    if not d:
        why = "verify.working_points is empty" if not r["config"]["verify"].get(
            "working_points", True
        ) else "the verified test events were more than the traced ones (10,000)"  # fmt: skip
        return [*lines, f"No decision check: {why}.", ""]
    if not d["points"]:
        return [*lines, f"No decision check: {_no_points(d)}.", ""]
    effs = ", ".join(f"{100 * e:g} %" for e in d["efficiencies"])
    stress = v.get("stress", {}).get("decision_flips")
    units = d.get("thresholds_in", "float")
    lines += [
        f"Working points: per score column, the threshold keeping {effs} of its signal in "
        f"QKeras (`verify.working_points`), set on the {d['n_labelled']:,} labelled test "
        f"events (the first verified ones), then expressed in {units}"
        + (": the smallest output code at or above it, which decides every firmware score as "
           "the float threshold does (efficiencies are measured at it)"
           if units.startswith("firmware") else "")
        + "; an event passes when its score is >= the threshold. Efficiency: share of the "
        "column's signal passing; mistag rate: share of the rest passing (binomial errors). "
        "Flips: events whose decision differs between the firmware and the bit-exact "
        "reference (QKeras up to the logits and the table emulator for a lookup-table head: "
        "what the firmware is specified to compute); table-induced: events whose decision "
        "differs between the firmware and QKeras' float outputs, on "
        f"the {d['test']['n_events']:,} verified events"
        + (
            f" and on the {stress['n_events']:,} stress events"
            + (" traced layer by layer (the integer kernel leaves the lookup-table head to "
               "them: set verify.stress_engine: harness for every event)"
               if stress["scope"] != "all" else "")
            if stress else ""
        )
        + ".",
        "",
    ]  # fmt: skip
    stress_points = stress["points"] if stress else [None] * len(d["points"])
    rows = []
    for p, t, st in zip(d["points"], d["test"]["points"], stress_points, strict=True):
        q, f = p["qkeras"], p["firmware"]
        rows.append([
            p["name"], p["label"], _threshold(p),
            _pct(q["efficiency"]), _pct(f["efficiency"]), _pct(q["mistag"]), _pct(f["mistag"]),
            t.get("table_diffs", "-"), *([st.get("table_diffs", "-")] if st else []),
            t["flips"], *([st["flips"]] if st else []),
        ])  # fmt: skip
    header = ["column", "working point", "threshold", "eff. QKeras", "eff. firmware",
              "mistag QKeras", "mistag firmware", "table-induced (verified)",
              "table-induced (stress)", "flips (verified)", "flips (stress)"]  # fmt: skip
    if not stress:
        header = [h for h in header if "stress" not in h]
    lines += table(header, rows)
    lines += [f"Decision flips: {decisions_headline(r)}.", ""]
    err = max_table_error(v)
    k, _, margin = _table_totals(d["test"], stress)
    if k and err and margin <= err:
        lines += [
            f"The layers before the lookup-table head are bit-exact and the head equals its "
            f"emulator, so every table-induced difference is an event whose QKeras score lies "
            f"within the table error ({err:.3g}) of a threshold: the table's distance from the "
            "float function alone moves it across. Decisions taken on the logits "
            "(`hls.output_head: logits`) or on the argmax (`hls.output_head: argmax`) have none; "
            "finer tables (`hls.softmax`) narrow the band.",
            "",
        ]
    if d.get("note"):
        lines += [d["note"], ""]
    if d.get("roc_plot"):
        lines += [f"![firmware vs QKeras ROC]({d['roc_plot']})", ""]
    return lines
