"""Evaluate one design-space scan point (runs on a Dask worker, or anywhere).

QAT fine-tune from the float weights (:mod:`quantize.scan_train`), hls4ml conversion in memory
(no project written) and the latency/resource estimate (:func:`hls.estimate.estimate_model`);
optionally a bit-exactness C-simulation (``convert_model`` + ``verify_project``, g++) on the
first test events. Everything is seeded by the point's own seed with TensorFlow on one thread,
so a point gives the same record on any worker.
"""

from __future__ import annotations

import logging
import tempfile
import time
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from nanotrig.config import HlsConfig, QuantizeConfig
from nanotrig.errors import ConversionError, NanotrigError

__all__ = ["PointJob", "evaluate_point", "float_reference"]

log = logging.getLogger(__name__)

#: What a worker needs for one point (plain data: it travels to remote workers).
PointJob = dict[str, Any]


@lru_cache(maxsize=2)
def _inputs(model_dir: str, sample_path: str, max_train: int | None):
    """Float model and dataset, loaded once per worker process."""
    from nanotrig.models import MODEL_FILE, load_sample_dataset
    from nanotrig.quantize.stage import load_keras_model

    model = load_keras_model(Path(model_dir) / MODEL_FILE)
    data = load_sample_dataset(Path(sample_path), Path(model_dir))
    x_tr, y_tr = data.x_train, data.y_train
    if max_train is not None:
        x_tr, y_tr = x_tr[:max_train], y_tr[:max_train]
    return model, x_tr, y_tr, data.x_test, data.y_test


def float_reference(model_dir: str, sample_path: str) -> float:
    """Test accuracy of the float model (the scan's reference)."""
    from nanotrig.quantize.scan_train import single_thread_tf

    single_thread_tf()
    model, _, _, x_te, y_te = _inputs(str(model_dir), str(sample_path), None)
    return _accuracy(model, x_te, y_te)


def _accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    scores = model.predict(x, batch_size=4096, verbose=0)
    return float(np.mean(np.argmax(scores, axis=1) == y))


def evaluate_point(job: PointJob) -> dict[str, Any]:
    """Train, convert and estimate one point; return its record (never raises a
    :class:`NanotrigError`: a point hls4ml cannot convert is recorded with ``error``)."""
    from nanotrig.quantize.scan_train import single_thread_tf, weight_sparsity

    t0 = time.perf_counter()
    single_thread_tf()
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notes, every point
    qcfg = QuantizeConfig.model_validate(job["quantize"])
    hcfg = HlsConfig.model_validate(job["hls"])
    model, x_tr, y_tr, x_te, y_te = _inputs(
        job["model_dir"], job["sample_path"], job["max_train_events"]
    )
    rec: dict[str, Any] = {"id": job["id"], "index": job["index"], "seed": job["seed"]}
    rec.update(job["point"])
    try:
        with warnings.catch_warnings():  # Keras/tfmot serialisation chatter, once per layer
            warnings.simplefilter("ignore")
            qmodel = _finetune(job, qcfg, model, x_tr, y_tr)
        rec["accuracy"] = _accuracy(qmodel, x_te, y_te)
        rec["weight_sparsity"] = round(weight_sparsity(qmodel), 6)
        rec.update(_estimate(qmodel, hcfg, qcfg))
        if job["csim_events"]:
            rec.update(_csim(qmodel, hcfg, qcfg, x_te[: job["csim_events"]]))
        rec["error"] = None
    except NanotrigError as err:
        log.warning("scan point %s failed: %s", job["id"], err)
        rec["error"] = str(err).splitlines()[0]
    rec["seconds"] = round(time.perf_counter() - t0, 3)
    return rec


def _finetune(job: PointJob, qcfg: QuantizeConfig, model, x_tr, y_tr):
    from nanotrig.quantize.scan_train import finetune

    return finetune(
        model, qcfg, x_tr, y_tr, sparsity=job["sparsity"], epochs=job["epochs"],
        learning_rate=job["learning_rate"], batch_size=job["batch_size"], seed=job["seed"],
    )  # fmt: skip


def _estimate(qmodel, hcfg: HlsConfig, qcfg: QuantizeConfig) -> dict[str, Any]:
    import hls4ml
    from nanotrig.hls._capture import captured_stdout
    from nanotrig.hls.estimate import estimate_model
    from nanotrig.hls.hls_config import hls4ml_settings
    from nanotrig.hls.model_io import check_supported, prepare_reference

    check_supported(qmodel)
    reference, _ = prepare_reference(qmodel, qcfg.input)
    with tempfile.TemporaryDirectory(prefix="nanotrig-scan-") as tmp:
        hls_config, kwargs = hls4ml_settings(reference, hcfg, Path(tmp) / "prj")
        try:
            with captured_stdout():
                hls_model = hls4ml.converters.convert_from_keras_model(
                    reference, hls_config=hls_config, **kwargs
                )
        except Exception as err:  # hls4ml raises many types for what it cannot convert
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ConversionError(f"hls4ml could not convert the scan point: {first}") from err
    est = estimate_model(hls_model)
    return {
        "latency_cycles": est.latency_cycles,
        "latency_ns": est.latency_ns,
        "ii_cycles": est.ii_cycles,
        "ii_ns": est.ii_ns,
        "dsp": est.dsp,
        "lut": est.lut,
        "ff": est.ff,
        "bram": est.bram,
    }


def _csim(qmodel, hcfg: HlsConfig, qcfg: QuantizeConfig, x: np.ndarray) -> dict[str, Any]:
    """Convert to a project in a temporary folder and compare its C-simulation with QKeras."""
    from nanotrig.hls.convert import convert_model
    from nanotrig.hls.verify import verify_project

    hcfg = hcfg.model_copy(update={"latency_budget_ns": None, "ii_budget_ns": None})
    with tempfile.TemporaryDirectory(prefix="nanotrig-scan-csim-") as tmp:
        path = Path(tmp) / "qmodel.h5"
        qmodel.save(path, save_format="h5")
        convert_model(path, Path(tmp) / "hls", hcfg, input_bits=qcfg.input)
        res = verify_project(Path(tmp) / "hls", x).to_dict()
    mismatches = sum(int(row["n_mismatch"]) for row in res["layers"] if row["kind"] != "lut")
    return {"csim_ok": bool(res["ok"]), "csim_mismatches": mismatches}
