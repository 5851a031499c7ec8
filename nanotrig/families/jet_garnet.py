"""The GarNet tagger (``jet_garnet``) on jet constituents.

The firmware holds the tagger up to its logits: the GarNet layer and the Dense head (fc1, ReLU,
output, weights in ``ap_fixed<16,6>``); only the softmax runs outside it, in float. The
"firmware" figures are the softmax of the emulated logits, which equal the C-simulation's bit for
bit (checked in the verify stage; ``hls.garnet_head``). The run fails if the C-simulation and
the emulator differ, the emulator is outside its Keras tolerance, or ONNX disagrees with Keras.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nanotrig.families.common import check_sample_kind, sample_stage
from nanotrig.family import Family, RunContext, Stage
from nanotrig.fileio import write_json
from nanotrig.report import (
    binomial_error,
    estimate_headline,
    estimate_section,
    fmt,
    headline,
    pm,
    table,
)
from nanotrig.report_decisions import decisions_headline, decisions_section

if TYPE_CHECKING:
    from nanotrig.config import RunConfig

__all__ = ["JET_GARNET", "quantize_garnet", "train_garnet"]

_FW = "firmware logits + softmax"


def _data(ctx: RunContext):
    if "garnet_data" not in ctx.cache:
        from nanotrig.models.garnet_stage import load_garnet_data

        ctx.cache["garnet_data"] = load_garnet_data(ctx.data_path, ctx.cfg.model, ctx.cfg.seed)
    return ctx.cache["garnet_data"]


def _load_float(model_dir: Path, data) -> Any:
    """The float tagger of ``model_dir/model.h5`` (rebuilt, then its weights loaded)."""
    from nanotrig.models.garnet import build_garnet_tagger

    model = build_garnet_tagger(data.x.shape[1], data.x.shape[2], len(data.class_names))
    model.load_weights(Path(model_dir) / "model.h5")
    return model


def _load_quantized(qmodel_dir: Path, float_model, cfg: RunConfig) -> Any:
    """The QGarNet tagger of ``qmodel_dir/qmodel.h5`` (rebuilt, then its weights loaded)."""
    from nanotrig.quantize.garnet_stage import build_qgarnet_tagger, garnet_bits

    model = build_qgarnet_tagger(float_model, garnet_bits(cfg.quantize))
    model.load_weights(Path(qmodel_dir) / "qmodel.h5")
    return model


def train_garnet(data: Path, cfg: RunConfig, out_dir: Path, force: bool = False) -> dict:
    """``nanotrig train`` of the GarNet tagger on a jet sample with constituents."""
    from nanotrig.models.garnet_stage import load_garnet_data, train_garnet_stage

    garnet_data = load_garnet_data(data, cfg.model, cfg.seed)
    return train_garnet_stage(garnet_data, cfg.model, cfg.seed, out_dir, force=force)[1]


def quantize_garnet(
    model_dir: Path, data: Path, cfg: RunConfig, out_dir: Path, force: bool = False
) -> dict:
    """``nanotrig quantize`` of the GarNet tagger: QGarNet from the float weights, QAT."""
    from nanotrig.models.garnet_stage import load_garnet_data
    from nanotrig.quantize.garnet_stage import quantize_garnet_stage

    garnet_data = load_garnet_data(data, cfg.model, cfg.seed)
    model = _load_float(model_dir, garnet_data)
    q = cfg.quantize
    return quantize_garnet_stage(
        model, garnet_data, q, cfg.model.batch_size, cfg.seed, out_dir, force=force
    )[1]


def _train(ctx: RunContext) -> dict:
    from nanotrig.models.garnet_stage import train_garnet_stage

    cfg = ctx.cfg
    model, record = train_garnet_stage(_data(ctx), cfg.model, cfg.seed, ctx.run_dir / "model")
    ctx.cache["model"] = model
    return record


def _model(ctx: RunContext):
    if "model" not in ctx.cache:
        ctx.cache["model"] = _load_float(ctx.run_dir / "model", _data(ctx))
    return ctx.cache["model"]


def _quantize(ctx: RunContext) -> dict:
    from nanotrig.quantize.garnet_stage import quantize_garnet_stage

    cfg = ctx.cfg
    qmodel, record = quantize_garnet_stage(
        _model(ctx), _data(ctx), cfg.quantize, cfg.model.batch_size, cfg.seed,
        ctx.run_dir / "qmodel",
    )  # fmt: skip
    ctx.cache["qmodel"] = qmodel
    return record


def _qmodel(ctx: RunContext):
    if "qmodel" not in ctx.cache:
        ctx.cache["qmodel"] = _load_quantized(ctx.run_dir / "qmodel", _model(ctx), ctx.cfg)
    return ctx.cache["qmodel"]


def _hls_model(ctx: RunContext, out_dir: Path):
    from nanotrig.hls.garnet_convert import convert_garnet

    return convert_garnet(_qmodel(ctx), out_dir, reuse_factor=ctx.cfg.hls.reuse_factor, head=True)


def _convert(ctx: RunContext) -> dict:
    hls_model = _hls_model(ctx, ctx.run_dir / "hls")
    ctx.cache["hls_model"] = hls_model
    return _conversion_record(
        hls_model, ctx.cfg, ctx.run_dir / "hls", ctx.run_dir / "qmodel" / "qmodel.h5",
        _input_spec(ctx),
    )  # fmt: skip


def _input_spec(ctx: RunContext) -> dict:
    """What the tagger takes, with the training features' mean and spread."""
    from nanotrig.models.garnet_input_record import garnet_input_spec

    data = _data(ctx)
    (x, n), _ = data.part("train")
    return garnet_input_spec(data.x.shape[1], x, n)


def _conversion_record(
    hls_model, cfg: RunConfig, project: Path, qmodel_path: Path, inputs: dict | None = None
) -> dict:
    """The estimate and budget gate of a converted tagger, and what it takes (``inputs``:
    :func:`~nanotrig.models.garnet_input_record.garnet_input_spec`); writes
    ``conversion.json``."""
    from nanotrig.hls.budget import check_budget, estimate_for
    from nanotrig.hls.garnet_convert import GARNET_PRECISIONS, HEAD_PRECISIONS

    estimate = estimate_for(hls_model, cfg.hls)  # raises BudgetExceededError over budget
    budget = check_budget(estimate, cfg.hls)
    converted = {
        "stage": "convert",
        "family": "jet_garnet",
        "qmodel": str(qmodel_path),
        "project_dir": str(project),
        "in_firmware": ["garnet", "fc1", "relu1", "output"],
        "outside_firmware": ["softmax"],
        "precisions": dict(GARNET_PRECISIONS),
        "head_precisions": dict(HEAD_PRECISIONS),
        "distance_t": "ap_fixed<12,4,AP_TRN,AP_SAT> (fixed by hls4ml)",
        "reuse_factor": cfg.hls.reuse_factor,
        "inputs": inputs,
        "estimate": None if estimate is None else {**estimate.to_dict(), "budget": budget},
    }
    write_json(project / "conversion.json", converted)
    return converted


def load_garnet_model(path: Path):
    """A float GarNet or QGarNet tagger saved with ``model.save`` (ModelError if unreadable)."""
    from hls4ml.contrib.garnet import GarNet
    from tensorflow import keras

    from nanotrig.errors import ModelError
    from nanotrig.hls.model_io import custom_objects
    from nanotrig.quantize.garnet import QGarNet

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {path} not found: give a GarNet tagger's .h5 file")
    objs = {**custom_objects(), "GarNet": GarNet, "QGarNet": QGarNet}
    try:
        model = keras.models.load_model(path, custom_objects=objs, compile=False)
    except Exception as err:  # h5py/keras raise many types for a bad file
        raise ModelError(
            f"cannot read GarNet tagger {path} ({type(err).__name__}): give the model.h5 or "
            "qmodel.h5 of a jet_garnet run"
        ) from None
    if "garnet" not in [la.name for la in model.layers]:
        raise ModelError(f"{path} has no layer named 'garnet': it is not a jet_garnet tagger")
    return model


def garnet_file_inputs(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The tagger's inputs from a jet sample (.h5 with constituents) or an .npz with ``x`` and
    ``n`` (constituents, vertex counts)."""
    from nanotrig.errors import DataError

    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path) as f:
            if not {"x", "n"} <= set(f.files):
                raise DataError(f"{path} needs arrays 'x' (constituents) and 'n' (counts)")
            return np.asarray(f["x"], np.float32), np.asarray(f["n"], np.float32).reshape(-1, 1)
    from nanotrig.models.garnet import garnet_inputs
    from nanotrig.samples import load_jets

    sample = load_jets(path, parts=("constituents",))
    return garnet_inputs(sample.constituents, sample.n_constituents)


def convert_file(qmodel: Path, out_dir: Path, cfg: RunConfig, force: bool = False) -> dict:
    """``nanotrig convert QMODEL --config <jet_garnet config>``: the tagger up to its logits."""
    from nanotrig.fileio import prepare_output_dir
    from nanotrig.hls.garnet_convert import convert_garnet
    from nanotrig.models.garnet_input_record import garnet_input_spec

    model = load_garnet_model(qmodel)
    out = prepare_output_dir(out_dir, force)
    hls_model = convert_garnet(model, out, reuse_factor=cfg.hls.reuse_factor, head=True)
    spec = garnet_input_spec(int(model.inputs[0].shape[1]))  # no sample: no feature statistics
    return _conversion_record(hls_model, cfg, out, Path(qmodel).resolve(), spec)


def verify_file(project: Path, inputs: Path, n_events: int | None = None) -> dict:
    """``nanotrig verify`` of a GarNet project: the project rebuilt and compiled from its
    QGarNet model, C-sim vs the emulator on the inputs and edge inputs, the emulator vs Keras."""
    import json

    from nanotrig.hls.garnet_convert import convert_garnet, garnet_submodel
    from nanotrig.hls.garnet_emulator import GarnetEmulator
    from nanotrig.hls.garnet_head import GarnetTaggerEmulator
    from nanotrig.hls.garnet_verify import (
        compare_csim_emulator,
        emulator_vs_keras,
        garnet_edge_inputs,
    )
    from nanotrig.models.garnet_input_record import check_garnet_inputs

    project = Path(project)
    conv = json.loads((project / "conversion.json").read_text())
    x, n = garnet_file_inputs(inputs)
    check_garnet_inputs(x, n, conv.get("inputs"), str(inputs))  # before anything is written
    x, n = x[:n_events], n[:n_events]
    qmodel = load_garnet_model(Path(conv["qmodel"]))
    hls_model = convert_garnet(qmodel, project, reuse_factor=conv["reuse_factor"], head=True)
    emulator = GarnetEmulator.from_hls_layer(hls_model)
    tagger = GarnetTaggerEmulator.from_model(emulator, qmodel)
    record = compare_csim_emulator(hls_model, tagger, x, n, project / "mismatch_jets.npz")
    x_e, n_e = garnet_edge_inputs(x, np.random.default_rng(0))
    record["edge_inputs"] = compare_csim_emulator(
        hls_model, tagger, x_e, n_e, project / "mismatch_edge_inputs.npz"
    )
    record["emulator_vs_keras"] = emulator_vs_keras(emulator, garnet_submodel(qmodel), x, n)
    write_json(project / "verify.json", record)
    return record


def export_file(
    model_path: Path, out_dir: Path, inputs: Path, cfg: RunConfig, force: bool = False
) -> dict:
    """``nanotrig export`` of a GarNet tagger (float or QGarNet) with its two inputs."""
    from nanotrig.export.garnet import QUANTIZED_ATOL, export_garnet
    from nanotrig.fileio import prepare_output_dir

    model = load_garnet_model(model_path)
    x, n = garnet_file_inputs(inputs)
    quantized = type(model.get_layer("garnet")).__name__ == "QGarNet"
    out = prepare_output_dir(out_dir, force)
    atol = QUANTIZED_ATOL if quantized else cfg.export.atol
    name = f"{Path(model_path).stem}.onnx"
    return export_garnet(model, [x, n], out, name, cfg.export.opset, atol)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _verify(ctx: RunContext) -> dict:
    """C-sim vs the emulator on real and edge jets, the emulator vs Keras, and the test-set
    metrics of the float, QAT and firmware taggers (``report_extra``: ``metrics``)."""
    from nanotrig.hls.garnet_convert import garnet_submodel
    from nanotrig.hls.garnet_emulator import GarnetEmulator
    from nanotrig.hls.garnet_head import GarnetTaggerEmulator
    from nanotrig.hls.garnet_verify import (
        compare_csim_emulator,
        emulator_vs_keras,
        garnet_edge_inputs,
    )

    cfg, timed, run_dir = ctx.cfg, ctx.timed, ctx.run_dir
    for stale in (run_dir / "hls").glob("mismatch*.npz"):  # a resumed run's earlier check
        stale.unlink()
    data, model, qmodel = _data(ctx), _model(ctx), _qmodel(ctx)
    hls_model = ctx.cache.get("hls_model")
    if hls_model is None:  # after a resume: the same project, rebuilt beside it
        hls_model = _hls_model(ctx, run_dir / "hls" / "resumed")
    emulator = GarnetEmulator.from_hls_layer(hls_model)
    tagger_emulator = GarnetTaggerEmulator.from_model(emulator, qmodel)
    others = np.concatenate([data.split["train"], data.split["val"]])
    verify_idx = np.concatenate([data.split["test"], others])[: cfg.verify.n_events]
    x_v, n_v = data.x[verify_idx], data.n[verify_idx]
    record = timed(
        "verify", compare_csim_emulator, hls_model, tagger_emulator, x_v, n_v,
        run_dir / "hls" / "mismatch_jets.npz",
    )  # fmt: skip
    record["test_jets"] = int(min(len(data.split["test"]), len(verify_idx)))
    if cfg.verify.edge_inputs:
        x_e, n_e = garnet_edge_inputs(data.x, np.random.default_rng(cfg.seed))
        record["edge_inputs"] = timed(
            "verify_edges", compare_csim_emulator, hls_model, tagger_emulator, x_e, n_e,
            run_dir / "hls" / "mismatch_edge_inputs.npz",
        )  # fmt: skip
    record["emulator_vs_keras"] = timed(
        "verify_keras", emulator_vs_keras, emulator, garnet_submodel(qmodel), x_v, n_v
    )
    metrics = _metrics(ctx, model, qmodel, tagger_emulator)
    if cfg.verify.working_points:
        record["decisions"] = _decisions(ctx)
    write_json(run_dir / "hls" / "verify.json", record)
    return {**record, "report_extra": {"metrics": metrics}}


def _decisions(ctx: RunContext) -> dict:
    """The trigger decisions of the test jets, QAT vs firmware scores (test_scores.npz)."""
    from nanotrig.decisions import DecisionSpec
    from nanotrig.families.decision_check import decisions_record
    from nanotrig.models.metrics import read_test_scores

    labels, names, scores = read_test_scores(ctx.run_dir / "qmodel" / "test_scores.npz")
    ref, fw = scores["quantized"], scores["firmware"]
    return decisions_record(
        ctx, DecisionSpec(names, in_firmware=False), ref, ref, fw,
        labels[:, None] == np.arange(len(names)), exact_out=fw,
        note="GarNet: the firmware scores are the softmax (in float, outside the firmware) of "
        "the emulated logits, which equal the C-simulation's bit for bit on the verified jets, "
        "so they are their own bit-exact reference (0 flips by construction); QKeras is the "
        "QAT GarNet model, whose GarNet layer the firmware approximates (see the emulator's "
        "tolerance above): the differences from it counted as table-induced here come from "
        "that approximation, not from a lookup table.",
    )  # fmt: skip


def _metrics(ctx: RunContext, model, qmodel, tagger_emulator) -> dict:
    """Float, QAT and firmware class scores of the test jets: metrics, test_scores.npz, ROC."""
    from nanotrig.models.metrics import classification_metrics, roc_curves, write_test_scores
    from nanotrig.models.plots import plot_roc

    data, run_dir = _data(ctx), ctx.run_dir
    x_te, y_te = data.part("test")
    scores = {
        "float": model.predict(x_te, batch_size=1024, verbose=0),
        "QGarNet QAT": qmodel.predict(x_te, batch_size=1024, verbose=0),
        _FW: _softmax(tagger_emulator.predict(*x_te)),
    }
    metrics = {k: classification_metrics(y_te, s, data.class_names) for k, s in scores.items()}
    write_test_scores(
        run_dir / "qmodel", y_te, data.class_names,
        {"float": scores["float"], "quantized": scores["QGarNet QAT"], "firmware": scores[_FW]},
    )  # fmt: skip
    metrics[_FW]["argmax_agreement_vs_qkeras"] = float(
        np.mean(scores[_FW].argmax(1) == scores["QGarNet QAT"].argmax(1))
    )
    curves = {k: roc_curves(y_te, s, data.class_names) for k, s in scores.items() if k != "float"}
    plot_roc(
        {"float": roc_curves(y_te, scores["float"], data.class_names), **curves},
        run_dir / "qmodel" / "roc.png", title="GarNet jet tagger ROC (test jets)",
    )  # fmt: skip
    return metrics


def _export(ctx: RunContext, quantized: bool) -> dict:
    from nanotrig.export.garnet import QUANTIZED_ATOL, export_garnet
    from nanotrig.fileio import prepare_output_dir

    cfg, data = ctx.cfg, _data(ctx)
    x_te, _ = data.part("test")
    if quantized:
        out = prepare_output_dir(ctx.run_dir / "onnx_q")
        return export_garnet(
            _qmodel(ctx), x_te, out, "jet_garnet_q.onnx", cfg.export.opset, QUANTIZED_ATOL,
            spec=_input_spec(ctx),
        )  # fmt: skip
    out = prepare_output_dir(ctx.run_dir / "onnx")
    return export_garnet(_model(ctx), x_te, out, "jet_garnet.onnx", cfg.export.opset,
                         cfg.export.atol, spec=_input_spec(ctx))  # fmt: skip


_STAGES = (
    sample_stage(),
    Stage("train", _train, keys=("model",), after=("generate",), outputs=("model",)),
    Stage("quantize", _quantize, keys=("quantize",), after=("train",), outputs=("qmodel",)),
    Stage("convert", _convert, keys=("hls",), after=("quantize",), outputs=("hls",)),
    Stage(
        "verify",
        _verify,
        keys=("verify",),
        after=("convert",),
        outputs=("hls/verify.json", "qmodel/test_scores.npz"),
    ),
    Stage(
        "export",
        lambda ctx: _export(ctx, False),
        keys=("export",),
        after=("train",),
        outputs=("onnx",),
    ),
    Stage(
        "export_quantized",
        lambda ctx: _export(ctx, True),
        keys=("export",),
        after=("quantize",),
        outputs=("onnx_q",),
    ),
)


def _check_row(what: str, v: dict) -> list:
    return [what, v["n_events"], v["n_mismatch"], v["max_abs_diff"], "yes" if v["ok"] else "NO"]


def _sample_model(r: dict) -> list[str]:
    s, t, q, h = r["samples"], r["train"], r["quantize"], r["hls"]
    qb = q["garnet_quantizer"]
    lines = [
        "## Sample and model",
        "",
        f"{s.get('n_jets', '-')} jets ({s['path']}); split {t['sizes']}. Inputs: the "
        f"{t['inputs']['shape'][0]} hardest constituents x {t['inputs']['shape'][1]} features "
        "(ln pT, 5 eta_rel, 5 phi_rel, 5 dR) plus the vertex count. Model: GarNet (simplified, "
        "collapse mean, 4 aggregators, 8 propagated, 8 outputs), Dense(16) + ReLU, Dense + "
        f"softmax; {t['parameters']} parameters, {t['epochs_run']} epochs.",
        "",
        f"Quantization: the GarNet layer as `QGarNet` with `quantized_bits({qb['bits']},"
        f"{qb['integer']})` transforms, {q['training']} ({q['epochs_run']} QAT epochs).",
        "",
        "**Firmware scope: " + ", ".join(h["in_firmware"]) + " are converted to HLS and "
        "C-simulated (the tagger up to its logits); "
        + ", ".join(h["outside_firmware"])
        + " runs outside the firmware, in float.** The firmware row below is the softmax of "
        "the emulated logits, which equal the C-simulation bit for bit.",
        "",
        "## Test-set performance",
        "",
    ]
    m = r["metrics"]
    classes = list(next(iter(m.values()))["auc"])
    rows = [[k, x["accuracy"], *[x["auc"][c] for c in classes]] for k, x in m.items()]
    extra = [("QGarNet before QAT (post-training)", q["metrics_before_qat"]),
             ("QGarNet QAT, float head", q["metrics_after_qat_float_head"])]  # fmt: skip
    for i, (label, x) in enumerate(extra, start=1):
        rows.insert(i, [label, x["accuracy"], *[x["auc"][c] for c in classes]])
    lines += table(["model", "accuracy", *[f"AUC {c}" for c in classes]], rows)
    fw = m[_FW]
    return [
        *lines,
        "QGarNet QAT: the QAT tagger with its Dense head rounded to ap_fixed<16,6>, the model "
        "converted. Firmware vs that QKeras tagger: argmax agreement "
        f"{fmt(fw['argmax_agreement_vs_qkeras'])} on {fw['n_events']} test jets.",
        "",
    ]


def _headline(r: dict) -> list[str]:
    m, v = r["metrics"], r["verify"]

    def acc(label: str) -> str:
        x = m[label]
        return pm(x["accuracy"], binomial_error(x["accuracy"], x["n_events"]))

    edges = v.get("edge_inputs") or {}
    ok = v["ok"] and edges.get("ok", True)
    csim = (
        f"{'**identical**' if ok else '**NOT identical**'} on {v['n_events']:,} jets and "
        f"{edges.get('n_events', 0):,} edge inputs (the emulator vs the QKeras layer: "
        f"{'within' if v['emulator_vs_keras']['ok'] else 'OUTSIDE'} its stated tolerance, "
        "not exact)"
    )
    e, eq = r["export"], r["export_quantized"]
    onnx = (
        f"float {'agrees' if e['agrees'] else 'DISAGREES'}; QGarNet within "
        f"{eq['atol']:g} of QKeras: {'yes' if eq['agrees'] else 'NO'} (not bit-identical)"
    )
    return headline([
        (f"accuracy, float ({m['float']['n_events']:,} test jets)", acc("float")),
        ("accuracy, QGarNet QAT", acc("QGarNet QAT")),
        ("accuracy, firmware logits + softmax", acc(_FW)),
        ("firmware (C-sim) vs its emulator, up to the logits", csim),
        ("trigger decisions (QKeras: the QAT model)", decisions_headline(r)),
        ("latency and resources", estimate_headline(r)),
        ("ONNX (onnxruntime)", onnx),
    ])  # fmt: skip


def _firmware(r: dict) -> list[str]:
    h = r["hls"]
    lines = ["## Firmware precisions", ""]
    rows = [[f"GarNet {k}", p] for k, p in h["precisions"].items()]
    rows += [[f"Dense head {k}", p] for k, p in h.get("head_precisions", {}).items()]
    lines += table(["type", "precision"], rows)
    lines += [
        f"distance: {h['distance_t']}; reuse factor {h['reuse_factor']}. Project: "
        f"`{h['project_dir']}`.",
        "",
    ]
    return lines + (
        estimate_section(h.get("estimate"))
        or ["No latency/resource estimate: hls/estimate.py cannot model a layer of this graph.", ""]
    )


def _csim(r: dict) -> list[str]:
    v = r["verify"]
    lines = ["## C-simulation vs emulator (bit for bit)", ""]
    rows = [_check_row(f"jets ({v['test_jets']} test jets first)", v)]
    if "edge_inputs" in v:
        rows.append(_check_row("edge inputs", v["edge_inputs"]))
    lines += table(["inputs", "events", "mismatching events", "max abs diff", "identical"], rows)
    k = v["emulator_vs_keras"]
    tol = k["tolerance"]
    return [
        *lines,
        "## Emulator vs the QKeras GarNet layer (not exact)",
        "",
        f"On {k['n_events']} jets, largest |output| {k['max_abs_output']:.3f}: max |diff| "
        f"{k['max_abs_diff']:.4f} ({100 * k['max_rel_diff']:.2f} %, tolerance "
        f"{100 * tol['max_rel']:g} %), mean {k['mean_abs_diff']:.5f} "
        f"({100 * k['mean_rel_diff']:.3f} %, tolerance {100 * tol['mean_rel']:g} %); "
        f"{k['saturated_events']} jets with a saturated distance sum (max |diff| "
        f"{k['saturated_max_abs_diff']:.4f}; allowed share {100 * tol['saturated_fraction']:g} %)"
        f": **{'within tolerance' if k['ok'] else 'OUTSIDE tolerance'}**. The 12-bit distance "
        "that indexes hls4ml's exp table dominates (docs: GarNet).",
        "",
    ]


def _onnx(r: dict) -> list[str]:
    e = r["export"]
    lines = [
        "## ONNX",
        "",
        f"Float tagger: {e['onnx']} (inputs {', '.join(e['inputs'])}) on "
        f"{', '.join(e['providers'])}: max |ONNX - Keras| = {e['max_abs_diff']:.3g} (tolerance "
        f"{e['atol']:g}), argmax agreement {fmt(e['argmax_agreement'])} on {e['n_events']} "
        f"test jets: **{'agrees' if e['agrees'] else 'DISAGREES'}**.",
        "",
    ]
    eq = r.get("export_quantized")
    if eq:
        lines += [
            f"Quantized tagger (tf2onnx of the QGarNet graph, its quantizers as float32 ops): "
            f"{eq['onnx']}: max |ONNX - QKeras| = {eq['max_abs_diff']:.3g} (tolerance "
            f"{eq['atol']:g}; not bit-identical: float32 round-off differs between TensorFlow's "
            "and onnxruntime's kernels for the layer), "
            f"argmax agreement {fmt(eq['argmax_agreement'])}: "
            f"**{'agrees' if eq['agrees'] else 'DISAGREES'}**. No QDQ form: the QDQ builder "
            "(export/qdq.py) takes chains of standard layers, not GarNet.",
            "",
        ]
    return lines


def _summary(r: dict) -> str:
    from nanotrig.export.garnet import QUANTIZED_ATOL

    m, v = r["metrics"], r["verify"]
    return (
        f"accuracy: float {m['float']['accuracy']:.3f}, QGarNet QAT "
        f"{m['QGarNet QAT']['accuracy']:.3f}, {_FW} {m[_FW]['accuracy']:.3f}; C-sim == "
        f"emulator: {v['ok']} ({v['n_mismatch']} mismatching jets of {v['n_events']}); "
        f"emulator within Keras tolerance: {v['emulator_vs_keras']['ok']}; ONNX agrees: "
        f"{r['export']['agrees']}; quantized ONNX within {QUANTIZED_ATOL:g}: "
        f"{r['export_quantized']['agrees']}"
    )


def _failures(r: dict, run_dir: Path) -> list[str]:
    v, out = r["verify"], []
    if any(c and not c["ok"] for c in (v, v.get("edge_inputs"))):
        out.append(
            f"GarNet C-simulation differs from the emulator (see {run_dir / 'report.md'} and "
            "the mismatch_*.npz files in hls/): check GARNET_PRECISIONS in hls/garnet_convert.py"
        )
    if not v["emulator_vs_keras"]["ok"]:
        out.append(
            f"the GarNet emulator is outside its tolerance against the QKeras layer (see "
            f"{run_dir / 'report.md'}): check the quantizer bits and the saturated-distance jets"
        )
    for key, folder in (("export", "onnx"), ("export_quantized", "onnx_q")):
        if not r[key]["agrees"]:
            out.append(
                f"the ONNX tagger disagrees with Keras (see {run_dir / folder / 'artifact.json'})"
            )
    return out


def _plots(r: dict) -> dict[str, str]:
    return {"roc": "qmodel/roc.png", "float_loss": "model/loss.png", "qat_loss": "qmodel/loss.png"}


def _check(cfg: RunConfig) -> None:
    """Settings the GarNet chain cannot honour are refused before any work, not ignored."""
    check_sample_kind(cfg, "jet_garnet", "jet constituents", "jets")
    s = cfg.samples
    if s.n_constituents & (s.n_constituents - 1):
        raise ValueError(
            f"samples.n_constituents {s.n_constituents}: GarNet needs a power of two "
            "(hls4ml shifts by log2 of it): use 16, 32 or 64"
        )
    g = cfg.quantize.layers.get("garnet")
    w = g.weights if g is not None and g.weights is not None else None
    if w is not None and w.bits - w.integer - 1 > 5:
        raise ValueError(
            f"quantize.layers.garnet.weights: quantized_bits({w.bits},{w.integer}) has "
            f"{w.bits - w.integer - 1} fractional bits; hls4ml holds the contracted GarNet "
            "transforms exactly only up to 5: lower bits or raise integer"
        )
    h, n_v = cfg.hls, s.n_constituents
    fixed = {"backend": "Vitis", "io_type": "io_parallel", "strategy": "Latency"}
    for key, value in fixed.items():
        if getattr(h, key) != value:
            raise ValueError(
                f"hls.{key}: the GarNet layer is converted with {key} {value} only "
                f"(hls/garnet_convert.py), got {getattr(h, key)!r}: set it to {value}"
            )
    if h.reuse_factor & (h.reuse_factor - 1) or h.reuse_factor > n_v:
        raise ValueError(
            f"hls.reuse_factor {h.reuse_factor}: GarNet splits its {n_v} vertices into "
            f"reuse_factor blocks: use a power of two up to {n_v}"
        )
    if cfg.verify.stress_events:
        raise ValueError(
            "verify.stress_events: the batched large check is not wired for jet_garnet yet: "
            "set it to 0"
        )


JET_GARNET = Family(
    name="jet_garnet",
    title="GarNet jet tagger",
    sample_kind="jets",
    stages=_STAGES,
    sections=(_headline, _sample_model, _firmware, _csim, decisions_section, _onnx),
    summary=_summary,
    failures=_failures,
    train=train_garnet,
    quantize=quantize_garnet,
    plots=_plots,
    check_config=_check,
    takes_shared_sample=True,
    convert_file=convert_file,
    verify_file=verify_file,
    export_file=export_file,
    description="GarNet on jet constituents (hls4ml contrib layer), its emulator the reference",
)
