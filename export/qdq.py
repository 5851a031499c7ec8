"""QKeras chain -> ONNX QDQ graph written with ``onnx.helper``, integer kernels where exact.

Quantizers become ``QuantizeLinear`` (int8/uint8, int16 for > 8 bits: opset 21) plus a Clip to
the format's range (on the 8-bit integers; in float before QuantizeLinear for 16 bits), weights
int8 initializers. A QDense whose input is an unsigned <= 8-bit activation (the output of
``quantized_relu``) is an onnxruntime ``com.microsoft`` ``QGemm``: uint8 x int8 (or uint8 with
zero point 128, see ``_U8S8_LIMIT``) -> int32 sums plus the int32 bias (when the bias is on the
accumulator's grid), requantized inside the kernel straight to the next quantizer's uint8/int8
(or to float, (sum + bias) * scale, exact below 2**24 quanta). A QConv2D on such an input is a
``QLinearConv`` (the same rules) or a ``ConvInteger`` where those measured faster (see
:func:`_qconv2d`). Any other QDense/QConv2D runs in float on the integer values (Cast), the
input's power-of-two scale folded into the weights (exact while the float32 partial sums stay
below 2**24 quanta). MaxPooling2D after a quantizer pools the float values and quantizes after
it (rounding is monotonic: the same integers, and onnxruntime's float MaxPool is much faster
than its uint8 one); nearest UpSampling2D copies 8-bit integers. Keras layouts are kept (NHWC);
Conv/pooling are wrapped in Transposes that onnxruntime cancels. Besides chains, a ``Subtract``
of two earlier layers (the anomaly VAE's reconstruction error) is a float32 ``Sub``. Layer
handlers are registered one function per Keras class name (``@_handler``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from nanotrig.export.fixedpoint import FixedPoint, fixed_point_of
from nanotrig.export.metadata import set_input_metadata

from nanotrig.errors import ModelError
from nanotrig.fileio import atomic_path
from nanotrig.keras_choice import MIXED_KERAS_FIX

__all__ = ["QDQ_OPSET", "build_qdq_proto", "qkeras_to_qdq", "supported_layers", "write_qdq"]

log = logging.getLogger(__name__)
QDQ_OPSET = 21  # int16 QuantizeLinear/DequantizeLinear need opset 21
MS = "com.microsoft"  # onnxruntime's contrib domain (QGemm)
_U8S8_LIMIT = 32767  # u8*s8 pairs summed in int16 by VPMADDUBSW (AVX2) must not saturate


@dataclass(frozen=True)
class _T:
    """A graph tensor: float if ``fp`` is None, else integers of ``fp`` (zero point 0).

    ``qgemm``: the float output of a ``QGemm`` with these inputs, which :meth:`_Builder.quantize`
    re-emits with a quantized output (requantization inside the integer kernel). ``qconv``: the
    same for a convolution (``name``: its NHWC float output), re-emitted as an NCHW
    ``QLinearConv``: its inputs up to w_zero_point, the int32 bias ("" if none), attributes,
    and the index and text of its plan line. ``src``: the float tensor that ``quantize``
    rounded to these integers.
    """

    name: str
    fp: FixedPoint | None = None
    qgemm: tuple[str, ...] | None = None
    src: str | None = None  # the float tensor these integers round (max pooling commutes)
    qconv: tuple[tuple[str, ...], str, dict, tuple[int, str]] | None = None


class _Builder:
    def __init__(self) -> None:
        self.nodes: list = []
        self.inits: list = []
        self._n = 0
        self.plan: list[str] = []

    def fresh(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, hint: str, arr: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self.fresh(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str, **attrs) -> str:
        from onnx import helper

        out = self.fresh(f"{hint}/{op_type}")
        domain = attrs.pop("domain", "")
        self.nodes.append(helper.make_node(op_type, inputs, [out], domain=domain, **attrs))
        return out

    def qparams(self, fp: FixedPoint, hint: str, zero_point: int = 0) -> list[str]:
        return [
            self.const(f"{hint}/scale", np.float32(fp.scale)),
            self.const(f"{hint}/zp", np.array(zero_point, dtype=fp.storage)),
        ]

    def to_float(self, t: _T, hint: str) -> str:
        """Integers -> float as Cast + Mul(2**-frac): exact, and no DequantizeLinear.

        onnxruntime (1.26) rewrites float Gemm/MatMul/Conv fed by DequantizeLinear
        (WeightBiasQuantization, DQ -> MatMul -> MatMulNBits): it re-quantizes the float weights
        with a max/127 scale, which changed the logits by up to 0.006 on the jet MLP.
        """
        if t.fp is None:
            return t.name
        x = self.op("Cast", [t.name], hint, to=1)
        return self.op("Mul", [x, self.const(f"{hint}/scale", np.float32(t.fp.scale))], hint)

    def quantize(self, t: _T, fp: FixedPoint, hint: str, float_clip: bool = False) -> _T:
        """Round to ``fp`` (half to even) and saturate to its range.

        8-bit formats: QuantizeLinear (or the QGemm producing ``t``, requantizing its int32
        sums) saturates to the storage range, then an integer Clip to the format's range:
        the same integers as clipping first in float, since the bounds are integers and
        rounding is monotonic, at a quarter of the memory traffic. 16-bit formats (and
        ``float_clip``): float Clip then QuantizeLinear (onnxruntime has no int16 Clip).
        """
        info = np.iinfo(fp.storage)
        narrow = (fp.qmin, fp.qmax) != (info.min, info.max)
        if t.qconv is not None and not fp.signed and fp.bits <= 8 and not float_clip:
            xw, bias, attrs, (line, plan) = t.qconv
            inputs = [*xw, *self.qparams(fp, hint), *([bias] if bias else [])]
            y = self.op("QLinearConv", inputs, hint, **attrs)
            self.plan[line] = f"{plan} -> {fp} ({hint})"
            if narrow:
                lo = self.const(f"{hint}/lo", np.array(fp.qmin, dtype=fp.storage))
                hi = self.const(f"{hint}/hi", np.array(fp.qmax, dtype=fp.storage))
                y = self.op("Clip", [y, lo, hi], hint)
            return _nhwc(self, y, hint, fp)
        src = None if t.qgemm is not None and fp.bits <= 8 else self.to_float(t, hint)
        if fp.bits <= 8 and not (float_clip and src is not None):
            if src is None:
                y = self.op("QGemm", [*t.qgemm, *self.qparams(fp, hint)], hint, domain=MS)
            else:
                y = self.op("QuantizeLinear", [src, *self.qparams(fp, hint)], hint)
            if narrow:
                lo = self.const(f"{hint}/lo", np.array(fp.qmin, dtype=fp.storage))
                hi = self.const(f"{hint}/hi", np.array(fp.qmax, dtype=fp.storage))
                y = self.op("Clip", [y, lo, hi], hint)
            return _T(y, fp, src=src)
        x = src
        if narrow or float_clip:
            # full range: saturation alone would do, but onnxruntime removes a Clip that
            # QuantizeLinear makes redundant; (qmax - 1/4) quanta still round to qmax
            top = fp.qmax if narrow else fp.qmax - 0.25
            lo = self.const(f"{hint}/lo", np.float32(fp.qmin * fp.scale))
            hi = self.const(f"{hint}/hi", np.float32(top * fp.scale))
            x = self.op("Clip", [x, lo, hi], hint)
        return _T(self.op("QuantizeLinear", [x, *self.qparams(fp, hint)], hint), fp, src=src)


_Handler = Callable[[_Builder, object, _T], _T]
_HANDLERS: dict[str, _Handler] = {}


def _handler(*class_names: str) -> Callable[[_Handler], _Handler]:
    def register(fn: _Handler) -> _Handler:
        for name in class_names:
            if name in _HANDLERS:
                raise ValueError(f"a handler for {name} is already registered")
            _HANDLERS[name] = fn
        return fn

    return register


def supported_layers() -> list[str]:
    """Keras/QKeras layer class names the QDQ exporter handles."""
    return sorted([*_HANDLERS, *_MERGE_HANDLERS])


def _activation(b: _Builder, act, t: _T, where: str) -> _T:
    """A Keras activation function or QKeras quantizer applied to ``t``."""
    if type(act).__name__ == "quantized_bits" and int(act.bits) > 16:
        return _float_grid(b, act, t, where)
    if hasattr(act, "bits"):
        return b.quantize(t, fixed_point_of(act, where), where)
    name = act if isinstance(act, str) else getattr(act, "__name__", repr(act))
    ops = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softmax": "Softmax"}
    if name == "linear":
        return t
    if name not in ops:
        raise ModelError(
            f"layer {where}: activation {name!r} is not supported for ONNX export: "
            f"use one of linear, {', '.join(ops)} or a QKeras quantizer"
        )
    attrs = {"axis": -1} if name == "softmax" else {}
    return _T(b.op(ops[name], [b.to_float(t, where)], where, **attrs))


def _weights(layer) -> tuple[FixedPoint, np.ndarray, FixedPoint | None, np.ndarray | None]:
    kq = layer.kernel_quantizer_internal
    if kq is None:
        raise ModelError(f"layer {layer.name} has no kernel_quantizer: give it quantized_bits")
    fk = fixed_point_of(kq, layer.name)
    wq = fk.quantize(layer.kernel.numpy())
    if not layer.use_bias:
        return fk, wq, None, None
    bq_obj = layer.bias_quantizer_internal
    if bq_obj is None:
        raise ModelError(f"layer {layer.name} has no bias_quantizer: give it quantized_bits")
    fb = fixed_point_of(bq_obj, layer.name)
    return fk, wq, fb, fb.quantize(layer.bias.numpy())


def _dq_const(b: _Builder, ints: np.ndarray, fp: FixedPoint, hint: str, times: float = 1.0) -> str:
    """Integer initializer -> float by Cast + Mul(scale x ``times``), which onnxruntime
    constant-folds (``times``: the power-of-two input scale folded into weights, see
    :func:`_unscaled`).

    Not DequantizeLinear: onnxruntime (1.26) fuses DequantizeLinear(int8 weight) -> MatMul on a
    float input into MatMulNBits (accuracy level 4: int8 activations), which changed the logits
    of a test model by 0.011. For the same reason float layers get Gemm, not MatMul + Add.
    """
    x = b.op("Cast", [b.const(f"{hint}/q", ints)], hint, to=1)
    return b.op("Mul", [x, b.const(f"{hint}/scale", np.float32(fp.scale * times))], hint)


def _unscaled(b: _Builder, t: _T, hint: str) -> tuple[str, float]:
    """``t`` as float integers and the scale to fold into the weights (powers of two: the
    products and float sums are those of the dequantized values, scaled exactly)."""
    if t.fp is None:
        return t.name, 1.0
    return b.op("Cast", [t.name], hint, to=1), t.fp.scale


def _u8s8_fits(x_fp: FixedPoint, fk: FixedPoint) -> bool:
    """uint8 activations x int8 weights cannot saturate MLAS's int16 pair sums (``_U8S8_LIMIT``)."""
    return x_fp.qmax * max(-fk.qmin, fk.qmax) * 2 <= _U8S8_LIMIT


def _acc_bias(
    b: _Builder, name: str, bq: np.ndarray, fb: FixedPoint, acc_scale: float
) -> str | None:
    """The bias as an int32 initializer on the accumulator's grid (scale ``acc_scale``), or None
    when its quanta are finer than the accumulator's."""
    ratio = fb.scale / acc_scale
    if ratio < 1:
        return None
    return b.const(f"{name}/bias_acc", (bq.astype(np.int64) * int(ratio)).astype(np.int32))


@_handler("QDense")
def _qdense(b: _Builder, layer, t: _T) -> _T:
    name = layer.name
    fk, wq, fb, bq = _weights(layer)
    x_fp = t.fp
    if x_fp is not None and not x_fp.signed and x_fp.bits <= 8 and fk.bits <= 8:
        if _u8s8_fits(x_fp, fk):
            w, zp = b.const(f"{name}/kernel_q", wq.astype(np.int8)), np.int8(0)
        else:  # u8u8 kernels widen to int16 first: no saturation
            w, zp = b.const(f"{name}/kernel_q", (wq.astype(np.int16) + 128).astype(np.uint8)), 128
            zp = np.uint8(zp)
        acc_scale = x_fp.scale * fk.scale
        inputs = [
            t.name, *b.qparams(x_fp, f"{name}/x"),
            w, b.const(f"{name}/kernel_scale", np.float32(fk.scale)),
            b.const(f"{name}/kernel_zp", zp),
        ]  # fmt: skip
        bias_acc = _acc_bias(b, name, bq, fb, acc_scale) if fb is not None else None
        fused_bias = fb is None or bias_acc is not None  # bias on the grid: int32 input C
        inputs.append(bias_acc or "")
        y = b.op("QGemm", inputs, name, domain=MS)  # float out: (A.B + C) * scale, exact < 2**24
        bias = "int32 bias" if fb is not None and fused_bias else "float bias" if fb else "no bias"
        b.plan.append(f"{name}: QGemm {x_fp} x {fk}, {bias}")
        if fused_bias:
            return _activation(b, layer.activation, _T(y, qgemm=tuple(inputs)), name)
    elif len(layer.input_shape) == 2:  # Gemm, not MatMul + Add: see _dq_const
        # the input's scale goes into the weights (powers of two: the same float sums)
        x_name, x_scale = _unscaled(b, t, name)
        inputs = [x_name, _dq_const(b, wq, fk, f"{name}/kernel", x_scale)]
        if fb is not None:
            inputs.append(b.const(f"{name}/bias", (bq * fb.scale).astype(np.float32)))
        y = b.op("Gemm", inputs, name)
        b.plan.append(f"{name}: float Gemm on dequantized {x_fp or 'float'} x {fk}")
        return _activation(b, layer.activation, _T(y), name)
    else:
        y = b.op("MatMul", [b.to_float(t, name), _dq_const(b, wq, fk, f"{name}/kernel")], name)
        b.plan.append(f"{name}: float MatMul on dequantized {x_fp or 'float'} x {fk}")
    if fb is not None:
        y = b.op("Add", [y, b.const(f"{name}/bias", (bq * fb.scale).astype(np.float32))], name)
    return _activation(b, layer.activation, _T(y), name)


def _nchw(b: _Builder, t: _T, hint: str) -> str:
    return b.op("Transpose", [t.name], hint, perm=[0, 3, 1, 2])


def _nhwc(b: _Builder, name: str, hint: str, fp: FixedPoint | None = None) -> _T:
    return _T(b.op("Transpose", [name], hint, perm=[0, 2, 3, 1]), fp)


def _pad(layer) -> str:
    return {"valid": "VALID", "same": "SAME_UPPER"}[layer.padding]


def _to_nchw(b: _Builder, layer, x: str, hint: str) -> str:
    """An NHWC tensor -> NCHW: a Reshape for one channel, else a Transpose."""
    if layer.input_shape[-1] == 1:
        shape = b.const(f"{hint}/nchw", np.array([-1, 1, *layer.input_shape[1:3]], np.int64))
        return b.op("Reshape", [x, shape], hint)
    return _nchw(b, _T(x), hint)


@_handler("QConv2D")
def _qconv2d(b: _Builder, layer, t: _T) -> _T:
    """A convolution on integers, whichever kernel measured fastest (one intra-op thread).

    Input an unsigned <= 8-bit activation (uint8), the kernel and bias fitting the QGemm rules
    of :func:`_qdense` (no u8*s8 int16 saturation, ``_U8S8_LIMIT``; bias on the accumulator's
    grid or none) and at least 8 input channels: recorded as ``qconv``, so that a following
    unsigned <= 8-bit quantizer makes it a uint8 x int8 ``QLinearConv`` with an int32 bias
    that requantizes to that quantizer's uint8 in the kernel (onnxruntime runs it
    channels-last, the Transposes cancel; it has no uint8 -> int8 QLinearConv, and its uint8 x
    uint8 one and the one with < 8 input channels ran slower than the float Conv).

    Otherwise (float output): ``ConvInteger`` uint8 x uint8 (weights at zero point 128: no
    saturation) -> int32 -> Cast, Mul by the power-of-two scale, float bias Add, where the
    input is uint8, there are fewer than 8 output channels and at least 256 output positions
    per image (there the float NCHWc Conv wastes most of its vector lanes: 0.7-0.8x its time;
    with smaller images ConvInteger's per-image cost makes it slower, and its uint8 x int8
    kernel is 2-4x slower than uint8 x uint8). Else a float Conv on the Cast integers, the
    input's power-of-two scale folded into the weights. All exact while the sums stay below
    2**24 quanta (float32 integers, as in the float path).
    """
    name = layer.name
    if layer.data_format != "channels_last" or layer.groups != 1:
        raise ModelError(f"layer {name}: only channels_last, groups=1 Conv2D is supported")
    fk, wq, fb, bq = _weights(layer)
    w_oihw = wq.transpose(3, 2, 0, 1)  # HWIO -> OIHW
    attrs = {
        "auto_pad": _pad(layer), "strides": list(layer.strides),
        "dilations": list(layer.dilation_rate), "kernel_shape": list(wq.shape[:2]),
    }  # fmt: skip
    x_fp = t.fp
    u8 = x_fp is not None and not x_fp.signed and x_fp.bits <= 8
    u8 = u8 and fk.bits <= 8 and fk.qmin >= -128 and fk.qmax <= 127  # int8 weights
    c_in, c_out = wq.shape[2], wq.shape[3]
    positions = int(np.prod(layer.output_shape[1:3]))
    if u8 and c_out < 8 and positions >= 256:
        w_u8 = b.const(f"{name}/kernel_u8", (w_oihw.astype(np.int16) + 128).astype(np.uint8))
        zps = [b.const(f"{name}/x_zp", np.uint8(0)), b.const(f"{name}/kernel_zp", np.uint8(128))]
        acc = b.op("ConvInteger", [_to_nchw(b, layer, t.name, name), w_u8, *zps], name, **attrs)
        y = b.op("Cast", [acc], name, to=1)
        y = b.op("Mul", [y, b.const(f"{name}/scale", np.float32(x_fp.scale * fk.scale))], name)
        if fb is not None:
            bias = (bq * fb.scale).astype(np.float32).reshape(-1, 1, 1)
            y = b.op("Add", [y, b.const(f"{name}/bias", bias)], name)
        b.plan.append(f"{name}: ConvInteger {x_fp} x {fk} (uint8 at zero point 128), float out")
    else:
        x_name, x_scale = _unscaled(b, t, name)
        inputs = [
            _to_nchw(b, layer, x_name, name),
            _dq_const(b, w_oihw, fk, f"{name}/kernel", x_scale),
        ]
        if fb is not None:
            inputs.append(_dq_const(b, bq, fb, f"{name}/bias"))
        y = b.op("Conv", inputs, name, **attrs)
        b.plan.append(f"{name}: float Conv on dequantized {x_fp or 'float'} x {fk}")
    qconv = None
    bias = None
    if u8 and fb is not None:  # on the accumulator's grid: int32 input B
        bias = _acc_bias(b, name, bq, fb, x_fp.scale * fk.scale)
    if u8 and c_in >= 8 and _u8s8_fits(x_fp, fk) and (fb is None or bias is not None):
        xw = (
            _to_nchw(b, layer, t.name, name), *b.qparams(x_fp, f"{name}/x"),
            b.const(f"{name}/kernel_q", w_oihw.astype(np.int8)),
            b.const(f"{name}/kernel_scale", np.float32(fk.scale)),
            b.const(f"{name}/kernel_zp", np.int8(0)),
        )  # fmt: skip
        kind = "int32 bias" if fb is not None else "no bias"
        plan = (len(b.plan) - 1, f"{name}: QLinearConv {x_fp} x {fk}, {kind}")
        qconv = (xw, bias or "", attrs, plan)
    return _activation(b, layer.activation, _T(_nhwc(b, y, name).name, qconv=qconv), name)


@_handler("MaxPooling2D", "AveragePooling2D")
def _pool2d(b: _Builder, layer, t: _T) -> _T:
    name = layer.name
    if layer.data_format != "channels_last":
        raise ModelError(f"layer {name}: only channels_last pooling is supported")
    attrs = {
        "kernel_shape": list(layer.pool_size),
        "strides": list(layer.strides),
        "auto_pad": _pad(layer),
    }
    if type(layer).__name__ == "MaxPooling2D":
        if t.src is not None and t.fp is not None:
            # rounding/saturating is monotonic: max then quantize = quantize then max, and the
            # float MaxPool kernel is much faster than the integer one
            pooled = _nhwc(b, b.op("MaxPool", [_nchw(b, _T(t.src), name)], name, **attrs), name)
            # float Clip before QuantizeLinear: onnxruntime would move a QuantizeLinear that
            # follows the MaxPool above it (QDQ propagation), back onto the integer kernel
            return b.quantize(pooled, t.fp, name, float_clip=True)
        return _nhwc(b, b.op("MaxPool", [_nchw(b, t, name)], name, **attrs), name, t.fp)
    x = _nchw(b, _T(b.to_float(t, name)), name)
    return _nhwc(b, b.op("AveragePool", [x], name, count_include_pad=0, **attrs), name)


@_handler("UpSampling2D")
def _upsampling2d(b: _Builder, layer, t: _T) -> _T:
    """Nearest-neighbour upsampling (Keras repeats each pixel): Resize with floor indices."""
    name = layer.name
    if layer.data_format != "channels_last" or layer.interpolation != "nearest":
        raise ModelError(f"layer {name}: only channels_last, nearest UpSampling2D is supported")
    scales = b.const(f"{name}/scales", np.array([1, 1, *layer.size], np.float32))
    fp = t.fp if t.fp is not None and t.fp.bits <= 8 else None  # copies: 8-bit stays integer
    x = _nchw(b, t if fp is not None else _T(b.to_float(t, name)), name)
    y = b.op(
        "Resize", [x, "", scales], name, mode="nearest", nearest_mode="floor",
        coordinate_transformation_mode="asymmetric",
    )  # fmt: skip
    b.plan.append(f"{name}: nearest Resize x{tuple(layer.size)} on {t.fp or 'float'} values")
    return _nhwc(b, y, name, fp)


@_handler("Flatten")
def _flatten(b: _Builder, layer, t: _T) -> _T:
    return _T(b.op("Flatten", [t.name], layer.name, axis=1), t.fp)


@_handler("Reshape")
def _reshape(b: _Builder, layer, t: _T) -> _T:
    shape = b.const(f"{layer.name}/shape", np.array([-1, *layer.target_shape], np.int64))
    return _T(b.op("Reshape", [t.name, shape], layer.name), t.fp)


@_handler("Dropout", "InputLayer")
def _identity(b: _Builder, layer, t: _T) -> _T:
    return t


@_handler("Multiply")
def _square(b: _Builder, layer, t: _T) -> _T:
    """``Multiply()([x, x])`` (the anomaly score's ``mu**2``): a float32 Mul, the same operation
    Keras computes (exact for formats of up to 12 bits)."""
    x = b.to_float(t, layer.name)
    b.plan.append(f"{layer.name}: float square of {t.fp or 'float'} values")
    return _T(b.op("Mul", [x, x], layer.name))


def _float_grid(b: _Builder, act, t: _T, where: str) -> _T:
    """A ``quantized_bits`` wider than ONNX's 16-bit integers (the raw input type): rounded
    to its grid in float32, ``clip(round(x * 2**f), qmin, qmax) * 2**-f`` (Round is half to
    even, as QKeras; exact for values below ``2**(23 - f)``, where QKeras is exact too)."""
    if act.alpha not in (1, 1.0, None) or not act.keep_negative or act.symmetric:
        raise ModelError(f"layer {where}: a quantizer over 16 bits must be plain signed "
                         "quantized_bits(bits, integer, alpha=1)")  # fmt: skip
    frac = int(act.bits) - 1 - int(act.integer)
    qmax = 2.0 ** (int(act.bits) - 1)
    x = b.op("Mul", [b.to_float(t, where), b.const(f"{where}/up", np.float32(2.0**frac))], where)
    x = b.op("Round", [x], where)
    lo, hi = b.const(f"{where}/lo", np.float32(-qmax)), b.const(f"{where}/hi", np.float32(qmax - 1))
    x = b.op("Clip", [x, lo, hi], where)
    y = b.op("Mul", [x, b.const(f"{where}/down", np.float32(2.0**-frac))], where)
    b.plan.append(f"{where}: float round to the {act.bits}-bit grid (2^-{frac}), saturating")
    return _T(y)


@_handler("Po2Standardise")
def _standardise(b: _Builder, layer, t: _T) -> _T:
    """``(x - offset) * 2**-shift``, clipped: float32 Sub, Mul, Clip (exact on the raw grid)."""
    name = layer.name
    x = b.op("Sub", [b.to_float(t, name), b.const(f"{name}/offset",
             np.asarray(layer.offsets, np.float32))], name)  # fmt: skip
    scale = np.ldexp(1.0, -np.asarray(layer.shifts)).astype(np.float32)
    x = b.op("Mul", [x, b.const(f"{name}/scale", scale)], name)
    if layer.clip is not None:
        lo, hi = (b.const(f"{name}/{k}", np.float32(v)) for k, v in
                  (("lo", -layer.clip), ("hi", layer.clip)))  # fmt: skip
        x = b.op("Clip", [x, lo, hi], name)
    b.plan.append(f"{name}: float (x - offset) * 2^-shift, clipped to +-{layer.clip}")
    return _T(x)


@_handler("QActivation")
def _qactivation(b: _Builder, layer, t: _T) -> _T:
    return _activation(b, layer.quantizer, t, layer.name)


@_handler("Activation")
def _keras_activation(b: _Builder, layer, t: _T) -> _T:
    return _activation(b, layer.get_config()["activation"], t, layer.name)


@_handler("ReLU")
def _relu(b: _Builder, layer, t: _T) -> _T:
    cfg = layer.get_config()
    if cfg.get("max_value") is not None or cfg.get("negative_slope") or cfg.get("threshold"):
        raise ModelError(f"layer {layer.name}: ReLU with max_value/slope/threshold unsupported")
    return _activation(b, "relu", t, layer.name)


def _graph(model) -> list[tuple[object, tuple[str, ...]]]:
    """The model's layers after the input, each with the names of the layers it reads: one
    (``Multiply()([x, x])`` reads ``x`` once), or two distinct ones for ``Subtract``."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError(f"model {model.name} must have one input and one output for QDQ export")
    seen = {model.layers[0].name}
    out = []
    for layer in model.layers[1:]:
        srcs = tuple(dict.fromkeys(i.name for i in _inbound(layer)))
        cls = type(layer).__name__
        if (
            not srcs
            or any(s not in seen for s in srcs)
            or len(srcs) > (2 if cls in _MERGE_HANDLERS else 1)
        ):
            raise ModelError(
                f"layer {layer.name} does not take the previous layer's output: QDQ export "
                "supports single chains of layers, Multiply()([x, x]) and Subtract of two "
                "earlier layers only"
            )
        seen.add(layer.name)
        out.append((layer, srcs))
    return out


def _inbound(layer) -> list:
    inbound = layer.inbound_nodes[0].inbound_layers
    return inbound if isinstance(inbound, list) else [inbound]


#: Two-input merges: ``(builder, layer, a, b) -> tensor``.
_MERGE_HANDLERS: dict[str, Callable] = {}


def _subtract(b: _Builder, layer, x: _T, y: _T) -> _T:
    """``Subtract()([x, y])``: a float32 Sub of the two tensors' values, as Keras computes it
    (exact while the difference spans fewer than 2**24 steps of the finer grid)."""
    out = b.op("Sub", [b.to_float(x, layer.name), b.to_float(y, layer.name)], layer.name)
    b.plan.append(f"{layer.name}: float difference of {x.fp or 'float'} and {y.fp or 'float'}")
    return _T(out)


_MERGE_HANDLERS["Subtract"] = _subtract


def _live(nodes: list, outputs: list[str]) -> list:
    """``nodes`` that some output depends on (a QGemm whose float output was re-emitted with a
    quantized one is left unused), in their order."""
    needed, keep = set(outputs), []
    for node in reversed(nodes):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(i for i in node.input if i)
    return keep[::-1]


def build_qdq_proto(model, trace: bool = False):
    """Return the QDQ ``onnx.ModelProto`` of a QKeras chain (batch dimension dynamic).

    With ``trace`` every layer's output is also a graph output named ``trace/<layer>``
    (dequantized to float), for layer-by-layer comparison with QKeras.
    """
    from onnx import TensorProto, helper

    b = _Builder()
    in_name = model.layers[0].name
    t = _T(in_name)
    tensors = {in_name: t}
    trace_outputs: list[str] = []
    for layer, srcs in _graph(model):
        cls = type(layer).__name__
        if cls == "TFOpLambda":
            raise ModelError(f"layer {layer.name} ({cls}): {MIXED_KERAS_FIX}")
        handler = (_HANDLERS if len(srcs) == 1 else _MERGE_HANDLERS).get(cls)
        if handler is None:
            raise ModelError(
                f"layer {layer.name} ({cls}) is not supported for QDQ export: use only "
                f"{', '.join(supported_layers())}, or export the float form with --float"
            )
        t = handler(b, layer, *(tensors[s] for s in srcs))
        tensors[layer.name] = t
        if trace:
            out = f"trace/{layer.name}"
            b.nodes.append(helper.make_node("Identity", [b.to_float(t, layer.name)], [out]))
            trace_outputs.append(out)
    out_name = model.layers[-1].name
    b.nodes.append(helper.make_node("Identity", [b.to_float(t, out_name)], [out_name]))

    def vi(name: str, shape) -> object:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, *shape[1:]])

    outputs = [vi(out_name, model.output_shape)]
    for name, layer in zip(trace_outputs, model.layers[1:], strict=False):
        outputs.append(vi(name, layer.output_shape))
    nodes = _live(b.nodes, [o.name for o in outputs])
    used = {i for n in nodes for i in n.input}
    inits = [i for i in b.inits if i.name in used]
    graph = helper.make_graph(
        nodes, f"{model.name}_qdq", [vi(in_name, model.input_shape)], outputs, inits
    )
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", QDQ_OPSET), helper.make_opsetid(MS, 1)],
        producer_name="nanotrig",
    )
    proto.ir_version = 10
    helper.set_model_props(proto, {"nanotrig.layer_plan": "\n".join(b.plan)})
    set_input_metadata(proto, model)
    for line in b.plan:  # debug: the graph is built up to three times per export
        log.debug("qdq %s", line)
    return proto


def qkeras_to_qdq(model, dest: str | Path, trace: bool = False) -> Path:
    """Write the QDQ ONNX file of a QKeras chain to ``dest`` (checked, atomic)."""
    return write_qdq(build_qdq_proto(model, trace=trace), dest)


def write_qdq(proto, dest: str | Path) -> Path:
    """Check a QDQ proto from :func:`build_qdq_proto` and write it to ``dest`` atomically."""
    import onnx

    onnx.checker.check_model(proto, full_check=True)
    with atomic_path(dest) as tmp:
        onnx.save_model(proto, str(tmp))
    log.info("wrote %s (QDQ, opset %d)", dest, QDQ_OPSET)
    return Path(dest)
