"""Firmware acceptance: hls4ml C-simulation vs the QKeras model of the mini run, bit for bit.

The project under test is the one ``nanotrig run`` wrote (``conftest.mini_run``): a jet MLP
trained and quantized on real Pythia jets. C-simulation (g++, ``hls_model.trace``) must give
the same fixed-point values as QKeras on every layer up to the logits, for every generated jet
and for the edge inputs of the input type. The softmax is a lookup table in firmware: it is
compared separately, with its max |diff| and argmax agreement printed.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="C-simulation needs g++")


@pytest.fixture(scope="module")
def all_jets(mini_run) -> np.ndarray:
    """Every generated jet of the mini run, raw features as the trigger sends them (the model
    standardises them inside)."""
    from nanotrig.samples import load_jets

    return load_jets(mini_run["run_dir"] / "data" / "jets.h5").features


@pytest.fixture(scope="module")
def jets_result(mini_run, all_jets):
    from nanotrig.hls import verify_project

    return verify_project(mini_run["run_dir"] / "hls", all_jets)


@pytest.fixture(scope="module")
def edge_result(mini_run):
    from nanotrig.hls import edge_inputs, verify_project

    return verify_project(mini_run["run_dir"] / "hls", edge_inputs(mini_run["run_dir"] / "hls"))


def _exact_rows(result) -> list[dict]:
    return [r for r in result.layers if r["kind"] == "exact"]


def test_enough_jets(all_jets):
    assert all_jets.shape[0] >= 1000 and all_jets.shape[1] == 16


def test_logits_bit_exact_on_generated_jets(jets_result, all_jets):
    rows = _exact_rows(jets_result)
    names = [r["layer"] for r in rows]
    assert "output" in names, names  # the logits (pre-softmax Dense) are compared
    for row in rows:
        assert row["n_events"] == len(all_jets)
        assert row["n_mismatch"] == 0, row
        assert row["max_abs_diff"] == 0.0, row
    assert jets_result.ok


def test_every_layer_compared(jets_result, mini_run):
    """No Keras layer escapes the comparison except the raw input quantizer hls4ml folds into
    the input type; the standardisation is compared through the quantizer folded into it."""
    assert set(jets_result.not_compared) <= {"raw_input_quant"}, jets_result.not_compared
    rows = {r["keras_layer"]: r["layer"] for r in jets_result.layers}
    assert rows["input_quant"] == "standardise"
    compared = {r["keras_layer"] for r in jets_result.layers}
    assert {"fc1", "relu1", "output", "softmax"} <= compared


def test_logits_bit_exact_on_edge_inputs(edge_result, mini_run):
    from nanotrig.hls import edge_inputs

    x = edge_inputs(mini_run["run_dir"] / "hls")
    record = json.loads((mini_run["run_dir"] / "hls" / "conversion.json").read_text())
    top = 2.0 ** record["input_quantizer"]["integer"]
    assert (x == 0).all(axis=1).any()  # an all-zero event
    assert (np.abs(x) > top).any(axis=1).sum() >= 4  # events that saturate the input type
    for row in _exact_rows(edge_result):
        assert row["n_mismatch"] == 0, row
    assert edge_result.ok
    assert edge_result.reference_inexact_events == 0


def test_softmax_compared_separately(jets_result, capsys):
    soft = [r for r in jets_result.layers if r["kind"] == "lut"]
    assert [r["keras_layer"] for r in soft] == ["softmax"]
    row = soft[0]
    err = row["table_error"]
    with capsys.disabled():
        print(
            f"\n[firmware] softmax table error (emulator vs QKeras): max|diff| "
            f"{err['max_abs_diff']:.4f}, argmax agreement {err['argmax_agreement']:.4f} on "
            f"{row['n_events']} jets"
        )
    # the table layer itself is exact against the emulator; the tables convert chose keep the
    # table error small (2^-7 on the test vectors, or the record says why not)
    assert row["compared_with"] == "emulator" and row["n_mismatch"] == 0
    assert err["max_abs_diff"] < 0.5  # a table softmax, not a broken one (which is ~1 off)
    assert row["argmax_agreement"] >= 0.95
    assert jets_result.output["kind"] == "lut"


def test_a_wrong_precision_is_caught(mini_run, all_jets, tmp_path):
    """The check can fail: narrowing the first layer's result type breaks bit-exactness."""
    from hls4ml.utils.serialization import deserialize_model, serialize_model
    from nanotrig.hls import verify_project
    from nanotrig.hls.convert import HLS_MODEL_FILE

    src = mini_run["run_dir"] / "hls"
    bad = tmp_path / "bad"
    shutil.copytree(src, bad)
    model = deserialize_model(bad / HLS_MODEL_FILE, output_dir=tmp_path)
    layer = model.graph["fc1"]
    from hls4ml.model.types import FixedPrecisionType

    layer.get_output_variable().type.precision = FixedPrecisionType(8, 4)
    serialize_model(model, bad / HLS_MODEL_FILE)
    result = verify_project(bad, all_jets[:300])
    assert not result.ok
    fc1 = next(r for r in result.layers if r["layer"] == "fc1")
    assert fc1["n_mismatch"] > 0
    assert (bad / "mismatches.npz").is_file()


def test_stress_check_in_the_run_is_batched_and_exact(mini_run):
    """``verify.stress_events`` resampled jets went through the batched engine (the integer
    kernel by default): every event's logits (the layer before the softmax table) bit-exact, the
    softmax against its emulator, the kernel equal to hls4ml's trace on the traced events, the
    report says so."""
    stress = mini_run["verify"]["stress"]
    n = mini_run["config"]["verify"]["stress_events"]
    assert stress["batched"] and stress["n_events"] == n and stress["engine"] == "kernel"
    assert stress["ok"], stress["layers"]
    logits = [r for r in stress["layers"] if r.get("scope") == "all"]
    assert [r["layer"] for r in logits] == ["output"]
    assert logits[0]["n_events"] == n and logits[0]["n_mismatch"] == 0
    assert stress["output"]["kind"] == "lut" and stress["output"]["argmax_agreement"] > 0.95
    # the table head of every event: the kernel's logits through the table emulator
    assert stress["output"]["scope"] == "all" and stress["output"]["n_mismatch"] == 0
    assert stress["traced_events"] >= 10_000
    x = np.load(mini_run["run_dir"] / "data" / "stress_inputs.npy", mmap_mode="r")
    assert x.shape == (n, 16) and np.unique(np.asarray(x[:1000]), axis=0).shape[0] == 1000
    report = (mini_run["run_dir"] / "report.md").read_text()
    assert f"{n:,} resampled test events" in report and "exact integer kernel" in report
