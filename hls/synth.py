"""Vendor HLS synthesis of a converted project, and the parser of its ``*_csynth.xml`` report.

``synth_project`` runs hls4ml's ``build()`` (C synthesis only) when Vitis HLS (``vitis_hls`` /
``vitis-run``) or Vivado HLS (``vivado_hls``) is on PATH, and otherwise raises
:class:`ToolMissingError` in one line. ``parse_csynth_xml`` reads the fields the estimate
(:mod:`hls.estimate`) predicts, so the two can be compared; the real report replaces the estimate.
"""

from __future__ import annotations

import logging
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from nanotrig.errors import ConversionError, DataError, ToolMissingError

__all__ = [
    "SYNTH_FILE",
    "VENDOR_TOOLS",
    "find_csynth_report",
    "parse_csynth_xml",
    "synth_project",
    "vendor_tool",
]

log = logging.getLogger(__name__)

SYNTH_FILE = "synth.json"
#: Executables that mean an HLS tool is installed, in order of preference.
VENDOR_TOOLS = ("vitis_hls", "vitis-run", "vivado_hls")
_TIMING = "PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod"


def vendor_tool() -> str | None:
    """The first HLS tool found on PATH, or None."""
    return next((t for t in VENDOR_TOOLS if shutil.which(t)), None)


def _int(root: ET.Element, *paths: str) -> int | None:
    for p in paths:
        node = root.find(p)
        if node is not None and node.text and node.text.strip().lstrip("-").isdigit():
            return int(node.text.strip())
    return None


def _float(root: ET.Element, path: str) -> float | None:
    node = root.find(path)
    try:
        return float(node.text) if node is not None and node.text else None
    except ValueError:
        return None


def _text(root: ET.Element, path: str) -> str | None:
    node = root.find(path)
    return node.text.strip() if node is not None and node.text else None


def _resources(node: ET.Element | None) -> dict[str, int | None]:
    if node is None:
        return {}
    return {
        "dsp": _int(node, "DSP", "DSP48E"),
        "lut": _int(node, "LUT"),
        "ff": _int(node, "FF"),
        "bram": _int(node, "BRAM_18K"),
        "uram": _int(node, "URAM"),
    }


def parse_csynth_xml(path: str | Path) -> dict[str, Any]:
    """Latency (best/worst cycles and ns), II and DSP/LUT/FF/BRAM_18K of a Vivado/Vitis HLS
    ``<top>_csynth.xml``. Raises :class:`DataError` for a missing or malformed report."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"synthesis report {p} not found: run 'nanotrig synth' on the project")
    try:
        root = ET.parse(p).getroot()
    except ET.ParseError as err:
        raise DataError(f"synthesis report {p} is not valid XML: {err}") from None
    lat = root.find("PerformanceEstimates/SummaryOfOverallLatency")
    area = root.find("AreaEstimates/Resources")
    if lat is None or area is None:
        raise DataError(
            f"{p} has no latency or area summary: give a C-synthesis report (*_csynth.xml)"
        )
    clock = _float(root, "UserAssignments/TargetClockPeriod")
    best = _int(lat, "Best-caseLatency")
    worst = _int(lat, "Worst-caseLatency")
    return {
        "report": p.name,
        "tool_version": _text(root, "ReportVersion/Version"),
        "part": _text(root, "UserAssignments/Part"),
        "top": _text(root, "UserAssignments/TopModelName"),
        "clock_ns": clock,
        "estimated_clock_ns": _float(root, _TIMING),
        "pipeline_type": _text(root, "PerformanceEstimates/PipelineType"),
        "latency_best_cycles": best,
        "latency_worst_cycles": worst,
        "latency_best_ns": None if best is None or clock is None else round(best * clock, 3),
        "latency_worst_ns": None if worst is None or clock is None else round(worst * clock, 3),
        "ii_min_cycles": _int(lat, "Interval-min", "PipelineInitiationInterval"),
        "ii_max_cycles": _int(lat, "Interval-max", "PipelineInitiationInterval"),
        **_resources(area),
        "available": _resources(root.find("AreaEstimates/AvailableResources")),
    }


def find_csynth_report(project_dir: Path, top: str | None = None) -> Path | None:
    """``<project>/**/syn/report/<top>_csynth.xml`` (the top function's, not a sub-module's)."""
    pattern = f"{top}_csynth.xml" if top else "*_csynth.xml"
    hits = sorted(Path(project_dir).glob(f"**/syn/report/{pattern}"))
    return hits[0] if hits else None


def synth_project(out_dir: Path) -> dict[str, Any]:
    """C-synthesize the project written by ``convert`` in ``out_dir`` and parse its report.

    Writes ``synth.json`` (the report fields beside the estimate from ``conversion.json``).
    """
    import json

    from nanotrig.fileio import write_json

    out_dir = Path(out_dir)
    record_path = out_dir / "conversion.json"
    if not record_path.is_file():
        raise DataError(f"{out_dir} holds no conversion.json: run 'nanotrig convert' first")
    tool = vendor_tool()
    if tool is None:
        raise ToolMissingError(
            "no HLS tool on PATH (looked for " + ", ".join(VENDOR_TOOLS) + "): install Vitis or "
            "Vivado HLS to synthesize; conversion.json holds the estimate meanwhile"
        )
    conversion = json.loads(record_path.read_text())
    project_dir = out_dir / conversion["project_dir"]
    from hls4ml.utils.serialization import deserialize_model
    from nanotrig.hls._capture import captured_stdout
    from nanotrig.hls.convert import HLS_MODEL_FILE

    t0 = time.perf_counter()
    with captured_stdout():
        hls_model = deserialize_model(out_dir / HLS_MODEL_FILE, output_dir=str(out_dir / ".tmp"))
        hls_model.config.config["OutputDir"] = str(project_dir)
        try:
            hls_model.build(csim=False, synth=True, export=False, vsynth=False)
        except Exception as err:
            raise ConversionError(f"{tool} synthesis of {project_dir} failed: {err}") from err
    shutil.rmtree(out_dir / ".tmp", ignore_errors=True)
    report = find_csynth_report(project_dir, conversion.get("project_name"))
    if report is None:
        raise ConversionError(f"{tool} wrote no *_csynth.xml under {project_dir}: see its log")
    record = {
        "tool": tool,
        "report_path": str(report.relative_to(out_dir)),
        "synthesis": parse_csynth_xml(report),
        "estimate": conversion.get("estimate"),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    write_json(out_dir / SYNTH_FILE, record)
    log.info("synthesized %s with %s in %.0f s", project_dir, tool, record["seconds"])
    return record
