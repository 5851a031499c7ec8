"""The float GarNet tagger (two inputs, a custom layer) through ``keras_to_onnx``, onnxruntime."""

from __future__ import annotations

import numpy as np


def test_garnet_tagger_to_onnx(tmp_path):
    import onnxruntime as ort
    from nanotrig.export.onnx_export import keras_to_onnx
    from nanotrig.models.garnet import build_garnet_tagger

    model = build_garnet_tagger(32, 4, 5)
    rng = np.random.default_rng(1)
    n = rng.integers(0, 33, size=(64, 1)).astype(np.float32)
    x = rng.normal(0, 2, (64, 32, 4)).astype(np.float32) * (
        np.arange(32)[None, :, None] < n[..., None]
    )
    path = keras_to_onnx(model, tmp_path / "garnet.onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["constituents", "n_vertices"]
    got = sess.run(None, {"constituents": x, "n_vertices": n})[0]
    np.testing.assert_allclose(got, model.predict([x, n], verbose=0), atol=1e-5)
