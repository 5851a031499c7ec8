"""The report's trigger-decision section on the mini run: working points, efficiencies, mistag
rates and decision flips equal their recomputation from the saved per-event outputs."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.slow
def test_run_decisions_match_recomputation(mini_run):
    run, v = mini_run["run_dir"], mini_run["verify"]
    d = v["decisions"]
    with np.load(run / "hls" / "test_outputs.npz") as f:
        ref, fw = f["keras"].astype(np.float64), f["csim"]
    assert len(ref) == v["n_events"] == d["test"]["n_events"]
    labels = np.load(run / "qmodel" / "test_labels.npy")[: len(ref)]
    signal = labels[:, None] == np.arange(len(d["columns"]))
    assert len(d["points"]) == 2 * len(d["columns"])  # 50 % and 90 % per class
    for p, t in zip(d["points"], d["test"]["points"], strict=True):
        j, thr, eff = p["column"], p["threshold"], float(p["label"].split()[0]) / 100
        sig, bkg = signal[:, j], ~signal[:, j]
        # the highest threshold that keeps the asked share of the class in QKeras
        assert np.mean(ref[sig, j] >= thr) >= eff > np.mean(ref[sig, j] > thr)
        assert p["qkeras"]["efficiency"]["value"] == np.mean(ref[sig, j] >= thr)
        assert p["firmware"]["efficiency"]["value"] == np.mean(fw[sig, j] >= thr)
        m = np.mean(fw[bkg, j] >= thr)
        assert p["firmware"]["mistag"]["value"] == m
        assert p["firmware"]["mistag"]["error"] == pytest.approx(np.sqrt(m * (1 - m) / bkg.sum()))
        flips = int(np.sum((ref[:, j] >= thr) != (fw[:, j] >= thr)))
        assert p["flips"] == t["flips"] == flips
    differ = np.zeros(len(ref), bool)
    for p in d["points"]:
        differ |= (ref[:, p["column"]] >= p["threshold"]) != (fw[:, p["column"]] >= p["threshold"])
    assert d["test"]["events_differ"] == int(differ.sum())
    stress = v["stress"]["decision_flips"]  # counted while the stress events streamed
    assert [(p["column"], p["threshold"]) for p in stress["points"]] == [
        (p["column"], p["threshold"]) for p in d["points"]
    ]
    assert stress["n_events"] == (v["stress"]["n_events"] if stress["scope"] == "all"
                                  else v["stress"]["traced_events"])  # fmt: skip
    md = (run / "report.md").read_text()
    section = md.split("## Trigger decisions", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "%" in line]
    assert len(rows) == len(d["points"])
    for row, p in zip(rows, d["points"], strict=True):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[0] == p["name"] and cells[-2] == str(p["flips"])  # verified, stress
    total = d["test"]["total_flips"] + stress["total_flips"]
    verdict = "**0 decision flips**" if total == 0 else "**DECISIONS DIFFER**"
    assert verdict in md.split("## Sample", 1)[0]  # the headline says it
    assert (run / d["roc_plot"]).stat().st_size > 10_000
