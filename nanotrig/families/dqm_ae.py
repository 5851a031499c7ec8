"""The DQM autoencoder (``dqm_ae``) on occupancy maps: fault detection and localisation."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from nanotrig.decisions import DecisionSpec
from nanotrig.errors import DataError, VerificationError
from nanotrig.families.common import (
    check_sample_kind,
    csim_failures,
    standard_stages,
    test_inputs,
)
from nanotrig.families.decision_check import DecisionSource
from nanotrig.family import Family, RunContext
from nanotrig.report import (
    auc_error,
    csim_headline,
    csim_sections,
    estimate_headline,
    fmt,
    headline,
    hls_section,
    onnx_float_line,
    pm,
    table,
)
from nanotrig.report_decisions import decisions_headline, decisions_section

if TYPE_CHECKING:
    from nanotrig.config import RunConfig

__all__ = ["DQM_AE", "quantize_dqm", "train_dqm"]


def train_dqm(data: Path, cfg: RunConfig, out_dir: Path, force: bool = False) -> dict:
    """``nanotrig train`` of the autoencoder: trained on the good maps only."""
    from nanotrig.models.dqm_stage import train_dqm_ae

    q = cfg.quantize
    return train_dqm_ae(data, cfg.model, cfg.seed, out_dir, force=force,
                        raw_input=q.raw_input, model_input=q.input)  # fmt: skip


def quantize_dqm(
    model_dir: Path, data: Path, cfg: RunConfig, out_dir: Path, force: bool = False
) -> dict:
    """``nanotrig quantize`` of the autoencoder (QAT)."""
    from nanotrig.quantize.dqm import quantize_dqm_ae

    return quantize_dqm_ae(
        model_dir, data, cfg.quantize, cfg.seed, out_dir, batch_size=cfg.model.batch_size,
        force=force,
    )  # fmt: skip


def _verify_inputs(ctx: RunContext):
    """The firmware sees maps, not a split: the test maps first, then the others."""
    import numpy as np

    return np.load(ctx.run_dir / "qmodel" / "verify_inputs.npy")


def _fault_score(x, y, shift: int | None = None):
    """The fault score: a map's mean squared reconstruction error (the trained loss), against
    the inputs as the model scales them (raw counts times ``2**-shift``; None: as they are)."""
    import numpy as np

    x = np.asarray(x, np.float64).reshape(len(x), -1)
    x = x if shift is None else np.ldexp(x, -shift)
    return np.mean((np.asarray(y, np.float64).reshape(x.shape) - x) ** 2, axis=1)[:, None]


def _decisions(ctx: RunContext) -> DecisionSource:
    """Flag a map on its fault score; signal: the test maps with a fault."""
    import numpy as np

    path = ctx.run_dir / "qmodel" / "test_fault_type.npy"
    if not path.is_file():  # a quantize stage of an earlier nanotrig
        raise DataError(f"{path} is missing: rerun the run with --force (quantize saves it)")
    faulty = np.load(path)[:, None] != 0
    score = partial(_fault_score, shift=_input_shift(ctx))
    # computed in numpy from the firmware's exact outputs: exact by construction, float thresholds
    spec = DecisionSpec(("fault score",), score, in_firmware=False)
    return DecisionSource(spec, lambda _: faulty)


def _input_shift(ctx: RunContext) -> int | None:
    """The po2_scale shift of the run's model (None: it takes per-map normalised maps)."""
    record = json.loads((ctx.run_dir / "model" / "artifact.json").read_text())
    return record["inputs"].get("shift")


def _export(ctx: RunContext) -> dict:
    from nanotrig.export.autoencoder import export_float_ae

    return export_float_ae(
        ctx.run_dir / "model" / "model.h5", test_inputs(ctx), ctx.cfg.export, ctx.run_dir / "onnx",
        shift=_input_shift(ctx),
    )  # fmt: skip


def _export_quantized(ctx: RunContext) -> dict:
    """QDQ ONNX of the QKeras autoencoder; a disagreement is recorded, raised after the report."""
    from nanotrig.export import export_quantized

    try:
        return export_quantized(
            ctx.run_dir / "qmodel" / "qmodel.h5", test_inputs(ctx), ctx.run_dir / "onnx_q",
            atol=ctx.cfg.export.atol,
        )  # fmt: skip
    except VerificationError as err:
        return {"agrees": False, "error": str(err)}


def _metric_rows(metrics: dict[str, dict]) -> list[list]:
    """One row per fault type and model: maps, AUC (mean loss), AUC (max cell), localisation."""
    rows = []
    for label, m in metrics.items():
        for name, f in m["per_fault"].items():
            rows.append([name, label, f["n_maps"], f["auc"], f["auc_max_cell"], f["localisation"]])
        rows.append(["any fault", label, sum(f["n_maps"] for f in m["per_fault"].values()),
                     m["auc_any_fault"], None, m["localisation"]])  # fmt: skip
    return rows


def _inputs_line(t: dict, qc: dict) -> str:
    """What the deployed model takes: raw counts scaled inside, or per-map normalised maps."""
    shift = t["inputs"].get("shift")
    if shift is None:
        return ("Inputs: maps_normalized (counts x cells / total, mean 1 per map), a per-map "
                "division done outside the model (model.normalise: per_map).")  # fmt: skip
    raw = qc.get("raw_input") or {"bits": 22, "integer": 10}
    return (
        f"Inputs: the raw occupancy counts as the detector sends them (ap_fixed<{raw['bits']},"
        f"{raw['integer'] + 1}>), scaled inside the model by 2^-{shift} (layer standardise, "
        "fitted on the good training maps) and rounded to the input type (model.normalise: "
        "po2_scale). The scale is fixed: a global occupancy change reaches the model as a "
        "change of every cell."
    )


def _sections_sample(r: dict) -> list[str]:
    s, t, q = r["samples"], r["train"], r["quantize"]
    m = r["config"]["model"]
    shape = "x".join(map(str, t["inputs"]["shape"]))
    lines = ["## Sample and model", ""]
    lines += [
        f"{s['n_maps']} occupancy maps ({s['path']}); per fault type: "
        + ", ".join(f"{k} {v}" for k, v in s["maps_per_fault"].items())
        + f". Split by run (maps): {t['sizes']}; trained on the good maps only "
        f"({t['trained_on']}).",
        "",
        _inputs_line(t, r["config"]["quantize"]),
        "",
        f"Model: convolutional autoencoder on {shape} maps: Conv2D("
        f"{m['kernel_size']}x{m['kernel_size']}, same) + ReLU + MaxPooling2D({m['pool_size']}) "
        f"with {m['conv_filters']} filters, mirrored by UpSampling2D + Conv2D + ReLU, linear "
        f"Conv2D(1) output; {t['parameters']} parameters. Loss: MSE over cells.",
        "",
        "## Fault detection and localisation (test runs)",
        "",
        "AUC: maps with the fault against good maps, scored by the map's mean squared error "
        "(the trained loss) or by its largest cell loss. Localisation: share of faulty maps "
        "whose largest-loss cell lies in the fault's cells.",
        "",
    ]
    lines += table(
        ["fault", "model", "maps", "AUC (MSE)", "AUC (max cell)", "localisation"],
        _metric_rows(q["metrics"]),
    )
    cell = {k: v.get("cell_auc") for k, v in q["metrics"].items()}
    return [
        *lines,
        "Per-cell AUC (cells inside fault masks vs outside, over the faulty maps): "
        + ", ".join(f"{k} {fmt(v)}" for k, v in cell.items())
        + ".",
        "",
    ]


def _headline(r: dict) -> list[str]:
    m = r["quantize"]["metrics"]

    def any_fault(label: str) -> str:
        x = m[label]
        n_bad = sum(f["n_maps"] for f in x["per_fault"].values())
        n_good = x.get("n_good")
        if n_good is None:
            return fmt(x["auc_any_fault"], 3)
        return pm(x["auc_any_fault"], auc_error(x["auc_any_fault"], n_bad, n_good))

    e, eq = r["export"], r.get("export_quantized") or {}
    onnx = f"float {'agrees' if e['agrees'] else 'DISAGREES'} with Keras"
    if "logits_exact" in eq:
        onnx += f"; QDQ reconstructions {'identical' if eq['logits_exact'] else 'NOT identical'}"
    return headline([
        ("fault AUC (map MSE), float", any_fault("float")),
        ("fault AUC (map MSE), QKeras", any_fault("quantized")),
        ("localisation, QKeras", fmt(m["quantized"]["localisation"], 3)),
        ("firmware (C-sim) vs QKeras", csim_headline(r)),
        ("trigger decisions", decisions_headline(r)),
        ("latency and resources", estimate_headline(r)),
        ("ONNX (onnxruntime)", onnx),
    ])  # fmt: skip


def _hls(r: dict) -> list[str]:
    iq = r["hls"]["input_quantizer"]
    return hls_section(r, f"Input quantizer: quantized_bits({iq['bits']},{iq['integer']}).")


def _csim(r: dict) -> list[str]:
    return csim_sections(r, "Occupancy maps (test runs first)", argmax=False)


def _onnx(r: dict) -> list[str]:
    e, eq = r["export"], r.get("export_quantized") or {}
    lines = ["## ONNX", ""]
    loss = f", per-map loss max |diff| {e['max_abs_diff_loss']:.3g}"
    lines += [onnx_float_line(e, "maps", "Float: ", loss), ""]
    if "error" in eq:
        return [*lines, f"Quantized (QDQ): **DISAGREES**: {eq['error']}", ""]
    if eq:
        lines += [
            f"Quantized (QDQ): {eq['onnx']}: reconstructions identical to QKeras on "
            f"{eq['n_events']} maps: **{'yes' if eq['logits_exact'] else 'NO'}** (max |diff| "
            f"{eq['max_abs_diff_outputs']:.3g}).",
            "",
        ]
    return lines


def _summary(r: dict) -> str:
    qm, v = r["quantize"]["metrics"], r["verify"]
    return (
        f"AUC any fault: float {fmt(qm['float']['auc_any_fault'])}, quantized "
        f"{fmt(qm['quantized']['auc_any_fault'])}; localisation (quantized) "
        f"{fmt(qm['quantized']['localisation'])}; C-sim bit-exact: {v['ok']}; "
        f"ONNX agrees: {r['export']['agrees']}; QDQ ONNX exact: "
        f"{r['export_quantized'].get('logits_exact')}"
    )


def _failures(r: dict, run_dir: Path) -> list[str]:
    out = csim_failures(r, run_dir)
    if not r["export"]["agrees"] or not r["export_quantized"].get("agrees"):
        out.append(
            f"an ONNX model disagrees with Keras/QKeras (see {run_dir / 'report.md'}): "
            "check onnx/artifact.json and onnx_q/qdq_artifact.json"
        )
    return out


def _plots(r: dict) -> dict[str, str]:
    examples = r["quantize"]["plots"]["examples"]
    return {
        "float_fault_roc": "model/fault_roc.png",
        "float_loss": "model/loss.png",
        "quantized_fault_roc": "qmodel/fault_roc.png",
        "qat_loss": "qmodel/loss.png",
        **{f"example_{k}": f"qmodel/{v}" for k, v in examples.items()},
    }


def _fits_map(cfg: RunConfig) -> None:
    check_sample_kind(cfg, "dqm_ae", "DQM occupancy maps", "dqm")
    m, s = cfg.model, cfg.samples
    step = m.pool_size ** len(m.conv_filters)
    if any(side % step for side in s.shape):
        raise ValueError(
            f"samples.shape {list(s.shape)}: the autoencoder pools {len(m.conv_filters)} "
            f"times by {m.pool_size}, so both sides must be multiples of {step}: change "
            "samples.shape, model.conv_filters or model.pool_size"
        )


DQM_AE = Family(
    name="dqm_ae",
    title="DQM autoencoder",
    sample_kind="dqm",
    model_keys=("conv_filters", "kernel_size", "pool_size", "normalise"),
    stages=standard_stages(
        train_dqm,
        quantize_dqm,
        verify_inputs=_verify_inputs,
        export=_export,
        export_quantized=_export_quantized,
        decisions=_decisions,
    ),
    sections=(_headline, _sections_sample, _hls, _csim, decisions_section, _onnx),
    summary=_summary,
    failures=_failures,
    train=train_dqm,
    quantize=quantize_dqm,
    plots=_plots,
    check_config=_fits_map,
    description="convolutional autoencoder on DQM occupancy maps, io_stream",
)
