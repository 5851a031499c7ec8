"""The ``nanotrig`` command: one verb per stage plus ``run`` for the whole chain.

Commands parse options and call the stage's library entry point; a short summary goes to
stdout (``--json``: the whole record instead), logs and progress to stderr. A
:class:`NanotrigError` becomes one line on stderr and exit code 2 (``--debug`` shows the
traceback).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from nanotrig import __version__
from nanotrig.config import HlsConfig, RunConfig, load_config
from nanotrig.errors import ConfigError, DataError, NanotrigError


def _usage(cmd: TyperCommand | TyperGroup, ctx: typer.Context) -> list[str]:
    """Usage pieces in click's style: ``[OPTIONS] MODEL`` (typer 0.29 writes ``{model}``)."""
    pieces = [cmd.options_metavar] if cmd.options_metavar else []
    for param in cmd.get_params(ctx):
        if param.param_type_name == "argument":
            name = (param.metavar or param.name or "ARG").upper()
            pieces.append(name if param.required else f"[{name}]")
    return pieces


class _Command(TyperCommand):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:  # MODEL, not model, in the help's argument list
            if param.param_type_name == "argument" and param.metavar is None:
                param.metavar = (param.name or "ARG").upper()

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        return _usage(self, ctx)


class _Group(TyperGroup):
    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        return [*_usage(self, ctx), self.subcommand_metavar]


class _App(typer.Typer):
    """Commands with click-style usage lines (see :func:`_usage`)."""

    def command(self, *args: Any, cls: type[TyperCommand] | None = _Command, **kwargs: Any) -> Any:
        return super().command(*args, cls=cls, **kwargs)


def _typer(help_text: str) -> _App:
    """A command group with plain click help: flags as flags, paragraphs reflowed."""
    return _App(
        cls=_Group,
        add_completion=False,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"max_content_width": 100},
        help=help_text,
    )


app = _typer("Trigger-ML toolchain: Pythia samples -> Keras -> QKeras -> hls4ml firmware and ONNX.")

_STATE: dict[str, object] = {"debug": False}

Force = Annotated[bool, typer.Option("--force", help="Overwrite an existing output.")]
Json = Annotated[
    bool, typer.Option("--json", help="Print the whole record as JSON instead of a summary.")
]
ConfigArg = Annotated[Path, typer.Argument(help="YAML run config (see configs/).")]


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"nanotrig {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks and library logs.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    from nanotrig.logs import setup_logging

    _STATE.clear()
    _STATE["debug"] = debug
    setup_logging(verbose=debug)


def _fail(err: Exception) -> None:
    if _STATE["debug"]:
        raise err
    typer.echo(f"nanotrig: error: {err}", err=True)
    raise typer.Exit(code=2)


def _output(verb: str, as_json: bool) -> None:
    """What :func:`_emit` prints for this command: ``verb``'s summary, or JSON (``--json``)."""
    _STATE["verb"], _STATE["json"] = verb, as_json


def _emit(record: dict, verb: str | None = None, as_json: bool | None = None) -> None:
    """The record as JSON (``--json``), or the verb's one-screen summary."""
    verb = verb or _STATE.get("verb")
    if as_json is None:
        as_json = bool(_STATE.get("json", True))
    if as_json or verb is None:
        typer.echo(json.dumps(record, indent=2, default=str))
        return
    from nanotrig.cli_summary import summary_lines

    for line in summary_lines(str(verb), record):
        typer.echo(line)


def _guarded(fn):
    """Run ``fn``; user errors become one line and exit 2."""
    try:
        return fn()
    except NanotrigError as err:
        _fail(err)
    except KeyboardInterrupt:
        typer.echo("nanotrig: interrupted", err=True)
        raise typer.Exit(code=130) from None


@app.command()
def generate(
    config: ConfigArg,
    out: Annotated[Path, typer.Option("--out", help="HDF5 file to write.")],
    force: Force = False,
    n_per_class: Annotated[
        int | None, typer.Option(help="Jets: override samples.n_per_class.")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Run the chunks on this Dask scheduler (same output)."),
    ] = None,
    json_out: Json = False,
) -> None:
    """Generate the sample of CONFIG (jets, L1 events or DQM maps; see samples.kind) into HDF5."""

    def go():
        from nanotrig.config import JetSampleConfig

        cfg = load_config(config)
        scfg = cfg.samples
        if n_per_class is not None:
            if not isinstance(scfg, JetSampleConfig):
                raise ConfigError(f"--n-per-class applies to jet samples, not {scfg.kind!r}")
            if n_per_class <= 0:
                raise ConfigError(f"--n-per-class must be positive, got {n_per_class}")
            scfg = scfg.model_copy(update={"n_per_class": n_per_class})
        from nanotrig.samples import generate_sample
        from nanotrig.samples.pool import dask_scheduler

        with dask_scheduler(scheduler):
            _emit(generate_sample(scfg, cfg.seed, out, force=force), "generate", json_out)

    _guarded(go)


samples_app = _typer("Inspect generated samples.")
app.add_typer(samples_app, name="samples")


@samples_app.command("validate")
def samples_validate(
    sample: Annotated[Path, typer.Argument(help="HDF5 sample written by 'generate'.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for the PNGs (default: <file>_plots).")
    ] = None,
    json_out: Json = False,
) -> None:
    """Check a sample file and write its validation plots (per class, process or fault)."""

    def go():
        from nanotrig.samples import validate_sample

        rec = validate_sample(sample, out or sample.with_name(f"{sample.stem}_plots"))
        _emit(rec, "samples validate", json_out)

    _guarded(go)


@app.command()
def train(
    config: ConfigArg,
    data: Annotated[Path, typer.Option("--data", help="Sample HDF5 from 'generate'.")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the float model.")],
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Train the float model of CONFIG on a sample."""
    _output("train", json_out)

    def go():
        cfg = load_config(config)
        family = _family_of(cfg)
        _emit(family.train(data, cfg, out, force=force))

    _guarded(go)


@app.command()
def quantize(
    config: Annotated[
        Path | None,
        typer.Argument(
            help="YAML run config (see configs/). With --ptq optional ('name' may be left "
            "out): its quantize section gives the bit widths."
        ),
    ] = None,
    model: Annotated[
        Path | None, typer.Option("--model", help="Directory written by 'train'.")
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="The sample the model was trained on.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Directory for the QKeras model (required).")
    ] = None,
    ptq: Annotated[
        Path | None,
        typer.Option(
            "--ptq",
            help="Float Keras model (.h5) to quantize post-training, without training "
            "(BatchNormalization folded; instead of --model/--data).",
        ),
    ] = None,
    bits: Annotated[
        int | None,
        typer.Option("--bits", help="PTQ: total bits of every weight, bias and activation."),
    ] = None,
    integer: Annotated[
        int | None,
        typer.Option("--integer", help="PTQ: integer bits (sign excluded) of the same."),
    ] = None,
    inputs: Annotated[
        Path | None,
        typer.Option("--inputs", help="PTQ: events (.npy or .h5 'features') to compare on."),
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels", help="PTQ: class of each event (.npy or .h5 'labels'): accuracy change."
        ),
    ] = None,
    force: Force = False,
    json_out: Json = False,
) -> None:
    """QAT of CONFIG's QKeras model, or --ptq of a float model.

    QAT: the QKeras model with CONFIG's bit widths, trained from the float model of 'train'.
    --ptq MODEL.h5: a float Keras model quantized without training (BatchNormalization folded
    into the Dense/Conv before it), bit widths from --bits/--integer or CONFIG's quantize
    section; with --inputs and --labels, the paired accuracy change.
    """
    _output("quantize", json_out)

    def go():
        if out is None:
            raise ConfigError("quantize needs --out DIR: the directory for the QKeras model")
        if ptq is not None:
            return _emit(_ptq(ptq, config, model, data, out, bits, integer, inputs, labels, force))
        if bits is not None or integer is not None or inputs or labels:
            raise ConfigError("--bits, --integer, --inputs and --labels go with --ptq MODEL.h5")
        if config is None or model is None or data is None:
            raise ConfigError(
                "quantize needs CONFIG, --model and --data (QAT), or --ptq MODEL.h5 (no training)"
            )
        cfg = load_config(config)
        family = _family_of(cfg)
        _emit(family.quantize(model, data, cfg, out, force=force))

    _guarded(go)


def _ptq(path, config, model, data, out, bits, integer, inputs, labels, force) -> dict:
    """``quantize --ptq``: the bit widths from CONFIG's quantize section, --bits/--integer."""
    from pydantic import ValidationError

    from nanotrig.config import QuantBits
    from nanotrig.inputs import load_inputs

    if model is not None or data is not None:
        raise ConfigError("--ptq takes the float model itself: leave out --model and --data")
    qcfg = _convert_base(config).quantize
    if bits is not None or integer is not None:
        b = bits if bits is not None else qcfg.weights.bits
        i = integer if integer is not None else qcfg.weights.integer
        try:
            q = QuantBits(bits=b, integer=i)
        except ValidationError as err:
            msg = err.errors()[0]["msg"].removeprefix("Value error, ")
            raise ConfigError(f"invalid --bits {b} --integer {i}: {msg}") from None
        qcfg = qcfg.model_copy(update={"weights": q, "bias": q, "activation": q})
    from nanotrig.quantize.ptq import load_labels, ptq_model

    x = load_inputs(inputs) if inputs else None
    y = load_labels(labels) if labels else None
    return ptq_model(path, out, qcfg, inputs=x, labels=y, force=force)


@app.command()
def convert(
    model: Annotated[Path, typer.Argument(help="QKeras model (.h5) to convert.")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the HLS project.")],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Run config (YAML) to read the 'hls' section and quantize.input (the input "
            "quantizer, used when the model has none) from; its 'name' may be left out. "
            "Options given here override it.",
        ),
    ] = None,
    inputs: Annotated[
        Path | None, typer.Option("--inputs", help="Inputs (.npy) for the test vectors.")
    ] = None,
    part: Annotated[
        str | None, typer.Option("--part", help="FPGA part, one of nanotrig/parts.yml.")
    ] = None,
    allow_unknown_part: Annotated[
        bool,
        typer.Option(
            "--allow-unknown-part",
            help="Accept a --part not in nanotrig/parts.yml (no device share in the estimate).",
        ),
    ] = False,
    clock_ns: Annotated[
        float | None, typer.Option("--clock-ns", help="Clock period in ns.")
    ] = None,
    backend: Annotated[str | None, typer.Option("--backend", help="Vitis or Vivado.")] = None,
    io_type: Annotated[
        str | None, typer.Option("--io-type", help="io_parallel or io_stream.")
    ] = None,
    strategy: Annotated[
        str | None, typer.Option("--strategy", help="Latency, Resource or distributed_arithmetic.")
    ] = None,
    reuse_factor: Annotated[
        int | None, typer.Option("--reuse-factor", help="Reuse factor.")
    ] = None,
    latency_budget_ns: Annotated[
        float | None,
        typer.Option(
            "--latency-budget-ns", help="Fail if the estimated latency exceeds this many ns."
        ),
    ] = None,
    ii_ns: Annotated[
        float | None,
        typer.Option("--ii-ns", help="Fail if the estimated initiation interval exceeds this."),
    ] = None,
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Convert any supported QKeras model to an hls4ml project with bit-exact precisions.

    The latency/II estimate is checked against the budgets before anything is written. The
    summary gives the estimate and the share of the device; --json prints conversion.json.
    """

    def go():
        base = _convert_base(config)
        overrides = {
            k: v
            for k, v in {
                "part": part, "clock_period_ns": clock_ns, "backend": backend,
                "io_type": io_type, "strategy": strategy, "reuse_factor": reuse_factor,
                "latency_budget_ns": latency_budget_ns, "ii_budget_ns": ii_ns,
                "allow_unknown_part": allow_unknown_part or None,
            }.items()
            if v is not None
        }  # fmt: skip
        hcfg = _validated_hls(base.hls, overrides)
        family = _family_of(base) if config else None
        if family is not None and family.convert_file is not None:  # GarNet: its own converter
            cfg = base.model_copy(update={"hls": hcfg})
            rec = family.convert_file(model, out, cfg, force=force)
            _emit(rec if json_out else {**rec, "out": str(out)}, "convert", json_out)
            return
        from nanotrig.hls import convert_model, load_inputs

        x = load_inputs(inputs) if inputs else None
        rec = convert_model(
            model, out, hcfg, test_inputs=x, input_bits=base.quantize.input, force=force
        )
        _emit(rec if json_out else {**rec, "out": str(out)}, "convert", json_out)

    _guarded(go)


def _family_of(cfg: RunConfig):
    from nanotrig.family import get_family

    return get_family(cfg.model.family)


def _project_family(project: Path):
    """The family that wrote ``project/conversion.json`` if it has its own verify, else None."""
    from nanotrig.family import get_family

    try:
        name = json.loads((project / "conversion.json").read_text()).get("family")
    except (OSError, ValueError, AttributeError):
        return None
    family = get_family(name) if isinstance(name, str) else None
    return family if family is not None and family.verify_file is not None else None


def _convert_base(config: Path | None) -> RunConfig:
    """The run config ``convert --config`` reads (``name`` optional), or the defaults."""
    if config is None:
        return RunConfig(name="convert")
    from nanotrig.config import parse_config, read_yaml

    data = read_yaml(config)
    if isinstance(data, dict) and "name" not in data:
        data = {"name": "convert", **data}
    return parse_config(data, source=str(config))


#: The ``convert`` option of each HlsConfig field it overrides (where the names differ).
_CONVERT_OPTIONS = {"clock_period_ns": "--clock-ns", "ii_budget_ns": "--ii-ns"}


def _validated_hls(base: HlsConfig, overrides: dict) -> HlsConfig:
    """``base`` with the command-line ``overrides``; an invalid one is named as typed."""
    from pydantic import ValidationError

    try:
        return HlsConfig.model_validate({**base.model_dump(), **overrides})
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        option = _CONVERT_OPTIONS.get(loc, "--" + loc.replace("_", "-"))
        if loc not in overrides:  # from --config, not the command line
            option = f"hls.{loc}"
        msg = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"invalid {option}: {msg}") from None


@app.command()
def synth(
    project: Annotated[Path, typer.Argument(help="Directory written by 'convert'.")],
    json_out: Json = False,
) -> None:
    """C-synthesize the project with Vitis/Vivado HLS (hls4ml build) and print its report.

    Without vitis_hls / vitis-run / vivado_hls on PATH this says so and exits 2; the estimate in
    conversion.json stands in for the report meanwhile.
    """

    def go():
        from nanotrig.hls.synth import synth_project

        _emit(synth_project(project), "synth", json_out)

    _guarded(go)


def _flip_counter(project: Path, values: list[str]):
    """A decision-flip counter for ``--threshold`` values on the project's output columns
    (named by class where the project sits in a run directory with qmodel/test_scores.npz)."""
    import numpy as np

    from nanotrig.decisions import DecisionSpec, FlipCounter, parse_thresholds
    from nanotrig.hls.convert import REFERENCE_FILE
    from nanotrig.hls.model_io import load_qkeras_model

    if not (project / REFERENCE_FILE).is_file():
        raise DataError(f"{project} is not a converted project: run 'nanotrig convert' first")
    n_out = int(np.prod(load_qkeras_model(project / REFERENCE_FILE).output_shape[1:]))
    columns = tuple(str(j) for j in range(n_out))
    scores = project.parent / "qmodel" / "test_scores.npz"
    if scores.is_file():
        with np.load(scores) as f:
            names = tuple(str(c) for c in f["class_names"])
        columns = names if len(names) == n_out else columns
    spec = DecisionSpec(columns)
    return FlipCounter(spec, parse_thresholds(values, columns))


def _echo_flips(rec: dict | None) -> None:
    """One line per ``--threshold`` working point: the events whose decision differs."""
    if not rec:
        return
    where = "" if rec["scope"] == "all" else (
        " (traced events only: the kernel leaves the table head out; --engine harness for all)"
    )  # fmt: skip
    ref = rec.get("reference", "bit-exact")
    for p in rec["points"]:
        snapped = (
            f" (--threshold {p['threshold_float']:g} snapped to the output grid: code "
            f"{p['code']} of {p['output_type']})" if p.get("code") is not None else ""
        )  # fmt: skip
        typer.echo(
            f"decision flips, firmware vs {ref} reference, at {p['name']} >= "
            f"{p['threshold']:.10g}{snapped}: {p['flips']} of {rec['n_events']} events{where}; "
            f"table-induced differences vs QKeras float {rec.get('head') or 'outputs'}: "
            f"{p.get('table_diffs', 0)}"
        )


@app.command()
def verify(
    project: Annotated[Path, typer.Argument(help="Directory written by 'convert'.")],
    inputs: Annotated[Path, typer.Option("--inputs", help="Inputs (.npy or .h5 'features').")],
    events: Annotated[
        int | None, typer.Option("--events", help="Use only the first N events.")
    ] = None,
    trace_events: Annotated[
        int,
        typer.Option(
            "--trace-events",
            help="Trace every layer of up to N events; more events run batched (outputs only).",
        ),
    ] = 10_000,
    threads: Annotated[
        int | None,
        typer.Option("--threads", help="Batched runs: C-simulation threads [default: all cores]."),
    ] = None,
    trace_all: Annotated[
        bool,
        typer.Option("--trace-all", help="Batched runs: compare every layer of every event."),
    ] = False,
    dataset: Annotated[
        str, typer.Option("--dataset", help="HDF5 inputs: the dataset of model-ready inputs.")
    ] = "features",
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="Batched runs: harness (hls4ml's C++ per event), kernel (exact integer kernel, "
            "checked against hls4ml's trace) or auto (kernel where supported).",
        ),
    ] = "auto",
    threshold: Annotated[
        list[str] | None,
        typer.Option(
            "--threshold",
            help="Trigger threshold on the outputs, T (every output) or COLUMN:T (an output's "
            "number, or its class name inside a run directory); repeatable; snapped up to the "
            "output type's grid. Prints the events whose decision (output >= T) differs "
            "between C-simulation and the bit-exact reference, and from QKeras' float outputs.",
        ),
    ] = None,
    json_out: Json = False,
) -> None:
    """Compile the project and compare C-simulation with the QKeras model, layer by layer.

    Large inputs stream from the file in chunks through a batched engine: hls4ml's C++ in a
    compiled harness, or an exact integer kernel of the project (every event's outputs and
    logits compared; layers traced with hls4ml on the first --trace-events events and the
    mismatching ones, and checked against the batched values). The result is written to
    PROJECT/verify.json (mismatching events to mismatches.npz; stale ones are removed first).
    Lookup-table layers (softmax, sigmoid, tanh) are compared bit for bit with the
    fixed-point table emulator (hls/tables.py); their distance from QKeras' float activation
    is the table error, printed apart. Exits 1 on any mismatch.
    """

    def go():
        from nanotrig.hls.verify import verify_and_record

        if events is not None and events <= 0:
            raise ConfigError(f"--events must be positive, got {events}")
        if trace_events <= 0 or (threads is not None and threads <= 0):
            raise ConfigError("--trace-events and --threads must be positive")
        family = _project_family(project)
        if family is not None:  # GarNet: C-sim vs its emulator
            if threshold:
                raise ConfigError(f"--threshold: {family.name} projects are verified against "
                                  "their emulator, without decisions: leave it out")  # fmt: skip
            return family.verify_file(project, inputs, n_events=events)
        flips = _flip_counter(project, threshold) if threshold else None
        return verify_and_record(
            project, inputs, n_events=events, trace_events=trace_events, threads=threads,
            progress=True, trace_all=trace_all, dataset=dataset, engine=engine, flips=flips,
        )  # fmt: skip

    result = _guarded(go)
    if isinstance(result, dict):  # a family's own verification (GarNet vs its emulator)
        edges = result.get("edge_inputs", {})
        ok = result["ok"] and edges.get("ok", True)
        typer.echo(
            f"{'bit-exact' if ok else 'MISMATCH'}: C-sim == emulator on {result['n_events']} "
            f"events ({result['n_mismatch']} differ) and {edges.get('n_events', 0)} edge inputs "
            f"({edges.get('n_mismatch', 0)} differ); emulator within its Keras tolerance: "
            f"{result['emulator_vs_keras']['ok']}"
        )
        if not ok:
            raise typer.Exit(code=1)
        return
    rec = result.to_dict()
    if json_out:
        _emit(rec)
        if not rec["ok"]:
            raise typer.Exit(code=1)
        return
    for row in rec["layers"]:
        typer.echo(
            f"{row['layer']:<20} {row['kind']:<6} events {row['n_events']:>8}  "
            f"mismatches {row['n_mismatch']:>8}  max|diff| {row['max_abs_diff']:.3g}"
        )
    if rec["batched"]:
        typer.echo(
            f"batched ({rec['engine']}): {rec['n_events']} events in {rec['seconds']:.1f} s "
            f"({rec['events_per_s'] or 0:.0f} events/s); "
            f"layers traced on {rec['traced_events']} events"
        )
    typer.echo(
        f"wrote {project / 'verify.json'}"
        + (f", {rec['mismatch_file']}" if rec["mismatch_file"] else "")
    )
    _echo_flips(rec.get("decision_flips"))
    status = "bit-exact" if rec["ok"] else "MISMATCH"
    arg = rec["output"].get("argmax_agreement")
    table = rec["output"].get("table_error")
    typer.echo(
        f"{status}: {rec.get('n_events')} events"
        + (" (lookup tables against their emulator)" if table else "")
        + f"; output argmax agreement {arg:.4f}"
        + (f"; table error {table['max_abs_diff']:.3g} (vs QKeras' float activation)" if table
           else "")
    )  # fmt: skip
    if not rec["ok"]:
        raise typer.Exit(code=1)


@app.command()
def export(
    model: Annotated[Path, typer.Argument(help="Keras model (.h5) to export.")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the ONNX file.")],
    inputs: Annotated[
        Path,
        typer.Option("--inputs", help="Inputs (.npy; GarNet: its jet sample .h5) for the check."),
    ],
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Take the 'export' section and the family from this YAML."),
    ] = None,
    float_form: Annotated[
        bool,
        typer.Option("--float", help="Write a QKeras model's float graph (tf2onnx), not QDQ."),
    ] = False,
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Export a Keras model to ONNX (a QKeras model as integer QDQ) and check it against Keras."""

    def go():
        from nanotrig.export import export_model, export_quantized, is_qkeras_model
        from nanotrig.inputs import load_inputs
        from nanotrig.quantize import load_keras_model

        cfg = load_config(config) if config else RunConfig(name="export")
        family = _family_of(cfg)
        if family.export_file is not None:  # GarNet: two inputs, read from a jet sample
            rec = family.export_file(model, out, inputs, cfg, force=force)
        else:
            x = load_inputs(inputs)
            if not float_form and is_qkeras_model(load_keras_model(model)):
                _emit(export_quantized(model, x, out, force=force), "export qdq", json_out)
                return
            rec = export_model(model, x, cfg.export, out, force=force)
        _emit(rec, "export", json_out)

    _guarded(go)


@app.command()
def infer(
    model: Annotated[Path, typer.Argument(help="ONNX model (float or quantized QDQ).")],
    inputs: Annotated[
        Path, typer.Option("--inputs", help="Events (.npy, or .h5: the dataset the model records).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Predictions file (.npy).")] = Path(
        "preds.npy"
    ),
    batch_size: Annotated[int, typer.Option(help="Events per onnxruntime call.")] = 16384,
    cpu: Annotated[bool, typer.Option("--cpu", help="Use the CPU even if CUDA is present.")] = (
        False
    ),
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Run an ONNX model with onnxruntime (CUDA when present, else CPU) and save predictions."""

    def go():
        from nanotrig.errors import OutputExistsError
        from nanotrig.export import infer as run_infer

        if out.exists() and not force:
            raise OutputExistsError(f"{out} exists: pass --force to overwrite it")
        providers = ["CPUExecutionProvider"] if cpu else None
        rec = run_infer(model, inputs, out, batch_size=batch_size, providers=providers)
        _emit(rec, "infer", json_out)

    _guarded(go)


@app.command()
def run(
    config: ConfigArg,
    force: Force = False,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Keep an existing run directory; redo only the stages whose config "
            "or upstream stages changed.",
        ),
    ] = False,
    out_root: Annotated[
        Path | None, typer.Option("--out-root", help="Parent of the run directory.")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Generate the sample's chunks on this Dask scheduler."),
    ] = None,
    json_out: Json = False,
) -> None:
    """Run the whole chain of CONFIG's model family into <out_root>/<name>/ (report.md/json)."""

    def go():
        from nanotrig.runner import run_chain

        cfg = load_config(config)
        if out_root is not None:
            cfg = cfg.model_copy(update={"out_root": out_root})
        if force and resume:
            raise ConfigError("--force starts over and --resume keeps the run: pass one of them")
        from nanotrig.samples.pool import dask_scheduler

        with dask_scheduler(scheduler):
            report = run_chain(cfg, force=force, resume=resume)
        if json_out:
            return _emit(report)
        typer.echo(f"report: {Path(cfg.out_root) / cfg.name / 'report.md'}")
        typer.echo(report["summary"])

    _guarded(go)


@app.command()
def compare(
    config: Annotated[
        Path, typer.Argument(help="YAML comparison config (see configs/jet_taggers.yml).")
    ],
    force: Force = False,
    out_root: Annotated[
        Path | None, typer.Option("--out-root", help="Parent of the comparison directory.")
    ] = None,
    json_out: Json = False,
) -> None:
    """Compare jet taggers (MLP, CNN, GarNet) trained and tested on the same jets.

    One sample, one split; each tagger's whole chain; a side-by-side report (accuracy, AUC,
    C-sim checks, latency estimate, ROC per class).
    """

    def go():
        from nanotrig.compare import load_compare_config, run_compare

        cfg, members = load_compare_config(config, out_root)
        return run_compare(cfg, members, force=force), Path(cfg.out_root) / cfg.name

    report, run_dir = _guarded(go)
    if json_out:
        return _emit(report)
    typer.echo(f"report: {run_dir / 'report.md'}")
    for label, row in report["taggers"].items():
        q, c = row["metrics"]["quantized"], row["csim"]
        typer.echo(
            f"{label}: quantized accuracy {q['accuracy']:.4f}; C-sim mismatching events "
            f"{c['mismatching_events']} of {c['events']}; ONNX agrees: {row['onnx_agrees']}"
        )


@app.command()
def scan(
    config: Annotated[Path, typer.Argument(help="YAML scan config (see configs/scan_*.yml).")],
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Dask scheduler address (default: a LocalCluster)."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="LocalCluster workers (default: all cores).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Discard finished points and start over.")
    ] = False,
    json_out: Json = False,
) -> None:
    """Scan bit widths, reuse factor, strategy and pruning around a run, in parallel on Dask.

    Each point is a short QAT fine-tune from the run's float model plus the hls4ml latency and
    resource estimate. Points are saved as they finish: run it again to resume.
    """

    def go():
        from nanotrig.quantize.scan_spec import load_scan_config

        if workers is not None and workers <= 0:
            raise ConfigError(f"--workers must be positive, got {workers}")
        cfg = load_scan_config(config)
        from nanotrig.hls.scan_run import run_scan

        return run_scan(cfg, scheduler=scheduler, workers=workers, force=force)

    summary = _guarded(go)
    if json_out:
        return _emit(summary)
    out = Path(summary["out"])
    typer.echo(f"table: {out / summary['tables'][0]}")
    for plot in summary["plots"]:
        typer.echo(f"plot: {out / plot}")
    if summary["chosen_config"]:
        c = summary["chosen"]
        typer.echo(
            f"chosen: {out / summary['chosen_config']} (accuracy {c['accuracy']:.4f}, "
            f"latency {c['latency_ns']:g} ns, LUT-equivalent {c['lut_equivalent']:g})"
        )
    rate = summary["points_per_minute"]
    typer.echo(
        f"{summary['n_done']} points ({summary['n_computed_now']} new"
        + (f", {rate:.1f} points/min on {summary['workers']} workers" if rate else "")
        + f"), {summary['n_errors']} with errors"
    )


@app.command()
def rtl(
    project: Annotated[Path, typer.Argument(help="Directory written by 'convert'.")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the RTL artifacts.")],
    inputs: Annotated[
        Path | None,
        typer.Option("--inputs", help="Events to check (.npy or .h5); default: edge + random."),
    ] = None,
    pipeline: Annotated[
        bool,
        typer.Option("--pipeline/--comb", help="Pipelined at the project's clock, or not."),
    ] = True,
    latency_cutoff: Annotated[
        float | None,
        typer.Option(help="Adder levels per pipeline stage (default: the clock period in ns)."),
    ] = None,
    family: Annotated[str, typer.Option(help="Yosys synth_xilinx family.")] = "xcup",
    no_synth: Annotated[bool, typer.Option("--no-synth", help="Skip the Yosys figures.")] = False,
    synth_timeout_s: Annotated[
        float, typer.Option(help="Stop Yosys after this many seconds (no figures, reason kept).")
    ] = 1800.0,
    synth_mode: Annotated[
        str,
        typer.Option(help="Yosys: flat, hierarchical (stage by stage) or auto (by size)."),
    ] = "auto",
    threads: Annotated[int, typer.Option(help="Verilator build and simulation threads.")] = 1,
    force: Force = False,
) -> None:
    """Verilog of PROJECT from da4ml (up to the logits), bit-exact in Verilator, Yosys figures.

    Exits 1 when the RTL disagrees with QKeras, the integer kernel (the C-simulation where it
    does not emulate the project) or da4ml on any event (mismatches.npz holds the first ones).
    """

    def go():
        from nanotrig.rtl import build_rtl
        from nanotrig.rtl.synth import SYNTH_MODES

        if threads <= 0:
            raise ConfigError(f"--threads must be positive, got {threads}")
        if synth_timeout_s <= 0:
            raise ConfigError(f"--synth-timeout-s must be positive, got {synth_timeout_s:g}")
        if synth_mode not in SYNTH_MODES:
            raise ConfigError(
                f"--synth-mode must be one of {', '.join(SYNTH_MODES)}, got {synth_mode!r}"
            )
        return build_rtl(
            project, out, inputs, pipeline=pipeline, latency_cutoff=latency_cutoff,
            family=family, synth=not no_synth, threads=threads, force=force,
            synth_timeout_s=synth_timeout_s, synth_mode=synth_mode,
        )  # fmt: skip

    rec = _guarded(go)
    v, s = rec["verification"], rec["synthesis"]
    depth = f"{rec['pipeline_stages']} cycles" if rec["pipeline_stages"] else "combinational"
    typer.echo(f"verilog: {out / rec['rtl_dir'] / 'src'} ({depth}; left out: {rec['left_out']})")
    typer.echo(
        f"verilator: {v['n_events']} events, {v['mismatching_events']} mismatching, "
        f"{v['events_per_s']:.0f} events/s"
    )
    if s:
        typer.echo(
            f"yosys {s['family']} ({s.get('mode', 'flat')}): LUT {s['lut']}, FF {s['ff']}, "
            f"CARRY {s['carry']}, DSP {s['dsp']}, BRAM18 {s['bram_18k']}, "
            f"logic depth {s['logic_depth']}"
        )
    else:
        typer.echo(f"yosys: skipped ({rec['synthesis_skipped']})")
    typer.echo(f"record: {out / 'artifact.json'}")
    if not v["ok"]:
        typer.echo(f"nanotrig: RTL mismatches: see {out / str(v['mismatch_file'])}", err=True)
        raise typer.Exit(code=1)


def main() -> None:  # pragma: no cover - console entry
    app(prog_name="nanotrig")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
