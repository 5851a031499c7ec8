"""The README is a front page and docs/ builds as a site, strictly; commands shown are real."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
MAX_README_LINES = 200

#: ``[text](target)`` and ``![alt](target)``; the target up to a space or the closing bracket.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)


def _mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _nav_files(nav) -> list[str]:
    files: list[str] = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        files += _nav_files(value) if isinstance(value, list) else [value]
    return files


def _nav_titles(nav) -> dict[str, str]:
    titles: dict[str, str] = {}
    for entry in nav:
        if isinstance(entry, dict):
            ((title, value),) = entry.items()
            if isinstance(value, list):
                titles.update(_nav_titles(value))
            else:
                titles[value] = title
    return titles


def _mkdocs_config() -> dict:
    return yaml.safe_load((REPO / "mkdocs.yml").read_text())


def test_site_builds_strictly(tmp_path):
    site = tmp_path / "site"
    proc = _mkdocs_build(REPO / "mkdocs.yml", site)
    assert proc.returncode == 0, proc.stderr
    for page in _nav_files(_mkdocs_config()["nav"]):
        html = site / ("index.html" if page == "index.md" else f"{page[:-3]}/index.html")
        assert html.is_file(), f"{page} in the nav but not built"


def test_every_page_is_in_the_nav_and_families_is_there():
    nav = _mkdocs_config()["nav"]
    pages = sorted(p.name for p in DOCS.glob("*.md"))
    assert sorted(_nav_files(nav)) == pages
    assert _nav_titles(nav)["families.md"] == "Families and the runner"
    assert (DOCS / "families.md").read_text().startswith("# Families and the runner\n")


def _copy_site(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(DOCS, root / "docs")
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    return root


@pytest.mark.parametrize(
    "breakage",
    ["broken link", "broken anchor", "page missing from the nav", "nav entry without a page"],
)
def test_strict_build_fails_on(breakage, tmp_path):
    root = _copy_site(tmp_path)
    page = root / "docs" / "families.md"
    if breakage == "broken link":
        page.write_text(page.read_text() + "\nSee [nothing](no-such-page.md).\n")
    elif breakage == "broken anchor":
        page.write_text(page.read_text() + "\nSee [verify](verify.md#no-such-section).\n")
    elif breakage == "page missing from the nav":
        (root / "docs" / "orphan.md").write_text("# Orphan\n")
    else:
        cfg = root / "mkdocs.yml"
        cfg.write_text(cfg.read_text().replace("families.md", "familes.md"))
    proc = _mkdocs_build(root / "mkdocs.yml", tmp_path / "site")
    assert proc.returncode != 0, f"{breakage} did not fail the strict build"


def test_readme_is_a_front_page():
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines"
    text = "\n".join(lines[:60])  # the first screen answers "how do I run my own model"
    assert "nanotrig convert" in text and "nanotrig verify" in text


def _relative_links(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text())
    return [t for t in LINK.findall(text) if not re.match(r"^[a-z][a-z0-9+.-]*:|^#", t)]


def test_readme_relative_links_exist():
    links = _relative_links(README)
    assert links, "README.md links nothing: the docs pages should be linked"
    missing = [t for t in links if not (REPO / t.split("#", 1)[0]).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def _shown_commands(path: Path) -> list[str]:
    """``nanotrig ...`` lines of the fenced blocks, continuation lines joined, comments cut."""
    commands: list[str] = []
    for block in FENCE.findall(path.read_text()):
        for line in block.splitlines():
            line = re.sub(r"^\$ ", "", line).split("  #", 1)[0].rstrip()
            if line.startswith("nanotrig "):
                commands.append(line)
            elif commands and line.startswith(" ") and line.strip().startswith("["):
                commands[-1] += " " + line.strip()
    return commands


def test_shown_commands_and_options_exist():
    """Every ``nanotrig`` line in README.md and docs/ names a real command and real options."""
    import typer

    from nanotrig.cli import app

    group = typer.main.get_command(app)
    global_opts = {o for p in group.params for o in p.opts + p.secondary_opts} | {"--help"}
    shown_in = {path: _shown_commands(path) for path in [README, *sorted(DOCS.glob("*.md"))]}
    assert len(shown_in[README]) >= 10, "README.md should show the CLI at a glance"
    problems = []
    for path, commands in shown_in.items():
        for command in commands:
            words = command.split()[1:]
            cmd = group
            while words and words[0] in getattr(cmd, "commands", {}):
                cmd = cmd.commands[words.pop(0)]
            if hasattr(cmd, "commands"):  # "nanotrig --help", "nanotrig [--debug] COMMAND ..."
                unknown = [w for w in words if re.fullmatch(r"[a-z][a-z-]*", w)]
                if unknown:
                    problems.append(f"{path.name}: unknown command {unknown[0]!r}: {command!r}")
            known = global_opts | {o for p in cmd.params for o in p.opts + p.secondary_opts}
            shown = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", command))
            if shown - known:
                problems.append(f"{path.name}: {sorted(shown - known)} unknown in {command!r}")
    assert not problems, "\n".join(problems)


def test_cli_page_shows_every_command_and_option():
    """docs/cli.md is the full reference: a command or option added to the CLI must appear there."""
    import typer

    from nanotrig.cli import app

    shown = _shown_commands(DOCS / "cli.md")
    missing = []

    def walk(cmd, path: list[str]) -> None:
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])
            return
        lines = [c for c in shown if c.split()[1 : 1 + len(path)] == path]
        if not lines:
            missing.append(" ".join(path))
            return
        text = " ".join(lines)
        for param in cmd.params:
            for opt in param.opts:
                if opt.startswith("--") and not re.search(rf"{re.escape(opt)}(?![\w-])", text):
                    missing.append(f"{' '.join(path)} {opt}")

    walk(typer.main.get_command(app), [])
    assert not missing, f"docs/cli.md does not show: {missing}"
