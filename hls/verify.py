"""``verify_project``: C-simulation (g++) of a converted project vs its QKeras reference.

Every traced hls4ml layer is compared with the Keras layer it came from, value for value
(``exact`` layers must agree bit for bit); lookup-table layers (softmax, sigmoid, tanh) are
compared bit for bit with the fixed-point emulator of :mod:`hls.tables` fed with the firmware's
own input to the layer, so every layer is exact or the run fails. The emulator's distance from
QKeras' float activation is the *table error* (max |diff|, argmax agreement), reported apart
(``table_error`` of the row, ``VerifyResult.lut``), never inside "exact".
The project in ``out_dir`` is not modified: the model is re-read from ``hls_model.fml`` and
compiled in a temporary folder.

Up to ``trace_events`` events (10k) every event goes through hls4ml's ``trace`` and every layer
is compared. Larger runs are batched (:mod:`hls.batch`): the events stream from the file in
chunks through a compiled harness that runs the whole chunk in one native call (outputs equal
``predict()`` bit for bit) and through the Keras model, in constant memory, and the outputs of
every event are compared. When the model ends in a lookup-table activation (the jet models'
softmax), the harness also returns the layer feeding it (the logits, traced in C++ on every
event), which is compared bit for bit on every event; the table output is compared bit for bit
with the emulator fed with those logits, and gets its table error.
Layer by layer, ``trace`` then runs on a subset: the first ``trace_events`` events and up to
1000 events that mismatched in the batched pass. Rows of a batched result say which events
they cover (``scope``: ``all`` or ``traced``); the traced outputs are checked against the
batched ones for those events, so both paths are seen to agree.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from nanotrig.hls._capture import captured_stdout
from nanotrig.hls.batch import BatchSim, EventSource, build_batch_sim
from nanotrig.hls.convert import CONVERSION_FILE, HLS_MODEL_FILE, REFERENCE_FILE, layer_kind
from nanotrig.hls.inputs import reference_exact_limit
from nanotrig.hls.model_io import load_qkeras_model

from nanotrig.decisions import FlipCounter
from nanotrig.errors import ConfigError, ConversionError, DataError, ToolMissingError
from nanotrig.fileio import atomic_path, write_json

__all__ = [
    "CHUNK_SIZE",
    "ENGINES",
    "MISMATCH_FILE",
    "TRACE_EVENTS",
    "VERIFY_FILE",
    "VerifyResult",
    "keras_layer_outputs",
    "verify_and_record",
    "verify_project",
]

log = logging.getLogger(__name__)

MISMATCH_FILE = "mismatches.npz"
#: The record of the project's latest verification (:func:`verify_and_record`).
VERIFY_FILE = "verify.json"
#: Mismatching events written to mismatches.npz.
N_MISMATCH_SAVED = 20
#: Runs of more events than this are batched; up to this many events are traced layer by layer.
TRACE_EVENTS = 10_000
#: Events per chunk read from the input file in a batched run.
CHUNK_SIZE = 65_536
#: Mismatching events of a batched run that are traced layer by layer (beyond the first ones).
MAX_TRACED_MISMATCHES = 1_000
#: Batched C-simulation engines (``verify_project(engine=...)``, ``nanotrig verify --engine``).
ENGINES = ("auto", "harness", "kernel")
GXX_MISSING = "g++ not found: install a C++ compiler (e.g. apt-get install g++)"


@dataclass
class VerifyResult:
    """Outcome of a C-simulation check. ``ok``: no mismatch on any layer (table layers against
    the :mod:`hls.tables` emulator). ``lut``: the table error per table layer (emulator vs
    QKeras' float activation: ``max_abs_diff``, ``argmax_agreement``)."""

    ok: bool
    n_events: int
    layers: list[dict[str, Any]]
    output: dict[str, Any]
    lut: dict[str, dict[str, float]] = field(default_factory=dict)
    not_compared: list[str] = field(default_factory=list)
    compile_seconds: float = 0.0
    mismatch_file: str | None = None
    #: Events with an input beyond :func:`hls.inputs.reference_exact_limit` (QKeras inexact).
    reference_inexact_events: int = 0
    #: Outputs of every event from the batch harness (:mod:`hls.batch`); layers on a subset.
    batched: bool = False
    #: Events compared layer by layer (hls4ml ``trace``).
    traced_events: int = 0
    #: Batched runs: events per second of the C-simulation harness alone, and the whole run.
    events_per_s: float | None = None
    seconds: float = 0.0
    #: Batched runs: ``harness`` (hls4ml's C++) or ``kernel`` (hls/int_kernel.py); else trace.
    engine: str = "trace"
    #: Decision flips at the working points of ``verify_project(flips=...)`` (FlipCounter).
    decision_flips: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def keras_layer_outputs(model, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every non-input layer's output of a Keras model on ``x`` (float32, batched)."""
    import keras

    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    probe = keras.Model(model.inputs, [layer.output for layer in layers])
    outs = probe.predict(x, batch_size=4096, verbose=0)
    if len(layers) == 1:
        outs = [outs]
    return {layer.name: np.asarray(o) for layer, o in zip(layers, outs, strict=True)}


def verify_project(
    out_dir: Path,
    inputs: np.ndarray | str | Path,
    *,
    n_events: int | None = None,
    batched: bool | None = None,
    trace_events: int = TRACE_EVENTS,
    chunk_size: int = CHUNK_SIZE,
    threads: int | None = None,
    progress: bool = False,
    trace_all: bool = False,
    dataset: str = "features",
    engine: str = "auto",
    flips: FlipCounter | None = None,
    outputs_file: Path | None = None,
) -> VerifyResult:
    """Compile the project of ``out_dir`` with g++ and compare it with ``keras_model.h5``.

    ``inputs``: an array, or a ``.npy`` / ``.h5`` file (model-ready inputs in ``dataset``)
    read in chunks; only the first ``n_events``. Up to ``trace_events`` events every layer is
    traced (hls4ml ``trace``); beyond that (or with ``batched=True``) the run is batched, see
    the module docstring; ``trace_all`` then taps every layer of every event in the harness.
    ``threads``: C-simulation threads of a batched run (default: every core). ``engine`` of a
    batched run: ``harness`` (hls4ml's C++ for every event), ``kernel`` (the exact integer
    kernel of :mod:`hls.int_kernel`, checked against hls4ml's ``trace`` on the traced events)
    or ``auto`` (the kernel where it supports the project, else the harness).
    ``flips``: count the events whose decision differs at its working points (every event;
    only the traced ones where the kernel leaves a table head out). ``outputs_file`` (traced
    runs): save every event's final outputs, QKeras (``keras``) and C-simulation (``csim``).
    """
    if engine not in ENGINES:
        raise ConfigError(f"unknown C-simulation engine {engine!r}: choose from {ENGINES}")
    out_dir = Path(out_dir)
    if isinstance(inputs, (str, Path)) and not Path(inputs).is_file():
        raise DataError(f"input file {inputs} not found: give a .npy or an .h5 with '{dataset}'")
    record = _read_record(out_dir)
    model = load_qkeras_model(out_dir / REFERENCE_FILE)
    with EventSource.open(inputs, model.input_shape[1:], n_events, dataset) as source:
        if batched is None:
            batched = source.n > trace_events
        if not batched:
            x = source.read(0, source.n)
            return _verify_traced(out_dir, record, model, x, flips, outputs_file)
        if shutil.which("g++") is None:
            raise ToolMissingError(GXX_MISSING)
        return _verify_batched(
            out_dir, record, model, source, trace_events, chunk_size,
            threads or os.cpu_count() or 1, progress,
            trace_all, engine, flips,
        )  # fmt: skip


def verify_and_record(
    out_dir: Path, inputs: str | Path, *, dataset: str = "features", **kwargs: Any
) -> VerifyResult:
    """:func:`verify_project` as ``nanotrig verify`` runs it: once the inputs and the project
    are checked, the mismatch files of an earlier run are removed (a passing run leaves none);
    the result is written to ``out_dir/verify.json`` (with the inputs used), pass or fail."""
    out_dir = Path(out_dir)
    if not Path(inputs).is_file():
        raise DataError(f"input file {inputs} not found: give a .npy or an .h5 with '{dataset}'")
    from nanotrig.models.input_check import check_input_file

    check_input_file(inputs, _read_record(out_dir).get("inputs"), dataset)
    for stale in out_dir.glob("mismatch*.npz"):
        stale.unlink()
    result = verify_project(out_dir, inputs, dataset=dataset, **kwargs)
    record = {**result.to_dict(), "inputs": str(inputs), "dataset": dataset}
    write_json(out_dir / VERIFY_FILE, record)
    return result


def _verify_traced(
    out_dir: Path, record: dict[str, Any], model, x: np.ndarray,
    flips: FlipCounter | None = None, outputs_file: Path | None = None,
) -> VerifyResult:  # fmt: skip
    """Every event through hls4ml ``trace``: every layer compared on every event."""
    n = len(x)
    far = _far_events(x, record)
    _warn_far(far, record)
    if shutil.which("g++") is None:
        raise ToolMissingError(GXX_MISSING)
    keras_out = keras_layer_outputs(model, x)
    with tempfile.TemporaryDirectory(prefix="nanotrig_csim_") as tmp:
        hls_model = _load_hls_model(out_dir, tmp)
        t0 = time.perf_counter()
        y_c, trace = _trace(hls_model, x, out_dir)
        compile_s = time.perf_counter() - t0
        kinds = {layer.name: layer_kind(layer) for layer in hls_model.get_layers()}
        emulated = _emulate_tables(hls_model, trace, x)
        out_type = _output_type(hls_model)
        exact = _exact_head(hls_model, model, kinds, keras_out, n)

    rows, bad_events, pairs, not_compared = _compare_layers(
        keras_out, trace, kinds, model, n, emulated
    )
    y_k = keras_out[model.layers[-1].name].reshape(n, -1)
    y_c = np.asarray(y_c).reshape(n, -1)
    last = _last_traced(model, trace)
    out_kind = kinds.get(last, "exact")
    ref = emulated[last].reshape(n, -1) if last in emulated else y_k
    out_bad = np.any(ref != y_c, axis=1)
    output = {
        "kind": out_kind,
        "n_events": n,
        "n_mismatch": int(out_bad.sum()),
        "max_abs_diff": float(np.max(np.abs(ref.astype(np.float64) - y_c))),
        "argmax_agreement": float(np.mean(np.argmax(y_k, 1) == np.argmax(y_c, 1))),
    }
    if last in emulated:
        output["compared_with"] = "emulator"
        output["table_error"] = _table_error(y_k, ref)
    if out_kind == "exact" or last in emulated:
        bad_events |= out_bad
    if exact is None and last in emulated:  # the emulator fed with the firmware's own logits
        exact = emulated[last].reshape(n, -1)
    output["result_type"] = out_type
    if flips is not None:
        _label_reference(flips, out_kind, exact, out_type)
        flips.add(x, y_k, y_c, exact)
    if outputs_file is not None:
        with atomic_path(Path(outputs_file)) as tmp, open(tmp, "wb") as f:
            typed = {"output_type": out_type["cpp"], "frac_bits": out_type["frac_bits"],
                     "head": out_type.get("activation", "")}  # fmt: skip
            np.savez(f, keras=y_k, csim=y_c, exact=y_k if exact is None else exact,
                     **(typed if out_type else {}))  # fmt: skip
    result = VerifyResult(
        ok=not bad_events.any(),
        n_events=n,
        layers=rows,
        output=output,
        lut=_lut_summary(rows),
        not_compared=not_compared,
        compile_seconds=round(compile_s, 2),
        reference_inexact_events=far,
        traced_events=n,
        decision_flips=None if flips is None else flips.to_dict(),
    )
    if bad_events.any():
        result.mismatch_file = str(_save_mismatches(out_dir, x, bad_events, pairs))
    log.info(
        "C-sim vs QKeras on %d events (%s): %s", n, record.get("project_name"),
        "bit-exact" if result.ok else f"{int(bad_events.sum())} events mismatch",
    )  # fmt: skip
    return result


def _verify_batched(
    out_dir: Path, record: dict[str, Any], model, source: EventSource, trace_events: int,
    chunk_size: int, threads: int, progress: bool, trace_all: bool = False,
    engine: str = "auto", flips: FlipCounter | None = None,
) -> VerifyResult:  # fmt: skip
    """Outputs (and the logits before a table head, or with ``trace_all`` every layer) of every
    event through the batch harness or the integer kernel; layers traced by hls4ml on the first
    ``trace_events`` and the mismatching events, and checked against the batched values on
    those events."""
    import keras
    from tqdm import tqdm

    t_start = time.perf_counter()
    n = source.n
    with tempfile.TemporaryDirectory(prefix="nanotrig_csim_") as tmp:
        hls_model = _load_hls_model(out_dir, tmp)
        kinds = {layer.name: layer_kind(layer) for layer in hls_model.get_layers()}
        out_name, tap, tap_src = _output_and_tap(hls_model, model, kinds)
        taps = _all_taps(hls_model, model) if trace_all else ({tap: tap_src} if tap else {})
        t0 = time.perf_counter()
        sim = _batched_engine(hls_model, Path(tmp), out_name, taps, threads, engine)
        taps = {name: taps[name] for name, _ in sim.taps}  # a table head is left to trace
        compile_s = time.perf_counter() - t0
        heads = [model.outputs[0]] + [model.get_layer(src).output for src in taps.values()]
        probe = keras.Model(model.inputs, heads)
        out_tally, tallies = _Tally(), {name: _Tally() for name in taps}
        table_head = _head_spec(hls_model, out_name, tap if tap in taps else None)
        out_type = _output_type(hls_model)
        if flips is not None:
            _label_reference(flips, kinds.get(out_name, "exact"), table_head, out_type)
        emu_tally, err_tally = _Tally(), _Tally()
        head = max(1, min(n, trace_events))
        kept: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
        bad_kept: list[np.ndarray] = []
        n_bad = n_bad_kept = far = 0
        sim_s = 0.0
        with tqdm(
            total=n, unit="ev", desc="C-sim vs QKeras", file=sys.stderr, disable=not progress,
            dynamic_ncols=True,
        ) as bar:  # fmt: skip
            for start, x in source.chunks(chunk_size):
                far += _far_events(x, record)
                t = time.perf_counter()
                y_c, tap_c = sim.run(x)
                sim_s += time.perf_counter() - t
                ref = probe.predict(x, batch_size=min(len(x), 16_384), verbose=0)
                ref = ref if isinstance(ref, list) else [ref]
                bad = np.zeros(len(x), bool)
                if y_c is not None:  # the kernel leaves a table head to the traced events
                    out_bad = out_tally.add(ref[0], y_c)
                    exact = None
                    bad = out_bad if kinds.get(out_name) == "exact" else bad
                    if table_head is not None:  # the table head against its emulator, every event
                        from nanotrig.hls.tables import emulate

                        emu = emulate(table_head, sim.split(tap_c)[tap])
                        bad = emu_tally.add(emu, y_c)
                        err_tally.add(ref[0], emu)
                        # the bit-exact reference: QKeras' logits through the emulator
                        exact = _emulate_or(table_head, ref[1 + list(taps).index(tap)], emu)
                    if flips is not None:
                        flips.add(x, ref[0], y_c, exact)
                if taps:
                    cols = sim.split(tap_c)
                    for k_ref, name in zip(ref[1:], taps, strict=True):
                        tap_bad = tallies[name].add(k_ref, cols[name])
                        if kinds.get(name, "exact") == "exact":
                            bad |= tap_bad
                n_bad += int(bad.sum())
                keep = np.arange(start, start + len(x)) < head
                room = MAX_TRACED_MISMATCHES - n_bad_kept
                if room > 0 and bad.any():
                    new_bad = np.flatnonzero(bad)[:room]
                    bad_kept.append(new_bad + start)
                    n_bad_kept += len(new_bad)
                    keep[new_bad] = True
                if keep.any():
                    local = np.flatnonzero(keep)
                    tap_kept = None if tap_c is None else tap_c[local]
                    kept.append((local + start, None if y_c is None else y_c[local], tap_kept))
                bar.update(len(x))

        idx = np.concatenate([k[0] for k in kept])
        bad_idx = np.concatenate(bad_kept) if bad_kept else np.zeros(0, np.int64)
        x_sub = source.take(idx)
        t0 = time.perf_counter()
        y_sub, trace = _trace(hls_model, x_sub, out_dir)
        compile_s += time.perf_counter() - t0
        emulated_sub = _emulate_tables(hls_model, trace, x_sub)
        _check_paths_agree(y_sub, trace, kept, sim)
    _warn_far(far, record)

    m = len(idx)
    keras_out = keras_layer_outputs(model, x_sub)
    rows, bad_sub, pairs, not_compared = _compare_layers(
        keras_out, trace, kinds, model, m, emulated_sub
    )
    for row in rows:
        row["scope"] = "traced"
        if row["layer"] in tallies:
            row.update(tallies[row["layer"]].row(n, row["kind"]), scope="all")
    for name, src in taps.items():
        if not any(row["layer"] == name for row in rows):
            kind = kinds.get(name, "exact")
            rows.append({"layer": name, "keras_layer": src, "kind": kind,
                         **tallies[name].row(n, kind), "scope": "all"})  # fmt: skip
    if sim.outputs:
        output = {"kind": kinds.get(out_name, "exact"), **out_tally.row(n, "lut"), "scope": "all"}
        if table_head is not None:
            output.update(emu_tally.row(n), compared_with="emulator")
            output["table_error"] = {
                "max_abs_diff": err_tally.max_abs_diff,
                "argmax_agreement": err_tally.argmax_agree / n,
            }
    else:  # table head of a kernel run: compared on the traced events
        out_tally.add(keras_out[model.layers[-1].name], np.asarray(y_sub).reshape(m, -1))
        if flips is not None:  # the decisions of the traced events only
            flips.scope = "traced"
            exact = _exact_head(hls_model, model, kinds, keras_out, m)
            if exact is None and out_name in emulated_sub:
                exact = emulated_sub[out_name].reshape(m, -1)
            _label_reference(flips, kinds.get(out_name, "exact"), exact, out_type)
            y_m = np.asarray(y_sub).reshape(m, -1)
            flips.add(x_sub, keras_out[model.layers[-1].name], y_m, exact)
        output = {"kind": kinds.get(out_name, "exact"), **out_tally.row(m, "lut")}
        output["scope"] = "traced"
    output["result_type"] = out_type
    exact_out_bad = (output["kind"] == "exact" and out_tally.n_mismatch > 0) or (
        table_head is not None and emu_tally.n_mismatch > 0
    )
    tap_bad = any(
        t.n_mismatch for name, t in tallies.items() if kinds.get(name, "exact") == "exact"
    )
    result = VerifyResult(
        ok=not (bad_sub.any() or tap_bad or exact_out_bad),
        n_events=n,
        layers=rows,
        output=output,
        lut=_lut_summary(rows),
        not_compared=not_compared,
        compile_seconds=round(compile_s, 2),
        reference_inexact_events=far,
        batched=True,
        traced_events=m,
        events_per_s=round(n / sim_s, 1) if sim_s > 0 else None,
        seconds=round(time.perf_counter() - t_start, 2),
        engine=sim.engine,
        decision_flips=None if flips is None else flips.to_dict(),
    )
    if "table_error" in output:  # every event, not only the traced ones
        result.lut[out_name] = output["table_error"]
    bad_mask = bad_sub | np.isin(idx, bad_idx)
    if bad_mask.any():
        result.mismatch_file = str(_save_mismatches(out_dir, x_sub, bad_mask, pairs, index=idx))
    log.info(
        "C-sim vs QKeras on %d events, batched (%s): %s; %.0f events/s in the %s",
        n, record.get("project_name"),
        "bit-exact" if result.ok else f"{n_bad} events mismatch", result.events_per_s or 0,
        sim.engine,
    )  # fmt: skip
    return result


def _all_taps(hls_model, model) -> dict[str, str]:
    """``{hls layer: Keras layer}`` for every Keras layer's last hls4ml piece (graph order); a
    piece holding a folded quantizer's output is paired with that quantizer, as in the trace."""
    keras_names = {layer.name for layer in model.layers if type(layer).__name__ != "InputLayer"}
    last: dict[str, str] = {}
    for layer in hls_model.get_layers():
        if not layer.get_attr("function_cpp", None):
            continue
        src = _keras_source(layer.name, keras_names)
        if src is not None:
            last[src] = layer.name
    last, _ = _through_folded(model, last)
    return {name: src for src, name in last.items()}


class _Tally:
    """Running comparison of one quantity (output or tapped layer) over the chunks."""

    def __init__(self) -> None:
        self.n_mismatch = 0
        self.max_abs_diff = 0.0
        self.argmax_agree = 0

    def add(self, keras_values: np.ndarray, csim: np.ndarray) -> np.ndarray:
        """Compare one chunk; return the mismatching events."""
        k = np.asarray(keras_values).reshape(len(csim), -1).astype(np.float64)
        bad = np.any(k != csim, axis=1)
        self.n_mismatch += int(bad.sum())
        self.max_abs_diff = max(self.max_abs_diff, float(np.max(np.abs(k - csim))))
        self.argmax_agree += int(np.sum(np.argmax(k, 1) == np.argmax(csim, 1)))
        return bad

    def row(self, n: int, kind: str = "exact") -> dict[str, Any]:
        out = {"n_events": n, "n_mismatch": self.n_mismatch, "max_abs_diff": self.max_abs_diff}
        if kind == "lut":
            out["argmax_agreement"] = self.argmax_agree / n
        return out


def _output_and_tap(hls_model, model, kinds) -> tuple[str, str | None, str | None]:
    """``(output layer, tap, tap's Keras layer)``: the tap is the exact layer feeding a
    lookup-table output, when its value is a Keras layer's output (the last piece of it)."""
    layers = [layer for layer in hls_model.get_layers() if layer.get_attr("function_cpp", None)]
    out_var = hls_model.get_output_variables()[0].name
    out = next((la for la in layers if la.get_output_variable().name == out_var), layers[-1])
    if kinds.get(out.name) != "lut":
        return out.name, None, None
    producer = next((la for la in layers if out.inputs[0] in la.outputs), None)
    if producer is None or kinds.get(producer.name) != "exact":
        return out.name, None, None
    keras_names = {layer.name for layer in model.layers}
    src = _keras_source(producer.name, keras_names)
    last = [la.name for la in layers if _keras_source(la.name, keras_names) == src]
    if src is None or last[-1] != producer.name:
        return out.name, None, None
    return out.name, producer.name, src


def _check_paths_agree(y_trace, trace, kept, sim) -> None:
    """The batched engine and hls4ml's ``trace`` must give the same values on the traced events."""
    n = sum(len(k[0]) for k in kept)
    same = not sim.outputs or np.array_equal(
        np.concatenate([k[1] for k in kept]), np.asarray(y_trace).reshape(n, -1)
    )
    if same and sim.taps:
        cols = sim.split(np.concatenate([k[2] for k in kept]))
        same = all(
            np.array_equal(cols[name], np.asarray(trace[name]).reshape(n, -1))
            for name in cols
            if name in trace
        )
    if not same:
        raise ConversionError(
            f"the batched C-simulation ({sim.engine}) disagrees with hls4ml's trace() on the "
            "same events: report this with the project (hls/batch.py, hls/int_kernel.py), and "
            "verify with --engine harness meanwhile"
        )


class _KernelSim:
    """The integer kernel behind the batch harness's interface: ``run(x) -> (outputs or None,
    taps side by side)``; ``outputs`` is False when the model ends in a table head the kernel
    leaves out."""

    engine = "kernel"

    def __init__(self, kernel, out_name: str, taps: list[str], threads: int, head=None) -> None:
        self.kernel, self.threads, self.head = kernel, threads, head
        self.outputs = out_name in kernel.sizes or head is not None
        self.out_name = out_name
        self.taps = [(name, kernel.sizes[name]) for name in taps]

    def run(self, x: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        names = [name for name, _ in self.taps]
        last = self.kernel.last_layer if self.head is not None else self.out_name
        want = names + ([last] if self.outputs and last not in names else [])
        vals = self.kernel.run(x, layers=want, threads=self.threads)
        if self.head is not None:  # the table head: the emulator of hls/tables.py
            from nanotrig.hls.tables import emulate

            y = emulate(self.head, vals[last])
        else:
            y = vals[self.out_name] if self.outputs else None
        tap = np.concatenate([vals[k] for k in names], axis=1) if names else None
        return y, tap

    split = BatchSim.split  # the same side-by-side layout of the taps


def _batched_engine(hls_model, tmp: Path, out_name: str, taps: dict[str, str], threads: int,
                    engine: str):  # fmt: skip
    """The batch harness, or the integer kernel (``engine`` kernel, or auto where supported)."""
    from nanotrig.hls.int_kernel import build_int_kernel, supports

    reason = supports(hls_model) if engine != "harness" else "harness requested"
    if engine == "kernel" and reason is not None:
        raise ConversionError(f"--engine kernel: {reason}: use --engine harness")
    if reason is None:
        kernel = build_int_kernel(hls_model, tmp / "kernel")
        names = [name for name in taps if name != out_name or name in kernel.sizes]
        missing = [name for name in names if name not in kernel.sizes]
        if not missing and (names or out_name in kernel.sizes):
            return _KernelSim(kernel, out_name, names, threads, _head_spec(hls_model, out_name))
        reason = f"layer {(missing or [out_name])[0]} is not emulated"
        if engine == "kernel":
            raise ConversionError(f"--engine kernel: {reason}: use --engine harness")
    if engine == "auto":
        log.info("batched engine: the harness (hls4ml's C++); integer kernel not used: %s", reason)
    return build_batch_sim(hls_model, tmp / "batch", list(taps), threads)


def _head_spec(hls_model, out_name: str, feed: str | None = "kernel"):
    """The :class:`hls.tables.TableSpec` of a table output layer fed by ``feed`` (the tapped
    producer; ``"kernel"``: the kernel's last layer), or ``None`` (not a table, not emulated)."""
    from nanotrig.hls.tables import table_spec

    layer = next((la for la in hls_model.get_layers() if la.name == out_name), None)
    if feed is None or layer is None or layer_kind(layer) != "lut":
        return None
    try:
        return table_spec(layer)
    except ConversionError as err:
        log.warning("table layer %s not emulated: %s", out_name, err)
        return None


def _output_type(hls_model) -> dict[str, Any] | None:
    """The firmware's output type: C++ spelling and fractional bits (its grid's LSB exponent);
    ``None`` when it is not a fixed-point type."""
    from nanotrig.hls.tables import _result_type

    out_var = hls_model.get_output_variables()[0].name
    layer = next(
        (la for la in hls_model.get_layers() if la.get_output_variable().name == out_var), None
    )
    if layer is None:
        return None
    try:
        t = _result_type(layer)
    except ConversionError:
        return None
    cpp = f"ap_{'' if t.signed else 'u'}fixed<{t.width},{t.integer}>"
    out = {"cpp": cpp, "frac_bits": t.frac}
    if layer_kind(layer) == "lut":  # the table head's activation
        out["activation"] = "softmax" if layer.class_name == "Softmax" else str(
            layer.get_attr("activation", "") or "activation"
        )  # fmt: skip
    return out


def _exact_head(hls_model, model, kinds, keras_out: dict, n: int) -> np.ndarray | None:
    """The bit-exact reference of a table head: QKeras' logits (bit-exact with the firmware's)
    through the :mod:`hls.tables` emulator; ``None`` without an emulated table head."""
    out_name, tap, tap_src = _output_and_tap(hls_model, model, kinds)
    head = _head_spec(hls_model, out_name, tap)
    if head is None or tap_src not in keras_out:
        return None
    return _emulate_or(head, keras_out[tap_src].reshape(n, -1), None)


def _emulate_or(head, logits: np.ndarray, fallback: np.ndarray | None) -> np.ndarray | None:
    """The emulator on QKeras' logits, or ``fallback`` where they are off the firmware's input
    grid (the logits then mismatch, and the run fails on them)."""
    from nanotrig.hls.tables import emulate

    try:
        return emulate(head, logits)
    except ConversionError:
        return fallback


def _label_reference(
    flips: FlipCounter, out_kind: str, exact: Any, out_type: dict[str, Any] | None
) -> None:
    """Express given thresholds in the output type (``snap_points``) and say what the flips
    are counted against when a table head has no emulated reference."""
    from nanotrig.decisions import snap_points

    flips.head = (out_type or {}).get("activation")
    if out_type and flips.spec.in_firmware and any(p.code is None for p in flips.points):
        flips.points = snap_points(flips.points, out_type["frac_bits"], out_type["cpp"])
    if out_kind == "lut" and exact is None:
        flips.reference = "QKeras float (table head not emulated)"


def _lut_summary(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """The table error per table layer (the emulator vs QKeras' float activation)."""
    return {r["layer"]: r["table_error"] for r in rows if "table_error" in r}


def _table_error(keras_values: np.ndarray, emulated: np.ndarray) -> dict[str, float]:
    """Emulator vs QKeras' float activation: largest |diff| and argmax agreement."""
    k = np.asarray(keras_values, dtype=np.float64).reshape(len(emulated), -1)
    return {
        "max_abs_diff": float(np.max(np.abs(k - emulated))),
        "argmax_agreement": float(np.mean(np.argmax(k, 1) == np.argmax(emulated, 1))),
    }


def _emulate_tables(hls_model, trace: dict, x: np.ndarray) -> dict[str, np.ndarray]:
    """The :mod:`hls.tables` emulator of every traced table layer, fed with the firmware's own
    input to it (the traced producer, or the events for a table right after the input)."""
    from nanotrig.hls.tables import emulate, table_spec

    out: dict[str, np.ndarray] = {}
    inputs = {v.name for v in hls_model.get_input_variables()}
    for layer in hls_model.get_layers():
        if layer.name not in trace or layer_kind(layer) != "lut":
            continue
        src = layer.get_input_node()
        if src is not None and src.name in trace:
            feed = np.asarray(trace[src.name])
        elif layer.inputs[0] in inputs or (src is not None and src.class_name == "Input"):
            feed = _quantize_input(x, layer.get_input_variable().type.precision)
        else:
            continue
        try:
            out[layer.name] = emulate(table_spec(layer), feed.reshape(len(x), -1))
        except ConversionError as err:  # listed in not_compared by _compare_layers
            log.warning(
                "table layer %s not emulated, not compared bit for bit: %s", layer.name, err
            )
    return out


def _quantize_input(x: np.ndarray, precision) -> np.ndarray:
    """``input_t(double)`` of the events (the table right after the input layer)."""
    from nanotrig.hls.fixed_type import FixedType

    t = FixedType.of(precision, "input")
    flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    q = np.array([t.from_float(float(v)) for v in flat.ravel()], dtype=np.float64)
    return q.reshape(flat.shape) * 2.0**-t.frac


def _far_events(x: np.ndarray, record: dict[str, Any]) -> int:
    quant = record.get("input_quantizer", {})
    limit = reference_exact_limit(quant.get("bits", 16) - 1 - quant.get("integer", 5))
    return int(np.sum(np.abs(x.reshape(len(x), -1)).max(axis=1) > limit))


def _warn_far(far: int, record: dict[str, Any]) -> None:
    if far:
        quant = record.get("input_quantizer", {})
        limit = reference_exact_limit(quant.get("bits", 16) - 1 - quant.get("integer", 5))
        log.warning(
            "%d events have inputs beyond |x| = %g, where QKeras's float32 input quantizer "
            "leaves its grid: mismatches there are the reference's, not the firmware's",
            far,
            limit,
        )


def _load_hls_model(out_dir: Path, tmp: str):
    from hls4ml.utils.serialization import deserialize_model

    with captured_stdout():
        hls_model = deserialize_model(out_dir / HLS_MODEL_FILE, output_dir=tmp)
    hls_model.config.config["OutputDir"] = str(Path(tmp) / "prj")
    hls_model.config.config["InputData"] = None
    hls_model.config.config["OutputPredictions"] = None
    return hls_model


def _trace(hls_model, x: np.ndarray, out_dir: Path):
    """hls4ml ``trace`` (compiles the project with every layer traced): ``(outputs, trace)``."""
    x_c = np.ascontiguousarray(x.reshape(len(x), -1).astype(np.float64))
    with captured_stdout() as buf:
        try:
            return hls_model.trace(x_c)
        except Exception as err:
            raise ConversionError(
                f"C-simulation of {out_dir} failed to compile: {_compile_error(buf, err)}"
            ) from err


def _read_record(out_dir: Path) -> dict[str, Any]:
    path = out_dir / CONVERSION_FILE
    if not path.is_file() or not (out_dir / HLS_MODEL_FILE).is_file():
        raise DataError(
            f"{out_dir} is not a converted project (no {CONVERSION_FILE} or {HLS_MODEL_FILE}): "
            "run 'nanotrig convert' first"
        )
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        raise DataError(f"{path} is corrupt: re-run 'nanotrig convert'") from None


#: hls4ml names a BatchNormalization (or alpha scale) fused with the binary/ternary activation
#: after it ``bnbt_<name>``; it holds the activation's output.
_FUSED_PREFIX = "bnbt_"


def _keras_source(name: str, keras_names: set[str]) -> str | None:
    """The Keras layer an hls4ml layer came from (``fc1_relu`` -> ``fc1``, ``bnbt_fc1_alpha``
    -> ``fc1``), if any."""
    if name in keras_names:
        return name
    if name.startswith(_FUSED_PREFIX):  # hls4ml's fused BN/alpha + binary/ternary activation
        return _keras_source(name[len(_FUSED_PREFIX) :], keras_names)
    stem = name
    while "_" in stem:
        stem = stem.rsplit("_", 1)[0]
        if stem in keras_names:
            return stem
    return None


def _compare_layers(keras_out, trace, kinds, model, n, emulated=None):
    """Rows per traced layer; an hls layer split from a Keras layer (QDense with an activation)
    is compared with the Keras output only if it is the last piece of that layer. A table
    layer in ``emulated`` is compared bit for bit with the emulator and gets its table error."""
    emulated = emulated or {}
    keras_names = set(keras_out)
    last_piece: dict[str, str] = {}
    for name in trace:  # trace keeps the graph order
        src = _keras_source(name, keras_names)
        if src is not None and name.startswith(_FUSED_PREFIX):
            act = _sole_consumer(model, src, "QActivation")
            if act is not None:  # bnbt holds the activation's output; src's own piece is
                last_piece.pop(src, None)  # before the fused scale: src is not compared
                src = act
        if src is not None:
            last_piece[src] = name
    last_piece, covered = _through_folded(model, last_piece)
    rows: list[dict[str, Any]] = []
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    bad_events = np.zeros(n, dtype=bool)
    for src, name in last_piece.items():
        k = keras_out[src].reshape(n, -1).astype(np.float64)
        c = np.asarray(trace[name]).reshape(n, -1)
        if k.shape != c.shape:
            log.warning("layer %s: Keras %s vs C-sim %s values; skipped", name, k.shape, c.shape)
            continue
        bad = np.any(k != c, axis=1)
        kind = kinds.get(name, "exact")
        row = {
            "layer": name,
            "keras_layer": src,
            "kind": kind,
            "n_events": n,
            "n_mismatch": int(bad.sum()),
            "max_abs_diff": float(np.max(np.abs(k - c))),
        }
        if kind == "lut":
            row["argmax_agreement"] = float(np.mean(np.argmax(k, 1) == np.argmax(c, 1)))
        if name in emulated:
            e = emulated[name].reshape(n, -1)
            bad = np.any(e != c, axis=1)
            row.update(n_mismatch=int(bad.sum()), max_abs_diff=float(np.max(np.abs(e - c))))
            row.update(compared_with="emulator", table_error=_table_error(k, e))
        if kind != "lut" or name in emulated:
            bad_events |= bad
        rows.append(row)
        pairs[name] = (k, c)
    compared = {
        src for src, name in last_piece.items() if kinds.get(name) != "lut" or name in emulated
    } | covered
    not_compared = [
        layer.name
        for layer in model.layers
        if layer.name not in compared and type(layer).__name__ != "InputLayer"
    ]
    return rows, bad_events, pairs, not_compared


def _through_folded(model, last_piece: dict[str, str]) -> tuple[dict[str, str], set[str]]:
    """``{Keras layer: hls layer}`` with each hls piece that holds a folded quantizer's output
    keyed by that quantizer (graph order kept), and the Keras layers compared through it."""
    renamed: dict[str, str] = {}
    covered: set[str] = set()
    for src, name in last_piece.items():
        folded = _folded_quantizer(model, src)
        itself = _folds_into_itself(model, src)
        if (name == f"{src}_linear" or itself) and folded is not None and folded not in last_piece:
            covered |= {src} if itself else set()
            src = folded
        renamed[src] = name
    return renamed, covered


def _sole_consumer(model, src: str, cls: str) -> str | None:
    """The name of the only layer that consumes layer ``src``, if it is of class ``cls``."""
    consumers = [
        layer
        for layer in model.layers
        for node in layer._inbound_nodes
        if src in {getattr(t, "name", None) for t in _as_list(node.inbound_layers)}
    ]
    if len(consumers) != 1 or type(consumers[0]).__name__ != cls:
        return None
    return consumers[0].name


def _folded_quantizer(model, src: str) -> str | None:
    """The QActivation(quantized_bits) that is the only consumer of layer ``src``, if any:
    hls4ml folds it into ``src``'s linear activation (``<src>_linear`` holds its output)."""
    name = _sole_consumer(model, src, "QActivation")
    if name is None:
        return None
    q = model.get_layer(name).quantizer
    return name if type(q).__name__ == "quantized_bits" else None


def _folds_into_itself(model, src: str) -> bool:
    """Whether hls4ml folds the quantizer after Keras layer ``src`` into ``src``'s own result
    type (the input standardisation, an ApplyAlpha; a merge such as the anomaly VAE's
    ``recon_diff`` Subtract, when the quantizer is not traced as a layer of its own)."""
    return any(layer.name == src and type(layer).__name__ in _SELF_FOLDING
               for layer in model.layers)  # fmt: skip


#: Keras layers whose following quantized_bits hls4ml may fold into their own result type.
_SELF_FOLDING = frozenset({"Po2Standardise", "Add", "Subtract", "Multiply"})


def _as_list(obj) -> list:
    return obj if isinstance(obj, list) else [obj]


def _last_traced(model, trace) -> str:
    names = list(trace)
    return names[-1] if names else model.layers[-1].name


def _save_mismatches(out_dir: Path, x, bad_events, pairs, index=None) -> Path:
    """The first mismatching events; ``index``: the events' numbers in the input (subsets)."""
    idx = np.flatnonzero(bad_events)[:N_MISMATCH_SAVED]
    event_index = idx if index is None else np.asarray(index)[idx]
    arrays = {"event_index": event_index, "inputs": x[idx]}
    for name, (k, c) in pairs.items():
        arrays[f"{name}__keras"] = k[idx]
        arrays[f"{name}__csim"] = c[idx]
    path = out_dir / MISMATCH_FILE
    np.savez_compressed(path, **arrays)
    log.warning("wrote %d mismatching events to %s", len(idx), path)
    return path


def _compile_error(buf, err: BaseException) -> str:
    for line in buf.getvalue().splitlines():
        if "error" in line.lower():
            return line.strip()
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
