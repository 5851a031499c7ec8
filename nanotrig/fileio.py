"""File helpers every stage uses: atomic writes, output-directory guard, hashes, provenance."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from nanotrig.errors import OutputExistsError

__all__ = [
    "atomic_path",
    "check_output_dir",
    "file_sha256",
    "package_versions",
    "prepare_output_dir",
    "write_json",
    "write_text",
]

#: Packages whose versions go into every manifest.
TRACKED_PACKAGES = (
    "nanotrig",
    "numpy",
    "tensorflow",
    "keras",
    "qkeras",
    "hls4ml",
    "onnx",
    "onnxruntime",
    "tf2onnx",
    "pythia8mc",
    "fastjet",
    "numba",
    "awkward",
    "h5py",
)


def check_output_dir(path: str | Path, force: bool = False) -> Path:
    """Raise :class:`OutputExistsError` if ``path`` could not be written as a stage's output
    directory (a file, or a non-empty directory without ``force``); touches nothing."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"output path {out} exists and is a file: choose another path")
    if out.exists() and not force and any(out.iterdir()):
        raise OutputExistsError(
            f"output directory {out} already exists and is not empty: "
            "pass --force to overwrite it or choose another output directory"
        )
    return out


def prepare_output_dir(path: str | Path, force: bool = False) -> Path:
    """Create ``path`` for a stage's output; refuse a non-empty existing one unless ``force``.

    With ``force`` the old directory is removed only now, after all validation has passed.
    """
    out = check_output_dir(path, force)
    if out.exists() and any(out.iterdir()):
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


@contextlib.contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; move it onto ``dest`` only if the block succeeds."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, dest)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(dest: str | Path, text: str) -> Path:
    """Write ``text`` to ``dest`` atomically."""
    with atomic_path(dest) as tmp:
        tmp.write_text(text)
    return Path(dest)


def write_json(dest: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically."""
    return write_text(
        dest, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n"
    )


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of the packages that determine results, plus Python's."""
    out = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
