"""QDQ ONNX vs QKeras, layer by layer, and the quantized export stage."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from nanotrig.export.qdq import QDQ_OPSET, build_qdq_proto, write_qdq
from nanotrig.export.runtime import OnnxModel

from nanotrig.errors import ModelError, VerificationError
from nanotrig.fileio import check_output_dir, file_sha256, prepare_output_dir, write_json
from nanotrig.inputs import check_inputs

__all__ = ["compare_qdq", "export_quantized", "is_qkeras_model"]

log = logging.getLogger(__name__)


def is_qkeras_model(model) -> bool:
    """Whether ``model`` is exported as QDQ: it has a QKeras layer (QDense, QActivation, ...).

    A model holding ``TFOpLambda`` layers (TensorFlow ops where a user script's QKeras layers
    were: see nanotrig/keras_choice.py) raises ModelError with the fix.
    """
    from nanotrig.keras_choice import MIXED_KERAS_FIX

    for layer in model.layers:
        if type(layer).__name__ == "TFOpLambda":
            raise ModelError(
                f"layer {layer.name} (TFOpLambda): {MIXED_KERAS_FIX} (or pass --float to "
                "export these TensorFlow ops as a float graph)"
            )
    return any("qkeras" in type(layer).__module__ for layer in model.layers)


def _exactness(cmp: dict) -> str:
    """One line saying which layers equal QKeras bit for bit, and how far the others are."""
    layers, logits = cmp["layers"], cmp["logits_layer"]
    differ = [name for name, r in layers.items() if r["max_abs_diff"] > 0]
    if not differ:
        return f"every layer ({len(layers)}) bit for bit equal to QKeras"
    worst = max(layers[n]["max_abs_diff"] for n in differ)
    if cmp["logits_exact"]:
        return (
            f"every layer up to the logits ({logits}) bit for bit equal to QKeras; after it "
            f"{', '.join(differ)} differ by up to {worst:.3g} (float round-off: onnxruntime vs "
            "TensorFlow)"
        )
    return f"NOT exact: {', '.join(differ)} differ from QKeras by up to {worst:.3g}"


def _logits_layer(model) -> int:
    """Index (in model.layers[1:]) of the last layer before a final softmax/sigmoid."""
    last = model.layers[-1]
    is_prob = type(last).__name__ == "Activation" and last.get_config()["activation"] in (
        "softmax",
        "sigmoid",
    )
    return len(model.layers) - (3 if is_prob else 2)


def compare_qdq(qmodel, x: np.ndarray, onnx_path: str | Path | None = None) -> dict:
    """Compare the QDQ graph of ``qmodel`` with QKeras on ``x``, every layer.

    Returns max |diff| per layer, the fraction of events with any differing value per layer,
    and the same for the logits (the layer before the final softmax) and the outputs. If
    ``onnx_path`` is given, that file's outputs are compared with QKeras too (onnxruntime may
    fuse it differently from the traced graph: the softmax may differ by float round-off).
    """
    import onnxruntime as ort
    from tensorflow import keras

    x = np.asarray(x, np.float32)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    proto = build_qdq_proto(qmodel, trace=True)
    sess = ort.InferenceSession(proto.SerializeToString(), opts, ["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})
    layers = qmodel.layers[1:]
    ref = keras.Model(qmodel.input, [la.output for la in layers]).predict(
        x, batch_size=4096, verbose=0
    )
    ref = ref if isinstance(ref, list) else [ref]
    per_layer = {}
    for layer, o, r in zip(layers, got[1:], ref, strict=True):
        d = np.abs(o.astype(np.float64) - r).reshape(len(x), -1)
        per_layer[layer.name] = {
            "max_abs_diff": float(d.max()) if d.size else 0.0,
            "frac_events_differ": float((d.max(1) > 0).mean()) if d.size else 0.0,
        }
    logits_name = layers[_logits_layer(qmodel)].name
    logits = per_layer[logits_name]
    out = per_layer[layers[-1].name]
    y_onnx, y_ref = got[0], ref[-1]
    rec = {
        "n_events": len(x),
        "logits_layer": logits_name,
        "max_abs_diff_logits": logits["max_abs_diff"],
        "frac_events_logits_differ": logits["frac_events_differ"],
        "logits_exact": logits["max_abs_diff"] == 0.0,
        "max_abs_diff_outputs": out["max_abs_diff"],
        "argmax_agreement": float((y_onnx.argmax(-1) == y_ref.argmax(-1)).mean()),
        "layers": per_layer,
    }
    if onnx_path is not None:
        file_out = OnnxModel(onnx_path, ["CPUExecutionProvider"]).predict(x, progress=False)
        rec["file_max_abs_diff_outputs"] = float(np.abs(file_out.astype(np.float64) - y_ref).max())
        rec["file_argmax_agreement"] = float((file_out.argmax(-1) == y_ref.argmax(-1)).mean())
    return rec


def export_quantized(
    qmodel_path: Path, inputs: np.ndarray, out_dir: Path, force: bool = False,
    atol: float = 1e-5,
) -> dict:  # fmt: skip
    """Export a QKeras .h5 model to ``out_dir/<stem>.qdq.onnx`` and compare it with QKeras.

    Writes ``qdq_artifact.json``. Raises VerificationError if the outputs differ by more than
    ``atol`` (the logits are expected to be identical; the softmax differs by float round-off).
    """
    from nanotrig.quantize import load_keras_model

    qmodel = load_keras_model(qmodel_path)
    inputs = check_inputs(inputs, qmodel.input_shape[1:], f"model {Path(qmodel_path).name}")
    check_output_dir(out_dir, force)
    proto = build_qdq_proto(qmodel)  # fails early (ModelError) on unsupported layers
    for line in proto.metadata_props[0].value.splitlines():  # the plan, logged once
        log.info("qdq %s", line)
    out_dir = prepare_output_dir(out_dir, force)
    dest = write_qdq(proto, out_dir / f"{Path(qmodel_path).stem}.qdq.onnx")
    t0 = time.perf_counter()
    cmp = compare_qdq(qmodel, inputs, dest)
    record = {
        "stage": "export_quantized",
        "onnx": str(dest),
        "sha256": file_sha256(dest),
        "source_model": str(qmodel_path),
        "opset": QDQ_OPSET,
        "layer_plan": proto.metadata_props[0].value.splitlines(),
        "atol": atol,
        **cmp,
        "compared": (
            "every layer of the QDQ graph (integers dequantized) against the same layer of "
            "QKeras (Keras predict), and the written file's outputs against QKeras' outputs, "
            f"on {len(inputs)} events"
        ),
        "exactness": _exactness(cmp),
        "agrees": max(cmp["max_abs_diff_outputs"], cmp["file_max_abs_diff_outputs"]) <= atol,
        "compare_seconds": round(time.perf_counter() - t0, 3),
    }
    write_json(out_dir / "qdq_artifact.json", record)
    log.info(
        "QDQ vs QKeras on %d events: logits max |diff| %.3g, outputs %.3g",
        len(inputs), cmp["max_abs_diff_logits"], cmp["max_abs_diff_outputs"],
    )  # fmt: skip
    if not record["agrees"]:
        worst = max(cmp["max_abs_diff_outputs"], cmp["file_max_abs_diff_outputs"])
        raise VerificationError(
            f"QDQ ONNX output differs from QKeras by {worst:.3g} > "
            f"atol {atol:g}: see {out_dir / 'qdq_artifact.json'} for the layer that diverges"
        )
    return record
