"""The GarNet fixed-point emulator without g++: ap_fixed semantics, the exp table, Keras agreement.

The bit-for-bit comparison with the C-simulation is in firmware_tests/test_garnet_csim.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from nanotrig.hls.fixed_type import FixedType
from nanotrig.hls.garnet_emulator import DISTANCE_T, edge_weight_table, garnet_type

from nanotrig.errors import ConversionError


def test_the_emulator_refuses_types_it_was_not_checked_on():
    assert garnet_type(DISTANCE_T, "distance_t") == DISTANCE_T
    with pytest.raises(ConversionError, match=r"AP_TRN/AP_RND.*aggr_t"):
        garnet_type(FixedType.parse("ap_fixed<8,3,AP_RND_CONV,AP_SAT>"), "aggr_t")
    with pytest.raises(ConversionError, match=r"widths 1\.\.48"):
        garnet_type(FixedType(50, 10), "aggr_t")


def test_rounding_and_overflow_like_ap_fixed():
    rnd_sat = FixedType(6, 3, True, "RND", "SAT")  # steps of 1/8, range [-4, 3.875]
    assert rnd_sat.to_float(rnd_sat.quantize([1.0625, -1.0625, 5.0, -5.0])).tolist() == [
        1.125, -1.0, 3.875, -4.0,  # half rounds up (towards +inf), then saturation
    ]  # fmt: skip
    trn_wrap = FixedType(6, 3)
    assert trn_wrap.to_float(trn_wrap.quantize([1.1, -1.1, 4.0, -4.125])).tolist() == [
        1.0, -1.125, -4.0, 3.875,  # floor, then two's-complement wrap
    ]  # fmt: skip
    assert FixedType(4, 4).cast(np.array([-1, 1]), 1).tolist() == [-1, 0]  # >> floors
    assert FixedType(4, 4, False, "TRN", "SAT").cast(np.array([-3]), 0).tolist() == [0]


def test_edge_weight_table_entries():
    table = edge_weight_table(FixedType(10, 0, signed=False))
    assert table.shape == (4096,) and table[0] == 1023  # a saturated 1
    for raw in (1, 100, 256, 700, -256, -2048):  # distance = raw / 256
        want = math.floor(math.exp(-((raw / 256) ** 2)) * 1024)
        assert table[raw % 4096] == want, raw
    with pytest.raises(ConversionError, match="ap_ufixed<W,0>"):
        edge_weight_table(FixedType(10, 1, signed=False))


def test_emulator_matches_float_layer_within_tolerance(tmp_path):
    """A random-weight GarNet converted (not compiled): emulator vs Keras within 5 %."""
    import hls4ml
    from hls4ml.contrib.garnet import GarNet
    from nanotrig.hls.garnet_convert import garnet_hls_config, validate_garnet_inputs
    from nanotrig.hls.garnet_emulator import GarnetEmulator
    from tensorflow import keras

    layer = GarNet(4, 8, 8, simplified=True, collapse="mean", input_format="xn",
                   output_activation=None, name="garnet")  # fmt: skip
    x_in, n_in = keras.Input((32, 4), name="constituents"), keras.Input((1,), name="n_vertices")
    model = keras.Model([x_in, n_in], layer([x_in, n_in]))
    rng = np.random.default_rng(2)
    layer.set_weights([rng.uniform(-0.5, 0.5, w.shape) for w in layer.get_weights()])
    hls_model = hls4ml.converters.convert_from_keras_model(
        model, hls_config=garnet_hls_config(model), backend="Vitis", output_dir=str(tmp_path)
    )
    emulator = GarnetEmulator.from_hls_layer(hls_model)
    n = rng.integers(0, 33, size=(300, 1)).astype(np.float64)
    x = rng.normal(0.0, 2.0, size=(300, 32, 4)) * (np.arange(32)[None, :, None] < n[:, :, None])
    x, n = validate_garnet_inputs(x, n, 32, 4)
    emu = emulator.predict(x, n)
    ref = model.predict([x, n], verbose=0)
    assert np.abs(emu - ref).max() <= 0.05 * np.abs(ref).max()
    np.testing.assert_array_equal(emu[n[:, 0] == 0], 0.0)


def test_convert_error_is_one_line(tmp_path):
    """hls4ml's bare Exception (reuse factor not dividing the vertices) becomes ConversionError."""
    from nanotrig.hls.garnet_convert import convert_garnet
    from nanotrig.models.garnet import build_garnet_tagger

    with pytest.raises(ConversionError, match="divisible by the reuse factor") as info:
        convert_garnet(build_garnet_tagger(32, 4, 5), tmp_path, reuse_factor=3)
    assert "\n" not in str(info.value)


def test_distance_saturated_events():
    """+10 then -9.5: firmware clips them to 8 - 2**-8 and -8 (sum ~0), Keras sums to 0.5."""
    from hls4ml.contrib.garnet import GarNet
    from nanotrig.hls.garnet_emulator import distance_saturated_events
    from tensorflow import keras

    layer = GarNet(2, 2, 2, simplified=True, collapse="mean", input_format="xn",
                   output_activation=None, name="garnet")  # fmt: skip
    x_in, n_in = keras.Input((4, 2)), keras.Input((1,))
    keras.Model([x_in, n_in], layer([x_in, n_in]))
    weights = layer.get_weights()  # FLR kernel, bias, S kernel, bias, Fout kernel, bias
    weights[2] = np.array([[10.0, 0.1], [-9.5, 0.1]])
    weights[3] = np.zeros(2)
    layer.set_weights(weights)
    x = np.zeros((4, 4, 2))
    x[0, 0] = x[1, 0] = x[3, 1] = [1.0, 1.0]  # event 1 has no live vertex, event 3 one past n
    x[2, 0] = [0.1, 0.1]
    n = np.array([4, 0, 4, 1])
    assert distance_saturated_events(layer, x, n).tolist() == [True, False, False, False]
