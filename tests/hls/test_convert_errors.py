"""convert_model / verify_project / load_inputs refuse bad input with one clear error, and refuse
it before anything is written (no g++ compile happens in this file)."""

from __future__ import annotations

import json
import re

import h5py
import numpy as np
import pytest
from nanotrig.hls import convert_model, edge_inputs, load_inputs, validate_inputs, verify_project
from qmodels import qb, seeded

from nanotrig.config import HlsConfig
from nanotrig.errors import (
    ConfigError,
    DataError,
    ModelError,
    OutputExistsError,
    ToolMissingError,
)

pytestmark = pytest.mark.filterwarnings("ignore:The `keras.constraints.serialize:UserWarning")

N_IN = 8


def _tiny_qmodel():
    import keras
    from qkeras import QActivation, QDense, quantized_relu

    return seeded(
        keras.Sequential(
            [
                keras.Input((N_IN,)),
                QActivation(qb(8, 2), name="qin"),
                QDense(8, kernel_quantizer=qb(6), bias_quantizer=qb(6), name="fc1"),
                QActivation(quantized_relu(6, 0), name="relu1"),
                QDense(3, kernel_quantizer=qb(6), bias_quantizer=qb(6), name="fc2"),
            ]
        )
    )


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.h5"
    _tiny_qmodel().save(path)
    return path


@pytest.fixture(scope="module")
def project(tmp_path_factory, model_path):
    """One converted project (conversion only: no compile)."""
    out = tmp_path_factory.mktemp("proj") / "out"
    convert_model(model_path, out, HlsConfig())
    return out


def _tree(path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


# --- convert_model: the model file ------------------------------------------------------------


def test_missing_model_file(tmp_path):
    missing, out = tmp_path / "nope.h5", tmp_path / "out"
    with pytest.raises(ModelError, match=re.escape(str(missing))):
        convert_model(missing, out, HlsConfig())
    assert not out.exists()


def test_model_path_is_a_directory(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ModelError, match="not found"):
        convert_model(tmp_path, out, HlsConfig())
    assert not out.exists()


def test_not_hdf5_model(tmp_path):
    bad, out = tmp_path / "model.h5", tmp_path / "out"
    bad.write_bytes(b"this is not an HDF5 file\n" * 10)
    with pytest.raises(ModelError, match="not an HDF5 file"):
        convert_model(bad, out, HlsConfig())
    assert not out.exists()


def test_hdf5_without_a_model(tmp_path):
    bad, out = tmp_path / "data.h5", tmp_path / "out"
    with h5py.File(bad, "w") as f:
        f["features"] = np.zeros((4, N_IN))
    with pytest.raises(ModelError, match=re.escape(str(bad))):
        convert_model(bad, out, HlsConfig())
    assert not out.exists()


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM"])
def test_unsupported_layer(tmp_path, kind):
    import keras
    from qkeras import QDense

    layer = getattr(keras.layers, kind)(4, name="recurrent_part")
    model = keras.Sequential(
        [keras.Input((5, 2)), layer, QDense(2, kernel_quantizer=qb(6), name="fc")]
    )
    path, out = tmp_path / "rnn.h5", tmp_path / "out"
    model.save(path)
    with pytest.raises(ModelError) as info:
        convert_model(path, out, HlsConfig())
    msg = str(info.value)
    assert "'recurrent_part'" in msg and kind in msg
    assert "QDense" in msg  # names what is supported
    assert not out.exists()


def test_two_input_model(tmp_path):
    import keras
    from qkeras import QDense

    a, b = keras.Input((N_IN,), name="a"), keras.Input((N_IN,), name="b")
    fc = QDense(2, kernel_quantizer=qb(6), name="fc")
    model = keras.Model([a, b], fc(keras.layers.Concatenate(name="cat")([a, b])))
    path, out = tmp_path / "two.h5", tmp_path / "out"
    model.save(path)
    with pytest.raises(ModelError, match="2 inputs"):
        convert_model(path, out, HlsConfig())
    assert not out.exists()


def test_cfg_must_be_hls_config(tmp_path, model_path):
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match="HlsConfig"):
        convert_model(model_path, out, {"backend": "Vitis"})
    assert not out.exists()


# --- convert_model: the output directory ------------------------------------------------------


def test_existing_output_dir_needs_force(tmp_path, model_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    with pytest.raises(OutputExistsError, match="--force"):
        convert_model(model_path, out, HlsConfig())
    assert _tree(out) == {"notes.txt": b"my notes"}

    record = convert_model(model_path, out, HlsConfig(), force=True)
    assert not (out / "notes.txt").exists()
    assert (
        json.loads((out / "conversion.json").read_text())["model_sha256"]
        == (record["model_sha256"])
    )
    assert (out / "myproject_prj" / "firmware" / "myproject.cpp").is_file()


def test_output_path_is_a_file(tmp_path, model_path):
    out = tmp_path / "out"
    out.write_text("a file")
    with pytest.raises(OutputExistsError):
        convert_model(model_path, out, HlsConfig(), force=True)
    assert out.read_text() == "a file"


# --- convert_model: test inputs ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "bad", "match"),
    [
        ((10, N_IN + 1), None, "shape"),
        ((10, N_IN, 1), None, "shape"),
        ((N_IN,), None, "shape"),
        ((0, N_IN), None, "no events"),
        ((10, N_IN), np.nan, "NaN"),
        ((10, N_IN), np.inf, "inf"),
    ],
)
def test_bad_test_inputs_rejected_before_output(tmp_path, model_path, shape, bad, match):
    x = np.zeros(shape, np.float32)
    if bad is not None:
        x[3, 2] = bad
    out = tmp_path / "out"
    with pytest.raises(DataError, match=match):
        convert_model(model_path, out, HlsConfig(), test_inputs=x)
    assert not out.exists()


def test_bad_test_inputs_keep_old_output_even_with_force(tmp_path, model_path):
    """force removes the old directory only after every check passed."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old run")
    x = np.zeros((5, N_IN), np.float32)
    x[0, 0] = np.nan
    with pytest.raises(DataError):
        convert_model(model_path, out, HlsConfig(), test_inputs=x, force=True)
    assert _tree(out) == {"old.txt": b"old run"}


def test_non_numeric_test_inputs(tmp_path, model_path):
    out = tmp_path / "out"
    with pytest.raises(DataError, match="dtype"):
        convert_model(model_path, out, HlsConfig(), test_inputs=np.full((3, N_IN), "a"))
    assert not out.exists()


# --- verify_project ---------------------------------------------------------------------------


def test_verify_not_a_project(tmp_path):
    (tmp_path / "something.txt").write_text("x")
    with pytest.raises(DataError, match="not a converted project"):
        verify_project(tmp_path, np.zeros((4, N_IN), np.float32))
    with pytest.raises(DataError, match="not a converted project"):
        verify_project(tmp_path / "missing", np.zeros((4, N_IN), np.float32))


def test_verify_corrupt_record(tmp_path, project):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(project, copy)
    (copy / "conversion.json").write_text("{ not json")
    with pytest.raises(DataError, match="corrupt"):
        verify_project(copy, np.zeros((4, N_IN), np.float32))


@pytest.mark.parametrize("shape", [(4, N_IN - 1), (4, N_IN, 2), (N_IN,)])
def test_verify_wrong_input_shape(project, shape):
    before = _tree(project)
    with pytest.raises(DataError, match="shape"):
        verify_project(project, np.zeros(shape, np.float32))
    assert _tree(project) == before


def test_verify_nan_inputs(project):
    x = np.zeros((4, N_IN), np.float32)
    x[1, 1] = np.nan
    with pytest.raises(DataError, match="NaN"):
        verify_project(project, x)


def test_verify_without_gxx(tmp_path, project, monkeypatch):
    import shutil

    empty = tmp_path / "empty_bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("g++") is None
    before = _tree(project)
    with pytest.raises(ToolMissingError, match="g\\+\\+"):
        verify_project(project, np.zeros((4, N_IN), np.float32))
    assert _tree(project) == before


def test_edge_inputs_not_a_project(tmp_path):
    with pytest.raises(DataError, match="not a converted project"):
        edge_inputs(tmp_path)


# --- load_inputs / validate_inputs ------------------------------------------------------------


def test_load_inputs_roundtrip(tmp_path):
    x = np.random.default_rng(0).normal(size=(6, N_IN)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["features"] = x
    np.testing.assert_array_equal(load_inputs(tmp_path / "x.npy"), x)
    np.testing.assert_array_equal(load_inputs(tmp_path / "x.h5"), x)


def test_load_inputs_missing(tmp_path):
    with pytest.raises(DataError, match=r"nope\.npy not found"):
        load_inputs(tmp_path / "nope.npy")


def test_load_inputs_unknown_suffix(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("1,2,3\n")
    with pytest.raises(DataError, match=r"unknown suffix '\.csv'"):
        load_inputs(p)


def test_load_inputs_corrupt_npy(tmp_path):
    p = tmp_path / "x.npy"
    p.write_bytes(b"\x93NUMPY garbage that is not an array header" * 3)
    with pytest.raises(DataError, match=r"not a readable \.npy"):
        load_inputs(p)
    truncated = tmp_path / "t.npy"
    np.save(truncated, np.zeros((100, N_IN)))
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(DataError):
        load_inputs(truncated)


def test_load_inputs_pickled_npy(tmp_path):
    p = tmp_path / "obj.npy"
    np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError):
        load_inputs(p)


def test_load_inputs_h5_without_features(tmp_path):
    p = tmp_path / "x.h5"
    with h5py.File(p, "w") as f:
        f["labels"] = np.zeros(4)
    with pytest.raises(DataError, match=r"no dataset 'features'.*labels"):
        load_inputs(p)
    g = tmp_path / "group.h5"
    with h5py.File(g, "w") as f:
        f.create_group("features")
    with pytest.raises(DataError, match="no dataset 'features'"):
        load_inputs(g)


def test_load_inputs_h5_not_hdf5(tmp_path):
    p = tmp_path / "x.h5"
    p.write_text("not hdf5")
    with pytest.raises(DataError, match="not an HDF5 file"):
        load_inputs(p)


def test_load_inputs_non_numeric(tmp_path):
    p = tmp_path / "s.npy"
    np.save(p, np.array(["a", "b"]))
    with pytest.raises(DataError, match="numeric"):
        load_inputs(p)


def test_validate_inputs_shapes():
    flat = np.arange(2 * 6, dtype=np.float64).reshape(2, 6)
    out = validate_inputs(flat, (3, 2))
    assert out.shape == (2, 3, 2) and out.dtype == np.float32
    np.testing.assert_array_equal(out.reshape(2, 6), flat)
    assert validate_inputs(out, (3, 2)).shape == (2, 3, 2)
    with pytest.raises(DataError, match=r"\(n, 6\) or \(n, 3, 2\)"):
        validate_inputs(np.zeros((2, 2, 3)), (3, 2))
    with pytest.raises(DataError, match="event 1"):
        validate_inputs(np.array([[0.0, 1.0], [np.inf, 0.0]]), (2,))
