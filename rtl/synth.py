"""Resource figures of a Verilog design from Yosys ``synth_xilinx -flatten`` (no vendor tool).

:func:`synthesize` runs Yosys on the design's sources (da4ml's unused ``lookup_table.v`` left
out), then ``stat -json`` for the cell counts and ``ltp -noff`` for the logic depth: the cells on
the longest path between registers (or ports), every LUT, MUXF and CARRY4/8 cell of a carry
chain counting one. The counts are Yosys's mapping, not Vivado's: a like-for-like figure for
comparing designs, labelled as such.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from typing import Any

from nanotrig.rtl.simulate import Design
from nanotrig.rtl.tools import YOSYS_MISSING, yosys

from nanotrig.errors import ConversionError, ToolMissingError

__all__ = ["FAMILIES", "parse_stat", "synthesize"]

#: ``synth_xilinx -family`` values: UltraScale+ (default), UltraScale, 7-series.
FAMILIES = ("xcup", "xcu", "xc7")
_LTP = re.compile(r"Longest topological path in \S+ \(length=(\d+)\)")


def parse_stat(stat: dict[str, Any], top: str) -> dict[str, int]:
    """LUT, FF, CARRY, DSP, BRAM (18k-equivalent) and MUXF counts from ``stat -json``."""
    mods = stat.get("modules", {})
    mod = mods.get(f"\\{top}") or mods.get(top) or next(iter(mods.values()), {})
    cells = mod.get("num_cells_by_type") or mod.get("cells") or {}  # yosys 0.23: the former
    out = {"lut": 0, "ff": 0, "carry": 0, "dsp": 0, "bram_18k": 0, "muxf": 0}
    for name, count in cells.items():
        cell, n = name.lstrip("$\\"), int(count)
        if cell.startswith("LUT"):
            out["lut"] += n
        elif cell.startswith("FD"):
            out["ff"] += n
        elif cell.startswith("CARRY"):
            out["carry"] += n
        elif cell.startswith("DSP"):
            out["dsp"] += n
        elif cell.startswith("RAMB36"):
            out["bram_18k"] += 2 * n
        elif cell.startswith("RAMB18"):
            out["bram_18k"] += n
        elif cell.startswith("MUXF"):
            out["muxf"] += n
    out["cells"] = {k.lstrip("$\\"): int(v) for k, v in sorted(cells.items())}  # type: ignore[assignment]
    return out


def synthesize(
    design: Design, family: str = "xcup", timeout_s: float = 3600, skip_on_timeout: bool = False
) -> dict[str, Any] | None:
    """Yosys figures of ``design``; :class:`ToolMissingError` when Yosys is not installed.
    Yosys is killed after ``timeout_s``: ``None`` then if ``skip_on_timeout``, else
    :class:`ConversionError`."""
    exe = yosys()
    if exe is None:
        raise ToolMissingError(YOSYS_MISSING)
    if family not in FAMILIES:
        raise ConversionError(f"unknown Yosys family {family!r}: choose from {FAMILIES}")
    work = design.path / "yosys"
    work.mkdir(exist_ok=True)
    stat_file = work / "stat.json"
    files = " ".join(str(p.resolve()) for p in design.sources())
    script = (
        f"read_verilog -sv {files}\n"
        f"synth_xilinx -flatten -family {family} -top {design.name}\n"
        f"tee -q -o {stat_file.resolve()} stat -json\n"
        "ltp -noff\n"
    )
    (work / "synth.ys").write_text(script)
    t0 = time.perf_counter()
    try:
        done = subprocess.run([exe, "-q", "-l", str(work / "yosys.log"), "-s",
                               str(work / "synth.ys")], capture_output=True, text=True,
                              timeout=timeout_s, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        if skip_on_timeout:
            return None
        raise ConversionError(
            f"yosys did not finish in {timeout_s:.0f} s on {design.path}"
        ) from None
    if done.returncode != 0 or not stat_file.is_file():
        lines = [ln for ln in (done.stderr + done.stdout).splitlines() if "ERROR" in ln]
        first = (lines or (done.stderr + done.stdout).strip().splitlines() or ["no output"])[0]
        raise ConversionError(f"yosys failed on {design.path}: {first.strip()}")
    figures = parse_stat(json.loads(stat_file.read_text()), design.name)
    log = (work / "yosys.log").read_text(errors="replace")
    depth = _LTP.findall(log)
    return {
        "tool": "yosys synth_xilinx -flatten",
        "family": family,
        **figures,
        "logic_depth": int(depth[-1]) if depth else None,
        "seconds": round(time.perf_counter() - t0, 1),
        "log": str((work / "yosys.log").relative_to(design.path)),
    }
