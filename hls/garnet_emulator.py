"""A numpy fixed-point emulator of hls4ml's GarNet kernel (``nnet_garnet.h``, ``collapse="mean"``).

It mirrors, operation by operation, ``nnet::garnet`` for ``output_collapse == collapse_mean`` and
``mean_by_nvert == false`` in hls4ml 1.3.0 (``templates/vivado/nnet_utils/nnet_garnet.h``), on
integers holding the raw bits of every ``ap_fixed`` value:

* ``aggregate`` (l. 406-437): for each vertex below the vertex count, the distance to each
  aggregator in ``distance_t = ap_fixed<12,4,AP_TRN,AP_SAT>`` (bias, then each product rounded
  into ``distance_t`` and added with saturation, l. 305-316); the edge weight from the 4096-entry
  table indexed by the distance's raw bits (l. 11-29, 44-52: ``exp(-d*d)`` in double, truncated to
  ``edge_weight_t``, entry 0 a saturated 1); edge weights summed in ``edge_weight_aggr_t``;
  ``data * edge_weight`` rounded into the *input* type and summed in ``aggr_t`` (l. 323-330); each
  block of ``n_vertices / reuse_factor`` vertices shifted right by log2 of the block size and added
  (l. 134-150), the total shifted by log2(reuse_factor) into ``edge_weight_t`` / ``aggr_t``
  (l. 173-190);
* ``OutputBiasNormalizer`` (l. 223-240): the output bias in ``aggr_t``, times the vertex count,
  shifted right by log2(n_vertices), back in the bias type;
* ``set_output`` (l. 469-487) with ``compute_output_base_core`` (l. 337-354): per output feature
  and aggregator, ``aggr_t`` sums of the mean edge weight times the contracted input-transform
  bias and the weighted feature means times the contracted kernel, accumulated in the output type.

Right shifts of ``ap_fixed`` keep the type and drop bits (floor); every assignment and ``+=``
rounds and overflows as the destination type says. Weights are read from the hls4ml layer with
the decimal text hls4ml writes into the project and rounded as the C++ compiler does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from nanotrig.hls.fixed_type import FixedType

from nanotrig.errors import ConversionError, DataError

__all__ = [
    "DISTANCE_T",
    "FixedType",
    "GarnetEmulator",
    "distance_saturated_events",
    "edge_weight_table",
    "garnet_type",
]


def garnet_type(t: FixedType, what: str) -> FixedType:
    """``t`` if the emulator models it (the modes and widths checked against the C-simulation:
    rounding ``TRN``/``RND``, overflow ``WRAP``/``SAT``, widths 1..48, so that products of two
    values stay within int64); :class:`ConversionError` naming ``what`` otherwise."""
    if t.rounding not in ("TRN", "RND") or t.overflow not in ("WRAP", "SAT"):
        raise ConversionError(
            f"the GarNet emulator handles AP_TRN/AP_RND and AP_WRAP/AP_SAT, not {t.cpp()} "
            f"({what}): set those modes in the GarNet precisions"
        )
    if not 0 < t.width <= 48:
        raise ConversionError(
            f"the GarNet emulator handles widths 1..48, not {t.width} ({what}): set a narrower "
            "precision in the GarNet config"
        )
    return t


#: ``nnet_garnet`` hard-codes the distance type (``garnet_templates.py``: width 12, 4 integer bits).
DISTANCE_T = FixedType(12, 4, True, "TRN", "SAT")


def edge_weight_table(edge_weight_t: FixedType, distance_t: FixedType = DISTANCE_T) -> np.ndarray:
    """Raw ``edge_weight_t`` entries of ``initialize_edge_weights_table`` (``nnet_garnet.h``
    l. 11-29): entry i is exp(-d*d) for the distance whose raw bits are i, computed in double
    (hls4ml's ``hls::exp`` stub calls ``std::exp``), truncated to ``ap_fixed<25,9>`` and then to
    ``edge_weight_t``; entry 0 is 1 saturated to ``ap_ufixed<W,0>``."""
    if edge_weight_t.signed or edge_weight_t.integer != 0:
        raise ConversionError(
            f"edge_weight_t must be ap_ufixed<W,0> (nnet_garnet.h sets entry 0 to a saturated 1 of "
            f"that type), got {edge_weight_t.cpp()}"
        )
    size = 1 << distance_t.width
    out = np.empty(size, dtype=np.int64)
    out[0] = (1 << edge_weight_t.width) - 1
    prod_frac = 2 * distance_t.frac  # -d*d: ap_fixed<13,5> * ap_fixed<12,4> = ap_fixed<25,9>
    for i in range(1, size):
        raw = i - size if i >= size // 2 else i
        e = math.exp(-(raw * raw) / float(1 << prod_frac))
        e_prod = math.floor(e * (1 << prod_frac))  # (T) std::exp(...), T = ap_fixed<25,9>, AP_TRN
        out[i] = edge_weight_t.cast(np.int64(e_prod), prod_frac)
    return out


def distance_saturated_events(layer, x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """(events,) bool: jets where the firmware's saturating distance sum changes an edge weight.

    ``nnet_garnet.h`` (l. 307-316) adds the bias and each feature-times-weight term in
    ``distance_t`` with ``AP_SAT`` (range [-8, 8)): a product or partial sum past the range is
    clipped before later terms can cancel it, which the Keras layer never does. Computed in
    float64 from the Keras layer's ``S`` weights; flagged where, for a vertex below the count, the
    clipped sum's ``exp(-d*d)`` differs from the unclipped one by more than 2**-10."""
    w = {
        v.name.split("/")[-1].split(":")[0]: np.asarray(v.numpy(), np.float64)
        for v in layer.weights
    }
    kernel, bias = w["S_kernel"], w["S_bias"]
    x = np.asarray(x, dtype=np.float64)
    lo, hi = (float(v) for v in DISTANCE_T.to_float(np.array([DISTANCE_T.lo, DISTANCE_T.hi])))
    clipped = np.broadcast_to(bias, (*x.shape[:2], bias.size)).copy()
    for k in range(x.shape[2]):
        clipped = np.clip(clipped + np.clip(x[..., k : k + 1] * kernel[k], lo, hi), lo, hi)
    exact = x @ kernel + bias
    live = np.arange(x.shape[1])[None, :] < np.asarray(n).reshape(-1, 1)
    changed = np.abs(np.exp(-(clipped**2)) - np.exp(-(exact**2))) > 2.0**-10
    return (changed & live[..., None]).any(axis=(1, 2))


def _add(a: np.ndarray, fa: int, b: np.ndarray, fb: int, t: FixedType) -> np.ndarray:
    """``T a; a += b`` on raw integers: the exact sum, then rounded and overflowed into ``t``."""
    f = max(fa, fb)
    return t.cast((a << (f - fa)) + (b << (f - fb)), f)


def _weight(node, name: str) -> tuple[np.ndarray, FixedType]:
    """Raw values and type of a GarNet weight as the C++ sees them (decimal text, then rounding)."""
    w = node.weights[name]
    t = FixedType.from_precision(w.type.precision)
    text = np.array([float(w.precision_fmt.format(v)) for v in np.asarray(w.data).ravel()])
    return t.quantize(text), t


@dataclass
class GarnetEmulator:
    """Bit-level model of one converted GarNet layer (``collapse="mean"``, not ``mean_by_nvert``).

    Build it with :meth:`from_hls_layer`; ``predict(x, n)`` takes what the hls4ml model takes
    (constituents (events, n_vertices, n_in) and vertex counts (events,) or (events, 1)) and
    returns the layer output as doubles, ``predict_raw`` its raw integers in ``output_t``."""

    n_vertices: int
    n_in: int
    n_aggregators: int
    n_out: int
    reuse_factor: int
    input_t: FixedType
    nvtx_t: FixedType
    output_t: FixedType
    edge_weight_t: FixedType
    edge_weight_aggr_t: FixedType
    aggr_t: FixedType
    weights: dict[str, tuple[np.ndarray, FixedType]]
    #: hls4ml hard-codes this; other values only model what a wider distance would give.
    distance_t: FixedType = DISTANCE_T

    def __post_init__(self) -> None:
        types = {
            f: getattr(self, f)
            for f in (
                "input_t",
                "nvtx_t",
                "output_t",
                "edge_weight_t",
                "edge_weight_aggr_t",
                "aggr_t",
                "distance_t",
            )
        }
        types.update({name: t for name, (_, t) in self.weights.items()})
        for what, t in types.items():
            garnet_type(t, what)
        for what, value in (("n_vertices", self.n_vertices), ("reuse_factor", self.reuse_factor)):
            if value < 1 or value & (value - 1):
                raise ConversionError(f"GarNet {what} must be a power of two, got {value}")
        if self.nvtx_t.frac != 0:
            raise ConversionError(
                f"the vertex-count input must have an integer type (ap_uint<k>), got "
                f"{self.nvtx_t.cpp()}: set its Precision in the hls4ml config"
            )
        self.table = edge_weight_table(self.edge_weight_t, self.distance_t)

    @classmethod
    def from_hls_layer(cls, hls_model, layer_name: str = "garnet") -> GarnetEmulator:
        """Read sizes, types and weights of ``layer_name`` from a converted hls4ml model."""
        node = hls_model.graph[layer_name]
        if node.class_name != "GarNet" or node.get_attr("collapse") != "mean":
            raise ConversionError(
                f"layer {layer_name!r} is {node.class_name}, collapse "
                f"{node.get_attr('collapse')!r}: the emulator covers GarNet with collapse='mean'"
            )
        if node.get_attr("mean_by_nvert"):
            raise ConversionError("the emulator covers mean_by_nvert=False only")
        x_var = node.get_input_variable(node.inputs[0])
        n_var = node.get_input_variable(node.inputs[1])

        def internal(var: str) -> FixedType:
            precision, _ = hls_model.config.get_precision(node, var=var)
            return FixedType.from_precision(precision)

        names = (
            "input_transform_weights",
            "input_transform_biases",
            "aggregator_distance_weights",
            "aggregator_distance_biases",
            "output_transform_biases",
        )
        return cls(
            n_vertices=int(node.get_attr("n_vertices")),
            n_in=int(node.get_attr("n_in_features")),
            n_aggregators=int(node.get_attr("n_aggregators")),
            n_out=int(node.get_attr("n_out_features")),
            reuse_factor=int(node.get_attr("reuse_factor")),
            input_t=FixedType.from_precision(x_var.type.precision),
            nvtx_t=FixedType.from_precision(n_var.type.precision),
            output_t=FixedType.from_precision(node.get_output_variable().type.precision),
            edge_weight_t=internal("edge_weight"),
            edge_weight_aggr_t=internal("edge_weight_aggr"),
            aggr_t=internal("aggr"),
            weights={name: _weight(node, name) for name in names},
        )

    def predict(self, x: np.ndarray, n: np.ndarray) -> np.ndarray:
        return self.output_t.to_float(self.predict_raw(x, n))

    def predict_raw(self, x: np.ndarray, n: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 3 or x.shape[1:] != (self.n_vertices, self.n_in):
            raise DataError(
                f"GarNet input must be (events, {self.n_vertices}, {self.n_in}), got {x.shape}"
            )
        xr = self.input_t.quantize(x)  # nnet::convert_data: input_t(float)
        nv = self.nvtx_t.quantize(np.asarray(n, dtype=np.float64).reshape(-1))
        ew_mean, wf_mean = self._aggregate(xr, nv)
        return self._set_output(ew_mean, wf_mean, nv)

    def _aggregate(self, xr: np.ndarray, nv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ev = xr.shape[0]
        dist_t, ew_t, ewa_t, aggr_t, in_t = (
            self.distance_t, self.edge_weight_t, self.edge_weight_aggr_t, self.aggr_t, self.input_t
        )  # fmt: skip
        adw, adw_t = self.weights["aggregator_distance_weights"]
        adb, adb_t = self.weights["aggregator_distance_biases"]
        adw = adw.reshape(self.n_aggregators, self.n_in)
        log2_rf = self.reuse_factor.bit_length() - 1
        unroll = self.n_vertices >> log2_rf
        log2_unroll = unroll.bit_length() - 1
        ewa_acc = np.zeros((ev, self.n_aggregators), dtype=np.int64)
        wfm_acc = np.zeros((ev, self.n_aggregators, self.n_in), dtype=np.int64)
        bias0 = dist_t.cast(adb, adb_t.frac)  # distance_t distance = biases[ia]
        for block in range(self.reuse_factor):
            ewa_loc = np.zeros_like(ewa_acc)
            wfm_loc = np.zeros_like(wfm_acc)
            for iv in range(block * unroll, (block + 1) * unroll):
                live = (iv < nv)[:, None]  # the loops break at iv == nvtx
                data = xr[:, iv, :]  # (ev, n_in), in_t raw
                dist = np.broadcast_to(bias0, (ev, self.n_aggregators)).copy()
                for ix in range(self.n_in):
                    incr = dist_t.cast(
                        data[:, ix : ix + 1] * adw[None, :, ix], in_t.frac + adw_t.frac
                    )
                    dist = dist_t.cast(dist + incr, dist_t.frac)
                ew = self.table[dist & ((1 << dist_t.width) - 1)]  # (ev, n_agg), ew_t raw
                ew = np.where(live, ew, 0)
                ewa_loc = _add(ewa_loc, ewa_t.frac, ew, ew_t.frac, ewa_t)
                incr = in_t.cast(data[:, None, :] * ew[:, :, None], in_t.frac + ew_t.frac)
                wfm_loc = _add(wfm_loc, aggr_t.frac, incr, in_t.frac, aggr_t)
            ewa_acc = ewa_t.cast(ewa_acc + (ewa_loc >> log2_unroll), ewa_t.frac)
            wfm_acc = aggr_t.cast(wfm_acc + (wfm_loc >> log2_unroll), aggr_t.frac)
        ew_mean = ew_t.cast(ewa_acc >> log2_rf, ewa_t.frac)
        wf_mean = wfm_acc >> log2_rf
        return ew_mean, wf_mean

    def _set_output(self, ew_mean: np.ndarray, wf_mean: np.ndarray, nv: np.ndarray) -> np.ndarray:
        aggr_t, ew_t, out_t = self.aggr_t, self.edge_weight_t, self.output_t
        itw, itw_t = self.weights["input_transform_weights"]
        itb, itb_t = self.weights["input_transform_biases"]
        otb, otb_t = self.weights["output_transform_biases"]
        itw = itw.reshape(self.n_out, self.n_aggregators, self.n_in)
        itb = itb.reshape(self.n_out, self.n_aggregators)
        log2_nv = self.n_vertices.bit_length() - 1
        # OutputBiasNormalizer: aggr_t bias = b; bias *= nvtx; biases_t(bias >> log2(n_vertices))
        bias = aggr_t.cast(otb, otb_t.frac)[None, :]
        bias = aggr_t.cast(bias * nv[:, None], aggr_t.frac)
        out_bias = otb_t.cast(bias >> log2_nv, aggr_t.frac)
        acc = out_t.cast(out_bias, otb_t.frac)  # res_T acc = output_biases[io]
        for ia in range(self.n_aggregators):
            ewm = ew_mean[:, ia : ia + 1]  # (ev, 1)
            aggr = aggr_t.cast(ewm * itb[None, :, ia], ew_t.frac + itb_t.frac)  # (ev, n_out)
            for ix in range(self.n_in):
                prod_f = aggr_t.frac + itw_t.frac
                prod = wf_mean[:, ia, ix : ix + 1] * itw[None, :, ia, ix]
                aggr = aggr_t.cast((aggr << itw_t.frac) + prod, prod_f)
            acc = _add(acc, out_t.frac, ewm * aggr, ew_t.frac + aggr_t.frac, out_t)
        return acc
