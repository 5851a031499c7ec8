"""The C-synthesis report parser on real vendor reports (tests/hls/fixtures/README.md names their
sources), and ``synth`` without a vendor tool: one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nanotrig.hls.synth import find_csynth_report, parse_csynth_xml, synth_project, vendor_tool
from typer.testing import CliRunner

from nanotrig.cli import app
from nanotrig.errors import DataError, ToolMissingError

FIXTURES = Path(__file__).parent / "fixtures"
FIELDS = {
    "latency_best_cycles", "latency_worst_cycles", "latency_best_ns", "latency_worst_ns",
    "ii_min_cycles", "ii_max_cycles", "dsp", "lut", "ff", "bram", "clock_ns", "part",
}  # fmt: skip


def test_parse_vitis_2022_pipeline_report():
    r = parse_csynth_xml(FIXTURES / "vitis2022_u250_mlp_csynth.xml")
    assert r.keys() >= FIELDS
    assert (r["tool_version"], r["part"], r["clock_ns"]) == ("2022.2", "xcu250-figd2104-2L-e", 5.0)
    assert (r["latency_best_cycles"], r["latency_worst_cycles"], r["latency_worst_ns"]) == (
        15,
        15,
        75.0,
    )
    assert (r["ii_min_cycles"], r["ii_max_cycles"]) == (1, 1)
    assert (r["dsp"], r["lut"], r["ff"], r["bram"]) == (2557, 116694, 24233, 8)
    assert r["available"]["dsp"] == 12288


def test_parse_vivado_2020_dataflow_report():
    r = parse_csynth_xml(FIXTURES / "vivado2020_z020_cnn_stream_csynth.xml")
    assert r.keys() >= FIELDS
    assert (r["latency_best_cycles"], r["latency_worst_cycles"]) == (14121, 14182)
    assert r["latency_best_ns"] == pytest.approx(141210.0)
    assert (r["ii_min_cycles"], r["ii_max_cycles"]) == (4705, 14113)
    assert (r["dsp"], r["lut"], r["ff"], r["bram"]) == (76, 25632, 16975, 45)  # DSP48E tag


def test_parse_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        parse_csynth_xml(tmp_path / "nope.xml")
    bad = tmp_path / "x_csynth.xml"
    bad.write_text("<profile><ReportVersion/></profile>")
    with pytest.raises(DataError, match="no latency or area summary"):
        parse_csynth_xml(bad)
    bad.write_text("<profile>")
    with pytest.raises(DataError, match="not valid XML"):
        parse_csynth_xml(bad)


def test_find_report_in_project_layout(tmp_path):
    rep = tmp_path / "myproject_prj" / "solution1" / "syn" / "report"
    rep.mkdir(parents=True)
    (rep / "myproject_csynth.xml").write_text("<profile/>")
    (rep / "dense_csynth.xml").write_text("<profile/>")
    assert find_csynth_report(tmp_path, "myproject").name == "myproject_csynth.xml"


@pytest.mark.skipif(vendor_tool() is not None, reason="an HLS tool is installed here")
def test_synth_without_tool_says_so(tmp_path):
    (tmp_path / "conversion.json").write_text(json.dumps({"project_dir": "myproject_prj"}))
    with pytest.raises(ToolMissingError, match="no HLS tool on PATH"):
        synth_project(tmp_path)
    result = CliRunner().invoke(app, ["synth", str(tmp_path)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "vitis_hls" in lines[0]


def test_synth_needs_a_converted_project(tmp_path):
    with pytest.raises(DataError, match=r"conversion\.json"):
        synth_project(tmp_path)
