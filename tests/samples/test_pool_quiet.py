"""The sample workers' progress bar counts what was asked for (kept rows, not generated
events), and their C++ chatter on stdout (the FastJet banner) is silenced unless --debug."""

from __future__ import annotations

import logging
import os
import re

import pytest
from nanotrig.samples.pool import Stream, run_streams


def _chatty_task(seed: int, n_events: int) -> dict:
    """Like a Pythia chunk: prints a banner on file descriptor 1; keeps 3 of 5 events."""
    os.write(1, b"# FastJet release 3.5.2 (banner)\n")
    return {"n_events": n_events, "n_accepted": n_events * 3 // 5}


def _streams() -> list[Stream]:
    return [
        Stream(
            name=f"class {c}",
            task=_chatty_task,
            target=12,
            chunk_size=10,
            seed_key=k,
            max_chunks=10,
            prior_acceptance=0.6,
        )
        for k, c in enumerate("ab")
    ]


@pytest.fixture
def root_level():
    root = logging.getLogger()
    old = root.level
    yield root
    root.setLevel(old)


def test_progress_counts_kept_rows_and_banner_is_silenced(capfd, root_level):
    root_level.setLevel(logging.INFO)
    chunks = run_streams(_streams(), 1, workers=2, progress=True, desc="jets", unit="jets")
    assert set(chunks) == {"class a", "class b"}
    out, err = capfd.readouterr()
    assert "FastJet" not in out + err
    bars = re.findall(r"(\d+)/(\d+) \[", err)
    assert bars and bars[-1] == ("24", "24"), err  # 2 x 12 jets asked for, not 2 x 20 events
    assert "jets/s" in err


def test_banner_shown_with_debug(capfd, root_level):
    root_level.setLevel(logging.DEBUG)  # what --debug sets before the workers fork
    run_streams(_streams(), 1, workers=1, progress=False)
    out, err = capfd.readouterr()
    assert "FastJet release" in err and "FastJet" not in out
