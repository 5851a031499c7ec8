"""The FPGA parts nanotrig knows (``nanotrig/parts.yml``): resource counts and where they come from.

``hls.part`` / ``--part`` must name one of them unless ``hls.allow_unknown_part`` /
``--allow-unknown-part`` is set; the estimate gives the share of a known part's LUT, FF, DSP
and BRAM. This module imports nothing from nanotrig, so the config can check parts cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["PARTS_FILE", "Part", "get_part", "known_parts", "unknown_part_message"]

PARTS_FILE = Path(__file__).with_name("parts.yml")


@dataclass(frozen=True)
class Part:
    """Device totals of one part (BRAM in 18 Kb blocks) and the data sheet they come from."""

    name: str
    family: str
    device: str
    lut: int
    ff: int
    dsp: int
    bram_18k: int
    source: str


@cache
def _table() -> dict[str, Part]:
    import yaml

    rows = yaml.safe_load(PARTS_FILE.read_text())["parts"]
    return {name.lower(): Part(name=name, **row) for name, row in rows.items()}


def known_parts() -> list[str]:
    """The part numbers in ``nanotrig/parts.yml``, in file order."""
    return [p.name for p in _table().values()]


def get_part(name: str) -> Part | None:
    """The part named ``name`` (case-insensitive), or None if it is not in the table."""
    return _table().get(name.lower())


def unknown_part_message(name: str) -> str:
    """One line for a part not in the table: the known ones and how to accept it anyway."""
    return (
        f"unknown FPGA part {name!r}: known parts are {', '.join(known_parts())}; "
        "to target another, set hls.allow_unknown_part: true (convert: --allow-unknown-part)"
    )
