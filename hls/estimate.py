"""Latency and resource ESTIMATE of an hls4ml ModelGraph, without vendor tools.

A model of the architecture hls4ml 1.3 generates (``nnet_dense_latency.h``,
``nnet_dense_resource.h``, ``nnet_conv_stream.h``, ``nnet_activation.h``):

* Latency strategy at reuse factor 1 hard-wires every weight as a constant. Zero weights vanish,
  powers of two are wires, weights with few canonical-signed-digit (CSD) digits become shift-adds
  in LUTs, the rest take a DSP48E2 (when the variable operand is wide enough to need one). Each
  output is an adder tree over its nonzero terms, ``ceil(log2(n_terms))`` levels deep.
* Reuse factor R > 1 or the Resource strategy shares ``ceil(n_weights / R)`` multipliers of the
  declared widths; the layer takes about R cycles and accepts a new input every R cycles.
* io_parallel inlines the network into one pipeline: layer delays chain, and the pipeline is cut
  into clock periods (minus Vivado's 12.5 % clock uncertainty). io_stream makes each layer a
  dataflow process reading one pixel per cycle (times R): the interval is the largest number of
  reads, the latency that plus each layer's pipeline depth.
* GarNet (``nnet_garnet.h``, io_parallel): vertices in reuse-factor blocks through one pipelined
  loop, constant-weight transforms, edge-weight table copies; see :func:`_garnet`. A structural
  model only: no published GarNet synthesis result is there to check it against.

Constants live in ``hls/calibration.yml`` beside the published results they were checked against
(``tests/hls/test_estimate.py`` prints the comparison). These are ESTIMATES: latency and II are
the figures the model is surest of, then DSPs of wide designs; LUTs are rougher, FF and BRAM
indicative only. A vendor report (:mod:`hls.synth`) replaces them where a tool is installed.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CALIBRATION_FILE",
    "Estimate",
    "LayerEstimate",
    "estimate_model",
    "load_calibration",
]

log = logging.getLogger(__name__)

CALIBRATION_FILE = Path(__file__).with_name("calibration.yml")
_WEIGHTED = {"Dense", "Conv1D", "Conv2D", "PointwiseConv1D", "PointwiseConv2D"}
_POOL = {"Pooling1D", "Pooling2D", "GlobalPooling1D", "GlobalPooling2D"}
_ACT = {"Activation", "ParametrizedActivation", "LeakyReLU", "ThresholdedReLU", "PReLU", "ELU"}
_NO_HARDWARE = {"Input", "InputLayer", "Reshape", "Flatten", "Dropout", "Transpose"}
_STREAM_COPY = {"Repack", "Clone"}
_CHEAP_ACTIVATIONS = {"relu", "linear", "leaky_relu", "thresholded_relu", "relu6", "hard_tanh"}


@cache
def load_calibration(path: Path = CALIBRATION_FILE) -> dict[str, Any]:
    """The calibration file: ``model`` constants and published ``anchors``."""
    import yaml

    with open(path) as fh:
        return yaml.safe_load(fh)


@dataclass
class LayerEstimate:
    """One hls4ml layer. ``cycles`` is the layer's share of the latency (may be fractional in
    io_parallel, where layers chain inside a clock period)."""

    name: str
    class_name: str
    precision: str
    n_mult: int = 0
    n_nonzero: int = 0
    n_dsp_mult: int = 0
    n_lut_mult: int = 0
    n_trivial_mult: int = 0
    dsp: int = 0
    lut: int = 0
    ff: int = 0
    bram: int = 0
    cycles: float = 0.0
    interval: int = 1
    latency_ns: float = 0.0
    note: str = ""


@dataclass
class Estimate:
    """Whole-model estimate; ``layers`` in graph order."""

    clock_ns: float
    io_type: str
    latency_cycles: int
    latency_ns: float
    ii_cycles: int
    ii_ns: float
    dsp: int
    lut: int
    ff: int
    bram: int
    layers: list[LayerEstimate] = field(default_factory=list)
    confidence: str = (
        "estimate, not synthesis; vs published results (hls/calibration.yml): latency within "
        "~20%; DSP within ~30% on the jet MLPs (16, 14, 6 bit, QKeras Q6), 2x low on a CNN; "
        "LUT within ~35% on the post-training-quantized jet MLPs, up to 3.4x high on others; "
        "FF and BRAM indicative only"
    )
    #: The FPGA part of the project (hls4ml ``Part``); device totals from nanotrig/parts.yml.
    part: str | None = None

    def device_share(self) -> dict[str, Any] | None:
        """Estimated LUT/FF/DSP/BRAM as percent of the part's totals; None for an unknown part."""
        from nanotrig.parts import get_part

        dev = get_part(self.part) if self.part else None
        if dev is None:
            return None
        used = {"lut": self.lut, "ff": self.ff, "dsp": self.dsp, "bram": self.bram}
        total = {"lut": dev.lut, "ff": dev.ff, "dsp": dev.dsp, "bram": dev.bram_18k}
        return {
            "part": dev.name,
            **{f"{k}_pct": round(100.0 * used[k] / total[k], 3) for k in used},
            "totals": total,
            "source": dev.source,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, with ``device_share`` (None when the part is not in the table)."""
        return {**asdict(self), "device_share": self.device_share()}

    def slowest(self, n: int = 3) -> list[LayerEstimate]:
        """The ``n`` layers with the largest latency share."""
        return sorted(self.layers, key=lambda r: r.cycles, reverse=True)[:n]


# --- fixed-point helpers --------------------------------------------------------------------


def _bits(ptype) -> tuple[int, int, bool]:
    """(width, fractional bits, signed) of an hls4ml type or precision."""
    p = getattr(ptype, "precision", ptype)
    width = int(getattr(p, "width", 16))
    integer = int(getattr(p, "integer", width))
    return width, width - integer, bool(getattr(p, "signed", True))


def _weight_ints(weight) -> np.ndarray:
    """Weights as integers on the weight type's grid (ap_fixed truncates: floor), saturated."""
    width, frac, signed = _bits(weight.type)
    data = np.asarray(weight.data, dtype=np.float64)
    ints = np.floor(data * 2.0**frac + 1e-9)
    lo, hi = (-(2 ** (width - 1)), 2 ** (width - 1) - 1) if signed else (0, 2**width - 1)
    return np.clip(ints, lo, hi).astype(np.int64)


def _csd_digits(values: np.ndarray) -> np.ndarray:
    """Nonzero digits of each |value| in canonical signed-digit form."""
    n = np.abs(values.astype(np.int64))
    count = np.zeros_like(n)
    while np.any(n):
        odd = (n & 1) == 1
        count += odd
        n = np.where(odd & ((n & 3) == 3), n + 1, np.where(odd, n - 1, n))
        n >>= 1
    return count


def _odd_width(values: np.ndarray) -> np.ndarray:
    """Bit length of |value| after dropping trailing zeros (the constant's real width)."""
    n = np.abs(values.astype(np.int64))
    out = np.zeros_like(n)
    nz = n > 0
    m = n[nz]
    m = m // (m & -m)
    out[nz] = np.floor(np.log2(m)).astype(np.int64) + 1
    return out


def _dsps_per_mult(a: int, b: int, c: dict) -> int:
    big, small = max(a, b), min(a, b)
    return math.ceil(big / c["dsp_a_bits"]) * math.ceil(small / c["dsp_b_bits"])


def _t_add(width: int, c: dict) -> float:
    return c["t_add_base_ns"] + c["t_add_per_bit_ns"] * width


def _pixels(shape) -> int:
    shape = list(shape or [1])
    return int(np.prod(shape[:-1])) if len(shape) > 1 else 1


# --- per-layer models -----------------------------------------------------------------------


def _weighted(layer, ctx: dict, c: dict) -> LayerEstimate:
    w = layer.weights["weight"]
    ints = _weight_ints(w)
    n_out = int(ints.shape[-1])
    cols = ints.reshape(-1, n_out)  # (terms per output, outputs)
    a, _, _ = _bits(layer.get_input_variable().type)
    wb, _, _ = _bits(w.type)
    acc, _, _ = _bits(layer.get_attr("accum_t", w.type))
    res, _, _ = _bits(layer.get_output_variable().type)
    rf = int(layer.get_attr("reuse_factor", 1) or 1)
    strategy = str(layer.get_attr("strategy", "latency")).lower()
    bias = layer.weights.get("bias")
    has_bias = bias is not None and np.any(np.asarray(bias.data) != 0)
    nonzero = cols != 0
    terms = nonzero.sum(axis=0) + (1 if has_bias else 0)
    row = LayerEstimate(
        layer.name, layer.class_name, f"w{wb} x a{a} -> acc{acc}", n_mult=int(cols.size)
    )
    row.n_nonzero = int(nonzero.sum())
    depth = math.ceil(math.log2(max(int(terms.max(initial=1)), 2)))
    add_w = min(acc, a + wb + depth)
    out_pixels = _pixels(layer.get_output_variable().shape)
    in_pixels = _pixels(layer.get_input_variable().shape)
    t_mul = 0.0
    if strategy == "latency" and rf == 1:
        # weights are constants: fold them
        nzw = cols[nonzero]
        csd = _csd_digits(nzw)
        ow = _odd_width(nzw)
        trivial = csd <= 1
        small = (csd <= c["lut_const_max_csd"]) | (a <= c["dsp_min_bits"])
        # share of each product on a DSP: none when small, ``lut_const_border_dsp`` for a
        # constant of few significant bits (Vivado's DSP/LUT border), all otherwise
        p_dsp = np.where(ow <= c["lut_const_border_bits"], c["lut_const_border_dsp"], 1.0)
        p_dsp[trivial | small] = 0.0
        lut_m = ~trivial & (p_dsp < 1)
        dsp_m = p_dsp > 0
        row.n_trivial_mult = int(trivial.sum())
        row.n_dsp_mult = round(float(p_dsp.sum()))
        row.n_lut_mult = int((~trivial).sum()) - row.n_dsp_mult
        per_mult = np.array([_dsps_per_mult(a, int(e) + 1, c) for e in ow]) if len(ow) else ow
        row.dsp = round(float((p_dsp * per_mult).sum()))
        lut_mult = float(((1 - p_dsp[lut_m]) * (csd[lut_m] - 1) * (a + ow[lut_m])).sum())
        lut_mult *= c["lut_per_adder_bit"]
        adders = float(np.clip(terms - 1, 0, None).sum()) * add_w * c["lut_per_adder_bit"]
        row.lut = round(lut_mult + adders)
        if dsp_m.any():
            t_mul = c["t_dsp_ns"]
        elif lut_m.any():
            t_mul = c["t_lut_mul_ns"] * math.ceil(math.log2(max(int(csd.max()), 2)))
        mode = "constant weights"
    else:
        # shared multipliers of the declared widths (weights in ROM/registers)
        n_mults = math.ceil(cols.size / rf)
        if min(wb, a) <= c["dsp_min_bits"]:
            row.n_lut_mult = n_mults
            row.lut = round(n_mults * wb * a * c["lut_per_mult_bit2"])
            t_mul = c["t_lut_mul_ns"] * 2
        else:
            row.n_dsp_mult = n_mults
            row.dsp = n_mults * _dsps_per_mult(a, wb, c)
            t_mul = c["t_dsp_ns"]
        row.lut += round(n_mults * acc * c["lut_per_adder_bit"])
        weight_bits = cols.size * wb
        if strategy == "resource" and weight_bits > c["lutram_max_bits"]:
            row.bram = math.ceil(n_mults * wb / 36) * math.ceil(rf / 512)
        mode = f"{n_mults} shared multipliers"
    delay = t_mul + depth * _t_add(add_w, c)
    eff = ctx["eff_period"]
    # Output pixels per layer call: a convolution in io_parallel loops over its output pixels.
    rounds = out_pixels if ctx["io_type"] == "io_parallel" and out_pixels > 1 else 1
    if strategy == "latency" and rf == 1 and rounds == 1 and ctx["io_type"] == "io_parallel":
        row.cycles = delay / eff
        row.interval = 1
    else:
        per = max(1, math.ceil(delay / eff))
        reads = in_pixels if ctx["io_type"] == "io_stream" else rounds
        row.interval = max(1, reads * rf)
        row.cycles = float(row.interval + per)
    row.ff = round(c["ff_per_stage_bit"] * _stages(row) * n_out * res)
    row.note = f"{mode}; adder tree depth {depth}"
    if ctx["io_type"] == "io_stream":
        _stream_buffers(layer, row, c)
    return row


def _stages(row: LayerEstimate) -> int:
    """Pipeline stages of a layer: its latency beyond its input interval."""
    extra = row.cycles - row.interval if row.interval > 1 else row.cycles
    return max(1, math.ceil(extra - 1e-9))


def _stream_buffers(layer, row: LayerEstimate, c: dict) -> None:
    """Line buffer of a streamed convolution and the layer's output FIFO."""
    inp = layer.get_input_variable()
    out = layer.get_output_variable()
    a, _, _ = _bits(inp.type)
    shape = list(inp.shape)
    k_h = int(layer.get_attr("filt_height", 1) or 1)
    if layer.class_name.endswith("2D") and len(shape) == 3 and k_h > 1:
        bits = (k_h - 1) * shape[1] * shape[2] * a
        if bits > c["lutram_max_bits"] * 4:
            row.bram += math.ceil(bits / c["bram18_bits"])
        else:
            row.lut += bits // 32
    fifo_bits = _pixels(out.shape) * int(out.shape[-1]) * _bits(out.type)[0]
    if _pixels(out.shape) > 64 and fifo_bits > c["lutram_max_bits"]:
        row.bram += math.ceil(int(out.shape[-1]) * _bits(out.type)[0] / 36)


def _activation(layer, ctx: dict, c: dict) -> LayerEstimate:
    inp = layer.get_input_variable()
    a, _, _ = _bits(inp.type)
    res, _, _ = _bits(layer.get_output_variable().type)
    # io_stream: one pixel (all channels) per cycle; io_parallel: every value at once
    n = int(inp.shape[-1]) if ctx["io_type"] == "io_stream" else int(np.prod(inp.shape))
    act = str(layer.get_attr("activation", layer.class_name)).lower()
    row = LayerEstimate(layer.name, layer.class_name, f"a{a} -> r{res}", note=act)
    eff = ctx["eff_period"]
    if layer.class_name == "Softmax" or act == "softmax":
        n_in = int(inp.shape[-1])
        table_bits = int(layer.get_attr("table_size", 1024) or 1024) * 18
        lookups = n_in + 1  # n exp lookups + one inverse
        row.bram = math.ceil(lookups / 2) * math.ceil(table_bits / c["bram18_bits"])
        row.n_mult = row.n_nonzero = row.n_dsp_mult = row.dsp = n_in  # exp * 1/sum, 18 x 18
        tree = math.ceil(math.log2(max(n_in, 2)))
        row.lut = n_in * 18 * (tree + 2)
        delay = 2 * tree * _t_add(18, c) + c["t_dsp_ns"]
        row.cycles = 2 * c["rom_cycles"] + delay / eff
    elif act in _CHEAP_ACTIVATIONS:
        row.lut = n * res
        row.cycles = c["t_cmp_ns"] / eff
    else:
        table_bits = int(layer.get_attr("table_size", 1024) or 1024) * 18
        row.bram = math.ceil(n / 2) * math.ceil(table_bits / c["bram18_bits"])
        row.cycles = float(c["rom_cycles"])
    if ctx["io_type"] == "io_stream":
        row.interval = _pixels(inp.shape)
        row.cycles = float(row.interval + max(1, math.ceil(row.cycles)))
    row.ff = round(c["ff_per_stage_bit"] * n * res * _stages(row))
    return row


def _pooling(layer, ctx: dict, c: dict) -> LayerEstimate:
    inp, out = layer.get_input_variable(), layer.get_output_variable()
    a, _, _ = _bits(inp.type)
    n_in, n_out = int(np.prod(inp.shape)), int(np.prod(out.shape))
    window = max(1, n_in // max(n_out, 1))
    if ctx["io_type"] == "io_stream":
        n_out = int(out.shape[-1])  # one output pixel's comparators
    row = LayerEstimate(layer.name, layer.class_name, f"a{a}")
    depth = math.ceil(math.log2(max(window, 2)))
    row.lut = n_out * (window - 1) * a
    row.cycles = depth * c["t_cmp_ns"] / ctx["eff_period"]
    if ctx["io_type"] == "io_stream":
        row.interval = _pixels(inp.shape)
        row.cycles = float(row.interval + max(1, math.ceil(row.cycles)))
        _stream_buffers(layer, row, c)
    row.ff = int(n_out * a * _stages(row))
    return row


def _batchnorm(layer, ctx: dict, c: dict) -> LayerEstimate:
    inp = layer.get_input_variable()
    a, _, _ = _bits(inp.type)
    scale = layer.weights.get("scale")
    res, _, _ = _bits(layer.get_output_variable().type)
    n = int(np.prod(inp.shape[-1:]))
    sb = _bits(scale.type)[0] if scale is not None else 16
    ints = _weight_ints(scale) if scale is not None else np.ones(n, dtype=np.int64)
    csd = _csd_digits(ints)
    row = LayerEstimate(layer.name, layer.class_name, f"s{sb} x a{a} -> r{res}", n_mult=n)
    row.n_nonzero = int((ints != 0).sum())
    dsp_m = (csd > c["lut_const_max_csd"]) & (a > c["dsp_min_bits"])
    row.n_dsp_mult = int(dsp_m.sum())
    row.n_trivial_mult = int((csd == 1).sum())
    row.n_lut_mult = row.n_nonzero - row.n_dsp_mult - row.n_trivial_mult
    row.dsp = row.n_dsp_mult * _dsps_per_mult(a, sb, c)
    row.lut = int((np.clip(csd[~dsp_m] - 1, 0, None) * (a + sb)).sum() + n * res)
    t_mul = c["t_dsp_ns"] if row.dsp else c["t_lut_mul_ns"]
    row.cycles = (t_mul + _t_add(res, c)) / ctx["eff_period"]
    if ctx["io_type"] == "io_stream":
        row.interval = _pixels(inp.shape)
        row.cycles = float(row.interval + max(1, math.ceil(row.cycles)))
    row.ff = int(n * res * _stages(row))
    return row


def _merge(layer, ctx: dict, c: dict) -> LayerEstimate | None:
    """Element-wise Add/Subtract (one adder per element) or Multiply (one variable product per
    element) of two arrays; None for another merge (not modelled)."""
    op = str(layer.get_attr("op", "")).lower()
    if op not in ("add", "subtract", "multiply"):
        return None
    ins = [layer.get_input_variable(name) for name in layer.inputs]
    a, b = (_bits(v.type)[0] for v in ins)
    res, _, _ = _bits(layer.get_output_variable().type)
    n = int(np.prod(ins[0].shape))
    row = LayerEstimate(layer.name, layer.class_name, f"{op} a{a} b{b} -> r{res}")
    if op == "multiply":
        dsp, lut, t_op = _var_product(a, b, c)
        row.n_mult = row.n_nonzero = n
        row.n_dsp_mult, row.n_lut_mult = (n, 0) if dsp else (0, n)
        row.dsp, row.lut = n * dsp, n * lut
    else:
        t_op = _t_add(res, c)
        row.lut = round(n * res * c["lut_per_adder_bit"])
    row.cycles = t_op / ctx["eff_period"]
    if ctx["io_type"] == "io_stream":
        row.interval = _pixels(ins[0].shape)
        row.cycles = float(row.interval + max(1, math.ceil(row.cycles)))
    row.ff = int(n * res * _stages(row))
    row.note = "element-wise; structural model, no synthesis anchor"
    return row


def _stream_copy(layer, ctx: dict, c: dict) -> LayerEstimate:
    """io_stream repacking/cloning: one read and one write per pixel, no arithmetic."""
    inp = layer.get_input_variable()
    a, _, _ = _bits(inp.type)
    row = LayerEstimate(layer.name, layer.class_name, f"a{a}", note="stream copy")
    row.interval = _pixels(inp.shape) if ctx["io_type"] == "io_stream" else 1
    row.cycles = float(row.interval + 1) if ctx["io_type"] == "io_stream" else 0.0
    row.ff = int(inp.shape[-1]) * a
    return row


# --- GarNet (hls4ml nnet_garnet.h) -------------------------------------------------------------


def _garnet_type(layer, var: str, default: tuple[int, int, bool]) -> tuple[int, int, bool, bool]:
    """(width, fractional bits, signed, saturating) of a GarNet internal type; hls4ml's default
    (``garnet_templates.py``) where the config leaves it at the model default."""
    try:
        precision, name = layer.model.config.get_precision(layer, var=var)
    except Exception:  # a graph without a config: take hls4ml's default
        precision, name = None, "default_t"
    if precision is None or str(name).endswith("default_t"):
        return (*default, False)
    width, frac, signed = _bits(precision)
    return width, frac, signed, "SAT" in str(getattr(precision, "saturation_mode", "") or "")


def _const_products(ints: np.ndarray, a: int, c: dict) -> dict[str, float]:
    """Products of a variable of ``a`` bits with the constants ``ints`` (the rules of the
    constant-weight branch of :func:`_weighted`): counts, DSPs, LUTs and the multiply delay."""
    nzw = ints[ints != 0]
    out = {"nonzero": int(nzw.size), "trivial": 0, "dsp_mult": 0, "lut_mult": 0, "dsp": 0.0}
    out |= {"lut": 0.0, "t_mul": 0.0}
    if not nzw.size:
        return out
    csd, ow = _csd_digits(nzw), _odd_width(nzw)
    trivial = csd <= 1
    small = (csd <= c["lut_const_max_csd"]) | (a <= c["dsp_min_bits"])
    p_dsp = np.where(ow <= c["lut_const_border_bits"], c["lut_const_border_dsp"], 1.0)
    p_dsp[trivial | small] = 0.0
    lut_m = ~trivial & (p_dsp < 1)
    per_mult = np.array([_dsps_per_mult(a, int(e) + 1, c) for e in ow])
    out["trivial"] = int(trivial.sum())
    out["dsp_mult"] = float(p_dsp.sum())
    out["lut_mult"] = float((~trivial).sum()) - out["dsp_mult"]
    out["dsp"] = float((p_dsp * per_mult).sum())
    lut = ((1 - p_dsp[lut_m]) * (csd[lut_m] - 1) * (a + ow[lut_m])).sum()
    out["lut"] = float(lut) * c["lut_per_adder_bit"]
    if (p_dsp > 0).any():
        out["t_mul"] = c["t_dsp_ns"]
    elif lut_m.any():
        out["t_mul"] = c["t_lut_mul_ns"] * math.ceil(math.log2(max(int(csd.max()), 2)))
    return out


def _var_product(a: int, b: int, c: dict) -> tuple[int, int, float]:
    """One variable x variable product: (DSPs, LUTs, delay), the shared-multiplier rule of
    :func:`_weighted`."""
    if min(a, b) <= c["dsp_min_bits"]:
        return 0, round(a * b * c["lut_per_mult_bit2"]), c["t_lut_mul_ns"] * 2
    return _dsps_per_mult(a, b, c), 0, c["t_dsp_ns"]


def _sum_delay(n_terms: int, width: int, saturating: bool, c: dict) -> float:
    """Delay of summing ``n_terms`` values: an adder tree, or, when every ``+=`` saturates (a
    chain HLS may not reassociate), a chain of adders each followed by a compare-and-select."""
    if n_terms <= 1:
        return 0.0
    if saturating:
        return (n_terms - 1) * (_t_add(width, c) + c["t_cmp_ns"])
    return math.ceil(math.log2(n_terms)) * _t_add(width, c)


def _garnet(layer, ctx: dict, c: dict) -> LayerEstimate:
    """hls4ml's ``nnet::garnet`` (one GarNet layer, io_parallel), from ``nnet_garnet.h``.

    ``aggregate``: the ``VerticesOuter`` loop is pipelined (II 1) over R = reuse_factor blocks;
    each iteration handles U = n_vertices / R vertices fully unrolled: per vertex and aggregator a
    distance (n_in constant-weight products summed in the saturating ``distance_t``), an edge
    weight read from a 2**12-entry ``exp(-d**2)`` table (a local array per unrolled call: U x A
    ROM copies, two reads per dual-port BRAM), n_in variable products ``data * edge_weight``,
    and the sums over the U vertices (a chain when the type saturates, a tree otherwise), shifted
    by log2(U) (wires) into the running mean. Weights stay constants at any R (the indices over
    aggregators/features are unrolled; only vertices are time-shared), so R cuts the number of
    copies by U, not to ``ceil(n / R)`` shared multipliers. ``set_output`` (collapse mean) runs
    once: per output and aggregator n_in + 1 constant products summed in ``aggr_t``, times the
    mean edge weight, summed over aggregators; the bias normalisation by the vertex count is a
    small constant product and a shift. Without collapse, ``distribute`` loops over the R blocks
    again (U x n_out x A variable products per iteration). Latency: R - 1 + the aggregate
    iteration depth + the output stage; II: R cycles. Structural only: there is NO published
    GarNet synthesis result to check it against (arXiv:2008.03601 gives under 1 us for a
    GarNetStack on 128 x 4 at R 32 and 5 ns; ``tests/hls/test_estimate_garnet.py`` prints ours).
    Caveats: Vivado may put a table copy in LUTs rather than BRAM, and the io_parallel top-level
    PIPELINE may unroll the vertex loop (then R has no effect); GarNetStack is not modelled.
    """
    n_v = int(layer.get_attr("n_vertices"))
    n_in = int(layer.get_attr("n_in_features"))
    n_agg = int(layer.get_attr("n_aggregators"))
    n_out = int(layer.get_attr("n_out_features"))
    rf = max(1, int(layer.get_attr("reuse_factor", 1) or 1))
    log2_rf = int(math.log2(rf))
    u = max(1, n_v // rf)  # vertices per pipeline iteration
    collapse = str(layer.get_attr("collapse", "") or "") in ("mean", "max")
    a, _, _ = _bits(layer.get_input_variable().type)
    res, _, _ = _bits(layer.get_output_variable().type)
    res_sat = "SAT" in str(
        getattr(layer.get_output_variable().type.precision, "saturation_mode", "")
    )
    aggr_int = max(log2_rf, int(math.log2(max(n_v, 1))) - log2_rf) + 3
    ew, _, _, _ = _garnet_type(layer, "edge_weight", (10, 10, False))
    ewa, _, _, ewa_sat = _garnet_type(layer, "edge_weight_aggr", (aggr_int + 7, 10, False))
    aggr, _, _, aggr_sat = _garnet_type(layer, "aggr", (aggr_int + 10, 10, True))
    dist_w, dist_sat, table_entries = 12, True, 2**12  # distance_t: fixed by hls4ml
    eff = ctx["eff_period"]
    row = LayerEstimate(
        layer.name, layer.class_name, f"in{a} ew{ew} aggr{aggr} -> r{res}", interval=rf
    )

    def tally(prod: dict[str, float], copies: int) -> None:
        row.n_mult += int(prod.get("n", 0)) * copies
        row.n_nonzero += int(prod["nonzero"]) * copies
        row.n_trivial_mult += int(prod["trivial"]) * copies
        row.n_dsp_mult += round(prod["dsp_mult"] * copies)
        row.n_lut_mult += round(prod["lut_mult"] * copies)
        row.dsp += round(prod["dsp"] * copies)
        row.lut += round(prod["lut"] * copies)

    def weights(name: str) -> np.ndarray:
        w = layer.weights.get(name)
        return _weight_ints(w).ravel() if w is not None else np.zeros(0, dtype=np.int64)

    def add_vars(n: int, ab: tuple[int, int]) -> float:
        dsp, lut, t = _var_product(*ab, c)
        row.n_mult += n
        row.n_nonzero += n
        row.dsp += n * dsp
        row.lut += n * lut
        if dsp:
            row.n_dsp_mult += n
        else:
            row.n_lut_mult += n
        return t

    def adders(n: int, width: int) -> None:
        row.lut += round(n * width * c["lut_per_adder_bit"])

    # aggregate: one pipeline iteration = U vertices, unrolled
    dist = _const_products(weights("aggregator_distance_weights"), a, c)
    tally({**dist, "n": n_agg * n_in}, u)
    adders(u * n_agg * n_in, dist_w)
    t_feat = add_vars(u * n_agg * n_in, (a, ew))
    adders(u * n_agg * n_in, aggr)  # weighted feature sums over the block's vertices
    adders(u * n_agg, ewa)  # edge weight sums
    adders(n_agg * (n_in + 1), aggr)  # running means over the R blocks
    t_pre = dist["t_mul"] + _sum_delay(n_in + 1, dist_w, dist_sat, c)
    t_sum = (
        max(t_feat + _sum_delay(u, aggr, aggr_sat, c), _sum_delay(u, ewa, ewa_sat, c))
        + _t_add(max(aggr, ewa), c)
        + (c["t_cmp_ns"] if aggr_sat else 0.0)
    )
    depth = max(1, math.ceil(t_pre / eff)) + c["rom_cycles"] + max(1, math.ceil(t_sum / eff))
    cycles = (rf - 1) + depth
    tables = math.ceil(u * n_agg / 2)  # dual-port ROM copies of the edge-weight table
    table_bits = table_entries * ew
    if table_bits > c["lutram_max_bits"]:
        row.bram += tables * math.ceil(table_bits / c["bram18_bits"])
    else:
        row.lut += tables * math.ceil(table_bits / 64)
    # output transform: input-transform weights x aggregated means, x mean edge weights
    itw = _const_products(weights("input_transform_weights"), aggr, c)
    itb = _const_products(weights("input_transform_biases"), ew, c)
    tally({**itw, "n": n_out * n_agg * n_in}, 1)
    tally({**itb, "n": n_out * n_agg}, 1)
    adders(n_out * n_agg * n_in, aggr)
    t_base = max(itw["t_mul"], itb["t_mul"]) + _sum_delay(n_in + 1, aggr, aggr_sat, c)
    if collapse:
        t_edge = add_vars(n_out * n_agg, (ew, aggr))
        adders(n_out * n_agg, res)
        row.lut += n_out * aggr  # bias x vertex count (a small constant product) and shift
        t_out = t_base + t_edge + _sum_delay(n_agg + 1, res, res_sat, c)
        cycles += max(1, math.ceil(t_out / eff))
        mode = f"collapse {layer.get_attr('collapse')}"
    else:  # distribute: output base once, then R blocks of U vertices again
        t_edge = add_vars(u * n_out * n_agg, (ew, aggr))
        adders(u * n_out * n_agg, res)
        row.ff += n_v * n_agg * ew  # edge weights kept for the distribute loop
        t_dist = t_edge + _sum_delay(n_agg + 1, res, res_sat, c)
        cycles += max(1, math.ceil(t_base / eff)) + (rf - 1) + max(1, math.ceil(t_dist / eff))
        mode = "no collapse"
    row.cycles = float(cycles)
    # registers: the block's inputs and the running sums across the aggregate pipeline
    row.ff += round(c["ff_per_stage_bit"] * depth * (u * n_in * a + n_agg * (n_in + 1) * aggr))
    row.note = (
        f"{mode}; {rf} blocks of {u} vertices (pipelined, II 1); {u * n_agg} edge-weight table "
        f"copies; iteration depth {depth} cycles; structural model, no synthesis anchor"
    )
    return row


def estimate_model(hls_model, calibration: dict[str, Any] | None = None) -> Estimate:
    """Estimate latency (cycles, ns), II and DSP/LUT/FF/BRAM of a converted hls4ml ModelGraph.

    Needs only the graph (after ``convert_from_keras_model``, before ``write()``).
    """
    c = (calibration or load_calibration())["model"]
    clock = float(hls_model.config.get_config_value("ClockPeriod") or 5.0)
    io_type = str(hls_model.config.get_config_value("IOType") or "io_parallel")
    ctx = {"eff_period": clock * (1 - c["clock_uncertainty"]), "io_type": io_type}
    rows: list[LayerEstimate] = []
    for layer in hls_model.get_layers():
        cls = layer.class_name
        if cls in _NO_HARDWARE:
            continue
        if cls in _WEIGHTED and "weight" in layer.weights:
            rows.append(_weighted(layer, ctx, c))
        elif cls in _POOL:
            rows.append(_pooling(layer, ctx, c))
        elif cls in ("BatchNormalization", "ApplyAlpha"):  # ApplyAlpha: the input scaling
            rows.append(_batchnorm(layer, ctx, c))
        elif cls in _ACT or cls == "Softmax":
            rows.append(_activation(layer, ctx, c))
        elif cls in _STREAM_COPY:
            rows.append(_stream_copy(layer, ctx, c))
        elif cls == "GarNet" and io_type == "io_parallel":
            rows.append(_garnet(layer, ctx, c))
        elif cls == "Merge" and (merged := _merge(layer, ctx, c)) is not None:
            rows.append(merged)
        else:
            log.warning("estimate: layer %s (%s) is not modelled", layer.name, cls)
            rows.append(LayerEstimate(layer.name, cls, "-", note="not modelled"))
    if io_type == "io_stream":
        ii = max((r.interval for r in rows), default=1)
        depth = sum(max(0, math.ceil(r.cycles) - r.interval) for r in rows)
        latency = ii + depth + c["io_register_cycles"]
    else:
        ii = max((r.interval for r in rows), default=1)
        latency = math.ceil(sum(r.cycles for r in rows) - 1e-9) + c["io_register_cycles"]
    for r in rows:
        r.cycles = round(r.cycles, 2)
        r.latency_ns = round(r.cycles * clock, 2)
    est = Estimate(
        clock_ns=clock,
        io_type=io_type,
        latency_cycles=int(latency),
        latency_ns=round(latency * clock, 2),
        ii_cycles=int(ii),
        ii_ns=round(ii * clock, 2),
        dsp=sum(r.dsp for r in rows),
        lut=sum(r.lut for r in rows),
        ff=sum(r.ff for r in rows),
        bram=sum(r.bram for r in rows),
        layers=rows,
        part=hls_model.config.get_config_value("Part"),
    )
    if any(r.class_name == "GarNet" for r in rows):
        est.confidence += (
            "; the GarNet layer is a structural model of nnet_garnet.h with NO published "
            "synthesis result to check it against"
        )
    return est
