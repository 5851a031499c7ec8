"""Design-space scan specification: what to vary, how to search, and the points it yields.

A scan starts from an existing run directory (``nanotrig run``: ``model/``, ``data/jets.h5``,
``config.yml``) and varies, around that run's config, the bit widths of weights, biases and
activations (globally and per layer), the hls4ml reuse factor and strategy, and the pruning
sparsity. Each point is a dict ``{dimension: value}`` with every dimension set; its id and its
seed derive from its content and the scan seed only, so a point gives the same result whatever
order, worker or run computes it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from nanotrig.config import (
    HlsConfig,
    LayerBits,
    QuantBits,
    QuantizeConfig,
    RunConfig,
    read_yaml,
    validation_message,
)
from nanotrig.errors import ConfigError

__all__ = [
    "ChooseConfig",
    "LayerSpace",
    "ScanConfig",
    "ScanSpace",
    "check_space",
    "enumerate_points",
    "load_scan_config",
    "parse_scan_config",
    "point_configs",
    "point_id",
    "point_seed",
]

_BITS = ("weights", "bias", "activation")
_MAX_RANDOM_TRIES = 100


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _bit_list(v: tuple[int, ...] | None, what: str) -> tuple[int, ...] | None:
    if v is None:
        return v
    if not v:
        raise ValueError(f"{what}: empty list: give at least one width or remove the key")
    bad = [w for w in v if w < 2 or w > 32]
    if bad:
        raise ValueError(f"{what}: widths must be 2..32 bits, got {bad}")
    if len(set(v)) != len(v):
        raise ValueError(f"{what}: repeated widths {list(v)}")
    return v


class LayerSpace(_Strict):
    """Per-layer bit widths to scan (total bits; integer bits as in the run's config)."""

    weights: tuple[int, ...] | None = None
    bias: tuple[int, ...] | None = None
    activation: tuple[int, ...] | None = None

    @field_validator(*_BITS)
    @classmethod
    def _widths(cls, v, info):
        return _bit_list(v, info.field_name)


class ScanSpace(_Strict):
    """Dimensions of the scan. An omitted key keeps the run config's value (not a dimension).

    Bit widths are total bits of ``quantized_bits`` / ``quantized_relu``; the integer bits stay
    those of the run's ``quantize`` section.
    """

    weights: tuple[int, ...] | None = Field(None, description="Weight widths, every layer.")
    bias: tuple[int, ...] | None = Field(None, description="Bias widths, every layer.")
    activation: tuple[int, ...] | None = Field(None, description="ReLU widths, every layer.")
    layers: dict[str, LayerSpace] = Field(
        default_factory=dict, description="Per-layer widths keyed by Keras layer name."
    )
    reuse_factor: tuple[int, ...] | None = Field(None, description="hls4ml reuse factors.")
    strategy: tuple[Literal["Latency", "Resource"], ...] | None = None
    sparsity: tuple[float, ...] | None = Field(
        None, description="Pruning sparsity of Dense/Conv weights (tfmot), each in [0, 1)."
    )

    @field_validator(*_BITS)
    @classmethod
    def _widths(cls, v, info):
        return _bit_list(v, info.field_name)

    @field_validator("reuse_factor", "strategy", "sparsity")
    @classmethod
    def _non_empty(cls, v, info):
        if v is not None and not v:
            raise ValueError(
                f"{info.field_name}: empty list: give at least one value or remove the key"
            )
        if v is not None and len(set(v)) != len(v):
            raise ValueError(f"{info.field_name}: repeated values {list(v)}")
        return v

    @field_validator("reuse_factor")
    @classmethod
    def _reuse(cls, v):
        if v is not None and any(r < 1 for r in v):
            raise ValueError(f"reuse factors must be >= 1, got {list(v)}")
        return v

    @field_validator("sparsity")
    @classmethod
    def _sparsity(cls, v):
        if v is not None and any(not 0.0 <= s < 1.0 for s in v):
            raise ValueError(f"sparsity values must be in [0, 1), got {list(v)}")
        return v


class ChooseConfig(_Strict):
    """How the chosen point is picked: the cheapest one (``cost``) whose accuracy is within
    ``accuracy_tolerance`` of the best point's, among points within the budgets."""

    cost: Literal["lut_equivalent", "latency_ns"] = "lut_equivalent"
    accuracy_tolerance: float = Field(0.01, ge=0, le=1)
    max_latency_ns: float | None = Field(
        None, gt=0, description="Default: the run config's hls.latency_budget_ns."
    )
    max_ii_ns: float | None = Field(None, gt=0, description="Default: hls.ii_budget_ns.")
    max_lut_equivalent: float | None = Field(None, gt=0)


class ScanConfig(_Strict):
    """``nanotrig scan CONFIG.yml``: a design-space scan around an existing run."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Scan name; the output folder.")
    run_dir: Path = Field(description="A 'nanotrig run' directory: model/, data/jets.h5.")
    out: Path | None = Field(None, description="Output folder; default <run_dir>/scan/<name>.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seeds the random search and points.")
    search: Literal["grid", "random"] = "grid"
    n_points: int | None = Field(None, gt=0, description="random: points drawn from the grid.")
    epochs: int = Field(2, gt=0, description="QAT fine-tune epochs per point (from float).")
    learning_rate: float = Field(1e-3, gt=0)
    batch_size: int = Field(256, gt=0)
    max_train_events: int | None = Field(
        None, gt=0, description="Fine-tune on the first N training jets only (speed)."
    )
    csim_events: int = Field(
        0, ge=0, description="C-simulate each point on N test events (g++); 0: estimate only."
    )
    dsp_lut_equivalent: float = Field(
        55.0, ge=0, description="LUT-equivalent resources = LUT + this x DSP (HGQ convention)."
    )
    space: ScanSpace
    choose: ChooseConfig = ChooseConfig()

    @model_validator(mode="after")
    def _random_needs_n(self) -> ScanConfig:
        if self.search == "random" and self.n_points is None:
            raise ValueError("search: random needs n_points (how many points to draw)")
        return self

    @property
    def out_dir(self) -> Path:
        return Path(self.out) if self.out is not None else Path(self.run_dir) / "scan" / self.name

    def dimensions(self) -> dict[str, tuple]:
        """The scanned dimensions in a fixed order, each with its values."""
        s, dims = self.space, {}
        for key in _BITS:
            if getattr(s, key) is not None:
                dims[key] = getattr(s, key)
        for layer in sorted(s.layers):
            for key in _BITS:
                values = getattr(s.layers[layer], key)
                if values is not None:
                    dims[f"{layer}.{key}"] = values
        for key in ("reuse_factor", "strategy", "sparsity"):
            if getattr(s, key) is not None:
                dims[key] = getattr(s, key)
        return dims


def parse_scan_config(data: object, source: str = "scan config") -> ScanConfig:
    """Validate a mapping as a :class:`ScanConfig`; :class:`ConfigError` in one line."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping, got {type(data).__name__}")
    try:
        cfg = ScanConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(
            validation_message(err, source, "scan config", "configs/scan_jet_mlp.yml")
        ) from None
    if not cfg.dimensions():
        raise ConfigError(
            f"{source}: space has no dimension: give at least one of weights, bias, activation, "
            "layers, reuse_factor, strategy, sparsity"
        )
    return cfg


def load_scan_config(path: str | Path) -> ScanConfig:
    """Read and validate a YAML scan config."""
    return parse_scan_config(read_yaml(path, "scan config"), source=str(path))


def check_space(cfg: ScanConfig, base: RunConfig, layer_kinds: dict[str, str]) -> None:
    """Check the space against the run: layer names exist and fit, widths exceed integer bits.

    ``layer_kinds`` maps quantizable layer names to ``weighted`` or ``activation``.
    """
    for name, space in cfg.space.layers.items():
        if name not in layer_kinds:
            known = ", ".join(sorted(layer_kinds)) or "none"
            raise ConfigError(
                f"space.layers names unknown layer {name!r}: quantizable layers are {known}"
            )
        kind = layer_kinds[name]
        if kind == "activation" and (space.weights or space.bias):
            raise ConfigError(
                f"space.layers.{name} is an activation layer: scan 'activation' there, "
                "weights/bias on the Dense/Conv layer"
            )
        if kind == "weighted" and space.activation:
            raise ConfigError(
                f"space.layers.{name} is a Dense/Conv layer: scan 'activation' on the "
                "activation layer that follows it"
            )
    q = base.quantize
    for dim, values in cfg.dimensions().items():
        key = dim.rsplit(".", 1)[-1]
        if key not in _BITS:
            continue
        layer = dim.split(".")[0] if "." in dim else None
        over = q.layers.get(layer, LayerBits()) if layer else LayerBits()
        integer = (getattr(over, key) or getattr(q, key)).integer
        low = [w for w in values if w <= integer]
        if low:
            raise ConfigError(
                f"space.{dim}: widths {low} do not exceed the {integer} integer bits of the run "
                f"config's quantize.{key}: use widths above {integer}"
            )


def enumerate_points(cfg: ScanConfig) -> list[dict[str, Any]]:
    """The points of the scan in a fixed order: the full grid, or ``n_points`` distinct points
    drawn from it with the scan seed (all of it when it is smaller)."""
    dims = cfg.dimensions()
    keys = list(dims)
    size = int(np.prod([len(v) for v in dims.values()], dtype=object))
    if cfg.search == "grid" or cfg.n_points >= size:
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*dims.values())]
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0x5CA9]))
    seen: set[tuple] = set()
    points: list[dict[str, Any]] = []
    tries = 0
    while len(points) < cfg.n_points:
        combo = tuple(dims[k][int(rng.integers(len(dims[k])))] for k in keys)
        tries += 1
        if combo in seen:
            if tries > _MAX_RANDOM_TRIES * cfg.n_points:
                break
            continue
        seen.add(combo)
        points.append(dict(zip(keys, combo, strict=True)))
    return points


def _canonical(point: dict[str, Any]) -> str:
    return json.dumps(point, sort_keys=True, separators=(",", ":"))


def point_id(point: dict[str, Any]) -> str:
    """Stable 12-hex id of a point (its content only)."""
    return hashlib.sha1(_canonical(point).encode()).hexdigest()[:12]


def point_seed(scan_seed: int, point: dict[str, Any]) -> int:
    """Seed of a point's fine-tune, from the scan seed and the point's content only."""
    digest = hashlib.sha256(f"{scan_seed}:{_canonical(point)}".encode()).digest()
    return int.from_bytes(digest[:4], "little") % (2**31 - 1)


def point_configs(
    base: RunConfig, point: dict[str, Any]
) -> tuple[QuantizeConfig, HlsConfig, float]:
    """The run config's quantize and hls sections with the point applied, and its sparsity."""
    q = base.quantize
    top: dict[str, Any] = {}
    layers = {name: over.model_dump() for name, over in q.layers.items()}
    for dim, value in point.items():
        key = dim.rsplit(".", 1)[-1]
        if key not in _BITS:
            continue
        if "." in dim:
            layer = dim.split(".")[0]
            over = q.layers.get(layer, LayerBits())
            integer = (getattr(over, key) or getattr(q, key)).integer
            layers.setdefault(layer, {})[key] = {"bits": value, "integer": integer}
        else:
            top[key] = QuantBits(bits=value, integer=getattr(q, key).integer)
    layers = {k: {kk: vv for kk, vv in v.items() if vv is not None} for k, v in layers.items()}
    qcfg = QuantizeConfig.model_validate({**q.model_dump(), **top, "layers": layers})
    hupd = {k: point[k] for k in ("reuse_factor", "strategy") if k in point}
    hcfg = base.hls.model_copy(update=hupd)
    return qcfg, hcfg, float(point.get("sparsity", 0.0))
