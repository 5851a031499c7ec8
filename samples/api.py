"""One entry point per verb, dispatching on the sample config's ``kind`` (jets | l1 | dqm)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nanotrig.config import DQMConfig, JetSampleConfig, L1EventConfig
from nanotrig.errors import ConfigError, DataError

__all__ = ["generate_sample", "load_sample", "sample_kind"]


def generate_sample(
    cfg: JetSampleConfig | L1EventConfig | DQMConfig,
    seed: int,
    out_path: str | Path,
    force: bool = False,
    progress: bool = True,
) -> dict:
    """Generate the sample ``cfg`` describes into ``out_path`` (HDF5, atomically) and return its
    artifact record (path, sha256, counts, seconds). Same ``cfg`` and ``seed``: same bytes."""
    out = Path(out_path)
    if isinstance(cfg, JetSampleConfig):
        from nanotrig.samples.generate import generate_jets

        return generate_jets(cfg, seed, out, force=force, progress=progress)
    if isinstance(cfg, L1EventConfig):
        from nanotrig.samples.l1_sample import generate_l1

        return generate_l1(cfg, seed, out, force=force, progress=progress)
    if isinstance(cfg, DQMConfig):
        from nanotrig.samples.dqm_sample import generate_dqm

        return generate_dqm(cfg, seed, out, force=force, progress=progress)
    raise ConfigError(
        f"cannot generate a sample from {type(cfg).__name__}: give a jets, l1 or dqm config"
    )


def sample_kind(path: str | Path) -> str:
    """``jets``, ``l1`` or ``dqm``: the kind recorded in a sample file's manifest."""
    import json

    from nanotrig.samples.store import open_sample

    with open_sample(path, "sample") as f:
        try:
            kind = json.loads(f.attrs["manifest"]).get("kind", "jets")
        except (KeyError, ValueError, TypeError, AttributeError):
            raise DataError(
                f"sample {path} has no readable manifest: regenerate it with 'nanotrig generate'"
            ) from None
    if kind not in ("jets", "l1", "dqm"):
        raise DataError(f"sample {path} has unknown kind {kind!r}: regenerate it")
    return kind


def load_sample(path: str | Path, **kwargs: Any):
    """Load any sample file (``JetSample``, ``L1Sample`` or ``DQMSample``) by its manifest kind."""
    kind = sample_kind(path)
    if kind == "jets":
        from nanotrig.samples.store import load_jets

        return load_jets(path, **kwargs)
    if kind == "l1":
        from nanotrig.samples.l1_sample import load_l1

        return load_l1(path, **kwargs)
    from nanotrig.samples.dqm_sample import load_dqm

    return load_dqm(path, **kwargs)
