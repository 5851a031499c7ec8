"""The input standardisation inside the model: power-of-two constants, exact, serialisable;
and the input checks that refuse files a raw-input model cannot score."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from nanotrig.models.input_check import check_input_file, check_input_values
from nanotrig.models.standardise import OFFSET_FRAC_BITS, Po2Scaling

from nanotrig.config import QuantBits
from nanotrig.errors import DataError

RAW = QuantBits(bits=22, integer=10)
MODEL_IN = QuantBits(bits=16, integer=5)


def _features(n: int = 400, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack(
        [rng.normal(90, 80, n), rng.normal(70, 28, n), rng.normal(0.014, 0.023, n)], axis=1
    )


def test_offsets_and_shifts_are_powers_of_two_on_the_raw_grid():
    x = _features()
    s = Po2Scaling.fit(x, RAW)
    np.testing.assert_array_equal(s.shifts, np.rint(np.log2(x.std(axis=0))).astype(int))
    raw_lsb = 2.0 ** -(RAW.bits - 1 - RAW.integer)
    for off, shift, mean, std in zip(s.offsets, s.shifts, s.mean, s.std, strict=True):
        grid = max(2.0 ** (shift - OFFSET_FRAC_BITS), raw_lsb)
        assert off / grid == round(off / grid)  # on the grid, hence on the raw grid
        assert abs(off - mean) <= grid / 2
        assert 2.0**shift / std < 2**0.5 + 1e-9 and std / 2.0**shift <= 2**0.5 + 1e-9


def test_layer_is_exact_clipped_and_survives_save_load(tmp_path):
    import keras
    from nanotrig.hls.model_io import load_qkeras_model
    from nanotrig.models.standardise import input_spec, po2_standardise_layer

    s = Po2Scaling.fit(_features(), RAW)
    spec = {"dataset": "features", "feature_names": ["m", "n", "c"]}
    inp = keras.Input((3,), name="x")
    model = keras.Model(inp, po2_standardise_layer(s, spec, MODEL_IN)(inp))
    lsb = 2.0**-11
    rng = np.random.default_rng(1)
    x = np.round(rng.uniform(-1024, 1024 - lsb, (500, 3)) / lsb) * lsb  # the raw grid
    x[:4] = [[-1024, -1024, -1024], [1024 - lsb] * 3, [0, 0, 0], list(s.offsets)]
    want = np.clip((x - s.offsets) * np.ldexp(1.0, -np.asarray(s.shifts)), -32, 32)
    y = model.predict(x.astype(np.float32), verbose=0)
    np.testing.assert_array_equal(y, want)  # exact: no float32 rounding anywhere
    model.save(tmp_path / "m.h5")
    back = load_qkeras_model(tmp_path / "m.h5")
    np.testing.assert_array_equal(back.predict(x.astype(np.float32), verbose=0), y)
    got = input_spec(back)
    assert got["raw"] and got["feature_names"] == ["m", "n", "c"] and got["shape"] == [3]
    assert got["standardisation"]["shift"] == list(s.shifts)


def _spec(x: np.ndarray) -> dict:
    return {"raw": True, "dataset": "features", "feature_names": ["m", "n", "c"], "shape": [3],
            "train_mean": x.mean(0).tolist(), "train_std": x.std(0).tolist()}  # fmt: skip


def test_standardised_and_foreign_values_are_refused():
    x = _features()
    spec = _spec(x)
    check_input_values(_features(seed=2), spec, "raw.npy")  # raw features pass
    z = (x - x.mean(0)) / x.std(0)
    with pytest.raises(DataError, match=r"standardised-looking values.*pass the raw features"):
        check_input_values(z, spec, "z.npy")
    with pytest.raises(DataError, match="does not look like the model's raw features"):
        check_input_values(x[:, ::-1] * 1000, spec, "swapped.npy")


def test_h5_with_other_features_is_refused(tmp_path):
    x = _features()
    path = tmp_path / "s.h5"
    with h5py.File(path, "w") as f:
        f["features"] = x.astype(np.float32)
        f.attrs["feature_names"] = ["m", "c", "n"]
    with pytest.raises(DataError, match="column 1: 'n', file: 'c'"):
        check_input_file(path, _spec(x))
    with pytest.raises(DataError, match="pass --dataset features"):
        check_input_file(path, _spec(x), dataset="images")
