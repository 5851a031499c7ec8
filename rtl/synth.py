"""Resource figures of a Verilog design from Yosys ``synth_xilinx`` (no vendor tool).

:func:`synthesize` runs Yosys on the design's sources (da4ml's unused ``lookup_table.v`` left
out), then ``stat -json`` for the cell counts and ``ltp -noff`` for the logic depth: the cells on
the longest path between registers (or ports), every LUT, MUXF and CARRY4/8 cell of a carry
chain counting one. The counts are Yosys's mapping, not Vivado's: a like-for-like figure for
comparing designs, labelled as such.

Two modes (:data:`SYNTH_MODES`): ``flat`` flattens the whole design (``-flatten``);
``hierarchical`` synthesizes each of da4ml's pipeline-stage modules in a Yosys process of its
own (flattened, no I/O buffers on its ports), then the top's registers with the stages as black
boxes, and sums the figures: the memory is bounded by the largest stage (a single Yosys process
keeping the stages apart, ``keep_hierarchy``, still took 23 GB on the full jet CNN and was
killed; stage by stage it peaks at 3.7 GB), LUTs within 2 % of flat on the demo jet MLP; no
optimization across the stage registers (bits constant or unused downstream stay: 9 % more FF
there).
``auto`` (:func:`resolve_mode`) takes ``hierarchical`` for a pipelined design above
:data:`AUTO_HIERARCHICAL_LUT` in da4ml's own LUT estimate.
The logic depth is then the deepest stage's; flat, Yosys's ``ltp -noff`` does not appear to
stop at the mapped ``FDRE`` registers (162 cells over the demo MLP's 9 stages, the deepest stage
alone 30), so the two depths are not comparable.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nanotrig.rtl.simulate import Design
from nanotrig.rtl.tools import YOSYS_MISSING, yosys

from nanotrig.errors import ConfigError, ConversionError, ToolMissingError

__all__ = [
    "AUTO_HIERARCHICAL_LUT",
    "FAMILIES",
    "SYNTH_MODES",
    "check_mode",
    "parse_stat",
    "resolve_mode",
    "synthesis_jobs",
    "synthesize",
]

#: ``synth_xilinx -family`` values: UltraScale+ (default), UltraScale, 7-series.
FAMILIES = ("xcup", "xcu", "xc7")
#: ``rtl.synth_mode`` / ``--synth-mode`` values.
SYNTH_MODES = ("auto", "flat", "hierarchical")
#: ``auto`` synthesizes a pipelined design stage by stage above this da4ml LUT estimate.
AUTO_HIERARCHICAL_LUT = 100_000
_TOOL = {
    "flat": "yosys synth_xilinx -flatten",
    "hierarchical": "yosys synth_xilinx -flatten, pipeline stages kept as modules",
}
_LTP = re.compile(r"Longest topological path in \S+ \(length=(\d+)\)")


def parse_stat(stat: dict[str, Any], top: str) -> dict[str, int]:
    """LUT, FF, CARRY, DSP, BRAM (18k-equivalent) and MUXF counts from ``stat -json``: the
    hierarchy's totals (``stat -top``'s ``design``) where given, else module ``top``'s."""
    mods = stat.get("modules", {})
    mod = mods.get(f"\\{top}") or mods.get(top) or next(iter(mods.values()), {})
    mod = stat.get("design") or mod
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


def check_mode(mode: str) -> None:
    """:class:`ConfigError` naming the choices unless ``mode`` is one of :data:`SYNTH_MODES`."""
    if mode not in SYNTH_MODES:
        raise ConfigError(f"unknown synth mode {mode!r}: choose from {', '.join(SYNTH_MODES)}")


def resolve_mode(mode: str, stages: int, lut_estimate: float | None) -> str:
    """``flat`` or ``hierarchical`` for ``mode``; ``auto``: hierarchical for a pipelined design
    (``stages`` > 0) whose da4ml LUT estimate exceeds :data:`AUTO_HIERARCHICAL_LUT`."""
    check_mode(mode)
    if mode != "auto":
        return mode
    big = lut_estimate is not None and lut_estimate > AUTO_HIERARCHICAL_LUT
    return "hierarchical" if stages > 0 and big else "flat"


def synthesis_jobs(design: Design, family: str, mode: str) -> list[tuple[str, str]]:
    """One ``(module, Yosys script)`` per Yosys process of ``mode``: ``flat``, the whole design;
    ``hierarchical``, each pipeline-stage module alone (ports without I/O buffers), then the
    top's registers with the stages as black boxes (``-lib``)."""
    sources = [p.resolve() for p in design.sources()]
    if mode == "flat":
        return [(design.name, f"read_verilog -sv {' '.join(map(str, sources))}\n"
                 f"synth_xilinx -flatten -family {family} -top {design.name}\n")]  # fmt: skip
    stages = [p for p in sources if p.stem.startswith(f"{design.name}_stage")]
    static = " ".join(str(p) for p in sources if p.parent.name == "static")
    jobs = [(p.stem, f"read_verilog -sv {static} {p}\n"
             f"synth_xilinx -flatten -noiopad -family {family} -top {p.stem}\n")
            for p in stages]  # fmt: skip
    jobs.append((design.name, f"read_verilog -sv -lib {' '.join(map(str, stages))}\n"
                 f"read_verilog -sv {sources[-1]}\n"
                 f"synth_xilinx -flatten -family {family} -top {design.name}\n"))  # fmt: skip
    return jobs


def synthesize(
    design: Design,
    family: str = "xcup",
    timeout_s: float = 3600,
    skip_on_timeout: bool = False,
    mode: str = "flat",
    on_module: Callable[[str, dict[str, Any]], None] | None = None,
) -> dict[str, Any] | None:
    """Yosys figures of ``design`` (``mode``: ``flat`` or ``hierarchical``, see the module);
    :class:`ToolMissingError` when Yosys is not installed. Yosys is stopped once ``timeout_s``
    (all its processes together) has passed: ``None`` then if ``skip_on_timeout``, else
    :class:`ConversionError`. ``on_module(module, figures)`` is called as each Yosys process
    finishes, with its :func:`parse_stat` figures and ``depth`` (its logic depth, ``None`` for
    the hierarchical top)."""
    check_mode(mode)
    if mode == "auto":
        raise ConfigError("synthesize takes flat or hierarchical: resolve auto with resolve_mode")
    exe = yosys()
    if exe is None:
        raise ToolMissingError(YOSYS_MISSING)
    if family not in FAMILIES:
        raise ConversionError(f"unknown Yosys family {family!r}: choose from {FAMILIES}")
    work = design.path / "yosys"
    work.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    parts, depths = {}, []
    for module, body in synthesis_jobs(design, family, mode):
        left = timeout_s - (time.perf_counter() - t0)
        depth = mode == "flat" or module != design.name  # the top alone holds only registers
        stat = _run_yosys(exe, module, body, work, left, design.path, mode, depth)
        if stat is None:
            if skip_on_timeout:
                return None
            raise ConversionError(f"yosys did not finish in {timeout_s:.0f} s on {design.path}")
        parts[module] = parse_stat(stat, module)
        log = work / f"{module}.log"
        found = [int(d) for d in _LTP.findall(log.read_text(errors="replace"))] if depth else []
        depths += found
        if on_module is not None:
            on_module(module, {**parts[module], "depth": max(found) if found else None})
    figures = _sum_figures(list(parts.values()))
    (work / "stat.json").write_text(json.dumps({"modules": {
        f"\\{m}": {"num_cells_by_type": p["cells"]} for m, p in parts.items()
    }, "design": {"num_cells_by_type": figures["cells"]}}, indent=1))  # fmt: skip
    return {
        "tool": _TOOL[mode],
        "mode": mode,
        "family": family,
        **figures,
        "logic_depth": max(depths) if depths else None,
        "logic_depth_of": "the deepest stage module" if mode == "hierarchical" else "the design",
        "seconds": round(time.perf_counter() - t0, 1),
        "log": str(work.relative_to(design.path)),
    }


def _run_yosys(
    exe: str, module: str, body: str, work: Path, timeout_s: float, where: Path, mode: str,
    depth: bool,
) -> dict[str, Any] | None:  # fmt: skip
    """Run one Yosys script synthesizing ``module`` (``ltp -noff`` after it when ``depth``: not
    on the hierarchical top, where it took 22 GB on the jet CNN's 62k register bits); its
    ``stat -json``, or ``None`` on timeout. :class:`ConversionError` with the first error line,
    or the signal that killed it."""
    stat_file, log, script = (work / f"{module}{ext}" for ext in (".json", ".log", ".ys"))
    ltp = "ltp -noff\n" if depth else ""
    script.write_text(f"{body}tee -q -o {stat_file.resolve()} stat -json\n{ltp}")
    try:
        done = subprocess.run([exe, "-q", "-l", str(log), "-s", str(script)],
                              capture_output=True, text=True, timeout=max(timeout_s, 1),
                              check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        return None
    if done.returncode < 0:
        fix = ("synthesize stage by stage (rtl.synth_mode: hierarchical)" if mode == "flat"
               else "skip synthesis (rtl.synth: false, --no-synth)")  # fmt: skip
        raise ConversionError(
            f"yosys was killed by signal {-done.returncode} on module {module} of {where} "
            f"(out of memory?): {fix}"
        )
    if done.returncode != 0 or not stat_file.is_file():
        lines = [ln for ln in (done.stderr + done.stdout).splitlines() if "ERROR" in ln]
        first = (lines or (done.stderr + done.stdout).strip().splitlines() or ["no output"])[0]
        raise ConversionError(f"yosys failed on {where}: {first.strip()}")
    return json.loads(stat_file.read_text())


def _sum_figures(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The sum of :func:`parse_stat` figures of separately synthesized modules."""
    total: dict[str, Any] = {k: sum(p[k] for p in parts) for k in parts[0] if k != "cells"}
    cells: Counter[str] = Counter()
    for p in parts:
        cells.update(p["cells"])
    total["cells"] = dict(sorted(cells.items()))
    return total
