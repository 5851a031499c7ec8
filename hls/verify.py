"""``verify_project``: C-simulation (g++) of a converted project vs its QKeras reference.

Every traced hls4ml layer is compared with the Keras layer it came from, value for value
(``exact`` layers must agree bit for bit); lookup-table layers (softmax, sigmoid, tanh) get
their max |diff| and argmax agreement. The project in ``out_dir`` is not modified: the model is
re-read from ``hls_model.fml`` and compiled in a temporary folder.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hls._capture import captured_stdout
from hls.convert import CONVERSION_FILE, HLS_MODEL_FILE, REFERENCE_FILE, layer_kind
from hls.inputs import reference_exact_limit, validate_inputs
from hls.model_io import load_qkeras_model
from nanotrig.errors import ConversionError, DataError, ToolMissingError

__all__ = ["MISMATCH_FILE", "VerifyResult", "keras_layer_outputs", "verify_project"]

log = logging.getLogger(__name__)

MISMATCH_FILE = "mismatches.npz"
#: Mismatching events written to mismatches.npz.
N_MISMATCH_SAVED = 20


@dataclass
class VerifyResult:
    """Outcome of a C-simulation check. ``ok``: no mismatch outside lookup-table layers."""

    ok: bool
    n_events: int
    layers: list[dict[str, Any]]
    output: dict[str, Any]
    lut: dict[str, dict[str, float]] = field(default_factory=dict)
    not_compared: list[str] = field(default_factory=list)
    compile_seconds: float = 0.0
    mismatch_file: str | None = None
    #: Events with an input beyond :func:`hls.inputs.reference_exact_limit` (QKeras inexact).
    reference_inexact_events: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def keras_layer_outputs(model, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every non-input layer's output of a Keras model on ``x`` (float32, batched)."""
    import keras

    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    probe = keras.Model(model.inputs, [layer.output for layer in layers])
    outs = probe.predict(x, batch_size=4096, verbose=0)
    if len(layers) == 1:
        outs = [outs]
    return {layer.name: np.asarray(o) for layer, o in zip(layers, outs, strict=True)}


def verify_project(out_dir: Path, inputs: np.ndarray) -> VerifyResult:
    """Compile the project of ``out_dir`` with g++ and compare it with ``keras_model.h5``."""
    out_dir = Path(out_dir)
    record = _read_record(out_dir)
    model = load_qkeras_model(out_dir / REFERENCE_FILE)
    x = validate_inputs(inputs, model.input_shape[1:])
    n = len(x)
    quant = record.get("input_quantizer", {})
    limit = reference_exact_limit(quant.get("bits", 16) - 1 - quant.get("integer", 5))
    far = int(np.sum(np.abs(x.reshape(n, -1)).max(axis=1) > limit))
    if far:
        log.warning(
            "%d events have inputs beyond |x| = %g, where QKeras's float32 input quantizer "
            "leaves its grid: mismatches there are the reference's, not the firmware's",
            far,
            limit,
        )
    if shutil.which("g++") is None:
        raise ToolMissingError("g++ not found: install a C++ compiler (e.g. apt-get install g++)")

    from hls4ml.utils.serialization import deserialize_model

    keras_out = keras_layer_outputs(model, x)
    with tempfile.TemporaryDirectory(prefix="nanotrig_csim_") as tmp:
        with captured_stdout():
            hls_model = deserialize_model(out_dir / HLS_MODEL_FILE, output_dir=tmp)
        hls_model.config.config["OutputDir"] = str(Path(tmp) / "prj")
        hls_model.config.config["InputData"] = None
        hls_model.config.config["OutputPredictions"] = None
        t0 = time.perf_counter()
        x_c = np.ascontiguousarray(x.reshape(n, -1).astype(np.float64))
        with captured_stdout() as buf:
            try:
                y_c, trace = hls_model.trace(x_c)
            except Exception as err:
                raise ConversionError(
                    f"C-simulation of {out_dir} failed to compile: {_compile_error(buf, err)}"
                ) from err
        compile_s = time.perf_counter() - t0
        kinds = {layer.name: layer_kind(layer) for layer in hls_model.get_layers()}

    rows, bad_events, pairs, not_compared = _compare_layers(keras_out, trace, kinds, model, n)
    y_k = keras_out[model.layers[-1].name].reshape(n, -1)
    y_c = np.asarray(y_c).reshape(n, -1)
    out_kind = kinds.get(_last_traced(model, trace), "exact")
    out_bad = np.any(y_k != y_c, axis=1)
    output = {
        "kind": out_kind,
        "n_events": n,
        "n_mismatch": int(out_bad.sum()),
        "max_abs_diff": float(np.max(np.abs(y_k.astype(np.float64) - y_c))),
        "argmax_agreement": float(np.mean(np.argmax(y_k, 1) == np.argmax(y_c, 1))),
    }
    if out_kind == "exact":
        bad_events |= out_bad
    lut = {
        r["layer"]: {"max_abs_diff": r["max_abs_diff"], "argmax_agreement": r["argmax_agreement"]}
        for r in rows
        if r["kind"] == "lut"
    }
    result = VerifyResult(
        ok=not bad_events.any(),
        n_events=n,
        layers=rows,
        output=output,
        lut=lut,
        not_compared=not_compared,
        compile_seconds=round(compile_s, 2),
        reference_inexact_events=far,
    )
    if bad_events.any():
        result.mismatch_file = str(_save_mismatches(out_dir, x, bad_events, pairs))
    log.info(
        "C-sim vs QKeras on %d events (%s): %s", n, record.get("project_name"),
        "bit-exact" if result.ok else f"{int(bad_events.sum())} events mismatch",
    )  # fmt: skip
    return result


def _read_record(out_dir: Path) -> dict[str, Any]:
    path = out_dir / CONVERSION_FILE
    if not path.is_file() or not (out_dir / HLS_MODEL_FILE).is_file():
        raise DataError(
            f"{out_dir} is not a converted project (no {CONVERSION_FILE} or {HLS_MODEL_FILE}): "
            "run nanotrig convert first"
        )
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        raise DataError(f"{path} is corrupt: re-run nanotrig convert") from None


def _keras_source(name: str, keras_names: set[str]) -> str | None:
    """The Keras layer an hls4ml layer came from (``fc1_relu`` -> ``fc1``), if any."""
    if name in keras_names:
        return name
    stem = name
    while "_" in stem:
        stem = stem.rsplit("_", 1)[0]
        if stem in keras_names:
            return stem
    return None


def _compare_layers(keras_out, trace, kinds, model, n):
    """Rows per traced layer; an hls layer split from a Keras layer (QDense with an activation)
    is compared with the Keras output only if it is the last piece of that layer."""
    keras_names = set(keras_out)
    last_piece: dict[str, str] = {}
    for name in trace:  # trace keeps the graph order
        src = _keras_source(name, keras_names)
        if src is not None:
            last_piece[src] = name
    rows: list[dict[str, Any]] = []
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    bad_events = np.zeros(n, dtype=bool)
    for src, name in last_piece.items():
        k = keras_out[src].reshape(n, -1).astype(np.float64)
        c = np.asarray(trace[name]).reshape(n, -1)
        if k.shape != c.shape:
            log.warning("layer %s: Keras %s vs C-sim %s values; skipped", name, k.shape, c.shape)
            continue
        bad = np.any(k != c, axis=1)
        kind = kinds.get(name, "exact")
        row = {
            "layer": name,
            "keras_layer": src,
            "kind": kind,
            "n_events": n,
            "n_mismatch": int(bad.sum()),
            "max_abs_diff": float(np.max(np.abs(k - c))),
        }
        if kind == "lut":
            row["argmax_agreement"] = float(np.mean(np.argmax(k, 1) == np.argmax(c, 1)))
        else:
            bad_events |= bad
        rows.append(row)
        pairs[name] = (k, c)
    compared = set(last_piece)
    not_compared = [
        layer.name
        for layer in model.layers
        if layer.name not in compared and type(layer).__name__ != "InputLayer"
    ]
    return rows, bad_events, pairs, not_compared


def _last_traced(model, trace) -> str:
    names = list(trace)
    return names[-1] if names else model.layers[-1].name


def _save_mismatches(out_dir: Path, x, bad_events, pairs) -> Path:
    idx = np.flatnonzero(bad_events)[:N_MISMATCH_SAVED]
    arrays = {"event_index": idx, "inputs": x[idx]}
    for name, (k, c) in pairs.items():
        arrays[f"{name}__keras"] = k[idx]
        arrays[f"{name}__csim"] = c[idx]
    path = out_dir / MISMATCH_FILE
    np.savez_compressed(path, **arrays)
    log.warning("wrote %d mismatching events to %s", len(idx), path)
    return path


def _compile_error(buf, err: BaseException) -> str:
    for line in buf.getvalue().splitlines():
        if "error" in line.lower():
            return line.strip()
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
