"""Fold a BatchNormalization into the Dense/Conv layer right before it, as QKeras does.

QKeras' ``QConv2DBatchnorm`` computes, at inference::

    inv    = rsqrt(moving_variance + epsilon) * gamma
    kernel = inv * kernel                     (then the layer's kernel quantizer)
    bias   = inv * (bias - moving_mean) + beta  (then the layer's bias quantizer)

:func:`fold_batchnorm` applies exactly that (float32, TensorFlow's ``rsqrt``) to every float
``BatchNormalization`` whose input is the linear output of a Dense/Conv1D/Conv2D or their QKeras
counterparts, and removes the BatchNormalization. The folded layer keeps its quantizers, so a
QKeras model folded here quantizes the folded weights the way ``QConv2DBatchnorm`` would.

Any other BatchNormalization is refused in one line: a float one elsewhere (hls4ml computes
``x * scale + bias`` in fixed point, TensorFlow in float32: they differ in the last bits), and
``QBatchNormalization`` (hls4ml does not apply its quantizers as QKeras does).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nanotrig.errors import ModelError

__all__ = ["FOLD_INTO", "fold_batchnorm", "folded_weights", "inbound_layers", "layer_args"]

#: Layer classes a following BatchNormalization can be folded into.
FOLD_INTO = frozenset({"Dense", "Conv1D", "Conv2D", "QDense", "QConv1D", "QConv2D"})
_PTQ_FIX = (
    "or fold it into the float model's Dense/Conv and re-quantize with `nanotrig quantize --ptq`"
)


def folded_weights(kernel: np.ndarray, bias: np.ndarray | None, bn) -> tuple[np.ndarray, ...]:
    """``(kernel, bias)`` with the inference-mode BatchNormalization ``bn`` folded in."""
    import tensorflow as tf

    gamma = None if bn.gamma is None else bn.gamma.numpy()
    beta = np.zeros(kernel.shape[-1], np.float32) if bn.beta is None else bn.beta.numpy()
    inv = tf.math.rsqrt(tf.constant(bn.moving_variance.numpy()) + bn.epsilon)
    if gamma is not None:
        inv = inv * gamma
    b = np.zeros(kernel.shape[-1], np.float32) if bias is None else bias
    folded_bias = inv * (tf.constant(b, tf.float32) - bn.moving_mean.numpy()) + beta
    folded_kernel = inv * tf.constant(kernel, tf.float32)
    return folded_kernel.numpy(), folded_bias.numpy()


def fold_batchnorm(model) -> tuple[Any, list[dict[str, Any]]]:
    """Return ``(model, folds)``: the model with every BatchNormalization folded, one record
    per fold. A model without BatchNormalization is returned as it is. Raises ModelError naming
    the layer and the fix for a BatchNormalization that cannot be folded exactly."""
    pairs = {}
    for layer in model.layers:
        cls = type(layer).__name__
        if cls == "QBatchNormalization":
            raise ModelError(
                f"layer {layer.name!r} is a QBatchNormalization, which hls4ml does not compute "
                "as QKeras does (every event differs): use a float BatchNormalization right "
                "after the QDense/QConv, which convert folds into that layer's weights"
            )
        if cls == "BatchNormalization":
            pairs[_foldable_parent(model, layer).name] = layer
    if not pairs:
        return model, []
    return _rebuild(model, pairs)


def _foldable_parent(model, bn):
    """The Dense/Conv layer ``bn`` folds into; ModelError naming why it cannot."""
    parents = inbound_layers(bn)
    parent = parents[0] if len(parents) == 1 else None
    cls = type(parent).__name__
    where = f"follows {parent.name!r} ({cls})" if parent is not None else "has several inputs"
    if parent is None or cls not in FOLD_INTO:
        raise ModelError(
            f"layer {bn.name!r} (BatchNormalization) {where}, not a Dense/Conv: a float "
            "BatchNormalization is exact only folded into the QDense/QConv right before it; "
            f"move it there, {_PTQ_FIX}"
        )
    act = parent.get_config().get("activation", "linear")
    if act not in ("linear", None):
        raise ModelError(
            f"layer {bn.name!r} (BatchNormalization) follows {parent.name!r}, whose activation "
            f"{_name_of(act)!r} is fused: only a linear Dense/Conv output can be folded; "
            "move the activation after the BatchNormalization"
        )
    if len(parent._outbound_nodes) != 1:
        raise ModelError(
            f"layer {bn.name!r} (BatchNormalization) follows {parent.name!r}, whose output is "
            "also used elsewhere: folding would change that use; give the BatchNormalization "
            "its own Dense/Conv"
        )
    rank = len(parent.output.shape)
    if list(bn.axis) not in ([rank - 1], [-1]):
        raise ModelError(
            f"layer {bn.name!r} (BatchNormalization) normalises axis {list(bn.axis)}, not the "
            "channels (last) axis: only channels-last BatchNormalization can be folded"
        )
    return parent


def _name_of(act) -> str:
    return act if isinstance(act, str) else str(act.get("class_name", act))


def inbound_layers(layer) -> list:
    """The layers feeding ``layer`` (every inbound node)."""
    out = []
    for node in layer._inbound_nodes:
        inbound = node.inbound_layers
        out.extend(inbound if isinstance(inbound, list) else [inbound])
    return out


def _rebuild(model, pairs: dict[str, Any]):
    """Re-call ``model``'s layers on a new input; each layer of ``pairs`` is replaced by a copy
    with the folded weights and its BatchNormalization is dropped."""
    import keras

    skip = {bn.name for bn in pairs.values()}
    old_in = model.inputs[0]
    inp = keras.Input(batch_shape=old_in.shape, dtype=old_in.dtype, name=_input_name(model))
    tensors = {id(old_in): inp}
    new_weights, folds = {}, []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        arg, old_out = layer_args(layer, tensors)
        if layer.name in skip:
            tensors[id(old_out)] = arg  # the parent's folded output
            continue
        if layer.name in pairs:
            bn = pairs[layer.name]
            conf = {**layer.get_config(), "use_bias": True}
            new = type(layer).from_config(conf)
            tensors[id(old_out)] = new(arg)
            weights = layer.get_weights()
            new_weights[layer.name] = folded_weights(
                weights[0], weights[1] if len(weights) > 1 else None, bn
            )
            folds.append(
                {
                    "layer": bn.name,
                    "folded_into": layer.name,
                    "epsilon": float(bn.epsilon),
                    "saturated_weights": _saturated(layer, *new_weights[layer.name]),
                }
            )
            continue
        tensors[id(old_out)] = layer(arg)
    out = tensors.get(id(model.outputs[0]))
    if out is None:
        raise ModelError("cannot trace the model output back to its input")
    folded = keras.Model(inp, out, name=model.name)
    for name, weights in new_weights.items():
        folded.get_layer(name).set_weights(list(weights))
    return folded, folds


def _saturated(layer, kernel: np.ndarray, bias: np.ndarray) -> float | None:
    """Fraction of the folded kernel and bias values beyond the range of the layer's
    quantizers (they saturate); None for a float layer (no quantizer yet)."""
    quantizers = getattr(layer, "quantizers", None)
    if not quantizers or len(quantizers) < 2 or not all(hasattr(q, "max") for q in quantizers):
        return None
    bad = sum(
        int(np.sum((v > float(q.max())) | (v < float(q.min()))))
        for v, q in zip((kernel, bias), quantizers[:2], strict=True)
    )
    return bad / (kernel.size + bias.size)


def _input_name(model) -> str:
    return model._input_layers[0].name


def layer_args(layer, tensors: dict[int, Any]) -> tuple[Any, Any]:
    """``(args, old_output)`` to call ``layer`` again in a rebuilt graph: its inputs looked up by
    ``id`` of the old tensors in ``tensors``. ModelError for a shared layer or a broken graph."""
    try:
        old_args, old_out = layer.input, layer.output
    except AttributeError:
        raise ModelError(
            f"layer {layer.name!r} is used more than once (shared layer): "
            "only models that call each layer once are supported"
        ) from None
    args = [tensors.get(id(t)) for t in _flat(old_args)]
    if any(a is None for a in args):
        raise ModelError(f"cannot trace the inputs of layer {layer.name!r} in the model graph")
    return (args[0] if len(args) == 1 else args), old_out


def _flat(obj) -> list:
    return [t for o in obj for t in _flat(o)] if isinstance(obj, list | tuple) else [obj]
