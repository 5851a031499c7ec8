"""Logging set-up: everything human-facing goes to stderr; stdout carries results only."""

from __future__ import annotations

import logging
import os
import warnings

__all__ = ["setup_logging"]

_NOISY = ("tensorflow", "absl", "h5py", "matplotlib", "tf2onnx", "hls4ml", "numba")


def setup_logging(verbose: bool = False) -> None:
    """Rich-formatted logs on stderr; quiet TensorFlow and friends unless ``verbose``."""
    from rich.console import Console
    from rich.logging import RichHandler

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    level = logging.DEBUG if verbose else logging.INFO
    handler = RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=False)
    if not verbose:  # libraries logging through the root logger (QKeras's "keras dict ...")
        handler.addFilter(lambda record: record.name != "root")
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler], force=True)
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.ERROR)
    if not verbose:
        warnings.filterwarnings("ignore")
