"""The run directory (core): ``<out_root>/<name>/``, its resolved config, per-stage timing and
the stage ledger that lets ``run --resume`` skip a stage whose inputs and config are unchanged.

``stages.json`` holds, per finished stage, its fingerprint (a hash of the config keys it reads,
the fingerprints of the stages it reads from, the family and nanotrig's version), its seconds and
its artifact record. A stage is reused only if its fingerprint matches and its outputs exist.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from nanotrig.errors import OutputExistsError
from nanotrig.fileio import package_versions, write_json, write_text

if TYPE_CHECKING:
    from nanotrig.config import RunConfig
    from nanotrig.family import Stage

__all__ = ["StageLedger", "StageTimer", "open_run", "report_header"]

log = logging.getLogger(__name__)
LEDGER = "stages.json"


class StageTimer:
    """Call ``timed(stage, fn, *args, **kwargs)``: runs ``fn``, logs and records its seconds."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    def __call__(self, stage: str, fn: Callable[..., Any], *args, **kwargs) -> Any:
        log.info("[%s] starting", stage)
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        self.timings[stage] = round(time.perf_counter() - t0, 2)
        log.info("[%s] done in %.1f s", stage, self.timings[stage])
        return out


def open_run(cfg: Any, force: bool = False, resume: bool = False) -> tuple[Path, StageTimer]:
    """Create ``<out_root>/<name>/`` and write the resolved config.yml into it.

    An existing non-empty directory is refused unless ``force`` (removed and started over) or
    ``resume`` (kept: the runner redoes only the stages whose inputs changed).
    """
    run_dir = Path(cfg.out_root) / cfg.name
    if run_dir.exists() and not run_dir.is_dir():
        raise OutputExistsError(f"run directory {run_dir} exists and is a file: rename the run")
    if run_dir.is_dir() and any(run_dir.iterdir()):
        if force:
            shutil.rmtree(run_dir)
        elif not resume:
            raise OutputExistsError(
                f"run directory {run_dir} already exists: pass --resume to redo only the stages "
                "whose config changed, --force to start over, or change 'name' / --out-root"
            )
    run_dir.mkdir(parents=True, exist_ok=True)
    dump = yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
    write_text(run_dir / "config.yml", dump)
    return run_dir, StageTimer()


def _config_value(cfg: RunConfig, key: str) -> Any:
    value: Any = cfg.model_dump(mode="json")
    for part in key.split("."):
        value = value[part]
    return value


class StageLedger:
    """``stages.json`` of a run directory: fingerprints and records of the finished stages."""

    def __init__(self, run_dir: Path, family: str, resume: bool) -> None:
        self.path = Path(run_dir) / LEDGER
        self.family = family
        self.entries: dict[str, dict] = {}
        if resume and self.path.is_file():
            try:
                self.entries = json.loads(self.path.read_text()).get("stages", {})
            except (ValueError, AttributeError):
                log.warning("%s is unreadable: every stage runs again", self.path)
        self.fingerprints: dict[str, str] = {}

    def fingerprint(self, stage: Stage, cfg: RunConfig, extra: Any = None) -> str:
        """Hash of what ``stage`` reads: its config keys and its upstream stages' fingerprints."""
        from nanotrig import __version__

        blob = {
            "family": self.family,
            "version": __version__,
            "stage": stage.name,
            "seed": cfg.seed,
            "keys": {k: _config_value(cfg, k) for k in stage.keys},
            "after": {a: self.fingerprints.get(a) for a in stage.after},
            "extra": extra,
        }
        text = json.dumps(blob, sort_keys=True, default=str)
        fp = hashlib.sha256(text.encode()).hexdigest()[:16]
        self.fingerprints[stage.name] = fp
        return fp

    def reusable(self, stage: Stage, run_dir: Path, fp: str) -> dict | None:
        """The stored record of ``stage`` if its fingerprint is ``fp`` and its outputs exist."""
        entry = self.entries.get(stage.name)
        if not entry or entry.get("fingerprint") != fp:
            return None
        if not all((Path(run_dir) / o).exists() for o in stage.outputs):
            return None
        return entry

    def record(self, name: str, fp: str, record: dict, seconds: dict[str, float]) -> None:
        """Store a finished stage and write the ledger (atomically)."""
        self.entries[name] = {"fingerprint": fp, "seconds": seconds, "record": record}
        write_json(self.path, {"family": self.family, "stages": self.entries})

    def forget(self, name: str) -> None:
        """Drop a stage that is about to be redone (its record would be stale)."""
        if self.entries.pop(name, None) is not None:
            write_json(self.path, {"family": self.family, "stages": self.entries})


def report_header(cfg: RunConfig, timings: dict[str, float]) -> dict[str, Any]:
    """The keys every run report starts with: name, seed, family, config, versions, timings."""
    return {
        "name": cfg.name,
        "seed": cfg.seed,
        "family": cfg.model.family,
        "config": cfg.model_dump(mode="json"),
        "versions": package_versions(),
        "timings_s": timings,
    }
