"""A tiny synthetic 'nanotrig run' directory for scan tests: no Pythia, seconds to make."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from nanotrig.config import ModelConfig, RunConfig

__all__ = ["make_synthetic_run", "scan_config"]


def make_synthetic_run(root: Path, n: int = 600, seed: int = 3) -> Path:
    """``root/run`` with config.yml, data/jets.h5 (5 Gaussian classes in 16 features) and a
    float jet MLP 16-8-5 trained for a few epochs (model/)."""
    from nanotrig.models import train_model
    from nanotrig.samples.jet_features import FEATURE_NAMES
    from nanotrig.samples.store import write_jets

    run = Path(root) / "run"
    (run / "data").mkdir(parents=True)
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 5
    centres = rng.normal(scale=1.5, size=(5, 16))
    feats = (centres[labels] + rng.normal(size=(n, 16))).astype(np.float32)
    kin = {k: np.ones(n, np.float32) for k in ("jet_pt", "jet_eta", "jet_mass")}
    classes = ("g", "q", "W", "Z", "t")
    write_jets(run / "data" / "jets.h5", feats, labels, kin, FEATURE_NAMES, classes, {"seed": 0})
    model_cfg = ModelConfig(hidden=(8,), epochs=3, patience=2, batch_size=64)
    cfg = RunConfig(name="synthetic", model=model_cfg, out_root=Path(root))
    (run / "config.yml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    train_model(run / "data" / "jets.h5", model_cfg, cfg.seed, run / "model")
    return run


def scan_config(run: Path, out: Path, **space) -> dict:
    """A small scan config mapping (4 points by default) around ``run``."""
    return {
        "name": "t",
        "run_dir": str(run),
        "out": str(out),
        "seed": 7,
        "epochs": 1,
        "batch_size": 64,
        "space": space or {"weights": [4, 6], "reuse_factor": [1, 2]},
    }
