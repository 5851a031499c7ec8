"""``nanotrig run`` for ``model.family: dqm_ae``: the DQM autoencoder through every stage.

Layout of ``<out_root>/<name>/``::

    config.yml            the resolved config
    data/dqm.h5           samples stage (occupancy maps with labelled faults)
    model/                float autoencoder, run-wise split, metrics, fault ROC, example maps
    qmodel/               QKeras autoencoder (QAT), test_inputs.npy, verify_inputs.npy, plots
    hls/                  hls4ml project (io_stream), conversion.json, verify.json
    onnx/                 float ONNX model and its agreement with Keras
    onnx_q/               quantized QDQ ONNX model, checked layer by layer against QKeras
    report.json, report.md

The C-simulation check reads ``verify.n_events`` maps: the test maps first, then the others (the
firmware sees maps, not a split). Raises VerificationError after the report is written if the
C-simulation is not bit-exact or an ONNX model disagrees.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from nanotrig.config import DQMConfig, ExportConfig, RunConfig
from nanotrig.errors import ConfigError, VerificationError
from nanotrig.fileio import prepare_output_dir, write_json, write_text
from nanotrig.report import _fmt
from nanotrig.report_dqm import render_dqm_markdown
from nanotrig.stages import all_bit_exact, open_run, report_header, verify_stage

__all__ = ["export_float_ae", "run_dqm"]

log = logging.getLogger(__name__)


def export_float_ae(
    model_path: Path, x: np.ndarray, cfg: ExportConfig, out_dir: Path, force: bool = False
) -> dict:
    """Float autoencoder -> ONNX (tf2onnx); reconstructions and per-map losses vs Keras."""
    from nanotrig.export import OnnxModel, keras_to_onnx
    from nanotrig.fileio import file_sha256
    from nanotrig.models.dqm_metrics import reconstruction_losses
    from nanotrig.quantize import load_keras_model

    model = load_keras_model(model_path)
    out_dir = prepare_output_dir(out_dir, force)
    dest = keras_to_onnx(model, out_dir / f"{Path(model_path).stem}.onnx", cfg.opset)
    onnx_model = OnnxModel(dest)
    t0 = time.perf_counter()
    y_onnx = onnx_model.predict(x)
    seconds = time.perf_counter() - t0
    y_keras = model.predict(x, batch_size=1024, verbose=0)
    loss_onnx, _ = reconstruction_losses(x, y_onnx)
    loss_keras, _ = reconstruction_losses(x, y_keras)
    max_diff = float(np.abs(y_onnx - y_keras).max())
    record = {
        "stage": "export",
        "onnx": str(dest),
        "sha256": file_sha256(dest),
        "source_model": str(model_path),
        "opset": cfg.opset,
        "providers": onnx_model.providers,
        "n_events": len(x),
        "max_abs_diff": max_diff,
        "max_abs_diff_loss": float(np.abs(loss_onnx - loss_keras).max()),
        "atol": cfg.atol,
        "agrees": max_diff <= cfg.atol,
        "events_per_s": round(len(x) / seconds, 1) if seconds > 0 else None,
    }
    write_json(out_dir / "artifact.json", record)
    return record


def run_dqm(cfg: RunConfig, force: bool = False, progress: bool = True) -> dict:
    """Generate maps, train, quantize, convert, C-sim verify and export the DQM autoencoder."""
    if not isinstance(cfg.samples, DQMConfig) or cfg.model.family != "dqm_ae":
        raise ConfigError(
            "the DQM autoencoder run needs model.family: dqm_ae and samples.kind: dqm "
            "(see configs/dqm_ae.yml)"
        )
    run_dir, timed = open_run(cfg, force)

    from nanotrig.samples import generate_dqm

    data_path = run_dir / "data" / "dqm.h5"
    sample = timed("generate", generate_dqm, cfg.samples, cfg.seed, data_path, progress=progress)
    from nanotrig.models.dqm_stage import train_dqm_ae
    from nanotrig.quantize.dqm import quantize_dqm_ae

    trained = timed("train", train_dqm_ae, data_path, cfg.model, cfg.seed, run_dir / "model")
    quantized = timed(
        "quantize", quantize_dqm_ae, run_dir / "model", data_path, cfg.quantize, cfg.seed,
        run_dir / "qmodel", batch_size=cfg.model.batch_size,
    )  # fmt: skip
    from nanotrig.export import export_quantized
    from nanotrig.hls import convert_model

    x_test = np.load(run_dir / "qmodel" / "test_inputs.npy")
    converted = timed(
        "convert", convert_model, run_dir / "qmodel" / "qmodel.h5", run_dir / "hls", cfg.hls,
        test_inputs=x_test, input_bits=cfg.quantize.input,
    )  # fmt: skip
    x_verify = np.load(run_dir / "qmodel" / "verify_inputs.npy")[: cfg.verify.n_events]
    verify_record = verify_stage(run_dir, cfg, x_verify, x_test, timed, progress)
    exported = timed(
        "export", export_float_ae, run_dir / "model" / "model.h5", x_test, cfg.export,
        run_dir / "onnx",
    )  # fmt: skip
    try:
        exported_q = timed(
            "export_quantized", export_quantized, run_dir / "qmodel" / "qmodel.h5", x_test,
            run_dir / "onnx_q", atol=cfg.export.atol,
        )  # fmt: skip
    except VerificationError as err:  # recorded; raised after the report is written
        exported_q = {"agrees": False, "error": str(err)}

    report = {
        **report_header(cfg, timed),
        "samples": sample,
        "train": trained,
        "quantize": quantized,
        "hls": converted,
        "verify": verify_record,
        "export": exported,
        "export_quantized": exported_q,
        "plots": {
            "float_fault_roc": "model/fault_roc.png",
            "float_loss": "model/loss.png",
            "quantized_fault_roc": "qmodel/fault_roc.png",
            "qat_loss": "qmodel/loss.png",
            **{f"example_{k}": f"qmodel/{v}" for k, v in quantized["plots"]["examples"].items()},
        },
    }
    qm = quantized["metrics"]
    report["summary"] = (
        f"AUC any fault: float {_fmt(qm['float']['auc_any_fault'])}, quantized "
        f"{_fmt(qm['quantized']['auc_any_fault'])}; localisation (quantized) "
        f"{_fmt(qm['quantized']['localisation'])}; C-sim bit-exact: {verify_record['ok']}; "
        f"ONNX agrees: {exported['agrees']}; QDQ ONNX exact: {exported_q.get('logits_exact')}"
    )
    write_json(run_dir / "report.json", report)
    write_text(run_dir / "report.md", render_dqm_markdown(report))
    log.info("report written to %s", run_dir / "report.md")
    if not all_bit_exact(verify_record):
        raise VerificationError(
            f"C-simulation is not bit-exact with QKeras (see {run_dir / 'report.md'}): "
            "check the layer precisions in hls/conversion.json"
        )
    if not exported["agrees"] or not exported_q.get("agrees"):
        raise VerificationError(
            f"an ONNX model disagrees with Keras/QKeras (see {run_dir / 'report.md'}): "
            "check onnx/artifact.json and onnx_q/qdq_artifact.json"
        )
    return report
