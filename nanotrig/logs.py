"""Logging set-up: everything human-facing goes to stderr; stdout carries results only."""

from __future__ import annotations

import logging
import os
import sys
import warnings

__all__ = ["setup_logging"]

_NOISY = ("tensorflow", "absl", "h5py", "matplotlib", "tf2onnx", "hls4ml", "numba")


def setup_logging(verbose: bool = False) -> None:
    """Logs on stderr, one line per record (rich-formatted on a terminal); TensorFlow's C++
    chatter, library loggers and Python warnings quiet unless ``verbose`` (``--debug``)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "3")
    level = logging.DEBUG if verbose else logging.INFO
    handler: logging.Handler
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        handler = RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=False)
        fmt = "%(message)s"
    else:  # a log file or a pipe: no wrapping at 80 columns
        handler = logging.StreamHandler(sys.stderr)
        fmt = "%(asctime)s %(levelname)s %(message)s"
    if not verbose:  # libraries logging through the root logger (QKeras's "keras dict ...")
        handler.addFilter(lambda record: record.name != "root")
    handler.setFormatter(logging.Formatter(fmt, datefmt="%H:%M:%S"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.ERROR)
    if not verbose:
        warnings.filterwarnings("ignore")
