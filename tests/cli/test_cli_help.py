"""Every command's --help reads cleanly, --version works, and every option named in a message
of the package exists."""

from __future__ import annotations

import ast
import re
from itertools import pairwise
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from nanotrig import __version__
from nanotrig.cli import app

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]
SOURCES = ("nanotrig", "samples", "models", "quantize", "hls", "export")
#: click wraps help at min(terminal, max_content_width=100) minus its 2-column margin.
WIDTH = 98


def _commands(cmd, path=()) -> list[tuple[tuple[str, ...], object]]:
    out = [(path, cmd)]
    for name, sub in getattr(cmd, "commands", {}).items():
        out += _commands(sub, (*path, name))
    return out


COMMANDS = _commands(typer.main.get_command(app))


def _options() -> set[str]:
    return {o for _, c in COMMANDS for p in c.params for o in (*p.opts, *p.secondary_opts)}


def _broken_lines(text: str) -> list[str]:
    """Lines that end a sentence early: the next line continues the same text, yet its first
    word would have fitted (a reflowed paragraph fills each line)."""
    bad, in_lists = [], False
    lines = text.splitlines()
    for a, b in pairwise(lines):
        if re.match(r"^(Arguments|Options|Commands):$", a):
            in_lists = True
        if not a.strip() or not b.strip() or a.startswith("Usage:"):
            continue
        if in_lists:
            continuation = len(b) - len(b.lstrip()) > 2
            term_only = re.fullmatch(r"\s+\S+( <\w+>)?", a)  # help starts on the next line
            if not continuation or term_only:
                continue
        if len(a.rstrip()) + 1 + len(b.split()[0]) <= WIDTH:
            bad.append(a)
    return bad


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "top")
def test_help_is_clean(path):
    res = runner.invoke(app, [*path, "--help"], terminal_width=200, prog_name="nanotrig")
    assert res.exit_code == 0, res.output
    text = res.output
    assert "{" not in text and "}" not in text, text  # no {config} placeholders
    assert "<bool>" not in text, text  # flags show as flags
    assert "..." not in text.replace("[ARGS]...", ""), text  # no truncated command summaries
    assert _broken_lines(text) == [], text
    usage = text.splitlines()[0]
    assert usage.startswith(f"Usage: nanotrig {' '.join(path)}".rstrip()), usage


def test_debug_and_json_are_flags():
    top = runner.invoke(app, ["--help"], terminal_width=200).output
    assert re.search(r"^  --debug\s+Show tracebacks", top, re.M), top
    for verb in ("generate", "train", "quantize", "convert", "verify", "export", "infer", "run"):
        text = runner.invoke(app, [verb, "--help"], terminal_width=200).output
        assert re.search(r"^  --json\s+Print the whole record as JSON", text, re.M), verb


def test_version():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0
    assert res.stdout == f"nanotrig {__version__}\n"


def _string_constants() -> list[tuple[Path, int, str]]:
    """Every string literal (f-string parts included) of the package, docstrings too."""
    out = []
    for folder in SOURCES:
        for path in sorted((REPO / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    out.append((path.relative_to(REPO), node.lineno, node.value))
    return out


def test_every_option_named_in_a_message_exists():
    options = _options()
    named = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*[a-z0-9]")
    unknown = [
        (str(f), line, opt)
        for f, line, text in _string_constants()
        for opt in named.findall(text)
        if opt not in options
    ]
    assert unknown == []
    assert "--allow-unknown-part" in options and "--json" in options


def test_no_hint_names_a_python_function():
    """Error hints name commands and options, not the library functions behind them."""
    import nanotrig.export
    import nanotrig.hls
    import nanotrig.models
    import nanotrig.quantize
    import nanotrig.samples

    functions = {
        name
        for mod in (
            nanotrig.samples,
            nanotrig.models,
            nanotrig.quantize,
            nanotrig.hls,
            nanotrig.export,
        )
        for name in mod.__all__
        if callable(getattr(mod, name)) and not name[0].isupper()
    }
    hint = re.compile(r"(?:with|run|use|call|generate it first) \(?(\w+)")
    found = [
        (str(f), line, m.group(1))
        for f, line, text in _string_constants()
        for m in hint.finditer(text)
        if m.group(1) in functions
    ]
    assert found == []


def test_run_existing_dir_hint_names_real_options(tmp_path):
    """run has --out-root and --force, not --out."""
    (tmp_path / "runs" / "mine").mkdir(parents=True)
    (tmp_path / "runs" / "mine" / "report.md").write_text("x")
    cfg = tmp_path / "c.yml"
    cfg.write_text(f"name: mine\nout_root: {tmp_path / 'runs'}\n")
    res = runner.invoke(app, ["run", str(cfg)])
    assert res.exit_code == 2
    assert "--force" in res.stderr
    assert not re.search(r"--out\b(?!-)", res.stderr), res.stderr
