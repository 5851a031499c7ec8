"""Typed, validated configuration for every stage (pydantic, ``extra="forbid"``).

One YAML file configures a whole run; each stage receives only its own section. Everything is
validated before any long work starts, and errors name the offending key and the fix.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    SerializationInfo,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from nanotrig.errors import ConfigError

__all__ = [
    "MODEL_INPUTS",
    "DQMConfig",
    "ExportConfig",
    "HlsConfig",
    "JetSampleConfig",
    "L1EventConfig",
    "LayerBits",
    "ModelConfig",
    "QuantBits",
    "QuantizeConfig",
    "RtlConfig",
    "RunConfig",
    "SampleConfig",
    "SoftmaxTables",
    "VerifyConfig",
    "load_config",
    "parse_config",
]

JET_CLASSES = ("g", "q", "W", "Z", "t")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JetSampleConfig(_Strict):
    """Pythia 8 + FastJet jet sample: one leading anti-kT jet per event, 16 HLF features."""

    kind: Literal["jets"] = "jets"
    classes: tuple[Literal["g", "q", "W", "Z", "t"], ...] = Field(
        JET_CLASSES, description="Jet classes to generate, label = position in this list."
    )
    n_per_class: int = Field(1000, gt=0, description="Jets kept per class.")
    ecm_gev: float = Field(13000.0, gt=0, description="Proton-proton centre-of-mass energy.")
    pthat_range_gev: tuple[float, float] = Field(
        (950.0, 1050.0), description="Pythia PhaseSpace:pTHatMin/Max of the hard process."
    )
    jet_pt_range_gev: tuple[float, float] = Field(
        (800.0, 1200.0), description="Window the leading jet's pT must fall in to be kept."
    )
    jet_r: float = Field(
        0.4, gt=0, le=1.5, description="Anti-kT radius. 0.4: the hls4ml LHC jet data set's "
        "feature statistics are those of R = 0.4 jets (docs/jet-physics.md); 0.8: the radius its "
        "papers state, and that of jet images spanning +-0.8.",
    )  # fmt: skip
    boson_production: Literal["pair", "scalar"] = Field(
        "pair", description="W and Z jets: 'pair' = q qbar -> WW / ZZ (Standard Model, mostly "
        "transversely polarised; the hls4ml data set's samples are WW and ZZ); 'scalar' = a heavy "
        "scalar (2 TeV) -> WW / ZZ (longitudinal: fewer asymmetric decays lose a prong to the "
        "grooming; see docs/jet-physics.md).",
    )  # fmt: skip
    match_dr: float | None = Field(
        0.8,
        gt=0,
        description="W/Z/t jets: max dR to the hard-process parton; null disables "
        "(with contained: []).",
    )
    contained: tuple[Literal["W", "Z", "t"], ...] = Field(
        ("W", "Z"), description="Classes whose jets are kept only if every quark of the matched "
        "boson's or top's decay lies within jet_r of the jet axis (fully merged jets; needs "
        "match_dr). [W, Z]: as the hls4ml LHC jet data set's statistics show its jets (its top "
        "jets need not hold all three quarks). Empty: any matched leading jet, including those "
        "that lost a decay quark outside the jet, as a trigger sees them (docs/jet-physics.md).",
    )  # fmt: skip
    image_size: int = Field(
        16, ge=4, le=128, description="Jet images are image_size x image_size pixels (eta x phi)."
    )
    image_extent: float = Field(
        0.8, gt=0, le=3.0, description="Images span [-extent, extent) in eta and phi around the "
        "jet axis (0.8 with 16 pixels: 0.1 per pixel, the R=0.8 disc fits).",
    )  # fmt: skip
    n_constituents: int = Field(
        32, ge=1, le=512, description="Constituent lists keep the n_constituents hardest "
        "particles (pT-ordered, zero-padded).",
    )  # fmt: skip
    feature_backend: Literal["numba", "fastjet"] = Field(
        "numba", description="Grooming + energy correlators: 'numba' (samples.substructure, "
        "one compiled pass per jet) or 'fastjet' (fjcontrib's SoftDrop/EnergyCorrelator, the "
        "reference; about 10x slower). Both give the same features to 1e-12.",
    )  # fmt: skip
    workers: int = Field(2, ge=1, description="Processes generating in parallel.")
    chunk_size: int = Field(250, gt=0, description="Events per Pythia batch (one task each).")

    @model_validator(mode="after")
    def _contained_needs_match(self) -> JetSampleConfig:
        if self.contained and self.match_dr is None:
            raise ValueError(
                f"contained: {list(self.contained)} needs match_dr (the decay quarks are those "
                "of the matched boson or top): set match_dr, e.g. 0.8, or contained: []"
            )
        return self

    @field_validator("pthat_range_gev", "jet_pt_range_gev")
    @classmethod
    def _ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not (0 <= v[0] < v[1]):
            raise ValueError(f"must be [low, high] with 0 <= low < high, got {list(v)}")
        return v

    @field_validator("classes")
    @classmethod
    def _unique(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v) or len(v) < 2:
            raise ValueError(f"need at least two distinct classes, got {list(v)}")
        return v


L1_BACKGROUNDS = ("W", "Z", "ttbar", "QCD")
L1_SIGNALS = ("A_4l", "LQ_btau", "h0_tautau", "hplus_taunu")
L1Background = Literal["W", "Z", "ttbar", "QCD"]
L1Signal = Literal["A_4l", "LQ_btau", "h0_tautau", "hplus_taunu"]


class L1EventConfig(_Strict):
    """ADC2021-style L1 events: 57 features (MET, 4 e/gamma, 4 mu, 10 jets) x (pT, eta, phi)
    from Pythia 8 with a parametric detector; an SM cocktail plus BSM signals."""

    kind: Literal["l1"] = "l1"
    n_events: int = Field(10000, gt=0, description="SM background events kept (all processes).")
    fractions: dict[L1Background, float] = Field(
        {"W": 0.592, "Z": 0.067, "ttbar": 0.003, "QCD": 0.338},
        description="Share of each SM process in the background (after the trigger); sums to 1.",
    )
    signals: tuple[L1Signal, ...] = Field(L1_SIGNALS, description="BSM processes to generate.")
    n_signal: int = Field(1000, ge=0, description="Events kept per BSM process.")
    ecm_gev: float = Field(13000.0, gt=0, description="Proton-proton centre-of-mass energy.")
    lepton_trigger_gev: float = Field(
        23.0, ge=0, description="Keep events whose leading e or mu has pT above this."
    )
    qcd_pthat_min_gev: float = Field(
        30.0, gt=0, description="QCD: Pythia PhaseSpace:pTHatMin of HardQCD:all."
    )
    qcd_enrichment: Literal["heavy_flavour", "none"] = Field(
        "heavy_flavour", description="QCD: heavy_flavour generates b/c pairs (semi-leptonic "
        "decays give real leptons) instead of all 2->2 QCD; none is unbiased but very slow.",
    )  # fmt: skip
    bias_pthat_pow: float = Field(
        0.0, ge=0, le=8, description="QCD and ttbar (2->2): Pythia phase-space biasing "
        "(PhaseSpace:bias2Selection) by (pTHat / pTHatMin)^pow, events weighted by Pythia's "
        "info.weight() to undo it; 0: off (unit weights). Fills the high-pT tail where a "
        "1e-5 threshold lives. W and Z (2->1) are never biased.",
    )  # fmt: skip
    workers: int = Field(2, ge=1, description="Processes generating in parallel.")
    chunk_size: int = Field(500, gt=0, description="Events per Pythia batch (one task each).")

    @field_validator("fractions")
    @classmethod
    def _fractions(cls, v: dict[str, float]) -> dict[str, float]:
        if any(f < 0 for f in v.values()) or abs(sum(v.values()) - 1.0) > 1e-3:
            raise ValueError(f"fractions must be >= 0 and sum to 1, got {v}")
        return v

    @field_validator("signals")
    @classmethod
    def _distinct(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError(f"signals must be distinct, got {list(v)}")
        return v


DQM_FAULTS = ("dead_channel", "dead_region", "hot_channel", "noisy_region", "hv_sag")
DQMFault = Literal["dead_channel", "dead_region", "hot_channel", "noisy_region", "hv_sag"]


class DQMConfig(_Strict):
    """Simulated DQM occupancy maps: an eta x phi detector, lognormal channel gains, luminosity
    falling over each run's lumisections, Poisson counts, faults injected from a lumisection on."""

    kind: Literal["dqm"] = "dqm"
    n_runs: int = Field(40, gt=0, description="Runs; each has lumisections_per_run maps.")
    lumisections_per_run: int = Field(25, gt=0, description="Maps (lumisections) per run.")
    shape: tuple[int, int] = Field((32, 64), description="Detector grid [n_eta, n_phi] cells.")
    eta_max: float = Field(3.0, gt=0, description="The grid covers |eta| < eta_max.")
    mean_occupancy: float = Field(
        100.0, gt=0, description="Mean counts per cell in a lumisection at peak luminosity."
    )
    gain_spread: float = Field(0.07, ge=0, le=1, description="Lognormal sigma of channel gains.")
    lumi_lifetime_ls: float = Field(
        200.0, gt=0, description="Luminosity decays as exp(-ls / lifetime) within a run."
    )
    fault_fraction: float = Field(0.5, ge=0, le=1, description="Share of runs with a fault.")
    faults: tuple[DQMFault, ...] = Field(
        DQM_FAULTS, description="Fault types drawn (uniformly) for faulty runs."
    )
    workers: int = Field(2, ge=1, description="Processes generating in parallel.")
    chunk_size: int = Field(10, gt=0, description="Runs per task.")

    @field_validator("shape")
    @classmethod
    def _shape(cls, v: tuple[int, int]) -> tuple[int, int]:
        if min(v) < 8 or max(v) > 512:
            raise ValueError(f"shape must be two sizes in 8..512, got {list(v)}")
        return v

    @model_validator(mode="after")
    def _faults(self) -> DQMConfig:
        if self.fault_fraction > 0 and not self.faults:
            raise ValueError("fault_fraction > 0 needs at least one fault type in faults")
        return self


def _sample_config(value: object) -> object:
    """Pick the sample config class from ``kind`` (``jets`` when absent)."""
    if isinstance(value, BaseModel):
        return value
    if not isinstance(value, dict):
        raise ValueError(f"must be a mapping of keys, got {type(value).__name__}")
    kinds = {"jets": JetSampleConfig, "l1": L1EventConfig, "dqm": DQMConfig}
    kind = value.get("kind", "jets")
    if kind not in kinds:
        raise ValueError(f"unknown sample kind {kind!r}: choose one of {sorted(kinds)}")
    return kinds[kind].model_validate(value)


def _dump_sample_config(value: BaseModel, info: SerializationInfo) -> dict:
    return value.model_dump(mode=info.mode)


#: ``samples:`` section: a jet, L1-event or DQM sample, chosen by its ``kind`` (default jets).
SampleConfig = Annotated[
    JetSampleConfig | L1EventConfig | DQMConfig,
    PlainValidator(_sample_config),
    PlainSerializer(_dump_sample_config),
]


#: Inputs each model family takes: the 16 standardised high-level features, or jet images.
MODEL_INPUTS = {"jet_mlp": "features", "jet_cnn": "images", "dqm_ae": "maps"}
MODEL_INPUTS["anomaly_vae"] = "l1_features"  # the 57 L1 features, power-of-two scaled
MODEL_INPUTS["jet_garnet"] = "constituents"  # models/garnet.py: (N, 4) features + vertex count


#: ``model:`` keys that belong to some family; each family declares the ones it reads.
FAMILY_MODEL_KEYS = (
    "hidden", "conv_filters", "kernel_size", "pool_size", "dense", "vae_hidden", "latent_dim",
    "kl_beta", "total_rate_mhz", "l1_rate_khz", "normalise", "score",
)  # fmt: skip


def _positive_widths(v: tuple[int, ...], what: str, allow_empty: bool = False) -> tuple[int, ...]:
    if (not v and not allow_empty) or any(w <= 0 for w in v):
        raise ValueError(f"{what} must be positive integers, got {list(v)}")
    return v


class ModelConfig(_Strict):
    """Float Keras model and its training.

    ``jet_mlp`` (16 raw features, standardised inside) uses ``hidden``; ``jet_cnn`` (the samples'
    ``image_size`` x ``image_size`` jet images, pT fractions in [0, 1], not rescaled) uses
    ``conv_filters``, ``kernel_size``, ``pool_size`` and ``dense``. ``dqm_ae`` (DQM occupancy
    maps, raw counts scaled inside or normalised to mean 1 outside (``normalise``), trained on
    good maps) uses ``conv_filters`` (encoder blocks, mirrored by UpSampling2D decoder
    blocks), ``kernel_size``, ``pool_size`` and ``normalise``.
    """

    family: str = Field(
        "jet_mlp", description="A registered model family (nanotrig.family): jet_mlp: dense net "
        "on the 16 HLF; jet_cnn: CNN on jet images; dqm_ae: convolutional autoencoder on DQM "
        "occupancy maps (samples.kind: dqm); anomaly_vae: VAE on the 57 L1 features, score "
        "in firmware, model.score (samples.kind: l1); jet_garnet: GarNet tagger on jet "
        "constituents, fixed layers (models/garnet.py); or one registered with register_family.",
    )  # fmt: skip
    hidden: tuple[int, ...] = Field((64, 32, 32), description="jet_mlp: hidden layer widths.")
    conv_filters: tuple[int, ...] = Field(
        (8, 8), description="jet_cnn: filters of each Conv2D + ReLU + MaxPooling2D block."
    )
    kernel_size: int = Field(3, ge=1, le=7, description="jet_cnn: square Conv2D kernel side.")
    pool_size: int = Field(2, ge=1, le=4, description="jet_cnn: square max-pooling window.")
    dense: tuple[int, ...] = Field(
        (16,), description="jet_cnn: widths of the Dense + ReLU layers after Flatten."
    )
    vae_hidden: tuple[int, ...] = Field(
        (32, 16), description="anomaly_vae: encoder Dense + ReLU widths (decoder mirrors them)."
    )
    latent_dim: int = Field(3, ge=1, le=32, description="anomaly_vae: latent dimensions (mu).")
    kl_beta: float = Field(
        1e-4,
        gt=0,
        lt=1,
        description="anomaly_vae: loss = (1 - kl_beta) * MSE + kl_beta * KL "
        "(MSE: mean over the scaled features, ~0.02; 0.5 collapses the latent: mu ~ 0).",
    )
    score: Literal["mu2", "recon"] = Field(
        "recon",
        description="anomaly_vae: the anomaly score the deployed model computes in firmware: "
        "recon (default; detects the demo's signals, docs/anomaly-vae.md): the reconstruction "
        "error; mu2: sum(mu^2) of the encoder's latent means. recon: the reconstruction error "
        "sum((x - decoder(mu))^2) over the scaled, quantized inputs x (encoder, decoder, "
        "difference quantized as quantize.recon_diff, square and sum all in the firmware).",
    )
    total_rate_mhz: float = Field(
        28.6, gt=0, description="anomaly_vae: collision rate the background stands for, in MHz "
        "(40 MHz x the filled-bunch fraction 2544/3564 = 28.6 MHz); rate = FPR x this.",
    )  # fmt: skip
    l1_rate_khz: float = Field(
        1.0, gt=0, description="anomaly_vae: L1 rate (kHz) at which the TPR is also reported."
    )
    normalise: Literal["per_map", "po2_scale"] = Field(
        "per_map",
        description="dqm_ae: per_map: the model takes maps_normalized (counts x cells / total, "
        "the luminosity divided out), a per-map division that stays preprocessing outside the "
        "model; po2_scale: the deployed model takes the raw occupancy counts and scales them "
        "inside by one power of two fitted on the training maps (2**-round(log2(mean "
        "count))), exact in firmware, but the luminosity then reaches the model "
        "(docs/dqm-ae.md: lower fault AUC).",
    )
    epochs: int = Field(30, gt=0)
    batch_size: int = Field(256, gt=0)
    learning_rate: float = Field(1e-3, gt=0)
    patience: int = Field(5, ge=1, description="Early-stopping patience on validation loss.")
    val_fraction: float = Field(0.2, gt=0, lt=0.5)
    test_fraction: float = Field(0.2, gt=0, lt=0.5)

    @field_validator("hidden")
    @classmethod
    def _widths(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        return _positive_widths(v, "hidden widths")

    @field_validator("conv_filters")
    @classmethod
    def _filters(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        return _positive_widths(v, "conv_filters")

    @field_validator("dense")
    @classmethod
    def _dense(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        return _positive_widths(v, "dense widths", allow_empty=True)

    @field_validator("family")
    @classmethod
    def _registered(cls, v: str) -> str:
        from nanotrig.family import get_family

        try:
            get_family(v)
        except ConfigError as err:
            raise ValueError(str(err)) from None
        return v

    @model_validator(mode="after")
    def _family_keys(self) -> ModelConfig:
        """A key of another family set to a non-default value is a mistake, not a no-op."""
        from nanotrig.family import family_names, get_family

        mine = get_family(self.family).model_keys
        for key in FAMILY_MODEL_KEYS:
            if key in mine or getattr(self, key) == type(self).model_fields[key].default:
                continue
            owners = [n for n in family_names() if key in get_family(n).model_keys]
            set_by = ", ".join(mine) if mine else "the family itself (fixed)"
            raise ValueError(
                f"{key} applies to {'/'.join(owners) or 'no registered family'}, not "
                f"{self.family}: remove it (the {self.family} layers are set by {set_by})"
            )
        if "vae_hidden" in mine:
            _positive_widths(self.vae_hidden, "vae_hidden widths")
        return self

    @property
    def inputs(self) -> Literal["features", "images", "maps"]:
        """What the family's model reads from a jet sample."""
        return MODEL_INPUTS.get(self.family, "features")  # type: ignore[return-value]


class QuantBits(_Strict):
    """A fixed-point quantizer: ``bits`` in total, ``integer`` of them left of the point (sign
    excluded), as QKeras ``quantized_bits(bits, integer, alpha=1)`` / ``quantized_relu``."""

    bits: int = Field(ge=2, le=32)
    integer: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _fits(self) -> QuantBits:
        if self.integer >= self.bits:
            raise ValueError(
                f"integer bits ({self.integer}) must be below total bits ({self.bits})"
            )
        return self


class LayerBits(_Strict):
    """Per-layer override; unset fields fall back to the config's defaults."""

    weights: QuantBits | None = None
    bias: QuantBits | None = None
    activation: QuantBits | None = None
    sparsity: float | None = Field(
        None,
        ge=0.0,
        lt=1.0,
        description="Dense/Conv layer: its own pruned fraction instead of quantize.sparsity "
        "(0: not pruned).",
    )


class QuantizeConfig(_Strict):
    """QKeras counterpart and quantization-aware training."""

    input: QuantBits = Field(
        QuantBits(bits=16, integer=5),
        description="Input quantizer (signed): quantized_bits(16,5) is ap_fixed<16,6>.",
    )
    raw_input: QuantBits = Field(
        QuantBits(bits=22, integer=10),
        description="jet_mlp, anomaly_vae, dqm_ae (normalise: po2_scale): type of the raw "
        "inputs as the trigger sends them (physical units or counts, before the scaling inside "
        "the model): quantized_bits(22,10) is ap_fixed<22,11>, range +-1024 (GeV, "
        "multiplicities), LSB 2**-11.",
    )
    weights: QuantBits = QuantBits(bits=6, integer=0)
    bias: QuantBits = QuantBits(bits=6, integer=0)
    activation: QuantBits = QuantBits(bits=6, integer=0)

    @field_validator("raw_input")
    @classmethod
    def _raw_has_a_fraction(cls, v: QuantBits) -> QuantBits:
        if v.bits - 1 - v.integer < 1:  # hls4ml types it ap_int: wraps instead of saturating
            raise ValueError(
                f"raw_input quantized_bits({v.bits},{v.integer}) has no fractional bit: hls4ml "
                "makes it an ap_int input, which wraps out-of-range values instead of "
                f"saturating; use bits: {v.integer + 2}"
            )
        return v

    latent: QuantBits = Field(
        QuantBits(bits=10, integer=2),
        description="anomaly_vae: quantizer of the latent means mu before the score sum(mu^2) "
        "(10 bits: mu**2 summed over up to 8 latents stays exact in float32).",
    )
    recon_diff: QuantBits = Field(
        QuantBits(bits=9, integer=2),
        description="anomaly_vae, model.score recon: quantizer of the difference x - "
        "decoder(mu) before its square (saturating at +-2^integer; quantized_bits(9,2): LSB "
        "2^-6, squares fixed<18,6>, their sum over 57 features fixed<24,12>: within float32's "
        "24-bit significand, so QKeras, C-sim and ONNX compute the same numbers).",
    )
    layers: dict[str, LayerBits] = Field(
        default_factory=dict, description="Per-layer overrides keyed by Keras layer name."
    )
    init: Literal["float", "scratch"] = Field(
        "float", description="Start QAT from the float model's weights or from scratch."
    )
    epochs: int = Field(30, gt=0)
    learning_rate: float = Field(5e-4, gt=0)
    patience: int = Field(5, ge=1)
    sparsity: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="Fraction of the Dense/Conv kernel weights pruned to zero by magnitude "
        "during QAT (TensorFlow Model Optimization, constant sparsity); 0: no pruning. "
        "Jet MLP/CNN only.",
    )


_PART_RE = re.compile(r"^x[a-z0-9]+-[a-z0-9]+-[a-z0-9-]+$", re.IGNORECASE)
_AP_FIXED_RE = re.compile(r"^ap_u?fixed<\d+,-?\d+(,AP_[A-Z_]+)?(,AP_[A-Z_]+)?>$")


class SoftmaxTables(_Strict):
    """The lookup tables of the model's final softmax (hls4ml's layer config of that layer).

    Unset fields are chosen by ``convert``: the cheapest setting of a small ladder whose
    emulated probabilities (hls/tables.py) are within ``tolerance`` of QKeras on the test
    vectors. Set fields are kept as given."""

    implementation: Literal["stable", "latency", "legacy"] | None = Field(
        None, description="hls4ml softmax implementation (unset: chosen, stable)."
    )
    table_size: int | None = Field(
        None, ge=64, le=65536, description="Entries of the exp and inverse tables (power of 2)."
    )
    exp_table_t: str | None = Field(None, description="Exp table type, e.g. ap_fixed<18,8>.")
    inv_table_t: str | None = Field(None, description="Inverse table type, e.g. ap_fixed<18,8>.")
    inv_inp_t: str | None = Field(
        None, description="Type of the exp sum whose top bits index the inverse table."
    )
    tolerance: float = Field(
        2.0**-7,
        gt=0,
        lt=1,
        description="Largest |firmware - QKeras| probability the table choice aims for.",
    )

    @field_validator("table_size")
    @classmethod
    def _power_of_two(cls, v: int | None) -> int | None:
        if v is not None and v & (v - 1):
            raise ValueError(f"table_size {v} is not a power of 2: give e.g. 1024 or 4096")
        return v

    @field_validator("exp_table_t", "inv_table_t", "inv_inp_t")
    @classmethod
    def _ap_fixed(cls, v: str | None) -> str | None:
        if v is not None and not _AP_FIXED_RE.match(v.replace(" ", "")):
            raise ValueError(
                f"{v!r} is not an ap_fixed type: give e.g. ap_fixed<18,8> or "
                "ap_fixed<18,4,AP_RND,AP_SAT>"
            )
        return None if v is None else v.replace(" ", "")


class HlsConfig(_Strict):
    """hls4ml conversion settings."""

    backend: Literal["Vitis", "Vivado"] = "Vitis"
    allow_unknown_part: bool = Field(
        False,
        description="Accept a part that is not in nanotrig/parts.yml (no device share in the "
        "estimate); otherwise an unknown part is refused.",
    )
    part: str = Field(
        "xcvu9p-flga2104-2L-e",
        description="AMD/Xilinx FPGA part, one of nanotrig/parts.yml unless allow_unknown_part.",
    )
    clock_period_ns: float = Field(5.0, gt=0, le=100)
    io_type: Literal["io_parallel", "io_stream"] = "io_parallel"
    strategy: Literal["Latency", "Resource", "distributed_arithmetic"] = Field(
        "Latency",
        description="hls4ml strategy; distributed_arithmetic: da4ml's multiplier-free constant "
        "products (io_parallel Dense, reuse factor 1).",
    )
    reuse_factor: int = Field(1, ge=1)
    project_name: str = Field("myproject", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    n_test_vectors: int = Field(
        100, ge=1, description="Events written as tb_data input/output vectors for the testbench."
    )
    latency_budget_ns: float | None = Field(
        None,
        gt=0,
        description="Refuse the conversion when the estimated latency exceeds this (ns).",
    )
    output_head: Literal["softmax", "argmax", "logits"] = Field(
        "softmax",
        description="Where the firmware ends: the final softmax's probabilities, a one-hot "
        "argmax (hls4ml's softmax 'argmax' implementation) or the logits (the final softmax "
        "dropped from the converted reference) when the trigger thresholds those instead.",
    )
    softmax: SoftmaxTables = Field(
        SoftmaxTables(), description="Tables of the final softmax (unset fields: chosen)."
    )
    ii_budget_ns: float | None = Field(
        None,
        gt=0,
        description="Refuse the conversion when the estimated initiation interval exceeds this.",
    )

    @field_validator("part")
    @classmethod
    def _part(cls, v: str, info: ValidationInfo) -> str:
        from nanotrig.parts import get_part, unknown_part_message

        if get_part(v) is not None:
            return v
        if not info.data.get("allow_unknown_part"):
            raise ValueError(unknown_part_message(v))
        if not _PART_RE.match(v):
            raise ValueError(
                f"FPGA part {v!r} is not an AMD/Xilinx part number: give one such as "
                "xcvu9p-flga2104-2L-e (device-package-speed grade)"
            )
        return v


class VerifyConfig(_Strict):
    """C-simulation check against the QKeras model."""

    n_events: int = Field(1000, gt=0, description="Test-set jets compared event by event.")
    edge_inputs: bool = Field(True, description="Also compare zeros, maxima and saturating inputs.")
    stress_events: int = Field(
        0,
        ge=0,
        le=100_000_000,
        description="Events of the batched large check (0: off): test jets resampled with "
        "Gaussian smearing, written to data/stress_inputs.npy and verified in chunks (above "
        "1 GiB, e.g. a million DQM maps, generated chunk by chunk instead, never written).",
    )
    stress_smear: float = Field(
        0.05, ge=0, description="Smearing of the resampled test inputs (fraction of their std)."
    )
    stress_engine: Literal["auto", "harness", "kernel"] = Field(
        "auto",
        description="Batched check: 'harness' runs hls4ml's C++ on every event, 'kernel' the "
        "exact integer kernel (hls/int_kernel.py, checked against hls4ml's trace on the traced "
        "events), 'auto' the kernel where it supports the project.",
    )
    working_points: tuple[float, ...] = Field(
        (0.5, 0.9),
        description="Trigger working points of the decision check: per score column (class, "
        "anomaly or fault score), the thresholds keeping these shares of the signal in QKeras; "
        "the firmware is judged at the same thresholds ([]: no decision check).",
    )

    @field_validator("working_points")
    @classmethod
    def _efficiencies(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        bad = [e for e in v if not 0 < e <= 1]
        if bad or len(set(v)) != len(v):
            raise ValueError(
                f"must be distinct signal efficiencies in (0, 1], e.g. [0.5, 0.9]; got {list(v)}"
            )
        return v


class ExportConfig(_Strict):
    """ONNX export of the float model."""

    opset: int = Field(13, ge=11, le=18)
    atol: float = Field(1e-5, gt=0, description="Allowed |ONNX - Keras| (float32 round-off).")


class RtlConfig(_Strict):
    """The RTL stage (``rtl/``): da4ml Verilog of the converted project, checked in Verilator
    against QKeras on the verified events, the edge inputs and the stress events; Yosys
    figures. Off by default (the Verilator build and Yosys take minutes)."""

    enabled: bool = Field(False, description="Run the rtl stage (families that have one).")
    pipeline: bool = Field(True, description="Pipelined at the hls clock, else combinational.")
    synth: bool = Field(True, description="Yosys LUT/FF/CARRY/DSP figures (if installed).")
    family: Literal["xcup", "xcu", "xc7"] = Field(
        "xcup", description="Yosys synth_xilinx family: UltraScale+, UltraScale, 7-series."
    )
    threads: int = Field(2, ge=1, le=64, description="Verilator build and simulation threads.")
    synth_timeout_s: float = Field(
        1800.0, gt=0, description="Stop Yosys after this long; the report then says why."
    )
    synth_mode: Literal["auto", "flat", "hierarchical"] = Field(
        "auto",
        description="Yosys: flat (whole design flattened), hierarchical (each pipeline stage "
        "synthesized in a Yosys process of its own, summed: memory bounded by the largest "
        "stage) or auto (hierarchical above 100,000 LUT in da4ml's estimate).",
    )


class RunConfig(_Strict):
    """A whole run: ``nanotrig run CONFIG.yml`` writes ``<out_root>/<name>/``."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Run name; the output folder.")
    seed: int = Field(42, ge=0, le=2**31 - 1, description="Seeds Pythia, splits and training.")
    out_root: Path = Path("runs")
    samples: SampleConfig = Field(
        JetSampleConfig(), description="Sample to generate: kind jets (default), l1 or dqm."
    )
    model: ModelConfig = ModelConfig()
    quantize: QuantizeConfig = QuantizeConfig()
    hls: HlsConfig = HlsConfig()
    verify: VerifyConfig = VerifyConfig()
    export: ExportConfig = ExportConfig()
    rtl: RtlConfig = RtlConfig()

    @model_validator(mode="after")
    def _family_settings(self) -> RunConfig:
        """The family's own checks of the whole config (sample kind, shapes, bits, pruning)."""
        from nanotrig.family import family_names, get_family

        fam = get_family(self.model.family)
        pruned = self.quantize.sparsity or any(o.sparsity for o in self.quantize.layers.values())
        if pruned and not fam.prunable:
            prunable = ", ".join(n for n in family_names() if get_family(n).prunable)
            raise ValueError(
                f"quantize.sparsity: pruning is wired for the {prunable} families, not "
                f"{self.model.family}: set it (and any quantize.layers sparsity) to 0"
            )
        if self.rtl.enabled and fam.stage("rtl") is None:
            have = ", ".join(n for n in family_names() if get_family(n).stage("rtl"))
            raise ValueError(
                f"rtl.enabled: the {fam.name} family has no rtl stage yet (the {have} families "
                "have one): set it to false"
            )
        if self.rtl.enabled and self.hls.io_type != "io_parallel":
            raise ValueError(
                "rtl.enabled: the rtl stage takes io_parallel projects: set hls.io_type: "
                "io_parallel or rtl.enabled: false"
            )
        if fam.check_config is not None:
            fam.check_config(self)
        return self


def validation_message(
    err: ValidationError, source: str, what: str = "config", example: str = "configs/jet_mlp.yml"
) -> str:
    """One line for a pydantic error: where (dotted key), what is wrong, and the example
    config to check spellings against."""
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "<top level>"
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = f"unknown key (check its spelling against {example})"
    elif first["type"] == "missing":
        msg = "required key is missing"
    more = f" (+{len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"{source}: invalid {what} at '{loc}': {msg}{more}"


def read_yaml(path: str | Path, what: str = "config") -> Any:
    """The parsed content of a YAML file; ConfigError in one line if missing or malformed."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what} file {p} not found: give the path of a YAML {what}")
    try:
        return yaml.safe_load(p.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}: malformed YAML{where}: fix the syntax") from None


def parse_config(data: object, source: str = "config") -> RunConfig:
    """Validate a mapping as a :class:`RunConfig`, raising :class:`ConfigError` in one line."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: top level must be a mapping of keys, got {type(data).__name__}"
        )
    try:
        return RunConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(validation_message(err, source)) from None


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a YAML run config."""
    return parse_config(read_yaml(path), source=str(path))
