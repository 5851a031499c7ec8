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
import time
from pathlib import Path

import numpy as np
import yaml

from nanotrig.config import JetSampleConfig, RunConfig
from nanotrig.errors import ConfigError, VerificationError
from nanotrig.fileio import package_versions, prepare_output_dir, write_json, write_text
from nanotrig.report import render_markdown

__all__ = ["run_pipeline"]

log = logging.getLogger(__name__)


def run_pipeline(cfg: RunConfig, force: bool = False, progress: bool = True) -> dict:
    """Generate, train, quantize, convert, C-sim verify and export; write report.json/.md.

    Raises VerificationError at the end (after the report is written) if the C-simulation is
    not bit-exact or ONNX disagrees with Keras.
    """
    if cfg.model.family == "dqm_ae":  # DQM occupancy maps: its own chain (nanotrig/run_dqm.py)
        from nanotrig.run_dqm import run_dqm

        return run_dqm(cfg, force, progress)
    if cfg.model.family == "anomaly_vae":  # L1 anomaly trigger: nanotrig/run_anomaly.py
        from nanotrig.run_anomaly import run_anomaly

        return run_anomaly(cfg, force, progress)
    if cfg.model.family == "jet_garnet":  # GarNet on constituents: nanotrig/run_garnet.py
        from nanotrig.run_garnet import run_garnet

        return run_garnet(cfg, force, progress)
    if not isinstance(cfg.samples, JetSampleConfig):
        raise ConfigError(
            f"nanotrig run trains the jet tagger and needs samples.kind: jets, got "
            f"{cfg.samples.kind!r}: make {cfg.samples.kind} samples with 'nanotrig generate'"
        )
    run_dir = prepare_output_dir(Path(cfg.out_root) / cfg.name, force)
    write_text(run_dir / "config.yml", yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    timings: dict[str, float] = {}

    def timed(stage: str, fn, *args, **kwargs):
        log.info("[%s] starting", stage)
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        timings[stage] = round(time.perf_counter() - t0, 2)
        log.info("[%s] done in %.1f s", stage, timings[stage])
        return out

    # Stages are imported as they start: the sample's worker processes fork before
    # TensorFlow is loaded, and a config error costs no import time.
    from samples import generate_jets

    data_path = run_dir / "data" / "jets.h5"
    sample = timed("generate", generate_jets, cfg.samples, cfg.seed, data_path, progress=progress)
    from models import train_model
    from quantize import quantize_model

    trained = timed("train", train_model, data_path, cfg.model, cfg.seed, run_dir / "model")
    quantized = timed(
        "quantize", quantize_model, run_dir / "model", data_path, cfg.quantize, cfg.seed,
        run_dir / "qmodel",
    )  # fmt: skip
    from export import export_model, export_quantized
    from hls import convert_model, edge_inputs, verify_project

    x_test = np.load(run_dir / "qmodel" / "test_inputs.npy")
    converted = timed(
        "convert", convert_model, run_dir / "qmodel" / "qmodel.h5", run_dir / "hls", cfg.hls,
        test_inputs=x_test, input_bits=cfg.quantize.input,
    )  # fmt: skip
    x_verify = x_test[: cfg.verify.n_events]
    verified = timed("verify", verify_project, run_dir / "hls", x_verify)
    verify_record = verified.to_dict()
    if cfg.verify.edge_inputs:
        edges = timed("verify_edges", verify_project, run_dir / "hls", edge_inputs(run_dir / "hls"))
        verify_record["edge_inputs"] = edges.to_dict()
    if cfg.verify.stress_events:
        from hls import stress_inputs

        stress_path = stress_inputs(
            x_test, cfg.verify.stress_events, run_dir / "data" / "stress_inputs.npy",
            smear=cfg.verify.stress_smear, seed=cfg.seed,
        )  # fmt: skip
        stress = timed(
            "verify_stress", verify_project, run_dir / "hls", stress_path, batched=True,
            progress=progress,
        )  # fmt: skip
        verify_record["stress"] = {
            **stress.to_dict(),
            "inputs": "data/stress_inputs.npy",
            "smear": cfg.verify.stress_smear,
        }
    write_json(run_dir / "hls" / "verify.json", verify_record)
    exported = timed(
        "export", export_model, run_dir / "model" / "model.h5", x_test, cfg.export,
        run_dir / "onnx",
    )  # fmt: skip
    exported_q = timed(
        "export_quantized", export_quantized, run_dir / "qmodel" / "qmodel.h5", x_test,
        run_dir / "onnx_q", atol=cfg.export.atol,
    )  # fmt: skip

    report = {
        "name": cfg.name,
        "seed": cfg.seed,
        "config": cfg.model_dump(mode="json"),
        "versions": package_versions(),
        "timings_s": timings,
        "samples": sample,
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
    checks = (verify_record, verify_record.get("edge_inputs"), verify_record.get("stress"))
    bad = [r for r in checks if r and not r["ok"]]
    if bad:
        raise VerificationError(
            f"C-simulation is not bit-exact with QKeras (see {run_dir / 'report.md'}): "
            "check the layer precisions in hls/conversion.json"
        )
    return report
