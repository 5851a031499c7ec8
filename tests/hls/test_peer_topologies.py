"""Peer suite: the topologies of hls4ml's own QKeras tests, through the CLI as a user runs it.

Every model of ``peer_models.EXACT`` goes through ``nanotrig convert`` + ``nanotrig verify`` and
must be bit-exact on every layer (only the input quantizer, folded into the input type, is not
compared). Every model of ``peer_models.REFUSED`` must be refused by ``convert`` in one line
naming the layer and the reason, with nothing written. The table in docs/byom-coverage.md
records the same classes.
"""

from __future__ import annotations

import json

import numpy as np
import peer_models
import pytest
from typer.testing import CliRunner

from nanotrig.cli import app

pytestmark = pytest.mark.filterwarnings("ignore:The `keras.constraints.serialize:UserWarning")

runner = CliRunner()
N_EVENTS = 200
#: Keras layers hls4ml folds into the input type (not compared on their own).
INPUT_QUANTIZERS = {"qin", "input_quant"}


@pytest.mark.parametrize("name", sorted(peer_models.EXACT))
def test_peer_topology_bit_exact(name, tmp_path):
    builder, options, folded = peer_models.EXACT[name]
    model = peer_models.build(builder)
    model.save(tmp_path / "m.h5")
    x = peer_models.inputs(model, N_EVENTS)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "hls"
    res = runner.invoke(app, ["convert", str(tmp_path / "m.h5"), "--out", str(out), *options])
    assert res.exit_code == 0, res.stderr
    res = runner.invoke(app, ["verify", str(out), "--inputs", str(tmp_path / "x.npy")])
    rec = json.loads((out / "verify.json").read_text())
    assert res.exit_code == 0 and rec["ok"], rec
    assert rec["n_events"] == N_EVENTS and rec["output"]["n_mismatch"] == 0
    exact = [row for row in rec["layers"] if row["kind"] == "exact"]
    assert exact and all(row["n_mismatch"] == 0 for row in exact), exact
    assert set(rec["not_compared"]) == (INPUT_QUANTIZERS & set(model_names(model))) | folded
    compared = {row["keras_layer"] for row in rec["layers"]}
    keras_layers = set(model_names(model)) - INPUT_QUANTIZERS - folded
    assert keras_layers <= compared, keras_layers - compared
    y = model.predict(x, verbose=0)
    assert np.unique(y).size > 5, "output nearly constant: the test would be weak"


@pytest.mark.parametrize("name", sorted(peer_models.REFUSED))
def test_peer_topology_refused_in_one_line(name, tmp_path):
    builder, layer, phrase = peer_models.REFUSED[name]
    peer_models.build(builder).save(tmp_path / "m.h5")
    out = tmp_path / "hls"
    res = runner.invoke(app, ["convert", str(tmp_path / "m.h5"), "--out", str(out)])
    assert res.exit_code == 2, (res.exit_code, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nanotrig: error: "), res.stderr
    assert f"layer {layer!r}" in lines[0] and phrase in lines[0], lines[0]
    assert "fix:" in lines[0], lines[0]
    assert not out.exists()


@pytest.mark.parametrize("cls", peer_models.UNLOADABLE)
def test_unloadable_recurrent_model_says_why(cls, tmp_path):
    peer_models.save_renamed_rnn(tmp_path / "m.h5", cls)
    out = tmp_path / "hls"
    res = runner.invoke(app, ["convert", str(tmp_path / "m.h5"), "--out", str(out)])
    assert res.exit_code == 2, (res.exit_code, res.stdout, res.stderr)
    (line,) = res.stderr.strip().splitlines()
    assert f"layer 'rnn' ({cls})" in line and "recurrent" in line and "fix:" in line, line
    assert not out.exists()


def model_names(model) -> list[str]:
    """The names of the model's layers after its input."""
    return [layer.name for layer in model.layers[1:]]


def test_hls4ml_parse_error_is_one_line(tmp_path, monkeypatch):
    """An error hls4ml raises while it parses the model (here its refusal of a three-tensor
    merge, with our own rule switched off) is a ConversionError, and nothing is written."""
    import nanotrig.hls.convert as convert
    from nanotrig.hls import convert_model

    from nanotrig.config import HlsConfig
    from nanotrig.errors import ConversionError

    builder, _, _ = peer_models.REFUSED["merge_of_three"]
    peer_models.build(builder).save(tmp_path / "m.h5")
    monkeypatch.setattr(convert, "check_supported", lambda model, *args: None)
    with pytest.raises(ConversionError, match="Merging more than two tensors"):
        convert_model(tmp_path / "m.h5", tmp_path / "hls", HlsConfig())
    assert not (tmp_path / "hls").exists()
