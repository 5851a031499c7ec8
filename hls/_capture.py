"""Keep hls4ml's ``print`` output off our stdout: capture it and send it to the log."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator

__all__ = ["captured_stdout"]

log = logging.getLogger("hls.hls4ml")


@contextlib.contextmanager
def captured_stdout() -> Iterator[io.StringIO]:
    """Redirect stdout (and silence warnings) for the block; the text is logged at DEBUG."""
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield buf
    finally:
        text = buf.getvalue().strip()
        if text:
            log.debug("%s", text)
