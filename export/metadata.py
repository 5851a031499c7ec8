"""The model's input record in an ONNX file's ``metadata_props`` (``nanotrig.inputs``, JSON)."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["INPUTS_KEY", "onnx_input_spec", "set_input_metadata"]

INPUTS_KEY = "nanotrig.inputs"


def set_input_metadata(proto, model, spec: dict | None = None) -> None:
    """Record what the Keras ``model`` takes in ``proto``'s metadata: ``spec`` if given (a
    family that records its inputs itself: GarNet), else
    :func:`nanotrig.models.standardise.input_spec`, else the shape with ``raw`` None (the
    model does not say)."""
    from nanotrig.models.standardise import input_spec

    spec = spec or input_spec(model) or {"shape": _shapes(model), "raw": None}
    props = {p.key: p.value for p in proto.metadata_props}
    props[INPUTS_KEY] = json.dumps(spec, sort_keys=True)
    del proto.metadata_props[:]
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


def _shapes(model) -> list:
    """The event shape of a one-input model; one shape per input for several (GarNet)."""
    if len(model.inputs) == 1:
        return [int(d) for d in model.inputs[0].shape[1:]]
    return [[int(d) for d in t.shape[1:]] for t in model.inputs]


def onnx_input_spec(path: str | Path) -> dict | None:
    """The input record of an ONNX file, or None if it has none (or is unreadable: the
    runtime then gives its own error)."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception:  # corrupt file: OnnxModel reports it
        return None
    for p in proto.metadata_props:
        if p.key == INPUTS_KEY:
            return json.loads(p.value)
    return None
