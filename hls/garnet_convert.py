"""hls4ml conversion of a GarNet layer whose C-simulation :class:`GarnetEmulator` predicts exactly.

The layer is converted alone (``garnet_submodel``: the tagger's two inputs -> the GarNet output),
with every type the kernel uses set here, in one place (``GARNET_PRECISIONS``): the input
``ap_fixed<16,6,AP_TRN,AP_SAT>``, the vertex count ``ap_uint<k>``, and the GarNet result,
``edge_weight``, ``edge_weight_aggr`` and ``aggr`` types. ``distance_t`` is fixed by hls4ml
(``ap_fixed<12,4,AP_TRN,AP_SAT>``, ``backends/vivado/passes/garnet_templates.py`` l. 19, 89-90);
weight types come from hls4ml's ``GarNet._add_variable`` (``model/layers.py`` l. 1648-1664:
integer bits from the data, 10 fractional bits, ``AP_RND``/``AP_SAT``).

Why not ``quantize_transforms=True``: hls4ml's Keras handler (``converters/keras/graph.py``
l. 23-24) sets ``layer['quantizer'] = TernaryQuantizer()`` whatever ``total_bits``/``int_bits``
the Keras layer used, and ``GarNet._make_input_transform_weights`` (``model/layers.py``
l. 1625-1646) applies it to the FLR kernel, the FLR bias and the Fout kernel before contracting
them: every weight becomes -1, 0 or +1 (``model/quantizers.py`` l. 82-91, threshold 0.5) and the
contracted weights an integer type (``_add_variable(..., quantize=True)``). The Keras layer instead
quantizes those three with ``quantized_bits(total_bits, int_bits, 0, alpha=1)``
(``contrib/garnet.py`` l. 64-83) and its linear output per vertex with ``quantized_bits`` too, which
the collapsed HLS kernel never computes. Weights of a few tenths all become 0 or +-1, so the
firmware output differs from Keras by the size of the output. ``GarNet.get_config`` also omits
``total_bits``/``int_bits`` (l. 247-263), so such a layer cannot be rebuilt from its config.
The float layer (``quantize_transforms=False``) converts with the real weights.

The fix, through hls4ml's handler registry rather than an edit of the package:
:func:`register_qgarnet_handler` registers a Keras handler for :class:`quantize.garnet.QGarNet`
(GarNet with ``total_bits``/``int_bits`` in its config) that runs hls4ml's own GarNet handler
with ``quantize_transforms`` off and then replaces the FLR kernel/bias and Fout kernel by their
``quantized_bits(total_bits, int_bits, 0, alpha=1)`` values. The contracted weights are then
products of two ``2**-f`` grids (``f = total_bits - int_bits - 1``), which hls4ml's 10 fractional
bits hold exactly while ``2 f <= 10``; :func:`garnet_hls_config` refuses larger ``f``. The
per-vertex output quantizer of the Keras layer still has no firmware counterpart (the HLS kernel
collapses the vertices without forming per-vertex outputs), so that layer stays inexact against
Keras while C-sim and emulator agree bit for bit.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from nanotrig.errors import ConversionError, DataError

__all__ = [
    "GARNET_PRECISIONS",
    "HEAD_PRECISIONS",
    "convert_garnet",
    "garnet_hls_config",
    "garnet_submodel",
    "register_qgarnet_handler",
    "validate_garnet_inputs",
]

log = logging.getLogger(__name__)

#: Types of the converted GarNet layer (``aggr`` holds 32 saturated inputs without overflow).
GARNET_PRECISIONS: dict[str, str] = {
    "input": "ap_fixed<16,6,AP_TRN,AP_SAT>",
    "result": "ap_fixed<24,8,AP_TRN,AP_SAT>",
    "edge_weight": "ap_ufixed<10,0>",
    "edge_weight_aggr": "ap_ufixed<16,6>",
    "aggr": "ap_fixed<28,12,AP_TRN,AP_SAT>",
    "norm": "ap_ufixed<14,4>",
}

#: Types of the Dense head when it is converted too (``convert_garnet(..., head=True)``): weights
#: and biases on the ``ap_fixed<16,6>`` grid (``hls.garnet_head.round_head_weights`` puts them
#: there first), every product, sum and result in a 48-bit type with 28 fractional bits, so that
#: only the products of the second layer are truncated (``hls.garnet_head`` emulates that).
HEAD_PRECISIONS: dict[str, str] = {
    "weight": "ap_fixed<16,6>",
    "bias": "ap_fixed<16,6>",
    "accum": "ap_fixed<48,20>",
    "result": "ap_fixed<48,20>",
}


def _parse_qgarnet(keras_layer, input_names, input_shapes, data_reader):
    from hls4ml.converters.keras.graph import parse_garnet_layer
    from nanotrig.quantize.garnet import transform_quantizer

    cfg = keras_layer["config"]
    plain = {**keras_layer, "class_name": "GarNet", "config": {**cfg, "quantize_transforms": False}}
    layer, shape = parse_garnet_layer(plain, input_names, input_shapes, data_reader)
    q = transform_quantizer(cfg["total_bits"], cfg["int_bits"])
    for name in ("FLR_kernel", "FLR_bias", "Fout_kernel"):
        layer[f"{name}_data"] = np.asarray(q(layer[f"{name}_data"].astype(np.float32)))
    return layer, shape


def register_qgarnet_handler() -> None:
    """Register the hls4ml Keras handler for ``QGarNet`` (once; later calls do nothing)."""
    from hls4ml.converters.keras_v2_to_hls import layer_handlers, register_keras_v2_layer_handler

    if "QGarNet" not in layer_handlers:
        register_keras_v2_layer_handler("QGarNet", _parse_qgarnet)


def garnet_submodel(model, layer_name: str = "garnet"):
    """The tagger's inputs -> the GarNet layer's output (the part converted to firmware)."""
    from tensorflow import keras

    return keras.Model(model.inputs, model.get_layer(layer_name).output, name="garnet_only")


def garnet_hls_config(model, layer_name: str = "garnet", reuse_factor: int = 1) -> dict[str, Any]:
    """The name-granularity hls4ml config with the ``GARNET_PRECISIONS`` types set."""
    import hls4ml

    register_qgarnet_handler()
    g_cfg = model.get_layer(layer_name).get_config()
    if "total_bits" in g_cfg and 2 * (g_cfg["total_bits"] - g_cfg["int_bits"] - 1) > 10:
        raise ConversionError(
            f"QGarNet with total_bits={g_cfg['total_bits']}, int_bits={g_cfg['int_bits']}: hls4ml "
            "stores the contracted transforms with 10 fractional bits, exact only for "
            "total_bits - int_bits - 1 <= 5; use fewer fractional bits"
        )
    x_name, n_name = model.input_names
    n_vertices = int(model.inputs[0].shape[1])
    cfg = hls4ml.utils.config_from_keras_model(
        model, granularity="name", backend="Vitis", default_reuse_factor=reuse_factor
    )
    layers = cfg.setdefault("LayerName", {})
    layers.setdefault(x_name, {})["Precision"] = {"result": GARNET_PRECISIONS["input"]}
    n_bits = max(1, int(n_vertices).bit_length())
    layers.setdefault(n_name, {})["Precision"] = {"result": f"ap_uint<{n_bits}>"}
    g = layers.setdefault(layer_name, {})
    g["Precision"] = {k: v for k, v in GARNET_PRECISIONS.items() if k != "input"}
    g["ReuseFactor"] = reuse_factor
    for layer in model.layers:  # the Dense head, when the model includes it
        if type(layer).__name__ == "Dense":
            layers.setdefault(layer.name, {})["Precision"] = dict(HEAD_PRECISIONS)
            linear = layers.setdefault(f"{layer.name}_linear", {})
            linear["Precision"] = {"result": HEAD_PRECISIONS["result"]}
        elif type(layer).__name__ == "Activation":
            layers.setdefault(layer.name, {})["Precision"] = {"result": HEAD_PRECISIONS["result"]}
    cfg["Model"]["ReuseFactor"] = reuse_factor
    return cfg


def convert_garnet(model, output_dir: str | Path, reuse_factor: int = 1, head: bool = False):
    """Convert and compile (g++) the GarNet-only model; return the hls4ml model.

    ``head``: convert the tagger up to its logits (GarNet, fc1, ReLU, output; the softmax stays
    outside), with ``HEAD_PRECISIONS`` for the Dense layers."""
    import hls4ml
    from nanotrig.hls._capture import captured_stdout
    from tensorflow import keras

    if head:
        sub = keras.Model(model.inputs, model.get_layer("output").output, name="garnet_head")
    else:
        sub = model if model.layers[-1].name == "garnet" else garnet_submodel(model)
    try:
        with captured_stdout():  # hls4ml prints its progress
            cfg = garnet_hls_config(sub, reuse_factor=reuse_factor)
            hls_model = hls4ml.converters.convert_from_keras_model(
                sub,
                hls_config=cfg,
                backend="Vitis",
                io_type="io_parallel",
                output_dir=str(output_dir),
                project_name="garnet",
            )
            hls_model.compile()
    except ConversionError:
        raise
    except Exception as err:  # hls4ml raises bare Exceptions
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConversionError(
            f"hls4ml could not convert or compile the GarNet layer: {first}"
        ) from err
    return hls_model


def validate_garnet_inputs(x: np.ndarray, n: np.ndarray, n_vertices: int, n_features: int):
    """Return ``(x float64 (events, V, F), n float64 (events, 1))`` or raise a one-line DataError:
    wrong shapes, NaN/inf, or vertex counts that are not integers in [0, n_vertices]."""
    x = np.asarray(x, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    if x.ndim != 3 or x.shape[1:] != (n_vertices, n_features):
        raise DataError(
            f"GarNet constituents must be (events, {n_vertices}, {n_features}), got {x.shape}"
        )
    if n.size != x.shape[0]:
        raise DataError(f"need one vertex count per event: {n.size} counts for {x.shape[0]} events")
    n = n.reshape(-1, 1)
    if not (np.isfinite(x).all() and np.isfinite(n).all()):
        raise DataError("GarNet inputs hold NaN or inf: drop or fix those events")
    bad = (n < 0) | (n > n_vertices) | (n != np.round(n))
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise DataError(
            f"vertex count {n[i, 0]:g} of event {i} is not an integer in [0, {n_vertices}]: "
            "pass the number of filled constituent rows"
        )
    return x, n
