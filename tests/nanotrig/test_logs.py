"""Logs: rich on a terminal, plain lines without colour codes anywhere else (pipes, notebooks)."""

from __future__ import annotations

import io
import logging
import sys

import numpy as np
import pytest

from nanotrig.logs import setup_logging


@pytest.fixture(autouse=True)
def _restore_logging():
    import onnxruntime

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    onnxruntime.set_default_logger_severity(2)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_the_lines_are_plain(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    setup_logging()
    logging.getLogger("nanotrig.test").info(
        "wrote %s: %d jets in %.1f s", "/tmp/jets.h5", 2000, 35.7
    )
    text = stream.getvalue()
    assert "\x1b" not in text
    assert text.rstrip("\n").endswith("INFO     wrote /tmp/jets.h5: 2000 jets in 35.7 s")
    assert text.count("\n") == 1  # one record, one line: no wrapping at a console width


def test_the_handler_follows_a_swapped_stderr(monkeypatch):
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    setup_logging()
    monkeypatch.setattr(sys, "stderr", second)
    first.close()  # a CLI test runner closes its stream after each invocation
    logging.getLogger("nanotrig.test").info("after the swap")
    assert "after the swap" in second.getvalue()


def test_on_a_terminal_logs_are_rich(monkeypatch):
    from rich.logging import RichHandler

    monkeypatch.setattr(sys, "stderr", _Tty())
    setup_logging()
    assert [type(h) for h in logging.getLogger().handlers] == [RichHandler]


def _resize_with_deprecated_attribute():
    """An opset-13 Resize whose construction makes onnxruntime warn through its default logger."""
    from onnx import TensorProto, helper

    node = helper.make_node(
        "Resize", ["x", "roi", "scales"], ["y"], mode="nearest",
        coordinate_transformation_mode="tf_half_pixel_for_nn",
    )  # fmt: skip
    graph = helper.make_graph(
        [node], "resize",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[
            helper.make_tensor("roi", TensorProto.FLOAT, [0], []),
            helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, 2, 2]),
        ],
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _run_onnx(model) -> None:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # as export/runtime.py: this alone does not stop the warning
    sess = ort.InferenceSession(model.SerializeToString(), opts, ["CPUExecutionProvider"])
    sess.run(None, {"x": np.ones((1, 1, 2, 2), np.float32)})


@pytest.mark.parametrize("verbose", [False, True])
def test_onnxruntime_colour_warnings_only_when_verbose(verbose, capfd):
    setup_logging(verbose=verbose)
    capfd.readouterr()
    _run_onnx(_resize_with_deprecated_attribute())
    err = capfd.readouterr().err
    # onnxruntime's C++ logger colours its warnings whatever the stream: silenced unless --debug
    assert ("tf_half_pixel_for_nn" in err) is verbose
    assert ("\x1b[" in err) is verbose
