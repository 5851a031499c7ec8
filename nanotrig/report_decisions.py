"""The report's "Trigger decisions" section, shared by every family: firmware vs QKeras at the
working points of the verify stage's decision check (``report["verify"]["decisions"]``)."""

from __future__ import annotations

from nanotrig.report import max_table_error, table

__all__ = ["decisions_headline", "decisions_section"]


def _pct(rate: dict) -> str:
    """``value ± error`` in percent, with the events it was measured on."""
    if not rate["n"]:
        return "-"
    return f"{100 * rate['value']:.2f} ± {100 * rate['error']:.2f} %"


def _flips(f: dict | None) -> str:
    if not f:
        return "not checked"
    scope = "" if f["scope"] == "all" else ", traced events only"
    n_points = len(f["points"])
    gained = (
        f", {f['total_gained']:,} of them the firmware passing where QKeras does not"
        if f["total_flips"] else ""
    )  # fmt: skip
    return (
        f"{f['events_differ']:,} of {f['n_events']:,} events differ ({f['total_flips']:,} "
        f"flips over {n_points} working points{gained}{scope})"
    )


def decisions_headline(r: dict) -> str | None:
    """Decision flips on the test and stress events in one line (None without the check)."""
    d = r.get("verify", {}).get("decisions")
    if not d:
        return None
    stress = r["verify"].get("stress", {}).get("decision_flips")
    text = f"verified events: {_flips(d['test'])}"
    if stress:
        text += f"; stress events: {_flips(stress)}"
    total = d["test"]["total_flips"] + (stress["total_flips"] if stress else 0)
    return f"{'**0 decision flips**' if total == 0 else '**DECISIONS DIFFER**'}: {text}"


def decisions_section(r: dict) -> list[str]:
    """ "## Trigger decisions": per working point, efficiency and mistag rate in QKeras and in
    firmware (binomial errors) and the events whose decision differs, test and stress."""
    v = r.get("verify", {})
    d = v.get("decisions")
    lines = ["## Trigger decisions: firmware (C-simulation) vs QKeras", ""]
    if not d:
        why = "verify.working_points is empty" if not r["config"]["verify"].get(
            "working_points", True
        ) else "the verified test events were more than the traced ones (10,000)"  # fmt: skip
        return [*lines, f"No decision check: {why}.", ""]
    effs = ", ".join(f"{100 * e:g} %" for e in d["efficiencies"])
    stress = v.get("stress", {}).get("decision_flips")
    lines += [
        f"Working points: per score column, the threshold keeping {effs} of its signal in "
        f"QKeras (`verify.working_points`), set on the {d['n_labelled']:,} labelled test "
        "events (the first verified ones); an event passes when its score is >= the "
        "threshold. Efficiency: share of the column's signal passing; mistag rate: share of "
        "the rest passing (binomial errors). Flips: events whose decision differs between "
        "QKeras and the firmware, on "
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
            p["name"], p["label"], f"{p['threshold']:.6g}",
            _pct(q["efficiency"]), _pct(f["efficiency"]), _pct(q["mistag"]), _pct(f["mistag"]),
            t["flips"], *([st["flips"]] if st else []),
        ])  # fmt: skip
    header = ["column", "working point", "threshold", "eff. QKeras", "eff. firmware",
              "mistag QKeras", "mistag firmware", "flips (verified)", "flips (stress)"]  # fmt: skip
    lines += table(header if stress else header[:-1], rows)
    lines += [f"Decision flips: {decisions_headline(r)}.", ""]
    err = max_table_error(v)
    total = d["test"]["total_flips"] + (stress["total_flips"] if stress else 0)
    if total and err:
        lines += [
            f"The layers before the lookup-table head are bit-exact, so every flip is an event "
            f"whose QKeras score lies within the table error ({err:.3g}) of a threshold: "
            "the softmax table alone moves it across. Decisions taken on the logits "
            "(`hls.output_head: logits`) or on the argmax (`hls.output_head: argmax`) are "
            "exact; finer tables (`hls.softmax`) narrow the band.",
            "",
        ]
    if d.get("note"):
        lines += [d["note"], ""]
    if d.get("roc_plot"):
        lines += [f"![firmware vs QKeras ROC]({d['roc_plot']})", ""]
    return lines
