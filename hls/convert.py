"""``convert_model``: QKeras .h5 -> hls4ml project whose C-simulation is bit-exact.

Output layout (``out_dir``)::

    <project_name>_prj/     the hls4ml project (firmware/, tb_data/ with the testbench vectors)
    hls_model.fml           the converted hls4ml graph (hls4ml.utils.serialization), for verify
    keras_model.h5          the Keras reference (input quantizer inserted if the model had none,
                            BatchNormalization folded into the QDense/QConv before it)
    tb_input.npy            testbench inputs (float32) and reference outputs, when given
    tb_output.npy
    estimate.png            estimated latency per layer against the budget (an estimate)
    conversion.json         precisions per layer, hls4ml config, HlsConfig, latency/resource
                            estimate and budget check, the softmax tables chosen and their
                            table error (hls/table_choice.py), output head, versions
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from nanotrig.hls._capture import captured_stdout
from nanotrig.hls.budget import ESTIMATE_PLOT, check_budget, estimate_for, plot_budget
from nanotrig.hls.exact_weights import register_exact_weights
from nanotrig.hls.hls_config import LUT_ACTIVATIONS, PROJECT_SUBDIR, hls4ml_settings
from nanotrig.hls.inputs import validate_inputs
from nanotrig.hls.model_io import check_supported, load_qkeras_model, prepare_reference
from nanotrig.hls.padding_kif import register_padding_kif
from nanotrig.hls.resize_kif import register_resize_kif
from nanotrig.hls.table_choice import apply_output_head, choose_softmax_tables
from nanotrig.quantize.bn_fold import fold_batchnorm

from nanotrig.config import HlsConfig, QuantBits
from nanotrig.errors import ConfigError, ConversionError, NanotrigError
from nanotrig.fileio import (
    atomic_path,
    file_sha256,
    package_versions,
    prepare_output_dir,
    write_json,
)

__all__ = [
    "CONVERSION_FILE",
    "HLS_MODEL_FILE",
    "REFERENCE_FILE",
    "convert_model",
    "layer_kind",
    "layer_precisions",
]

log = logging.getLogger(__name__)

CONVERSION_FILE = "conversion.json"
REFERENCE_FILE = "keras_model.h5"
HLS_MODEL_FILE = "hls_model.fml"
#: float32 holds integers up to 2**24 exactly: a type with more magnitude bits may round in TF.
FLOAT32_MAGNITUDE_BITS = 24


def convert_model(
    model_path: Path,
    out_dir: Path,
    cfg: HlsConfig,
    test_inputs: np.ndarray | None = None,
    input_bits: QuantBits | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Convert a QKeras model file to an hls4ml project in ``out_dir``; return the record.

    Everything (config, model file, supported layers, test inputs) is checked before
    ``out_dir`` is touched, and so is the latency/II estimate against ``cfg``'s budget. Raises
    ModelError, DataError, OutputExistsError, ConversionError, BudgetExceededError.
    """
    t0 = time.perf_counter()
    if not isinstance(cfg, HlsConfig):
        raise ConfigError(f"cfg must be an HlsConfig, got {type(cfg).__name__}")
    model_path, out_dir = Path(model_path), Path(out_dir)
    model = load_qkeras_model(model_path)
    check_supported(model, model_path)
    given = model
    model, bn_folds = fold_batchnorm(model)  # QConv2DBatchnorm's folding, or refused
    reference, input_info = prepare_reference(model, input_bits)
    reference = apply_output_head(reference, cfg)  # hls.output_head: logits drops the softmax
    tb_x = None
    if test_inputs is not None:
        tb_x = validate_inputs(test_inputs, reference.input_shape[1:])[: cfg.n_test_vectors]

    if out_dir.exists() and not force and (not out_dir.is_dir() or any(out_dir.iterdir())):
        prepare_output_dir(out_dir, force)  # raises OutputExistsError before any work
    project_dir = out_dir / PROJECT_SUBDIR.format(project_name=cfg.project_name)
    tb_in = tb_out = None
    if tb_x is not None:
        tb_in, tb_out = out_dir / "tb_input.npy", out_dir / "tb_output.npy"
    try:  # hls4ml parses the model here already (its layer handlers raise plain Exceptions)
        hls_config, kwargs = hls4ml_settings(reference, cfg, project_dir, tb_in, tb_out)
    except NanotrigError:
        raise
    except Exception as err:
        raise _conversion_error(model_path, err) from err
    import hls4ml
    from hls4ml.utils.serialization import serialize_model

    register_resize_kif()  # UpSampling (hls4ml Resize) in the bit-exact precision pass
    register_exact_weights()  # po2 / binary weights as plain fixed-point values
    register_padding_kif()  # ZeroPadding / Cropping in the bit-exact precision pass
    hls_config, softmax_tables = choose_softmax_tables(reference, hls_config, kwargs, cfg, tb_x)

    try:
        with captured_stdout():
            hls_model = hls4ml.converters.convert_from_keras_model(
                reference, hls_config=hls_config, **kwargs
            )
    except Exception as err:
        raise _conversion_error(model_path, err) from err
    # The estimate needs only the graph: an over-budget model is refused before anything is
    # written (BudgetExceededError).
    estimate = estimate_for(hls_model, cfg)
    budget = check_budget(estimate, cfg)

    out = prepare_output_dir(out_dir, force)
    with atomic_path(out / REFERENCE_FILE) as tmp:
        reference.save(tmp, save_format="h5")
    if tb_x is not None:
        tb_y = np.asarray(reference.predict(tb_x, batch_size=1024, verbose=0), dtype=np.float32)
        np.save(tb_in, tb_x.reshape(len(tb_x), -1))
        np.save(tb_out, tb_y.reshape(len(tb_y), -1))
    try:
        with captured_stdout():
            hls_model.write()
            _serialize_without_tb(hls_model, out / HLS_MODEL_FILE, serialize_model)
    except Exception as err:
        raise _conversion_error(model_path, err) from err
    estimate_plot = plot_budget(estimate, cfg, out / ESTIMATE_PLOT)

    precisions = layer_precisions(hls_model)
    record: dict[str, Any] = {
        "model": str(model_path),
        "model_sha256": file_sha256(model_path),
        "reference_model": REFERENCE_FILE,
        "hls_model": HLS_MODEL_FILE,
        "project_dir": project_dir.name,
        "project_name": cfg.project_name,
        "input_quantizer": input_info,
        "batchnorm": _fold_record(bn_folds, given, reference, tb_x),
        "input_shape": list(reference.input_shape[1:]),
        "inputs": model_inputs(reference, input_info),
        "precision_mechanism": "hls4ml bit_exact=True (interval arithmetic from quantizers)",
        "precisions": precisions,
        "lut_layers": [n for n, p in precisions.items() if p["kind"] == "lut"],
        "output_head": cfg.output_head,
        "softmax_tables": softmax_tables,
        "float32_inexact_layers": _float32_inexact(precisions),
        "test_vectors": 0 if tb_x is None else len(tb_x),
        "estimate": None
        if estimate is None
        else {**estimate.to_dict(), "budget": budget, "plot": estimate_plot},
        "hls": cfg.model_dump(mode="json"),
        "hls4ml_config": hls_config,
        "hls4ml_convert_kwargs": kwargs,
        "versions": package_versions(),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if record["float32_inexact_layers"]:
        log.warning(
            "layers %s have types wider than float32's 24-bit significand: TF's float32 "
            "reference may round there",
            ", ".join(record["float32_inexact_layers"]),
        )
    write_json(out / CONVERSION_FILE, record)
    log.info("wrote hls4ml project %s in %.1f s", project_dir, record["seconds"])
    return record


def _fold_record(folds, given, reference, tb_x) -> dict[str, Any] | None:
    """What happened to the model's BatchNormalization layers, and (on the test vectors) how
    far the folded reference is from the model as given: a change of the model, not a
    firmware error."""
    if not folds:
        return None
    rec: dict[str, Any] = {
        "folded": folds,
        "how": "QKeras QConv2DBatchnorm folding: kernel*gamma/sqrt(var+eps), "
        "(bias-mean)*gamma/sqrt(var+eps)+beta, re-quantized with the layer's quantizers; "
        "the reference (keras_model.h5) is the folded model",
        "change_vs_given_model": None,
    }
    for fold in folds:
        log.info("BatchNormalization %s folded into %s", fold["layer"], fold["folded_into"])
        if fold["saturated_weights"]:
            log.warning(
                "%.1f%% of %s's folded weights lie beyond its quantizers' range and saturate: "
                "give it more integer bits, or train with the folding (QAT)",
                100 * fold["saturated_weights"], fold["folded_into"],
            )  # fmt: skip
    if tb_x is not None:
        a = np.asarray(given.predict(tb_x, verbose=0), np.float64).reshape(len(tb_x), -1)
        b = np.asarray(reference.predict(tb_x, verbose=0), np.float64).reshape(len(tb_x), -1)
        change = {"n_events": len(tb_x), "max_abs_diff": float(np.max(np.abs(a - b)))}
        if a.shape[1] > 1:
            change["argmax_agreement"] = float(np.mean(a.argmax(1) == b.argmax(1)))
        rec["change_vs_given_model"] = change
    return rec


def model_inputs(reference, input_info: dict[str, Any]) -> dict[str, Any]:
    """What the project takes (conversion.json ``inputs``): the model's own input record when
    it standardises raw inputs inside (dataset, feature names, units, constants), else the
    shape, with ``raw`` None (the model does not say), and the input type either way."""
    from nanotrig.models.standardise import input_spec

    spec = input_spec(reference) or {
        "shape": [int(d) for d in reference.input_shape[1:]],
        "raw": None,
    }
    bits, integer = input_info["bits"], input_info["integer"]
    return {**spec, "ap_type": f"ap_fixed<{bits},{integer + 1},AP_RND_CONV,AP_SAT>"}


def _conversion_error(model_path: Path, err: BaseException) -> ConversionError:
    return ConversionError(
        f"hls4ml could not convert {model_path}: {_first_line(err)} "
        "(a layer or quantizer its bit-exact precision pass does not support)"
    )


def _serialize_without_tb(hls_model, path: Path, serialize_model) -> None:
    """Serialize the graph without testbench paths (hls4ml 1.3 records but does not pack them,
    so deserializing would fail); the vectors stay in the project's tb_data/."""
    cfg = hls_model.config.config
    saved = {k: cfg.get(k) for k in ("InputData", "OutputPredictions")}
    try:
        cfg.update(dict.fromkeys(saved))
        serialize_model(hls_model, path)
    finally:
        cfg.update(saved)


def layer_kind(layer) -> str:
    """``lut`` for layers hls4ml computes with lookup tables (softmax, sigmoid, tanh...)."""
    cls = layer.class_name
    if cls == "Softmax":
        return "lut"
    if cls in ("Activation", "ParametrizedActivation"):
        act = str(layer.get_attr("activation", "")).lower()
        return "lut" if act in LUT_ACTIVATIONS else "exact"
    return "exact"


def layer_precisions(hls_model) -> dict[str, dict[str, Any]]:
    """Per hls4ml layer: class, kind and every ``*_t`` type (result, accum, weight, bias...)."""
    out: dict[str, dict[str, Any]] = {}
    for layer in hls_model.get_layers():
        row: dict[str, Any] = {"class": layer.class_name, "kind": layer_kind(layer)}
        for key, value in layer.attributes.items():
            if key.endswith("_t") and hasattr(value, "precision"):
                row[key[:-2]] = str(value.precision)
        out[layer.name] = row
    return out


def _float32_inexact(precisions: dict[str, dict[str, Any]]) -> list[str]:
    bad = []
    for name, row in precisions.items():
        if row["kind"] == "lut":
            continue
        for key in ("result", "accum"):
            width = _magnitude_bits(row.get(key, ""))
            if width is not None and width > FLOAT32_MAGNITUDE_BITS:
                bad.append(name)
                break
    return bad


def _magnitude_bits(type_str: str) -> int | None:
    """Magnitude bits of ``fixed<W,I,...>`` (W-1) or ``ufixed<W,I,...>`` (W)."""
    if "fixed<" not in type_str:
        return None
    width = int(type_str.split("<", 1)[1].split(",", 1)[0].rstrip(">"))
    return width if type_str.startswith("ufixed") else width - 1


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
