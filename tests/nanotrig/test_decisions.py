"""Working points, efficiencies and decision flips on synthetic scores (known answers)."""

from __future__ import annotations

import numpy as np
import pytest

from nanotrig.decisions import (
    DecisionSpec,
    FlipCounter,
    WorkingPoint,
    decision_table,
    efficiency_thresholds,
    parse_thresholds,
)
from nanotrig.errors import ConfigError

COLUMNS = ("g", "q")


def test_thresholds_keep_the_asked_share_of_signal():
    scores = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4], [0.1, 0.9]])
    signal = np.array([[1, 0], [1, 0], [1, 0], [1, 0], [0, 1]], bool)
    points = efficiency_thresholds(scores, signal, COLUMNS, (0.5, 0.9))
    # g: four signal events, 50 % -> the 2nd highest score, 90 % -> the 4th (ceil(3.6))
    assert [(p.name, p.threshold) for p in points] == [
        ("g", 0.8), ("g", 0.6), ("q", 0.9), ("q", 0.9)
    ]  # fmt: skip
    rows = decision_table(scores, scores, signal, points)
    assert rows[0]["qkeras"]["efficiency"]["value"] == 0.5
    assert rows[1]["qkeras"]["efficiency"]["value"] == 1.0
    assert rows[0]["qkeras"]["mistag"] == {"value": 0.0, "error": 0.0, "n": 1}
    assert all(r["flips"] == 0 for r in rows)


def test_flips_counted_in_chunks_and_in_the_table():
    rng = np.random.default_rng(1)
    ref = rng.random((1000, 2))
    fw = ref.copy()
    points = [WorkingPoint(0, "g", 0.5), WorkingPoint(1, "q", 0.25)]
    fw[:7, 0] = np.where(ref[:7, 0] >= 0.5, 0.49, 0.5)  # 7 flips at g >= 0.5
    fw[10:13, 1] = np.where(ref[10:13, 1] >= 0.25, 0.0, 1.0)  # 3 flips at q >= 0.25
    counter = FlipCounter(DecisionSpec(COLUMNS), points)
    x = np.zeros((1000, 4))
    for start in range(0, 1000, 300):  # streamed in uneven chunks
        counter.add(x[start : start + 300], ref[start : start + 300], fw[start : start + 300])
    rec = counter.to_dict()
    assert rec["n_events"] == 1000 and rec["total_flips"] == 10 and rec["events_differ"] == 10
    assert [p["flips"] for p in rec["points"]] == [7, 3]
    assert rec["points"][0]["gained"] == int(np.sum(ref[:7, 0] < 0.5))
    signal = np.zeros((1000, 2), bool)
    signal[::2, 0] = signal[1::2, 1] = True
    rows = decision_table(ref, fw, signal, points)
    assert [r["flips"] for r in rows] == [7, 3]
    eff = rows[0]["firmware"]["efficiency"]
    p = np.mean(fw[::2, 0] >= 0.5)
    assert eff["value"] == p and eff["error"] == pytest.approx(np.sqrt(p * (1 - p) / 500))


def test_thresholds_parsed_and_refused_in_one_line():
    points = parse_thresholds(["0.3", "q:0.7", "0:0.1"], COLUMNS)
    assert [(p.column, p.threshold) for p in points] == [(0, 0.3), (1, 0.3), (1, 0.7), (0, 0.1)]
    with pytest.raises(ConfigError, match=r"--threshold 'w:0.5': no output column 'w': choose"):
        parse_thresholds(["w:0.5"], COLUMNS)
    with pytest.raises(ConfigError, match=r"--threshold 'g:high': not a number"):
        parse_thresholds(["g:high"], COLUMNS)


def test_family_scores_are_the_trained_figures():
    """The DQM fault score is the map's mean squared error of models/dqm_metrics.py, from the
    C-simulation's flat outputs too; the anomaly score is the VAE's one output."""
    from nanotrig.models.dqm_metrics import reconstruction_losses

    from nanotrig.families.anomaly_vae import _score
    from nanotrig.families.dqm_ae import _fault_score

    rng = np.random.default_rng(2)
    x, y = rng.random((5, 4, 8, 1)), rng.random((5, 32))
    per_map, _ = reconstruction_losses(x, y.reshape(x.shape))
    np.testing.assert_array_equal(_fault_score(x, y)[:, 0], per_map)
    np.testing.assert_array_equal(_score(x, y[:, :1]), y[:, :1])


def test_thresholds_snap_to_the_output_grid_without_changing_firmware_decisions():
    """A threshold snapped up to the output grid decides every on-grid score as the float one."""
    from nanotrig.decisions import snap_points

    frac = 10
    rng = np.random.default_rng(3)
    fw = rng.integers(0, 2**frac + 1, (500, 1)) * 2.0**-frac  # scores on the grid
    points = snap_points([WorkingPoint(0, "g", 0.30001), WorkingPoint(0, "g", 0.5)], frac, "T")
    assert [(p.code, p.threshold, p.threshold_float) for p in points] == [
        (308, 308 / 1024, 0.30001), (512, 0.5, 0.5)
    ]  # fmt: skip
    assert points[0].to_dict()["output_type"] == "T"
    for p in points:
        np.testing.assert_array_equal(fw[:, 0] >= p.threshold, fw[:, 0] >= p.threshold_float)
    assert snap_points(points, frac, "T") == points  # snapping twice changes nothing
    assert WorkingPoint.from_dict(points[0].to_dict()) == points[0]


def test_flips_against_the_exact_reference_and_table_differences_apart():
    """Flips count firmware vs the bit-exact reference; a firmware output one LSB low (a
    mutation) flips the events at the threshold code. Table-induced differences count firmware
    vs QKeras' float scores, split gained/lost, with the largest distance from the threshold."""
    lsb = 2.0**-8
    exact = np.array([[0.5], [0.5 - lsb], [0.25], [0.75], [0.5 + lsb]])
    qkeras = exact + np.array([[-0.001], [0.006], [0.0], [0.0], [-0.003]])
    points = [WorkingPoint(0, "g", 0.5)]
    counter = FlipCounter(DecisionSpec(("g",)), points)
    x = np.zeros((5, 1))
    assert counter.add(x, qkeras, exact.copy(), exact) == 0  # firmware == its reference
    rec = counter.to_dict()
    assert rec["total_flips"] == 0 and rec["reference"] == "bit-exact"
    # QKeras 0.499 fails where the firmware's 0.5 passes (gained); 0.50209 passes where the
    # firmware's 0.49609 does not (lost)
    table = rec["table_induced"]
    assert (table["total"], table["gained"], table["lost"]) == (2, 1, 1)
    assert table["max_margin"] == pytest.approx(0.006 - lsb)
    assert rec["points"][0]["table_diffs"] == 2
    mutated = FlipCounter(DecisionSpec(("g",)), points)
    assert mutated.add(x, qkeras, exact - lsb, exact) == 1  # the event at 0.5 now fails
    assert mutated.to_dict()["total_flips"] == 1 and mutated.to_dict()["total_gained"] == 0
    rows = decision_table(qkeras, exact - lsb, np.ones((5, 1), bool), points, exact)
    assert rows[0]["flips"] == 1 and rows[0]["table_diffs"] == 1


def test_numpy_scores_keep_float_thresholds_and_firmware_outputs_snap(tmp_path):
    """A score computed in numpy from the firmware's outputs (DQM) keeps float thresholds;
    one that is a firmware output column snaps them to its type; the record says which."""
    from types import SimpleNamespace

    from nanotrig.families.decision_check import decisions_record
    from nanotrig.families.dqm_ae import _fault_score

    (tmp_path / "hls").mkdir()
    ctx = SimpleNamespace(cfg=SimpleNamespace(verify=SimpleNamespace(working_points=[0.5])),
                          run_dir=tmp_path)  # fmt: skip
    rng = np.random.default_rng(4)
    x = rng.integers(0, 64, (60, 4)) * 2.0**-6
    y = rng.integers(0, 64, (60, 4)) * 2.0**-6
    signal = (np.arange(60) % 2 == 0)[:, None]
    dqm = DecisionSpec(("fault score",), _fault_score, in_firmware=False)
    rec = decisions_record(ctx, dqm, x, y, y, signal, output_type=("ap_ufixed<8,2>", 6))
    assert rec["thresholds_in"].startswith("float") and "code" not in rec["points"][0]
    assert rec["test"]["total_flips"] == rec["test"]["table_induced"]["total"] == 0
    rec = decisions_record(
        ctx, DecisionSpec(("s",)), x, y[:, :1], y[:, :1], signal,
        output_type=("ap_ufixed<8,2>", 6),
    )  # fmt: skip
    p = rec["points"][0]
    assert rec["thresholds_in"] == "firmware units (ap_ufixed<8,2>)"
    assert p["threshold"] == p["code"] * 2.0**-6 == p["threshold_float"]  # already on the grid
