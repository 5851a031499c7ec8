"""Logging set-up: everything human-facing goes to stderr; stdout carries results only.

On a terminal the logs are rich-formatted (colours, aligned columns). Anywhere else (a pipe, a
log file, a batch job, a Jupyter kernel, pytest's capture) they are plain text lines without
ANSI colour codes, so stored notebook outputs and log files stay readable.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

__all__ = ["PLAIN_FORMAT", "setup_logging"]

_NOISY = ("tensorflow", "absl", "h5py", "matplotlib", "tf2onnx", "hls4ml", "numba")

#: Line format off a terminal; the time stamp is rich's ``[%x %X]``.
PLAIN_FORMAT = "[%(asctime)s] %(levelname)-8s %(message)s"
_DATE_FORMAT = "%x %X"

#: onnxruntime's default-logger severity for ERROR; its C++ warnings carry colour codes always.
_ORT_ERROR = 3
_ORT_WARNING = 2


class _StderrHandler(logging.StreamHandler):
    """Plain lines to whatever ``sys.stderr`` is when a record is emitted.

    Bound late, like logging's own last-resort handler, so a swapped ``sys.stderr`` (pytest's
    capture, a CLI test runner) is followed rather than written to after it is closed.
    """

    def __init__(self) -> None:
        logging.Handler.__init__(self)  # StreamHandler.__init__ would bind a stream now

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr


def _stderr_is_terminal() -> bool:
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def _handler() -> logging.Handler:
    if _stderr_is_terminal():
        from rich.console import Console
        from rich.logging import RichHandler

        return RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=False)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(PLAIN_FORMAT, datefmt=_DATE_FORMAT))
    return handler


def setup_logging(verbose: bool = False) -> None:
    """Send logs to stderr (rich on a terminal, else plain); quiet libraries unless ``verbose``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "3")
    level = logging.DEBUG if verbose else logging.INFO
    handler = _handler()
    if not verbose:  # libraries logging through the root logger (QKeras's "keras dict ...")
        handler.addFilter(lambda record: record.name != "root")
    # basicConfig keeps the plain handler's formatter; the rich one formats only the message
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler], force=True)
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.ERROR)
    import onnxruntime  # its default logger (not the sessions') writes coloured warnings

    onnxruntime.set_default_logger_severity(_ORT_WARNING if verbose else _ORT_ERROR)
    if not verbose:
        warnings.filterwarnings("ignore")
