"""The one-screen summaries of records the CLI tests do not make end to end."""

from __future__ import annotations

from nanotrig.cli_summary import SUMMARIES, summary_lines


def test_every_summary_is_short():
    assert set(SUMMARIES) == {
        "generate", "samples validate", "train", "quantize", "convert", "synth", "export",
        "export qdq", "infer",
    }  # fmt: skip


def test_export_qdq_summary_states_what_differs():
    rec = {
        "onnx": "o/m.qdq.onnx", "opset": 21, "n_events": 9, "agrees": False, "atol": 1e-5,
        "exactness": "NOT exact: d2 differ from QKeras by up to 0.5",
        "file_max_abs_diff_outputs": 0.5, "file_argmax_agreement": 0.75,
    }  # fmt: skip
    assert summary_lines("export qdq", rec) == [
        "wrote o/m.qdq.onnx (integer QDQ, opset 21) and qdq_artifact.json",
        "QDQ vs QKeras on 9 events: NOT exact: d2 differ from QKeras by up to 0.5",
        "the written file vs QKeras outputs: max |diff| 0.5, NOT within atol 1e-05; "
        "argmax agreement 0.7500",
    ]


def test_generate_summaries():
    jets = {"path": "j.h5", "n_jets": 10, "n_per_class": {"q": 5, "W": 5}, "seconds": 3.2}
    assert summary_lines("generate", jets) == ["wrote j.h5: 10 jets (q 5, W 5) in 3 s"]
    l1 = {"path": "l1.h5", "n_events": 7, "n_per_process": {"minbias": 7}, "seconds": 1}
    assert summary_lines("generate", l1) == ["wrote l1.h5: 7 L1 events (minbias 7) in 1 s"]
    dqm = {"path": "d.h5", "n_maps": 4, "maps_per_fault": {"good": 4}, "seconds": 0}
    assert summary_lines("generate", dqm) == ["wrote d.h5: 4 DQM maps (good 4) in 0 s"]


def test_validate_and_synth_summaries():
    rec = {"kind": "jets", "path": "j.h5", "n": 10, "plots": ["p/a.png", "p/b.png"]}
    assert summary_lines("samples validate", rec) == [
        "checked j.h5 (jets, 10 rows): valid",
        "wrote 2 plots and validation.json to p",
    ]
    synth = {
        "tool": "vitis_hls", "report_path": "r.xml", "seconds": 61,
        "synthesis": {"latency_worst_ns": 25.0, "latency_worst_cycles": 5, "ii_max_cycles": 1,
                      "dsp": 3, "lut": 400, "ff": 200, "bram": 0},
    }  # fmt: skip
    assert summary_lines("synth", synth) == [
        "vitis_hls report r.xml and synth.json (61 s)",
        "synthesis: latency 25.0 ns (5 cycles, worst case), II 1 cycles; DSP 3, LUT 400, FF 200, "
        "BRAM 0",
    ]


def test_anomaly_train_summary():
    rec = {"model": "m/model.h5", "epochs_run": 4, "seconds": 9,
           "metrics": {"signals": {"ato4l": {"auc": 0.91234}}}}  # fmt: skip
    assert summary_lines("train", rec) == [
        "wrote m/model.h5 (4 epochs, 9 s)",
        "float AUC per signal: ato4l 0.912",
    ]


def test_dqm_and_garnet_summaries():
    dqm = {"model": "m/model.h5", "epochs_run": 3, "seconds": 2, "parameters": 99,
           "metrics": {"auc_any_fault": 0.97, "localisation": 0.8}}  # fmt: skip
    assert summary_lines("train", dqm)[1] == "float fault-detection AUC 0.9700, localisation 0.800"
    garnet_q = {"model": "q/qmodel.h5", "epochs_run": 2,
                "metrics": {"accuracy": 0.75, "auc": {"q": 0.8, "g": 0.9}}}  # fmt: skip
    assert summary_lines("quantize", garnet_q) == [
        "wrote q/qmodel.h5 (2 QAT epochs, 0 s)",
        "quantized test accuracy 0.7500, mean AUC 0.8500",
    ]


def test_convert_summary_says_what_happened_to_batchnorm():
    rec = {
        "out": "hls", "project_dir": "myproject_prj", "precisions": {"fc1": {}}, "lut_layers": [],
        "estimate": None,
        "batchnorm": {
            "folded": [{"layer": "bn1", "folded_into": "fc1", "saturated_weights": 0.25}],
            "change_vs_given_model": {"n_events": 50, "max_abs_diff": 0.5},
        },
    }  # fmt: skip
    lines = summary_lines("convert", rec)
    assert lines[2] == (
        "BatchNormalization folded (as QKeras QConv2DBatchnorm): bn1 into fc1 (25.0% of its "
        "weights saturate); the reference is the folded model (vs the model as given on the "
        "test vectors: max|diff| 0.5)"
    )
    assert not any("BatchNormalization" in line for line in summary_lines("convert", {
        **rec, "batchnorm": None}))  # fmt: skip
