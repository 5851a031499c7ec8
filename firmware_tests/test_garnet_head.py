"""The GarNet tagger converted up to its logits (GarNet + Dense head): C-simulation ==
``hls.garnet_head.GarnetTaggerEmulator`` bit for bit, on random jets (no Pythia, untrained
head weights scaled up by 3), and the check is not vacuous."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytestmark = [
    pytest.mark.slow,  # g++ (~8 s)
    pytest.mark.skipif(shutil.which("g++") is None, reason="C-simulation needs g++"),
]


@pytest.fixture(scope="module")
def head_setup(tmp_path_factory) -> dict:
    from nanotrig.hls.garnet_convert import convert_garnet
    from nanotrig.hls.garnet_emulator import GarnetEmulator
    from nanotrig.hls.garnet_head import GarnetTaggerEmulator
    from nanotrig.models.garnet import build_garnet_tagger
    from nanotrig.models.train import seed_everything
    from nanotrig.quantize.garnet_stage import (
        DEFAULT_GARNET_BITS,
        build_qgarnet_tagger,
        round_head_weights,
    )

    seed_everything(5)
    model = build_garnet_tagger(16, 4, 5)
    for name in ("fc1", "output"):
        layer = model.get_layer(name)
        layer.set_weights([3.0 * w for w in layer.get_weights()])
    qmodel = build_qgarnet_tagger(model, DEFAULT_GARNET_BITS)
    round_head_weights(qmodel)
    hls_model = convert_garnet(qmodel, tmp_path_factory.mktemp("head") / "hls", head=True)
    emulator = GarnetTaggerEmulator.from_model(GarnetEmulator.from_hls_layer(hls_model), qmodel)
    rng = np.random.default_rng(2)
    n = rng.integers(0, 17, size=(500, 1)).astype(np.float64)
    x = rng.normal(0, 3, (500, 16, 4)) * (np.arange(16)[None, :, None] < n[..., None])
    csim = np.asarray(hls_model.predict([x, n]), dtype=np.float64).reshape(len(x), -1)
    return {"x": x, "n": n, "csim": csim, "emulator": emulator, "qmodel": qmodel}


def test_logits_bit_exact(head_setup):
    s = head_setup
    assert s["csim"].shape == (500, 5) and np.abs(s["csim"]).max() > 0.1
    np.testing.assert_array_equal(s["csim"], s["emulator"].predict(s["x"], s["n"]))


def test_head_weights_on_the_grid_and_close_to_keras(head_setup):
    s = head_setup
    for name in ("fc1", "output"):
        for w in s["qmodel"].get_layer(name).get_weights():
            np.testing.assert_array_equal(w * 1024, np.round(w * 1024))
    import tensorflow as tf

    logits = tf.keras.Model(s["qmodel"].inputs, s["qmodel"].get_layer("output").output)
    ref = logits.predict([s["x"], s["n"]], verbose=0)
    assert np.abs(s["csim"] - ref).max() < 0.1 * np.abs(ref).max()


def test_a_missing_product_truncation_is_caught(head_setup, monkeypatch):
    """Exact sums (no truncation of the products to 28 fractional bits) disagree."""
    import nanotrig.hls.garnet_head as head

    s = head_setup
    original = head._dense

    def untruncated(a, a_frac, w, b):
        shift = a_frac + head._W_FRAC - head._ACC_FRAC
        if shift <= 0:
            return original(a, a_frac, w, b)
        prods = (a[:, :, None] * w[None]).astype(np.float64) / 2.0**shift
        return np.floor(prods.sum(axis=1)).astype(np.int64) + (b << (-head._W_FRAC + 28))[None]

    monkeypatch.setattr(head, "_dense", untruncated)
    got = s["emulator"].predict(s["x"], s["n"])
    assert (got != s["csim"]).any(axis=1).mean() > 0.3
