"""The latent-resolution check of the anomaly QAT: a collapsed latent (mu ~ 0, spread below a
few LSB of the firmware's mu type) is measured and warned about; a spread latent is not."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
from nanotrig.models.anomaly_vae import build_encoder
from nanotrig.quantize.anomaly_stage import latent_resolution

from nanotrig.config import QuantizeConfig


def test_collapsed_latent_is_measured_and_warned(caplog) -> None:
    rng = np.random.default_rng(0)
    data = SimpleNamespace(x=rng.normal(size=(200, 8)).astype(np.float32), train=np.arange(150))
    enc = build_encoder(8, (8,), 2)
    cfg = QuantizeConfig()  # mu: quantized_bits(10, 2), LSB 2**-7
    with caplog.at_level(logging.WARNING):
        ok = latent_resolution(enc, data, cfg, np.arange(50.0))
    assert ok["mu_lsb"] == 2.0**-7 and min(ok["float_mu_std_lsb"]) > 8
    assert ok["distinct_background_scores"] == 50 and "collapsed" not in caplog.text
    kernel, bias = enc.get_layer("mu").get_weights()
    enc.get_layer("mu").set_weights([kernel * 1e-3, bias])  # mu ~ 0: the beta-0.5 collapse
    with caplog.at_level(logging.WARNING):
        bad = latent_resolution(enc, data, cfg, np.zeros(50))
    mu = enc.predict(data.x[data.train], verbose=0)[0]
    assert np.allclose(bad["float_mu_std_lsb"], mu.std(axis=0) * 2**7, rtol=1e-6)
    assert max(bad["float_mu_std_lsb"]) < 1 and bad["distinct_background_scores"] == 1
    assert "collapsed latent" in caplog.text
