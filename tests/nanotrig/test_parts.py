"""The FPGA parts table (nanotrig/parts.yml): known parts accepted, others refused in one line
unless allowed, and the estimate's share of a known device."""

from __future__ import annotations

import pytest
from nanotrig.hls.estimate import Estimate

from nanotrig.config import HlsConfig, parse_config
from nanotrig.errors import ConfigError
from nanotrig.parts import get_part, known_parts

ASKED = (
    "xcvu9p-flga2104-2L-e",
    "xcvu13p-flga2577-2-e",
    "xcku115-flvb2104-2-i",
    "xc7vx690tffg1927-2",
    "xcu250-figd2104-2L-e",
)


def test_table_holds_the_parts_users_target():
    assert set(ASKED) <= set(known_parts())
    vu9p = get_part("XCVU9P-FLGA2104-2L-E")  # case-insensitive
    assert vu9p is not None
    assert (vu9p.lut, vu9p.ff, vu9p.dsp, vu9p.bram_18k) == (1182240, 2364480, 6840, 4320)
    for name in known_parts():
        p = get_part(name)
        assert p is not None and min(p.lut, p.ff, p.dsp, p.bram_18k) > 0
        assert p.ff == 2 * p.lut  # every AMD/Xilinx CLB of these families: 2 FFs per LUT
        assert p.source.startswith("DS")


def test_default_and_config_parts_are_known():
    assert get_part(HlsConfig().part) is not None


def test_unknown_part_refused_in_one_line():
    expected = (
        r"hls.part': unknown FPGA part 'xcvu9p-foo-bar': known parts are xcvu9p-flga2104-2L-e, "
        r".*--allow-unknown-part\)$"
    )
    with pytest.raises(ConfigError, match=expected):
        parse_config({"name": "x", "hls": {"part": "xcvu9p-foo-bar"}})


def test_unknown_part_allowed_explicitly():
    cfg = parse_config({"name": "x", "hls": {"part": "xcvu9p-foo-bar", "allow_unknown_part": True}})
    assert cfg.hls.part == "xcvu9p-foo-bar"
    with pytest.raises(ConfigError, match="'nonsense' is not an AMD/Xilinx part number"):
        parse_config({"name": "x", "hls": {"part": "nonsense", "allow_unknown_part": True}})


def _estimate(part: str | None) -> Estimate:
    return Estimate(
        clock_ns=5.0, io_type="io_parallel", latency_cycles=10, latency_ns=50.0, ii_cycles=1,
        ii_ns=5.0, dsp=684, lut=11822, ff=0, bram=432, part=part,
    )  # fmt: skip


def test_estimate_share_of_known_device():
    share = _estimate("xcvu9p-flga2104-2L-e").to_dict()["device_share"]
    assert share["part"] == "xcvu9p-flga2104-2L-e"
    assert share["dsp_pct"] == pytest.approx(10.0)
    assert share["lut_pct"] == pytest.approx(100 * 11822 / 1182240, abs=1e-3)
    assert share["bram_pct"] == pytest.approx(10.0)
    assert share["ff_pct"] == 0.0
    assert _estimate("xcvu9p-foo-bar").to_dict()["device_share"] is None
    assert _estimate(None).to_dict()["device_share"] is None
