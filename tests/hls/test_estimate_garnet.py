"""The latency/resource estimate of hls4ml's GarNet layer (``hls.estimate._garnet``).

The GarNet tagger (QGarNet + Dense head, untrained seeded weights) is converted as
``hls.garnet_convert.convert_garnet`` does, without compiling: the estimate needs only the graph.
There is no published GarNet synthesis result to check the model against; the arXiv:2008.03601
comparison (GarNetStack on 128 hits x 4 features, reuse factor 32, 5 ns, under 1 us) is printed
as a sanity check, not asserted. Run with ``-s`` for the tables.
"""

from __future__ import annotations

from itertools import pairwise

import pytest
from nanotrig.hls.estimate import Estimate, estimate_model

pytestmark = pytest.mark.filterwarnings("ignore:The `keras.initializers.serialize:UserWarning")

_CONVERTED: dict[tuple[int, int], Estimate] = {}


def _estimate(tmp_path_factory, n_vertices: int, reuse_factor: int) -> Estimate:
    """Estimate of the GarNet tagger up to its logits (GarNet, fc1, relu1, output), cached."""
    key = (n_vertices, reuse_factor)
    if key not in _CONVERTED:
        import hls4ml
        from nanotrig.hls._capture import captured_stdout
        from nanotrig.hls.garnet_convert import garnet_hls_config
        from nanotrig.models.garnet import build_garnet_tagger
        from nanotrig.models.train import seed_everything
        from nanotrig.quantize.garnet_stage import (
            DEFAULT_GARNET_BITS,
            build_qgarnet_tagger,
            round_head_weights,
        )
        from tensorflow import keras

        seed_everything(5)  # same GarNet weights at every vertex count (shapes do not depend on it)
        qmodel = build_qgarnet_tagger(build_garnet_tagger(n_vertices, 4, 5), DEFAULT_GARNET_BITS)
        round_head_weights(qmodel)
        sub = keras.Model(qmodel.inputs, qmodel.get_layer("output").output)
        out = tmp_path_factory.mktemp(f"garnet_{n_vertices}_{reuse_factor}")
        with captured_stdout():
            hls_model = hls4ml.converters.convert_from_keras_model(
                sub,
                hls_config=garnet_hls_config(sub, reuse_factor=reuse_factor),
                backend="Vitis",
                io_type="io_parallel",
                output_dir=str(out / "hls"),
                project_name="garnet",
            )
        _CONVERTED[key] = estimate_model(hls_model)
    return _CONVERTED[key]


def _garnet_row(est: Estimate):
    (row,) = [r for r in est.layers if r.class_name == "GarNet"]
    return row


def _table(title: str, ests: dict[str, Estimate]) -> None:
    print(f"\n{title}")
    print(
        f"{'config':>14} {'layer':>7} {'cycles':>7} {'ns':>7} {'II':>4} {'DSP':>5} {'LUT':>7} "
        f"{'FF':>6} {'BRAM':>5} {'mults D/L':>10}"
    )
    for label, est in ests.items():
        for r in est.layers:
            print(
                f"{label:>14} {r.name:>7} {r.cycles:>7.2f} {r.latency_ns:>7.1f} {r.interval:>4} "
                f"{r.dsp:>5} {r.lut:>7} {r.ff:>6} {r.bram:>5} "
                f"{r.n_dsp_mult:>4}/{r.n_lut_mult:<5}"
            )
        print(
            f"{label:>14} {'total':>7} {est.latency_cycles:>7} {est.latency_ns:>7.1f} "
            f"{est.ii_cycles:>4} {est.dsp:>5} {est.lut:>7} {est.ff:>6} {est.bram:>5}"
        )


def test_shipped_tagger_gets_a_row_per_layer(tmp_path_factory):
    """configs/jet_garnet.yml: 32 vertices, reuse factor 1."""
    est = _estimate(tmp_path_factory, 32, 1)
    _table("GarNet tagger, 32 vertices x 4 features, reuse factor 1, 5 ns", {"V32 R1": est})
    assert [r.name for r in est.layers] == ["garnet", "fc1", "relu1", "output"]
    row = _garnet_row(est)
    assert "not modelled" not in row.note and row.cycles > 0 and row.latency_ns > 0
    assert row.interval == 1 and row.n_mult > 0 and row.dsp + row.lut > 0 and row.bram > 0
    assert est.latency_ns > 0 and est.ii_cycles == 1
    assert "GarNet" in est.confidence and "NO published" in est.confidence
    assert est.to_dict()["layers"][0]["class_name"] == "GarNet"


def test_reuse_factor_trades_latency_for_multipliers(tmp_path_factory):
    """Latency and II of the tagger do not drop, multipliers do not grow. The GarNet row alone
    may get faster from R 1 to R 4: its ``aggr_t`` saturates, so the sum over the U vertices of a
    block is a chain (32 adders at R 1, 8 at R 4) that costs more than the 3 extra iterations."""
    ests = {f"V32 R{rf}": _estimate(tmp_path_factory, 32, rf) for rf in (1, 4, 32)}
    _table("GarNet tagger, 32 vertices, reuse factor 1 -> 4 -> 32", ests)
    seq = list(ests.values())
    for lo, hi in pairwise(seq):
        g_lo, g_hi = _garnet_row(lo), _garnet_row(hi)
        assert g_hi.interval >= g_lo.interval
        assert hi.latency_cycles >= lo.latency_cycles and hi.ii_cycles >= lo.ii_cycles
        assert g_hi.dsp <= g_lo.dsp and g_hi.lut <= g_lo.lut and g_hi.bram <= g_lo.bram
        assert g_hi.n_dsp_mult + g_hi.n_lut_mult <= g_lo.n_dsp_mult + g_lo.n_lut_mult
        assert hi.dsp <= lo.dsp
    assert [_garnet_row(e).interval for e in seq] == [1, 4, 32]
    assert _garnet_row(seq[2]).cycles > _garnet_row(seq[1]).cycles  # 4 -> 32 blocks


def test_more_vertices_cost_more(tmp_path_factory):
    ests = {f"V{nv} R1": _estimate(tmp_path_factory, nv, 1) for nv in (16, 32, 64)}
    _table("GarNet tagger, 16 -> 32 -> 64 vertices, reuse factor 1", ests)
    rows = [_garnet_row(e) for e in ests.values()]
    for lo, hi in pairwise(rows):
        assert hi.cycles > lo.cycles
        assert hi.dsp + hi.lut > lo.dsp + lo.lut and hi.bram > lo.bram and hi.n_mult > lo.n_mult


def test_arxiv_2008_03601_like_configuration_is_printed(tmp_path_factory):
    """128 vertices x 4 features, reuse factor 32, 5 ns: arXiv:2008.03601 reports under 1 us for
    its GarNetStack (a different, deeper layer and no Dense head like ours): printed only."""
    est = _estimate(tmp_path_factory, 128, 32)
    _table("arXiv:2008.03601-like: 128 vertices x 4, reuse factor 32, 5 ns", {"V128 R32": est})
    row = _garnet_row(est)
    print(
        f"GarNet layer alone: {row.cycles:g} cycles = {row.latency_ns:g} ns, II {row.interval}; "
        f"whole tagger {est.latency_ns:g} ns (paper: GarNetStack under 1000 ns; NOT asserted)"
    )
    assert row.interval == 32 and row.latency_ns > 0
