"""The report's trigger-decision section on the mini run: working points in firmware units,
efficiencies, mistag rates, decision flips against the bit-exact reference (0, and a perturbed
emulator table makes them non-zero) and the table-induced differences from QKeras' float
softmax, each within the table error of its threshold."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.slow
def test_run_decisions_match_recomputation(mini_run):
    from nanotrig.report import max_table_error

    run, v = mini_run["run_dir"], mini_run["verify"]
    d = v["decisions"]
    with np.load(run / "hls" / "test_outputs.npz") as f:
        ref, fw, exact = f["keras"].astype(np.float64), f["csim"], f["exact"]
        frac = int(f["frac_bits"])
    assert len(ref) == v["n_events"] == d["test"]["n_events"]
    assert d["thresholds_in"] == f"firmware units ({v['output']['result_type']['cpp']})"
    labels = np.load(run / "qmodel" / "test_labels.npy")[: len(ref)]
    signal = labels[:, None] == np.arange(len(d["columns"]))
    assert len(d["points"]) == 2 * len(d["columns"])  # 50 % and 90 % per class
    err = max_table_error(v)
    for p, t in zip(d["points"], d["test"]["points"], strict=True):
        j, thr, eff = p["column"], p["threshold"], float(p["label"].split()[0]) / 100
        sig, bkg = signal[:, j], ~signal[:, j]
        # the highest QKeras threshold keeping the asked share of the class, then the smallest
        # output code at or above it
        t_float = p["threshold_float"]
        assert np.mean(ref[sig, j] >= t_float) >= eff > np.mean(ref[sig, j] > t_float)
        assert p["code"] == int(np.ceil(t_float * 2**frac)) and thr == p["code"] * 2.0**-frac
        np.testing.assert_array_equal(fw[:, j] >= thr, fw[:, j] >= t_float)
        assert p["qkeras"]["efficiency"]["value"] == np.mean(ref[sig, j] >= thr)
        assert p["firmware"]["efficiency"]["value"] == np.mean(fw[sig, j] >= thr)
        m = np.mean(fw[bkg, j] >= thr)
        assert p["firmware"]["mistag"]["value"] == m
        assert p["firmware"]["mistag"]["error"] == pytest.approx(np.sqrt(m * (1 - m) / bkg.sum()))
        assert p["flips"] == t["flips"] == int(np.sum((exact[:, j] >= thr) != (fw[:, j] >= thr)))
        table = (ref[:, j] >= thr) != (fw[:, j] >= thr)
        assert p["table_diffs"] == t["table_diffs"] == int(table.sum())
        if table.any():  # explained by the table error
            assert t["table_margin"] == np.max(np.abs(ref[table, j] - thr)) <= err
    stress = v["stress"]["decision_flips"]  # counted while the stress events streamed
    assert [(p["column"], p["threshold"], p["code"]) for p in stress["points"]] == [
        (p["column"], p["threshold"], p["code"]) for p in d["points"]
    ]
    assert stress["n_events"] == (v["stress"]["n_events"] if stress["scope"] == "all"
                                  else v["stress"]["traced_events"])  # fmt: skip
    assert d["test"]["total_flips"] == stress["total_flips"] == 0
    for f in (d["test"], stress):
        margin = f["table_induced"]["max_margin"]
        assert margin is None or margin <= err
    md = (run / "report.md").read_text()
    section = md.split("## Trigger decisions", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "%" in line]
    assert len(rows) == len(d["points"])
    for row, p in zip(rows, d["points"], strict=True):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[0] == p["name"] and cells[-2] == str(p["flips"])  # verified, stress
        assert f"(code {p['code']};" in cells[2]
    head = md.split("## Sample", 1)[0]
    k = d["test"]["table_induced"]["total"] + stress["table_induced"]["total"]
    assert (
        f"**0 decision flips**: decision flips, firmware vs bit-exact reference: 0 of "
        f"{d['test']['n_events']:,} (test), 0 of {stress['n_events']:,} (stress"
    ) in head
    assert f"table-induced differences vs QKeras float softmax: {k:,}" in head
    if k:
        assert f"all within table error {err:.3g} of the threshold" in head
    assert (run / d["roc_plot"]).stat().st_size > 10_000


@pytest.mark.slow
def test_perturbed_emulator_table_gives_flips(mini_run):
    """The reference is a real comparison: QKeras' logits through the table emulator give the
    saved reference, and through an emulator whose exp table is coarser they flip decisions."""
    import keras
    from hls4ml.utils.serialization import deserialize_model
    from nanotrig.hls.convert import HLS_MODEL_FILE, REFERENCE_FILE
    from nanotrig.hls.fixed_type import FixedType
    from nanotrig.hls.model_io import load_qkeras_model
    from nanotrig.hls.tables import emulate, table_spec

    from nanotrig.decisions import DecisionSpec, FlipCounter, WorkingPoint

    run, d = mini_run["run_dir"], mini_run["verify"]["decisions"]
    with np.load(run / "hls" / "test_outputs.npz") as f:
        ref, fw, exact = f["keras"], f["csim"], f["exact"]
    hls_model = deserialize_model(run / "hls" / HLS_MODEL_FILE)
    spec = table_spec(next(la for la in hls_model.get_layers() if la.class_name == "Softmax"))
    model = load_qkeras_model(run / "hls" / REFERENCE_FILE)
    x = np.load(run / "qmodel" / "test_inputs.npy")[: len(ref)]
    logits = keras.Model(model.inputs, model.layers[-2].output).predict(x, verbose=0)
    np.testing.assert_array_equal(emulate(spec, logits), exact)
    t = spec.exp_table_t
    coarse = spec.with_(exp_table_t=FixedType(t.width - 8, t.integer, t.signed))
    points = [WorkingPoint.from_dict(p) for p in d["points"]]
    counter = FlipCounter(DecisionSpec(tuple(d["columns"])), points)
    counter.add(x, ref, fw, emulate(coarse, logits))
    assert counter.to_dict()["total_flips"] > 0


def test_no_signal_among_the_labelled_events_is_not_zero_flips():
    """A check whose labelled events hold no signal has no working point: the report says it
    was not checked, never "0 decision flips" (the anomaly rate run verifies background only)."""
    from nanotrig.report_decisions import decisions_headline, decisions_section

    flips = {"total_flips": 0, "n_events": 1000, "scope": "all", "points": []}
    d = {"points": [], "n_labelled": 1000, "efficiencies": [0.5, 0.9], "test": flips}
    r = {"verify": {"decisions": d}, "config": {"verify": {"working_points": [0.5, 0.9]}}}
    head = decisions_headline(r)
    assert head.startswith("**not checked**") and "none of the 1,000 labelled" in head
    assert "0 decision flips" not in head
    section = "\n".join(decisions_section(r))
    assert "No decision check: no working point" in section and "| column" not in section
