"""Same sample, config and seed: the same trained weights (and so the same firmware)."""

from __future__ import annotations

import numpy as np


def test_train_twice_same_weights(mini_run, tmp_path):
    from nanotrig.models import train_model
    from nanotrig.quantize.stage import load_keras_model

    from nanotrig.config import ModelConfig

    mcfg = ModelConfig.model_validate({**mini_run["config"]["model"], "epochs": 3})
    data = mini_run["run_dir"] / "data" / "jets.h5"
    a = train_model(data, mcfg, 7, tmp_path / "a")
    b = train_model(data, mcfg, 7, tmp_path / "b")
    train_model(data, mcfg, 8, tmp_path / "c")
    wa = load_keras_model(tmp_path / "a" / "model.h5").get_weights()
    wb = load_keras_model(tmp_path / "b" / "model.h5").get_weights()
    wc = load_keras_model(tmp_path / "c" / "model.h5").get_weights()
    for x, y in zip(wa, wb, strict=True):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, y) for x, y in zip(wa, wc, strict=True))  # seed matters
    assert a["metrics"] == b["metrics"]
