"""export_quantized logs its QDQ layer plan once and checks its inputs before writing."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from nanotrig.export import export_quantized
from nanotrig.models import build_jet_mlp
from nanotrig.quantize import build_qmodel

from nanotrig.config import QuantizeConfig
from nanotrig.errors import DataError

pytestmark = pytest.mark.filterwarnings(
    "ignore:The `keras.constraints.serialize:UserWarning",
    "ignore:The `keras.initializers.serialize:UserWarning",
)


@pytest.fixture(scope="module")
def qmodel_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("qdq") / "qmodel.h5"
    build_qmodel(build_jet_mlp(16, 5, (8,)), QuantizeConfig()).save(path)
    return path


def test_layer_plan_logged_once(qmodel_path, tmp_path, caplog):
    x = np.random.default_rng(0).normal(size=(50, 16)).astype(np.float32)
    with caplog.at_level(logging.INFO, logger="nanotrig.export"):
        rec = export_quantized(qmodel_path, x, tmp_path / "out")
    plan = [r.getMessage() for r in caplog.records if r.getMessage().startswith("qdq ")]
    assert plan == [f"qdq {line}" for line in rec["layer_plan"]]
    assert len(plan) == len(set(plan)) > 0


@pytest.mark.parametrize(("x", "match"), [
    (np.full((4, 16), np.nan, np.float32), "NaN or inf in 4 of 4 events"),
    (np.zeros((4, 15), np.float32), r"inputs have shape \(4, 15\), model qmodel.h5 expects"),
])  # fmt: skip
def test_bad_inputs_leave_no_output(qmodel_path, tmp_path, x, match):
    with pytest.raises(DataError, match=match):
        export_quantized(qmodel_path, x, tmp_path / "out")
    assert not (tmp_path / "out").exists()
