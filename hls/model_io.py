"""Load and check a QKeras model, and make it convertible bit-exactly.

hls4ml's precision pass (``bit_exact=True``) needs the model's input type, which it reads from a
``QActivation(quantized_bits(...))`` right after the input. :func:`prepare_reference` inserts one
when the model has none (identity on inputs already on that grid) and renames an input layer
called ``input`` (a name hls4ml reserves). The returned model is the Keras reference that the
C-simulation is compared against.

Use the ``keras`` package here, never ``tensorflow.keras``: once ``qkeras.utils`` has imported
tensorflow-model-optimization, ``tensorflow.keras`` may resolve to ``tf_keras``, whose tensors turn
QKeras layers into ``TFOpLambda`` chains.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from nanotrig.quantize.bn_fold import layer_args

from nanotrig.config import QuantBits
from nanotrig.errors import ModelError

__all__ = [
    "DEFAULT_INPUT_BITS",
    "INPUT_QUANT_NAME",
    "SUPPORTED_LAYERS",
    "check_supported",
    "custom_objects",
    "input_quantizer_bits",
    "load_qkeras_model",
    "prepare_reference",
]

log = logging.getLogger(__name__)

#: Input type used when the model has no input quantizer: ap_fixed<16,6>.
DEFAULT_INPUT_BITS = QuantBits(bits=16, integer=5)
INPUT_QUANT_NAME = "input_quant"
#: Layer names hls4ml refuses (``input`` is reserved in its ModelGraph).
_RESERVED_NAMES = {"input"}

#: Keras layer classes the bit-exact conversion handles.
SUPPORTED_LAYERS = frozenset(
    {
        "InputLayer",
        "QDense",
        "QConv1D",
        "QConv2D",
        "QActivation",
        "Activation",
        "ReLU",
        "Softmax",
        "Flatten",
        "Reshape",
        "Dropout",
        "MaxPooling1D",
        "MaxPooling2D",
        "AveragePooling1D",
        "AveragePooling2D",
        "GlobalMaxPooling1D",
        "GlobalMaxPooling2D",
        "GlobalAveragePooling1D",
        "GlobalAveragePooling2D",
        "UpSampling1D",
        "UpSampling2D",
        "BatchNormalization",
        "QBatchNormalization",
        "Multiply",
        # hls/coverage.py: the layer set of hls4ml's own QKeras tests, checked exact
        "QDepthwiseConv2D",
        "QSeparableConv1D",
        "QSeparableConv2D",
        "Add",
        "Subtract",
        "Average",
        "Concatenate",
        "Permute",
        "ZeroPadding1D",
        "ZeroPadding2D",
        "Cropping1D",
        "Cropping2D",
        "Po2Standardise",
    }
)


def custom_objects() -> dict[str, Any]:
    """QKeras layer and quantizer classes, and nanotrig's input standardisation layer, for
    ``keras.models.load_model``."""
    from nanotrig.models.standardise import standardise_class
    from qkeras.utils import _add_supported_quantized_objects

    objs: dict[str, Any] = {}
    _add_supported_quantized_objects(objs)
    objs[standardise_class().__name__] = standardise_class()
    return objs


def load_qkeras_model(path: str | Path):
    """Load a Keras 2 HDF5 (QKeras) model; :class:`ModelError` if it is missing or unreadable."""
    import h5py

    p = Path(path)
    if not p.is_file():
        raise ModelError(f"model file {p} not found: give the path of a QKeras .h5 model")
    if not h5py.is_hdf5(p):
        raise ModelError(f"model file {p} is not an HDF5 file: save the model with model.save(.h5)")
    import keras

    try:
        model = keras.models.load_model(p, custom_objects=custom_objects(), compile=False)
    except Exception as err:  # keras raises many types for corrupt/foreign files
        _refuse_saved_layers(p)
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(f"cannot load model {p}: {first}") from None
    if not isinstance(model, keras.Model):
        raise ModelError(f"model file {p} holds no Keras model")
    return model


def _refuse_saved_layers(path: Path) -> None:
    """After a failed load: :class:`ModelError` naming a refused layer class in the file's
    config, if any (QSimpleRNN/QGRU fail to build in QKeras 0.9 on TensorFlow 2.15)."""
    import json

    import h5py
    from nanotrig.hls.coverage import refusal_for_class

    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
        cfg = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        layers = cfg["config"]["layers"]
    except Exception:  # not a Keras model config: the caller's message stands
        return
    for layer in layers:
        cls = layer.get("class_name", "")
        why = refusal_for_class(cls)
        if why:
            name = layer.get("config", {}).get("name", layer.get("name", "?"))
            raise ModelError(f"cannot load model {path}: layer {name!r} ({cls}): {why}")


#: Float Keras layers whose QKeras counterpart ``nanotrig quantize --ptq`` builds.
FLOAT_LAYERS = frozenset({"Dense", "Conv1D", "Conv2D"})


def check_supported(model, source: str | Path = "MODEL.h5") -> None:
    """Raise :class:`ModelError` naming the first layer hls4ml cannot convert bit-exactly
    (a float Dense/Conv: with the ``nanotrig quantize --ptq`` command for ``source``)."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError(
            f"model has {len(model.inputs)} inputs and {len(model.outputs)} outputs: "
            "only single-input, single-output models are supported"
        )
    from nanotrig.hls.coverage import check_layer_rules, refusal_for_class

    for layer in model.layers:
        cls = type(layer).__name__
        if cls in FLOAT_LAYERS:
            raise ModelError(
                f"float layer {layer.name!r} ({cls}): quantize the model first with "
                f"`nanotrig quantize --ptq {source} --out qmodel/` and convert qmodel/qmodel.h5"
            )
        why = refusal_for_class(cls)
        if why:
            raise ModelError(f"layer {layer.name!r} ({cls}): {why}")
        if cls not in SUPPORTED_LAYERS:
            raise ModelError(
                f"layer {layer.name!r} has unsupported type {cls}: supported layer types are "
                + ", ".join(sorted(SUPPORTED_LAYERS))
            )
        if cls == "Po2Standardise":
            _check_standardise(model, layer)
    check_layer_rules(model)


def _check_standardise(model, layer) -> None:
    """hls4ml computes the standardisation unclipped and lets the next quantizer saturate:
    exact only if that quantizer is a ``quantized_bits`` whose range lies inside the clip."""
    nxt = [other for other in model.layers if _inbound_names(other) == {layer.name}]
    q = getattr(nxt[0], "quantizer", None) if len(nxt) == 1 else None
    if type(q).__name__ != "quantized_bits" or (
        layer.clip is not None and 2.0 ** int(q.integer) > layer.clip
    ):
        raise ModelError(
            f"layer {layer.name!r} (input standardisation) must be followed by a "
            "QActivation(quantized_bits) whose range lies within its clip: rebuild the model "
            "with nanotrig.quantize.build_qmodel"
        )


def input_quantizer_bits(model) -> QuantBits | None:
    """The input quantizer's bits if the layer after the input is QActivation(quantized_bits)."""
    first = _first_layer_after_input(model)
    if first is None or type(first).__name__ != "QActivation":
        return None
    q = first.quantizer
    if type(q).__name__ != "quantized_bits" or not getattr(q, "keep_negative", True):
        return None
    if getattr(q, "alpha", 1) not in (1, 1.0, None) or getattr(q, "symmetric", False):
        return None
    return QuantBits(bits=int(q.bits), integer=int(q.integer))


def _first_layer_after_input(model):
    name = _in(model)
    consumers = [
        layer for layer in model.layers if layer.name != name and _inbound_names(layer) == {name}
    ]
    return consumers[0] if len(consumers) == 1 else None


def _in(model) -> str:
    """Name of the model's (single) input layer; works for functional and Sequential models."""
    return model._input_layers[0].name


def _inbound_names(layer) -> set[str]:
    names = set()
    for node in layer._inbound_nodes:
        inbound = node.inbound_layers
        for src in inbound if isinstance(inbound, list) else [inbound]:
            names.add(src.name)
    return names


def prepare_reference(model, input_bits: QuantBits | None = None):
    """Return ``(reference_model, info)`` ready for ``bit_exact`` conversion.

    Keeps the model when its input is already quantized by ``QActivation(quantized_bits)``
    (``input_bits`` is then ignored with a warning if it differs); otherwise rebuilds it with
    ``QActivation(quantized_bits(bits, integer, alpha=1))`` named ``input_quant`` after the
    input. An input layer named ``input`` is renamed ``input_1`` (hls4ml reserves ``input``).
    """
    existing = input_quantizer_bits(model)
    if existing is not None:
        raw = any(type(layer).__name__ == "Po2Standardise" for layer in model.layers)
        if input_bits is not None and input_bits != existing and not raw:
            log.warning(
                "model already quantizes its input as quantized_bits(%d,%d); "
                "ignoring input_bits=(%d,%d)",
                existing.bits,
                existing.integer,
                input_bits.bits,
                input_bits.integer,
            )
        info = {"source": "model", "bits": existing.bits, "integer": existing.integer}
        if not _input_name_reserved(model):
            return model, info
        return _rebuild(model, insert=None), info
    bits = input_bits or DEFAULT_INPUT_BITS
    info = {"source": "inserted", "bits": bits.bits, "integer": bits.integer}
    log.info(
        "model has no input QActivation(quantized_bits): inserting quantized_bits(%d,%d,alpha=1)",
        bits.bits,
        bits.integer,
    )
    return _rebuild(model, insert=bits), info


def _input_name_reserved(model) -> bool:
    return any(layer.name in _RESERVED_NAMES for layer in model.layers)


def _rebuild(model, insert: QuantBits | None):
    """Re-call ``model``'s layers on a new input: reserved names avoided, optional quantizer.

    The layers (and so their weights) are reused; the graph is rebuilt by calling each layer, in
    the model's topological order, on the new tensors. ``Model.from_config`` is not used: with
    QKeras objects in the config it can loop forever in Keras 2.15.
    """
    import keras
    from qkeras import QActivation, quantized_bits

    taken = {layer.name for layer in model.layers}
    old_in = model.inputs[0]
    name = _in(model)
    if name in _RESERVED_NAMES:
        name = _unique(f"{name}_1", taken)
        taken.add(name)
    inp = keras.Input(batch_shape=old_in.shape, dtype=old_in.dtype, name=name)
    x = inp
    if insert is not None:
        qname = _unique(INPUT_QUANT_NAME, taken)
        x = QActivation(quantized_bits(insert.bits, insert.integer, alpha=1), name=qname)(inp)
    tensors = {id(old_in): x}
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        arg, old_out = layer_args(layer, tensors)
        tensors[id(old_out)] = layer(arg)
    out = tensors.get(id(model.outputs[0]))
    if out is None:
        raise ModelError("cannot trace the model output back to its input")
    return keras.Model(inp, out, name=model.name)


def _unique(name: str, taken: set[str]) -> str:
    out, i = name, 1
    while out in taken:
        i += 1
        out = f"{name}_{i}"
    return out
