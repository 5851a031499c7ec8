"""``nanotrig run`` for ``model.family: jet_garnet``: the GarNet tagger on jet constituents.

Layout of ``<out_root>/<name>/``::

    config.yml            the resolved config
    data/jets.h5          samples stage (with constituents)
    model/                float tagger, split, metrics, loss plot
    qmodel/               QGarNet tagger (QAT from the float weights), loss plot, roc.png,
                          test_scores.npz (float, quantized, firmware scores of the test jets)
    hls/                  hls4ml project (GarNet + Dense head, logits), conversion.json, verify.json
    onnx/                 float ONNX tagger and its agreement with Keras
    onnx_q/               quantized (QGarNet) ONNX tagger and its agreement with QKeras
    report.json, report.md

The firmware holds the tagger up to its logits: the GarNet layer and the Dense head (fc1, ReLU,
output, weights in ``ap_fixed<16,6>``); only the softmax runs outside it, in float. The
"firmware" figures are the softmax of the emulated logits, which equal the C-simulation's bit for
bit (checked here; ``hls.garnet_head``). Raises
VerificationError after the report is written if the C-simulation and the emulator differ, the
emulator is outside its Keras tolerance, or ONNX disagrees with Keras.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from nanotrig.config import JetSampleConfig, RunConfig
from nanotrig.errors import ConfigError, VerificationError
from nanotrig.fileio import prepare_output_dir, write_json, write_text
from nanotrig.report_garnet import render_garnet_markdown
from nanotrig.stages import jet_sample_stage, open_run, report_header

__all__ = ["QUANTIZED_ATOL", "export_garnet", "run_garnet"]

log = logging.getLogger(__name__)
_FW = "firmware logits + softmax"


#: Allowed |ONNX - QKeras| on the class scores of the quantized tagger: onnxruntime's float32
#: kernels for the QGarNet layer round differently from TensorFlow's, so the scores are not
#: bit-identical (measured on the default run: 3.3e-4 at most, argmax identical).
QUANTIZED_ATOL = 1e-3


def export_garnet(
    model, x: list[np.ndarray], out_dir: Path, name: str, opset: int, atol: float
) -> dict:
    """A GarNet tagger (float, or the QGarNet one) -> ONNX (tf2onnx); class scores vs Keras on
    ``x`` (constituents, counts), within ``atol``."""
    import onnxruntime as ort

    from nanotrig.export import keras_to_onnx
    from nanotrig.fileio import file_sha256

    dest = keras_to_onnx(model, out_dir / name, opset)
    sess = ort.InferenceSession(str(dest), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    feeds = dict(zip(names, (np.asarray(a, dtype=np.float32) for a in x), strict=True))
    y_onnx = sess.run(None, feeds)[0]
    y_keras = model.predict(x, batch_size=1024, verbose=0)
    max_diff = float(np.abs(y_onnx - y_keras).max())
    record = {
        "stage": "export",
        "onnx": str(dest),
        "sha256": file_sha256(dest),
        "opset": opset,
        "inputs": names,
        "providers": sess.get_providers(),
        "n_events": len(y_keras),
        "max_abs_diff": max_diff,
        "exact": bool(np.array_equal(y_onnx, y_keras)),
        "argmax_agreement": float(np.mean(y_onnx.argmax(1) == y_keras.argmax(1))),
        "atol": atol,
        "agrees": max_diff <= atol,
    }
    write_json(out_dir / "artifact.json", record)
    return record


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _check_supported(cfg: RunConfig) -> None:
    """Settings the GarNet chain cannot honour are refused before any work, not ignored."""
    if not isinstance(cfg.samples, JetSampleConfig) or cfg.model.family != "jet_garnet":
        raise ConfigError(
            "the GarNet run needs model.family: jet_garnet and samples.kind: jets "
            "(see configs/jet_garnet.yml)"
        )
    h, n_v = cfg.hls, cfg.samples.n_constituents
    fixed = {"backend": "Vitis", "io_type": "io_parallel", "strategy": "Latency"}
    for key, value in fixed.items():
        if getattr(h, key) != value:
            raise ConfigError(
                f"hls.{key}: the GarNet layer is converted with {key} {value} only "
                f"(hls/garnet_convert.py), got {getattr(h, key)!r}: set it to {value}"
            )
    if h.reuse_factor & (h.reuse_factor - 1) or h.reuse_factor > n_v:
        raise ConfigError(
            f"hls.reuse_factor {h.reuse_factor}: GarNet splits its {n_v} vertices into "
            f"reuse_factor blocks: use a power of two up to {n_v}"
        )
    if cfg.verify.stress_events:
        raise ConfigError(
            "verify.stress_events: the batched large check is not wired for jet_garnet yet: "
            "set it to 0"
        )


def run_garnet(
    cfg: RunConfig, force: bool = False, progress: bool = True, sample: Path | None = None
) -> dict:
    """Generate jets (or take ``sample``), train, QAT, convert the GarNet layer, C-sim verify,
    export, report."""
    _check_supported(cfg)
    run_dir, timed = open_run(cfg, force)
    data_path = run_dir / "data" / "jets.h5"
    sample_record = jet_sample_stage(cfg, data_path, timed, progress, sample)
    from nanotrig.models.garnet_stage import load_garnet_data, train_garnet_stage
    from nanotrig.quantize.garnet_stage import quantize_garnet_stage

    data = load_garnet_data(data_path, cfg.model, cfg.seed)
    model, trained = timed(
        "train", train_garnet_stage, data, cfg.model, cfg.seed, run_dir / "model"
    )
    qmodel, quantized = timed(
        "quantize", quantize_garnet_stage, model, data, cfg.quantize, cfg.model.batch_size,
        cfg.seed, run_dir / "qmodel",
    )  # fmt: skip

    from nanotrig.hls.garnet_convert import (
        GARNET_PRECISIONS,
        HEAD_PRECISIONS,
        convert_garnet,
        garnet_submodel,
    )
    from nanotrig.hls.garnet_emulator import GarnetEmulator
    from nanotrig.hls.garnet_head import GarnetTaggerEmulator
    from nanotrig.hls.garnet_verify import (
        compare_csim_emulator,
        emulator_vs_keras,
        garnet_edge_inputs,
    )

    hls_model = timed(
        "convert", convert_garnet, qmodel, run_dir / "hls", reuse_factor=cfg.hls.reuse_factor,
        head=True,
    )  # fmt: skip
    from nanotrig.hls.budget import check_budget, estimate_for

    estimate = estimate_for(hls_model, cfg.hls)  # raises BudgetExceededError over budget
    budget = check_budget(estimate, cfg.hls)
    emulator = GarnetEmulator.from_hls_layer(hls_model)
    tagger_emulator = GarnetTaggerEmulator.from_model(emulator, qmodel)
    converted = {
        "stage": "convert",
        "project_dir": str(run_dir / "hls"),
        "in_firmware": ["garnet", "fc1", "relu1", "output"],
        "outside_firmware": ["softmax"],
        "precisions": dict(GARNET_PRECISIONS),
        "head_precisions": dict(HEAD_PRECISIONS),
        "distance_t": "ap_fixed<12,4,AP_TRN,AP_SAT> (fixed by hls4ml)",
        "reuse_factor": cfg.hls.reuse_factor,
        "estimate": None if estimate is None else {**estimate.to_dict(), "budget": budget},
    }
    write_json(run_dir / "hls" / "conversion.json", converted)

    others = np.concatenate([data.split["train"], data.split["val"]])
    verify_idx = np.concatenate([data.split["test"], others])[: cfg.verify.n_events]
    x_v, n_v = data.x[verify_idx], data.n[verify_idx]
    verify_record = timed(
        "verify", compare_csim_emulator, hls_model, tagger_emulator, x_v, n_v,
        run_dir / "hls" / "mismatch_jets.npz",
    )  # fmt: skip
    verify_record["test_jets"] = int(min(len(data.split["test"]), len(verify_idx)))
    if cfg.verify.edge_inputs:
        x_e, n_e = garnet_edge_inputs(data.x, np.random.default_rng(cfg.seed))
        verify_record["edge_inputs"] = timed(
            "verify_edges", compare_csim_emulator, hls_model, tagger_emulator, x_e, n_e,
            run_dir / "hls" / "mismatch_edge_inputs.npz",
        )  # fmt: skip
    verify_record["emulator_vs_keras"] = timed(
        "verify_keras", emulator_vs_keras, emulator, garnet_submodel(qmodel), x_v, n_v
    )
    write_json(run_dir / "hls" / "verify.json", verify_record)

    from nanotrig.models.metrics import classification_metrics, roc_curves, write_test_scores
    from nanotrig.models.plots import plot_roc

    x_te, y_te = data.part("test")
    scores = {
        "float": model.predict(x_te, batch_size=1024, verbose=0),
        "QGarNet QAT": qmodel.predict(x_te, batch_size=1024, verbose=0),
        _FW: _softmax(tagger_emulator.predict(*x_te)),
    }
    metrics = {k: classification_metrics(y_te, s, data.class_names) for k, s in scores.items()}
    write_test_scores(
        run_dir / "qmodel", y_te, data.class_names,
        {"float": scores["float"], "quantized": scores["QGarNet QAT"], "firmware": scores[_FW]},
    )  # fmt: skip
    metrics[_FW]["argmax_agreement_vs_qkeras"] = float(
        np.mean(scores[_FW].argmax(1) == scores["QGarNet QAT"].argmax(1))
    )
    curves = {k: roc_curves(y_te, s, data.class_names) for k, s in scores.items() if k != "float"}
    plot_roc(
        {"float": roc_curves(y_te, scores["float"], data.class_names), **curves},
        run_dir / "qmodel" / "roc.png", title="GarNet jet tagger ROC (test jets)",
    )  # fmt: skip
    exported = timed(
        "export", export_garnet, model, x_te, prepare_output_dir(run_dir / "onnx", force),
        "jet_garnet.onnx", cfg.export.opset, cfg.export.atol,
    )  # fmt: skip
    exported_q = timed(
        "export_quantized", export_garnet, qmodel, x_te,
        prepare_output_dir(run_dir / "onnx_q", force), "jet_garnet_q.onnx", cfg.export.opset,
        QUANTIZED_ATOL,
    )  # fmt: skip

    report = {
        **report_header(cfg, timed),
        "samples": sample_record,
        "train": trained,
        "quantize": quantized,
        "metrics": metrics,
        "hls": converted,
        "verify": verify_record,
        "export": exported,
        "export_quantized": exported_q,
        "plots": {
            "roc": "qmodel/roc.png",
            "float_loss": "model/loss.png",
            "qat_loss": "qmodel/loss.png",
        },
    }
    fw = metrics[_FW]
    report["summary"] = (
        f"accuracy: float {metrics['float']['accuracy']:.3f}, QGarNet QAT "
        f"{metrics['QGarNet QAT']['accuracy']:.3f}, {_FW} "
        f"{fw['accuracy']:.3f}; C-sim == emulator: {verify_record['ok']} "
        f"({verify_record['n_mismatch']} mismatching jets of {verify_record['n_events']}); "
        f"emulator within Keras tolerance: {verify_record['emulator_vs_keras']['ok']}; "
        f"ONNX agrees: {exported['agrees']}; quantized ONNX within {QUANTIZED_ATOL:g}: "
        f"{exported_q['agrees']}"
    )
    write_json(run_dir / "report.json", report)
    write_text(run_dir / "report.md", render_garnet_markdown(report))
    log.info("report written to %s", run_dir / "report.md")
    checks = (verify_record, verify_record.get("edge_inputs"))
    if any(r and not r["ok"] for r in checks):
        raise VerificationError(
            f"GarNet C-simulation differs from the emulator (see {run_dir / 'report.md'} and "
            "the mismatch_*.npz files in hls/): check GARNET_PRECISIONS in hls/garnet_convert.py"
        )
    if not verify_record["emulator_vs_keras"]["ok"]:
        raise VerificationError(
            f"the GarNet emulator is outside its tolerance against the QKeras layer (see "
            f"{run_dir / 'report.md'}): check the quantizer bits and the saturated-distance jets"
        )
    for rec, folder in ((exported, "onnx"), (exported_q, "onnx_q")):
        if not rec["agrees"]:
            raise VerificationError(
                f"the ONNX tagger disagrees with Keras (see {run_dir / folder / 'artifact.json'})"
            )
    return report
