"""``nanotrig run``: every stage in order, one run directory, one report.

Layout of ``<out_root>/<name>/``::

    config.yml            the resolved config (every default filled in)
    data/jets.h5          samples stage
    model/                float model, split, scaler, metrics, plots
    qmodel/               QKeras model, QAT history, test inputs, plots
    data/stress_inputs.npy  verify.stress_events resampled test inputs (batched C-sim check)
    hls/                  hls4ml project, test vectors, conversion.json, verify.json
    onnx/                 float ONNX model (tf2onnx) and its agreement record
    onnx_q/               quantized QDQ ONNX model and its layer-by-layer check vs QKeras
    report.json, report.md
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from nanotrig.config import JetSampleConfig, RunConfig
from nanotrig.errors import ConfigError, VerificationError
from nanotrig.fileio import write_json, write_text
from nanotrig.report import render_markdown
from nanotrig.stages import (
    all_bit_exact,
    jet_sample_stage,
    open_run,
    report_header,
    verify_stage,
)

__all__ = ["JET_TAGGERS", "run_pipeline"]

#: The families that tag jets of a jet sample (``nanotrig compare`` runs them side by side).
JET_TAGGERS = ("jet_mlp", "jet_cnn", "jet_garnet")

log = logging.getLogger(__name__)


def run_pipeline(
    cfg: RunConfig, force: bool = False, progress: bool = True, sample: Path | None = None
) -> dict:
    """Generate, train, quantize, convert, C-sim verify and export; write report.json/.md.

    ``sample``: an existing jet sample to use instead of generating one (``nanotrig compare``:
    every tagger on the same jets); only the jet families take it.

    Raises VerificationError at the end (after the report is written) if the C-simulation is
    not bit-exact or ONNX disagrees with Keras.
    """
    if sample is not None and cfg.model.family not in JET_TAGGERS:
        raise ConfigError(
            f"a shared jet sample is for the jet taggers {JET_TAGGERS}, not {cfg.model.family}"
        )
    if cfg.model.family == "dqm_ae":  # DQM occupancy maps: its own chain (nanotrig/run_dqm.py)
        from nanotrig.run_dqm import run_dqm

        return run_dqm(cfg, force, progress)
    if cfg.model.family == "anomaly_vae":  # L1 anomaly trigger: nanotrig/run_anomaly.py
        from nanotrig.run_anomaly import run_anomaly

        return run_anomaly(cfg, force, progress)
    if cfg.model.family == "jet_garnet":  # GarNet on constituents: nanotrig/run_garnet.py
        from nanotrig.run_garnet import run_garnet

        return run_garnet(cfg, force, progress, sample=sample)
    if not isinstance(cfg.samples, JetSampleConfig):
        raise ConfigError(
            f"nanotrig run trains the jet tagger and needs samples.kind: jets, got "
            f"{cfg.samples.kind!r}: make {cfg.samples.kind} samples with 'nanotrig generate'"
        )
    run_dir, timed = open_run(cfg, force)

    # Stages are imported as they start: the sample's worker processes fork before
    # TensorFlow is loaded, and a config error costs no import time.
    data_path = run_dir / "data" / "jets.h5"
    sample_record = jet_sample_stage(cfg, data_path, timed, progress, sample)
    from nanotrig.models import train_model
    from nanotrig.quantize import quantize_model

    trained = timed("train", train_model, data_path, cfg.model, cfg.seed, run_dir / "model")
    quantized = timed(
        "quantize", quantize_model, run_dir / "model", data_path, cfg.quantize, cfg.seed,
        run_dir / "qmodel",
    )  # fmt: skip
    from nanotrig.export import export_model, export_quantized
    from nanotrig.hls import convert_model

    x_test = np.load(run_dir / "qmodel" / "test_inputs.npy")
    converted = timed(
        "convert", convert_model, run_dir / "qmodel" / "qmodel.h5", run_dir / "hls", cfg.hls,
        test_inputs=x_test, input_bits=cfg.quantize.input,
    )  # fmt: skip
    verify_record = verify_stage(
        run_dir, cfg, x_test[: cfg.verify.n_events], x_test, timed, progress
    )
    exported = timed(
        "export", export_model, run_dir / "model" / "model.h5", x_test, cfg.export,
        run_dir / "onnx",
    )  # fmt: skip
    exported_q = timed(
        "export_quantized", export_quantized, run_dir / "qmodel" / "qmodel.h5", x_test,
        run_dir / "onnx_q", atol=cfg.export.atol,
    )  # fmt: skip

    report = {
        **report_header(cfg, timed),
        "samples": sample_record,
        "train": trained,
        "quantize": quantized,
        "hls": converted,
        "verify": verify_record,
        "export": exported,
        "export_quantized": exported_q,
        "plots": {
            "float_roc": "model/roc.png",
            "float_loss": "model/loss.png",
            "quantized_roc": "qmodel/roc.png",
            "qat_loss": "qmodel/loss.png",
        },
    }
    write_json(run_dir / "report.json", report)
    write_text(run_dir / "report.md", render_markdown(report))
    log.info("report written to %s", run_dir / "report.md")
    if not all_bit_exact(verify_record):
        raise VerificationError(
            f"C-simulation is not bit-exact with QKeras (see {run_dir / 'report.md'}): "
            "check the layer precisions in hls/conversion.json"
        )
    return report
