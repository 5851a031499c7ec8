"""``nanotrig run`` for ``model.family: anomaly_vae``: the anomaly trigger through every stage.

Layout of ``<out_root>/<name>/``::

    config.yml            the resolved config
    data/l1.h5            samples stage (SM cocktail + BSM signals, 57 features)
    model/                float VAE (encoder, decoder, deployed score model), split, scaling
    qmodel/               QKeras encoder + score (QAT), test inputs, metrics, plots
    hls/                  hls4ml project of the deployed model (score in firmware), verify.json
    onnx/                 float score model in ONNX (tf2onnx) and its agreement
    onnx_q/               QKeras score model as a QDQ ONNX graph (export/qdq.py: integer QGemm for
                          the hidden layers), checked layer by layer against QKeras on the test
                          inputs (export/qcheck.py, qdq_artifact.json); the score must be identical
    report.json, report.md

Raises VerificationError after the report is written if the C-simulation is not bit-exact or the
quantized ONNX score differs from QKeras on any test event.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from nanotrig.config import RunConfig
from nanotrig.errors import VerificationError
from nanotrig.fileio import write_json, write_text
from nanotrig.stages import all_bit_exact, open_run, report_header, verify_stage

__all__ = ["export_quantized_score", "run_anomaly"]

log = logging.getLogger(__name__)
QDQ_METHOD = "QDQ graph (export/qdq.py), checked by export/qcheck.py with tolerance 0"


def run_anomaly(cfg: RunConfig, force: bool = False, progress: bool = True) -> dict:
    """Generate L1 events, train the VAE, quantize, convert, C-sim verify and export; write
    report.json/.md. Raises VerificationError after the report is written if the C-simulation
    is not bit-exact or an ONNX model disagrees."""
    from nanotrig.anomaly_report import render_anomaly_markdown

    run_dir, timed = open_run(cfg, force)

    from nanotrig.samples.l1_sample import generate_l1  # forks its workers before TF is loaded

    data_path = run_dir / "data" / "l1.h5"
    sample = timed("generate", generate_l1, cfg.samples, cfg.seed, data_path, progress=progress)
    from nanotrig.models.anomaly_stage import train_anomaly
    from nanotrig.quantize.anomaly_stage import quantize_anomaly

    trained = timed("train", train_anomaly, data_path, cfg.model, cfg.seed, run_dir / "model",
                    input_bits=cfg.quantize.input)  # fmt: skip
    quantized = timed(
        "quantize", quantize_anomaly, run_dir / "model", data_path, cfg.quantize, cfg.model,
        cfg.seed, run_dir / "qmodel",
    )  # fmt: skip
    from nanotrig.export import export_model
    from nanotrig.hls import convert_model

    x_test = np.load(run_dir / "qmodel" / "test_inputs.npy")
    converted = timed(
        "convert", convert_model, run_dir / "qmodel" / "qmodel.h5", run_dir / "hls", cfg.hls,
        test_inputs=x_test, input_bits=cfg.quantize.input,
    )  # fmt: skip
    # Real events, test ones first (a small sample has fewer test events than n_events).
    x_verify = np.load(run_dir / "qmodel" / "all_inputs.npy")[: cfg.verify.n_events]
    verify_record = verify_stage(run_dir, cfg, x_verify, x_test, timed, progress)
    exported = timed("export", export_model, run_dir / "model" / "model.h5", x_test, cfg.export,
                     run_dir / "onnx")  # fmt: skip
    exported_q = timed("export_quantized", export_quantized_score,
                       run_dir / "qmodel" / "qmodel.h5", x_test, run_dir / "onnx_q")  # fmt: skip
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
            "float_roc": "model/roc.png",
            "float_scores": "model/scores.png",
            "float_loss": "model/loss.png",
            "quantized_roc": "qmodel/roc.png",
            "quantized_scores": "qmodel/scores.png",
            "qat_loss": "qmodel/loss.png",
        },
    }
    report["summary"] = _summary(report)
    write_json(run_dir / "report.json", report)
    write_text(run_dir / "report.md", render_anomaly_markdown(report))
    log.info("report written to %s", run_dir / "report.md")
    if not all_bit_exact(verify_record):
        raise VerificationError(
            f"C-simulation is not bit-exact with QKeras (see {run_dir / 'report.md'}): "
            "check the layer precisions in hls/conversion.json"
        )
    if not exported_q["exact"]:
        raise VerificationError(
            f"the quantized ONNX model differs from QKeras (see {run_dir / 'report.md'} and "
            f"{run_dir / 'onnx_q' / 'qdq_artifact.json'} for the layer that diverges)"
        )
    return report


def export_quantized_score(
    qmodel_path: Path, inputs: np.ndarray, out_dir: Path, force: bool = False
) -> dict:
    """The jet pipeline's quantized export (:func:`export.export_quantized`: QDQ ONNX written to
    ``out_dir/<stem>.qdq.onnx``, compared with QKeras layer by layer and as onnxruntime runs the
    file) with tolerance 0: the score is a sum of integers on a power-of-two grid, so it must
    be identical. Adds ``exact`` (both comparisons identical) and ``method``; a disagreement is
    recorded (``error``), not raised, so that the report is still written."""
    from nanotrig.export import export_quantized

    try:
        record = export_quantized(qmodel_path, inputs, out_dir, force=force, atol=0.0)
    except VerificationError as err:
        return {"stage": "export_quantized", "method": QDQ_METHOD, "exact": False,
                "error": str(err)}  # fmt: skip
    return {**record, "method": QDQ_METHOD, "exact": bool(record["agrees"])}


def _summary(report: dict) -> str:
    """One line for the CLI: AUC per signal, C-sim and ONNX agreement."""
    m = report["quantize"]["metrics"]
    aucs = ", ".join(
        f"{k} {v['auc']:.3f} ({m['float']['signals'][k]['auc']:.3f})"
        for k, v in m["quantized"]["signals"].items()
    )
    v = report["verify"]
    edges = v.get("edge_inputs")
    edge_txt = f" + {edges['n_events']} edge inputs: {edges['ok']}" if edges else ""
    return (
        f"AUC QKeras (float): {aucs}; C-sim bit-exact on {v['n_events']} events: {v['ok']}"
        f"{edge_txt}; ONNX agrees: {report['export']['agrees']}; quantized ONNX identical: "
        f"{report['export_quantized']['exact']}"
    )
