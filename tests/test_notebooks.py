"""The notebooks in notebooks/ execute top to bottom on a small sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("NANOTRIG_NB_JETS", "150")
    monkeypatch.setenv("NANOTRIG_NB_OUT", str(tmp_path / "out"))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.output_type == "error"
    ]
    assert not errors
    coloured = [
        t[:80] for c in nb.cells for t in _output_strings(c.get("outputs", [])) if "\x1b" in t
    ]
    assert not coloured, f"ANSI escape codes in the executed outputs: {coloured[:3]}"


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb"


def _output_strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _output_strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _output_strings(item)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_stored_outputs_hold_no_ansi_escapes(path):
    """Coloured logs leave ESC [...m codes in stored outputs; nanotrig.logs writes plain text."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    bad = [
        (i, text[:80])
        for i, cell in enumerate(nb["cells"])
        for text in _output_strings(cell.get("outputs", []))
        if "\x1b" in text
    ]
    assert not bad, f"{path.name}: ANSI escape codes in stored outputs (cell, text): {bad[:3]}"
