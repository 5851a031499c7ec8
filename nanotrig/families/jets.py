"""The jet taggers on a jet sample's high-level features (``jet_mlp``) or jet images
(``jet_cnn``): the standard chain, classifier report sections."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nanotrig.families.common import csim_failures, standard_stages
from nanotrig.families.decision_check import classifier_decisions
from nanotrig.family import Family
from nanotrig.report import (
    auc_error,
    binomial_error,
    csim_headline,
    csim_sections,
    estimate_headline,
    headline,
    hls_section,
    onnx_float_line,
    pm,
    rtl_headline,
    rtl_section,
    table,
)
from nanotrig.report_decisions import decisions_headline, decisions_section

if TYPE_CHECKING:
    from nanotrig.config import RunConfig

__all__ = [
    "JET_CNN", "JET_MLP", "accuracy_change_text", "accuracy_section", "classifier_headline",
    "classifier_summary", "onnx_headline", "onnx_sections", "quantize_jets", "train_jets",
]  # fmt: skip


def train_jets(data: Path, cfg: RunConfig, out_dir: Path, force: bool = False) -> dict:
    """``nanotrig train`` of a jet tagger: :func:`nanotrig.models.train_model`."""
    from nanotrig.models import train_model

    return train_model(
        data, cfg.model, cfg.seed, out_dir, force=force, raw_input=cfg.quantize.raw_input,
        model_input=cfg.quantize.input,
    )  # fmt: skip


def quantize_jets(
    model_dir: Path, data: Path, cfg: RunConfig, out_dir: Path, force: bool = False
) -> dict:
    """``nanotrig quantize`` of a jet tagger: :func:`nanotrig.quantize.quantize_model` (QAT)."""
    from nanotrig.quantize import quantize_model

    return quantize_model(model_dir, data, cfg.quantize, cfg.seed, out_dir, force=force)


def _model_line(r: dict) -> str:
    m, family = r["config"]["model"], r["family"]
    inputs = r["train"].get("inputs") or {"kind": "features", "shape": None}
    shape = "x".join(map(str, inputs["shape"])) if inputs.get("shape") else "-"
    if family == "jet_cnn":
        arch = (
            f"Conv2D({m['kernel_size']}x{m['kernel_size']}) + ReLU + MaxPooling2D("
            f"{m['pool_size']}) blocks with {m['conv_filters']} filters, Flatten, Dense "
            f"{m['dense']}, softmax"
        )
        what = f"jet images ({shape}, pT fractions)"
    else:
        arch = f"hidden layers {m['hidden']}"
        what = f"{inputs['kind']} ({shape})"
        if inputs.get("raw"):
            what = f"raw features ({shape}, physical units; standardised inside the model)"
    name = {"jet_mlp": "jet MLP", "jet_cnn": "jet CNN"}.get(family, family)
    return f"Model: {name} (`{family}`) on {what}: {arch}."


def _sample_section(r: dict) -> list[str]:
    s = r["samples"]
    return [
        "## Sample",
        "",
        f"{s['n_jets']:,} jets from Pythia 8 + FastJet ({s['path']}); per class: "
        + ", ".join(f"{k} {v}" for k, v in s["n_per_class"].items())
        + ". Split: "
        + ", ".join(f"{k} {v:,}" for k, v in r["train"]["sizes"].items())
        + ".",
        "",
        _model_line(r),
        "",
    ]


def _with_error(m: dict, cls: str | None = None) -> str:
    """Accuracy (``cls`` None) or a class's AUC with its statistical error."""
    n = m.get("n_events", 0)
    if cls is None:
        return pm(m["accuracy"], binomial_error(m["accuracy"], n))
    n_pos = (m.get("n_per_class") or {}).get(cls)
    if n_pos is None:
        return f"{m['auc'][cls]:.3f}"
    return pm(m["auc"][cls], auc_error(m["auc"][cls], n_pos, n - n_pos))


def accuracy_change_text(q: dict) -> str:
    """The quantization's accuracy change in percentage points, with its error."""
    c = q.get("accuracy_change")
    fm, qm = q["metrics"]["float"], q["metrics"]["quantized"]
    if c:  # paired: the same test events
        return (
            f"{100 * c['value']:+.2f} ± {100 * c['error']:.2f} percentage points (QKeras - "
            f"float, paired on the same {c['n_events']:,} events: {c['gained']} gained, "
            f"{c['lost']} lost)"
        )
    n = fm.get("n_events", 0)
    err = np.hypot(binomial_error(fm["accuracy"], n), binomial_error(qm["accuracy"], n))
    diff = qm["accuracy"] - fm["accuracy"]
    return f"{100 * diff:+.2f} ± {100 * err:.2f} percentage points (QKeras - float, unpaired)"


def accuracy_section(r: dict) -> list[str]:
    """ "## Accuracy": float and QKeras accuracy and per-class AUC of a classifier's test set,
    each with its statistical error (binomial; Hanley-McNeil for the AUC)."""
    q = r["quantize"]
    fm, qm = q["metrics"]["float"], q["metrics"]["quantized"]
    classes = list(fm["auc"])
    lines = [f"## Accuracy ({fm.get('n_events', 0):,} test events)", ""]
    lines += table(
        ["model", "accuracy", *[f"AUC {c}" for c in classes]],
        [
            ["float", _with_error(fm), *[_with_error(fm, c) for c in classes]],
            ["QKeras (QAT)", _with_error(qm),
             *[_with_error(qm, c) for c in classes]],
        ],
    )  # fmt: skip
    return [*lines, f"Accuracy change from quantization: {accuracy_change_text(q)}.", ""]


def onnx_headline(r: dict) -> str:
    """Float and QDQ ONNX agreement in one line."""
    e, eq = r["export"], r.get("export_quantized") or {}
    verdict = "agrees" if e["agrees"] else "DISAGREES"
    text = f"float {verdict} with Keras (max abs diff {e['max_abs_diff']:.2g})"
    if "logits_exact" in eq:
        text += f"; QDQ logits {'identical' if eq['logits_exact'] else 'NOT identical'} to QKeras"
    return text


def classifier_headline(r: dict) -> list[str]:
    """The headline block of a classifier run."""
    q = r["quantize"]
    fm, qm = q["metrics"]["float"], q["metrics"]["quantized"]
    rows = [
        (f"accuracy, float ({fm.get('n_events', 0):,} test events)", _with_error(fm)),
        ("accuracy, QKeras (quantized)", _with_error(qm)),
        ("accuracy change from quantization", accuracy_change_text(q)),
        ("firmware (C-sim) vs QKeras", csim_headline(r)),
        ("trigger decisions", decisions_headline(r)),
        ("latency and resources", estimate_headline(r)),
        ("RTL (da4ml, Verilator, Yosys)", rtl_headline(r)),
        ("ONNX (onnxruntime)", onnx_headline(r)),
    ]
    return headline([(k, v) for k, v in rows if v is not None])


def _csim(r: dict) -> list[str]:
    return csim_sections(r, "Test events")


def onnx_sections(r: dict) -> list[str]:
    """The float ONNX agreement and the QDQ ONNX check of a classifier."""
    e = r["export"]
    lines = ["## ONNX (float model, onnxruntime)", ""]
    arg = f", argmax agreement {e['argmax_agreement']:.4f}"
    lines += [onnx_float_line(e, "events", extra=arg), ""]
    eq = r.get("export_quantized")
    if eq:
        lines += [
            "## ONNX (quantized model, QDQ, onnxruntime)",
            "",
            f"{eq['onnx']}: logits identical to QKeras on {eq['n_events']} events: "
            f"**{'yes' if eq['logits_exact'] else 'NO'}** (max |diff| "
            f"{eq['max_abs_diff_logits']:.3g}); softmax max |diff| "
            f"{eq['max_abs_diff_outputs']:.3g}; argmax agreement {eq['argmax_agreement']:.4f}.",
            "",
        ]
    return lines


def classifier_summary(r: dict) -> str:
    """One line: accuracy float/quantized, C-sim, ONNX agreement."""
    q = r["quantize"]["metrics"]
    return (
        f"accuracy float {q['float']['accuracy']:.4f}, quantized {q['quantized']['accuracy']:.4f}; "
        f"C-sim bit-exact: {r['verify']['ok']}; ONNX agrees: {r['export']['agrees']}; "
        f"QDQ ONNX logits exact: {r['export_quantized']['logits_exact']}"
    )


def _plots(r: dict) -> dict[str, str]:
    return {
        "float_roc": "model/roc.png",
        "float_loss": "model/loss.png",
        "quantized_roc": "qmodel/roc.png",
        "qat_loss": "qmodel/loss.png",
    }


def _cnn_fits_image(cfg: RunConfig) -> None:
    m, s = cfg.model, cfg.samples
    if s.kind != "jets":
        return
    side = s.image_size
    for i in range(1, len(m.conv_filters) + 1):
        side = (side - m.kernel_size + 1) // m.pool_size
        if side < 1:
            raise ValueError(
                f"model.conv_filters: a {s.image_size}x{s.image_size} image is too small "
                f"for {len(m.conv_filters)} conv blocks (kernel {m.kernel_size}, pool "
                f"{m.pool_size}); the map vanishes after block {i}: use fewer blocks, a "
                "smaller kernel_size/pool_size or a larger samples.image_size"
            )


_COMMON = {
    "sample_kind": "jets",
    "sections": (
        classifier_headline,
        _sample_section,
        accuracy_section,
        hls_section,
        _csim,
        decisions_section,
        rtl_section,
        onnx_sections,
    ),
    "summary": classifier_summary,
    "failures": csim_failures,
    "train": train_jets,
    "quantize": quantize_jets,
    "plots": _plots,
    "takes_shared_sample": True,
    "prunable": True,
}

JET_MLP = Family(
    name="jet_mlp",
    stages=standard_stages(train_jets, quantize_jets, rtl=True, decisions=classifier_decisions()),
    title="jet MLP tagger",
    model_keys=("hidden",),
    description="dense network on the 16 raw high-level jet features (standardised inside)",
    **_COMMON,
)
JET_CNN = Family(
    name="jet_cnn",
    stages=standard_stages(train_jets, quantize_jets, rtl=True, decisions=classifier_decisions()),
    title="jet CNN tagger",
    model_keys=("conv_filters", "kernel_size", "pool_size", "dense"),
    check_config=_cnn_fits_image,
    description="CNN on jet images (pT fractions), io_stream",
    **_COMMON,
)
