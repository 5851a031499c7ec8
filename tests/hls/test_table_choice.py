"""convert's softmax table choice and hls.output_head, through convert + verify (small).

A tiny QKeras classifier (8 -> QDense(5) -> softmax): the chosen tables bring the emulated
probabilities within 2^-7 of QKeras on the test vectors (or the record says which setting would),
verify finds every layer exact (the softmax against its emulator); ``output_head`` logits and
argmax convert and verify as well; a head the model does not end in is refused in one line.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from nanotrig.hls.convert import convert_model
from nanotrig.hls.verify import verify_project
from qmodels import qb, seeded

from nanotrig.config import HlsConfig
from nanotrig.errors import ConfigError

pytestmark = [
    pytest.mark.skipif(shutil.which("g++") is None, reason="C-simulation needs g++"),
    pytest.mark.filterwarnings("ignore:The `keras.constraints.serialize:UserWarning"),
]


def _model(path: Path, softmax: bool = True) -> Path:
    import keras
    from qkeras import QDense

    inp = keras.Input((8,), name="x")  # no input quantizer: convert inserts one (a new graph)
    h = QDense(5, kernel_quantizer=qb(6), bias_quantizer=qb(6), name="logits")(inp)
    if softmax:
        h = keras.layers.Activation("softmax", name="softmax")(h)
    model = seeded(keras.Model(inp, h), seed=3)
    model.save(path)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, np.ndarray]:
    work = tmp_path_factory.mktemp("tables")
    x = np.random.default_rng(1).normal(0, 2, (300, 8)).astype(np.float32)
    x[:3] = [[0] * 8, [31.9] * 8, [-32] * 8]  # zeros, the input type's edges
    return _model(work / "m.h5"), x


def test_softmax_tables_chosen_and_exact(tiny, tmp_path) -> None:
    model, x = tiny
    rec = convert_model(model, tmp_path / "hls", HlsConfig(n_test_vectors=300), test_inputs=x)
    tables = rec["softmax_tables"]
    assert tables["within_tolerance"] == (tables["table_error"] <= 2**-7)
    assert tables["within_tolerance"] or tables["advice"].startswith("table error")
    assert tables["table_error"] <= min(t["table_error"] for t in tables["ladder"][:1])
    # at equal cost the centred setting (exp sum rounded to the inverse table's index bits)
    index_bits = tables["setting"]["table_size"].bit_length() - 1
    assert tables["setting"]["inv_inp_t"] == f"ap_fixed<{index_bits},4,AP_RND,AP_SAT>"
    res = verify_project(tmp_path / "hls", x)
    assert res.ok
    soft = next(r for r in res.layers if r["layer"] == "softmax")
    assert soft["compared_with"] == "emulator" and soft["n_mismatch"] == 0
    # the choice was measured on the test vectors and on resampled logits: a superset
    assert tables["n_resampled"] > 0
    assert 0 < res.output["table_error"]["max_abs_diff"] <= tables["table_error"]


@pytest.mark.parametrize("head", ["logits", "argmax"])
def test_output_head(tiny, tmp_path, head: str) -> None:
    model, x = tiny
    cfg = HlsConfig(output_head=head, n_test_vectors=50)
    rec = convert_model(model, tmp_path / "hls", cfg, test_inputs=x[:50])
    assert rec["output_head"] == head and rec["softmax_tables"] is None
    res = verify_project(tmp_path / "hls", x[:100])
    assert res.ok
    if head == "logits":
        assert rec["lut_layers"] == [] and res.output["kind"] == "exact"
    else:
        assert res.output["compared_with"] == "emulator" and res.output["n_mismatch"] == 0
        assert res.output["argmax_agreement"] == 1.0  # the one-hot of the exact logits


def test_output_head_needs_a_softmax(tmp_path) -> None:
    model = _model(tmp_path / "plain.h5", softmax=False)
    with pytest.raises(ConfigError, match=r"hls\.output_head: logits needs a model ending in"):
        convert_model(model, tmp_path / "hls", HlsConfig(output_head="logits"))
    assert not (tmp_path / "hls").exists()
