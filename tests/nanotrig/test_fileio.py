"""Output-directory guard and atomic writes: nothing a user made is lost."""

from __future__ import annotations

import pytest

from nanotrig.errors import OutputExistsError
from nanotrig.fileio import atomic_path, prepare_output_dir, write_json


def test_existing_output_dir_refused_without_force(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="--force"):
        prepare_output_dir(out)
    assert (out / "keep.txt").read_text() == "mine"


def test_force_replaces_output_dir(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    prepare_output_dir(out, force=True)
    assert out.is_dir() and not any(out.iterdir())


def test_empty_existing_dir_is_fine(tmp_path):
    assert prepare_output_dir(tmp_path).is_dir()


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    dest = tmp_path / "a.json"
    write_json(dest, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("boom")
    assert dest.read_text().strip().startswith("{") and '"v": 1' in dest.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
