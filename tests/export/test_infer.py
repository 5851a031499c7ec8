"""``export.infer``: .npy/.h5 inputs -> predictions .npy, atomic, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from nanotrig.export import infer, keras_to_onnx
from nanotrig.models import build_jet_mlp

from nanotrig.errors import DataError, ModelError


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("infer")
    model = build_jet_mlp(16, 5)
    return keras_to_onnx(model, d / "m.onnx"), model


def test_infer_npy(onnx_file, tmp_path):
    path, model = onnx_file
    x = np.random.default_rng(0).normal(size=(500, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    rec = infer(path, tmp_path / "x.npy", tmp_path / "p.npy", batch_size=128, progress=True)
    y = np.load(tmp_path / "p.npy")
    np.testing.assert_allclose(y, model.predict(x, verbose=0), atol=1e-5)
    assert rec["n_events"] == 500 and rec["output_shape"] == [500, 5]
    assert rec["providers"][-1] == "CPUExecutionProvider"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.npy", "x.npy"]  # no temp files


def test_infer_h5(onnx_file, tmp_path):
    import h5py

    path, _ = onnx_file
    with h5py.File(tmp_path / "j.h5", "w") as f:
        f["features"] = np.zeros((7, 16), np.float64)
    rec = infer(path, tmp_path / "j.h5", tmp_path / "p.npy")
    assert rec["n_events"] == 7 and np.load(tmp_path / "p.npy").shape == (7, 5)


def test_infer_errors(onnx_file, tmp_path):
    path, _ = onnx_file
    with pytest.raises(DataError, match="not found"):
        infer(path, tmp_path / "missing.npy", tmp_path / "p.npy")
    np.save(tmp_path / "bad.npy", np.zeros((3, 15), np.float32))
    with pytest.raises(DataError, match=r"expects \(N, 16\)"):
        infer(path, tmp_path / "bad.npy", tmp_path / "p.npy")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(DataError, match=r"not a readable \.npy array"):
        infer(path, tmp_path / "junk.npy", tmp_path / "p.npy")
    import h5py

    with h5py.File(tmp_path / "nof.h5", "w") as f:
        f["other"] = np.zeros((2, 16))
    with pytest.raises(DataError, match="no dataset 'features'"):
        infer(path, tmp_path / "nof.h5", tmp_path / "p.npy")
    with pytest.raises(DataError, match=r"must end in \.npy"):
        infer(path, tmp_path / "bad.npy", tmp_path / "p.txt")
    with pytest.raises(ModelError, match="not found"):
        infer(tmp_path / "nope.onnx", tmp_path / "bad.npy", tmp_path / "p.npy")
    assert not (tmp_path / "p.npy").exists()
