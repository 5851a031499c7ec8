"""quantize.sparsity: magnitude pruning during QAT in the quantize stage (nanotrig run), and a
pruned scan point written as a config that keeps its sparsity."""

from __future__ import annotations

import numpy as np
import pytest
from scan_fixtures import make_synthetic_run

from nanotrig.config import LayerBits, QuantizeConfig, RunConfig, parse_config
from nanotrig.errors import ConfigError


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_synthetic_run(tmp_path_factory.mktemp("prune"))


def _zero_fraction(model) -> float:
    kernels = [la.get_weights()[0] for la in model.layers if type(la).__name__ == "QDense"]
    return float(sum((k == 0).sum() for k in kernels) / sum(k.size for k in kernels))


def test_quantize_stage_prunes_to_the_sparsity(run_dir, tmp_path):
    from nanotrig.hls.model_io import load_qkeras_model
    from nanotrig.quantize import quantize_model

    cfg = QuantizeConfig(epochs=3, patience=2, sparsity=0.5)
    rec = quantize_model(run_dir / "model", run_dir / "data" / "jets.h5", cfg, 1, tmp_path / "q")
    qmodel = load_qkeras_model(tmp_path / "q" / "qmodel.h5")
    assert 0.45 <= rec["weight_sparsity"] <= 0.55
    assert rec["weight_sparsity"] == pytest.approx(_zero_fraction(qmodel))
    assert not any("prune" in la.name for la in qmodel.layers)  # wrappers stripped
    dense = quantize_model(
        run_dir / "model", run_dir / "data" / "jets.h5", QuantizeConfig(epochs=3, patience=2),
        1, tmp_path / "dense",
    )  # fmt: skip
    assert dense["weight_sparsity"] < 0.1
    assert np.isfinite(rec["metrics"]["quantized"]["accuracy"])


def test_sparsity_out_of_range_or_family_is_a_config_error():
    with pytest.raises(ConfigError, match="sparsity"):
        parse_config({"name": "x", "quantize": {"sparsity": 1.0}}, source="t")
    data = {"name": "x", "samples": {"kind": "dqm"}, "model": {"family": "dqm_ae"},
            "quantize": {"sparsity": 0.5}}  # fmt: skip
    with pytest.raises(
        ConfigError, match="pruning is wired for the jet_cnn, jet_mlp families, not dqm"
    ):
        parse_config(data, source="t")


def test_chosen_config_keeps_the_sparsity():
    from nanotrig.hls.scan_report import chosen_run_config
    from nanotrig.quantize.scan_spec import parse_scan_config

    base = RunConfig(name="b")
    scan = parse_scan_config(
        {"name": "s", "run_dir": ".", "out": "o", "space": {"weights": [4], "sparsity": [0.5]}}
    )
    record = {"weights": 4, "sparsity": 0.5}
    chosen = chosen_run_config(base, scan, record, ["weights", "sparsity"])
    assert chosen.quantize.sparsity == 0.5 and chosen.quantize.weights.bits == 4


def test_per_layer_sparsity_is_applied_and_bad_ones_refused(run_dir, tmp_path):
    from nanotrig.hls.model_io import load_qkeras_model
    from nanotrig.quantize import quantize_model

    layers = {"fc1": LayerBits(sparsity=0.75), "output": LayerBits(sparsity=0.0)}
    cfg = QuantizeConfig(epochs=1, patience=1, sparsity=0.5, layers=layers)
    quantize_model(run_dir / "model", run_dir / "data" / "jets.h5", cfg, 1, tmp_path / "q")
    qmodel = load_qkeras_model(tmp_path / "q" / "qmodel.h5")
    zeros = {n: float(np.mean(qmodel.get_layer(n).get_weights()[0] == 0)) for n in layers}
    assert 0.7 <= zeros["fc1"] <= 0.8 and zeros["output"] < 0.1  # not the 0.5 default
    bad = QuantizeConfig(epochs=1, layers={"relu1": LayerBits(sparsity=0.5)})
    with pytest.raises(ConfigError, match="sets 'sparsity' on an activation layer") as err:
        quantize_model(run_dir / "model", run_dir / "data" / "jets.h5", bad, 1, tmp_path / "b")
    assert "\n" not in str(err.value) and not (tmp_path / "b").exists()
    with pytest.raises(ConfigError, match="sparsity"):
        parse_config({"name": "x", "quantize": {"layers": {"fc1": {"sparsity": 1.0}}}}, "t")
