"""The run report a physicist reads: a headline block, statistical errors on every accuracy and
difference, tables without empty columns or raw dicts, plot axes limited to what the statistics
resolve."""

from __future__ import annotations

import re

import numpy as np
import pytest

from nanotrig.report import auc_error, binomial_error, table


def _tables(md: str) -> list[list[list[str]]]:
    """Every markdown table of ``md`` as rows of cells (header first, separator dropped)."""
    out, cur = [], []
    for line in [*md.splitlines(), ""]:
        if line.startswith("|"):
            if not set(line) <= set("|-"):
                cur.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif cur:
            out.append(cur)
            cur = []
    return out


def test_statistical_errors():
    assert binomial_error(0.5, 100) == pytest.approx(0.05)
    assert binomial_error(0.675, 3000) == pytest.approx(0.00855, abs=1e-5)
    # Hanley & McNeil (1982) by hand: AUC 0.9, 50 signal and 50 background cases -> 0.0321
    assert auc_error(0.9, 50, 50) == pytest.approx(0.032, abs=5e-4)
    assert np.isnan(auc_error(0.9, 0, 50))


def test_paired_accuracy_change():
    from nanotrig.models.metrics import paired_accuracy_change

    y = np.array([0, 0, 1, 1, 0, 1, 0, 1])
    a = np.eye(2)[[0, 0, 1, 1, 1, 0, 0, 1]]  # 6 right
    b = np.eye(2)[[0, 1, 1, 1, 0, 0, 0, 1]]  # 6 right: one gained (event 4), one lost (1)
    c = paired_accuracy_change(y, a, b)
    assert c["value"] == 0.0 and c["gained"] == 1 and c["lost"] == 1
    assert c["error"] == pytest.approx(np.sqrt(2) / 8)


def test_table_helper_and_roc_floor():
    from nanotrig.models.plots import resolvable_fpr

    assert table(["a", "b"], [[1, None]]) == ["| a | b |", "|---|---|", "| 1 | - |", ""]
    fpr = np.array([0.0, 1 / 2400, 0.5, 1.0])
    curves = {"float": {"t": (fpr, fpr)}, "q": {"t": (np.array([0.0, 0.01, 1.0]), fpr[:3])}}
    assert resolvable_fpr(curves) == pytest.approx(1 / 2400)


@pytest.mark.slow
def test_demo_report_reads_at_a_glance(mini_run):
    """The small demo's report: the headline first, errors, no empty column, no raw dict."""
    md = (mini_run["run_dir"] / "report.md").read_text()
    body = md.split("## Headline", 1)
    assert len(body) == 2 and body[0].count("\n## ") == 0, "the headline block comes first"
    head = _tables(body[1])[0]
    figures = {row[0]: row[1] for row in head[1:]}
    acc = [v for k, v in figures.items() if k.startswith("accuracy")]
    assert len(acc) == 3 and all("±" in v for v in acc), figures
    change = figures["accuracy change from quantization"]
    assert "percentage points" in change and "paired on the same" in change, change
    assert "**bit-exact**" in figures["firmware (C-sim) vs QKeras"]
    assert "estimate, not synthesis" in figures["latency and resources"]
    assert "% of the" in figures["latency and resources"]  # share of the device
    assert not re.search(r"\{'\w+': ", md), "a raw Python dict in the report"
    for t in _tables(md):
        header, rows = t[0], t[1:]
        for j, name in enumerate(header):
            if name:
                assert any(r[j] not in ("", "-") for r in rows), f"column {name!r} is empty"
        assert len({tuple(r) for r in rows}) == len(rows), f"duplicated rows in {header}"
    assert "| all 30,000 |" in md  # the batched check's scope column
