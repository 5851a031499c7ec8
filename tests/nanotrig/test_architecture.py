"""The house's floors: the core imports no stage, a stage imports only the core and earlier
stages, no import cycle anywhere; one installed namespace (no bare ``models`` or ``export``)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[2]

#: The core (``nanotrig/`` proper): what every floor may import.
CORE = {
    "nanotrig", "nanotrig.config", "nanotrig.errors", "nanotrig.fileio", "nanotrig.logs",
    "nanotrig.family", "nanotrig.rundir", "nanotrig.inputs", "nanotrig.parts", "nanotrig.decisions",
    "nanotrig.keras_choice",
}  # fmt: skip
#: The stages in the order an artifact travels; each may import only the ones before it.
STAGES = ["nanotrig.samples", "nanotrig.models", "nanotrig.quantize", "nanotrig.hls",
          "nanotrig.rtl", "nanotrig.export"]  # fmt: skip


def _modules() -> dict[str, Path]:
    """Every module of the installed package, named as it imports, from pyproject's mapping."""
    tool = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    mods = {}
    for pkg, folder in tool["package-dir"].items():
        for f in (REPO / folder).rglob("*.py"):
            parts = [p for p in f.relative_to(REPO / folder).with_suffix("").parts]
            mods[".".join([pkg, *parts]).removesuffix(".__init__")] = f
    return mods


def _imports() -> dict[str, set[str]]:
    """Module -> the package modules it imports anywhere (top level, in functions, for typing)."""
    mods = _modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            edges[m] |= {n for n in names if n in mods and n != m}
    return edges


def _floor(module: str) -> tuple[str, int]:
    if module in CORE:
        return "core", -1
    for i, stage in enumerate(STAGES):
        if module == stage or module.startswith(f"{stage}."):
            return "stage", i
    return "application", len(STAGES)


def test_layers():
    bad = []
    for m, targets in _imports().items():
        floor, rank = _floor(m)
        for t in targets:
            t_floor, t_rank = _floor(t)
            if (floor == "core" and t_floor != "core") or (floor == "stage" and t_rank > rank):
                bad.append(f"{m} ({floor}) imports {t} ({t_floor})")
    assert not bad, "\n".join(bad)


def test_no_import_cycle():
    edges = _imports()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                cycles.append([*path[path.index(t) :], t])
            elif t not in state:
                visit(t, [*path, t])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_every_module_is_seen():
    """The checks above cover the stage folders and the core (a guard against a mapping typo)."""
    mods = _modules()
    assert {"nanotrig.runner", "nanotrig.hls.verify", "nanotrig.families.jets"} <= set(mods)
    assert set(mods) >= CORE


@pytest.mark.slow
def test_a_users_models_py_and_export_py_do_not_shadow_ours(tmp_path):
    """From a folder holding its own models.py and export.py (which refuse to be imported),
    nanotrig imports its own stages, no bare stage name is installed, and a small run works."""
    for name in ("models", "export", "samples", "hls", "quantize"):
        (tmp_path / f"{name}.py").write_text(f"raise ImportError('the user\\'s own {name}.py')\n")
    env = {**os.environ, "PYTHONPATH": ""}
    code = (
        "import importlib.util, sys; assert sys.path[0] == '';"
        "import nanotrig.runner, nanotrig.models, nanotrig.export, nanotrig.hls;"
        "import nanotrig.samples, nanotrig.quantize;"
        "sys.path[:] = [p for p in sys.path if p not in ('', '.')];"
        "print([n for n in ('models','export','samples','hls','quantize')"
        " if importlib.util.find_spec(n)])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", "bare stage names are installed: " + out.stdout

    cfg = (REPO / "configs" / "jet_mlp.yml").read_text()
    import yaml

    data = yaml.safe_load(cfg)
    data.update(name="shadow", out_root=str(tmp_path / "runs"))
    data["samples"].update(n_per_class=40, chunk_size=40, classes=["q", "W"])
    data["model"].update(epochs=2, patience=1)
    data["quantize"].update(epochs=1, patience=1)
    data["verify"].update(n_events=40, stress_events=1000, edge_inputs=False)
    (tmp_path / "shadow.yml").write_text(yaml.safe_dump(data))
    nanotrig = Path(sys.executable).with_name("nanotrig")
    run = subprocess.run(
        [str(nanotrig), "run", "shadow.yml"], cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "C-sim bit-exact: True" in run.stdout
    assert (tmp_path / "runs" / "shadow" / "report.md").is_file()
