"""The anomaly-trigger VAE (``anomaly_vae``) on L1 events: the score in the firmware, sum(mu^2)
or the reconstruction error (``model.score``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from nanotrig.decisions import DecisionSpec
from nanotrig.families.common import check_sample_kind, csim_failures, standard_stages
from nanotrig.families.common import test_inputs as _test_inputs
from nanotrig.families.decision_check import DecisionSource
from nanotrig.family import Family, RunContext
from nanotrig.report import (
    csim_headline,
    csim_sections,
    estimate_headline,
    headline,
    hls_section,
    onnx_float_line,
    rtl_headline,
    rtl_section,
    table,
)
from nanotrig.report_decisions import decisions_headline, decisions_section

if TYPE_CHECKING:
    from nanotrig.config import RunConfig

__all__ = ["ANOMALY_VAE", "quantize_vae", "quantized_onnx_lines", "train_vae"]


def train_vae(data: Path, cfg: RunConfig, out_dir: Path, force: bool = False) -> dict:
    """``nanotrig train`` of the VAE (SM background only; inputs scaled by bit shifts)."""
    from nanotrig.models.anomaly_stage import train_anomaly

    return train_anomaly(
        data, cfg.model, cfg.seed, out_dir, input_bits=cfg.quantize.input, force=force,
        raw_input=cfg.quantize.raw_input,
    )  # fmt: skip


def quantize_vae(
    model_dir: Path, data: Path, cfg: RunConfig, out_dir: Path, force: bool = False
) -> dict:
    """``nanotrig quantize`` of the VAE: QKeras encoder + score, QAT with the VAE loss."""
    from nanotrig.quantize.anomaly_stage import quantize_anomaly

    return quantize_anomaly(
        model_dir, data, cfg.quantize, cfg.model, cfg.seed, out_dir, force=force
    )


def _verify_inputs(ctx: RunContext):
    """Real events, test ones first (a small sample has fewer test events than n_events)."""
    import numpy as np

    return np.load(ctx.run_dir / "qmodel" / "all_inputs.npy")


def _score(x, y):
    """The anomaly score: the firmware's one output (sum(mu^2) or the reconstruction error)."""
    import numpy as np

    return np.asarray(y, np.float64).reshape(len(y), -1)[:, :1]


def _decisions(ctx: RunContext) -> DecisionSource:
    """Trigger on the anomaly score; signal: the test events of a BSM process."""
    import numpy as np

    from nanotrig.config import L1_BACKGROUNDS

    processes = np.load(ctx.run_dir / "qmodel" / "test_processes.npy")
    signal = ~np.isin(processes, L1_BACKGROUNDS)[:, None]
    return DecisionSource(DecisionSpec(("anomaly score",), _score), lambda _: signal)


def _export_quantized(ctx: RunContext) -> dict:
    from nanotrig.export.score import export_quantized_score

    return export_quantized_score(
        ctx.run_dir / "qmodel" / "qmodel.h5", _test_inputs(ctx), ctx.run_dir / "onnx_q"
    )


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f} %"


def _tpr(wp: dict | None, name: str) -> str:
    """TPR +- error at a working point, or the background size it needs."""
    if wp is None:
        return "-"
    r = wp["signals"][name]
    if r["tpr"] is not None:
        return f"{100 * r['tpr']:.2f} +- {100 * r['tpr_error']:.2f} %"
    if wp["background_needed"] is not None:
        return f"needs ~{wp['background_needed']:.2g} bkg"
    return f"< {100 * r['tpr_upper_68']:.2g} % (68 %)"


def _metric_rows(label: str, m: dict) -> list[list]:
    fprs = m.get("rates", {}).get("fpr", {})
    return [
        [name, label, r["n_events"], r["auc"], _tpr(fprs.get("1e-05"), name),
         _tpr(fprs.get("0.0001"), name), _tpr(fprs.get("0.001"), name),
         _tpr(m.get("rates", {}).get("rate"), name), _pct(r["tpr_at_min_fpr"])]
        for name, r in m["signals"].items()
    ]  # fmt: skip


def _rates_lines(m: dict) -> list[str]:
    """Working points of the QKeras score: thresholds (firmware units), FPR reached, sizes."""
    rt = m.get("rates")
    if not rt:
        return []
    lsb = rt["score_lsb"]
    lines = [
        "## Trigger rates (QKeras score, weighted background)",
        "",
        f"Rate = FPR x {rt['total_rate_mhz']:g} MHz (40 MHz x the filled-bunch fraction "
        "2544/3564 unless configured: model.total_rate_mhz); FPR relative to the background "
        "sample (events passing the lepton trigger), as in ADC2021. Background test events "
        f"{rt['n_background']}, sum of weights {rt['sum_weights']:.4g}, Kish effective size "
        f"{rt['effective_background']:.4g} ({'weighted' if rt['weighted'] else 'unweighted'}). "
        f"TPR errors: {rt['tpr_error']}. Score threshold in firmware units: integer "
        f"threshold x LSB {lsb:g} (= 2^{round(math.log2(lsb)) if lsb else '?'}); the trigger "
        "fires when the score's integer word is greater.",
        "",
    ]
    rows = []
    for key, wp in [*rt["fpr"].items(), (f"{rt['l1_rate_khz']:g} kHz", rt["rate"])]:
        eq = wp["equivalent_background_size"]
        rows.append([
            key, f"{wp['target_fpr']:.3g}", f"{wp['threshold']:.6g}", wp.get("threshold_int", "-"),
            f"{wp['fpr']:.3g} +- {wp['fpr_error']:.2g}",
            f"{wp['fpr'] * rt['total_rate_mhz'] * 1e3:.3g} kHz",
            f"{wp['effective_background_above']:.3g}", "-" if eq is None else f"{eq:.3g}",
            "-" if wp["background_needed"] is None else f"{wp['background_needed']:,}",
        ])  # fmt: skip
    header = ["working point", "target FPR", "threshold", "threshold (int)", "FPR reached",
              "rate", "eff. bkg above", "equivalent bkg size", "bkg needed"]  # fmt: skip
    return [*lines, *table(header, rows), "", rt["statement"], ""]


def quantized_onnx_lines(eq: dict) -> list[str]:
    """The QDQ score model and its check against QKeras (``export.qcheck``, tolerance 0)."""
    if "error" in eq:
        return [f"QKeras score model, QDQ ONNX: **NOT identical**: {eq['error']}", ""]
    n = eq["n_events"]
    lines = [
        f"QKeras score model as a QDQ ONNX graph {eq['onnx']} ({eq['method']}): score max "
        f"|ONNX - QKeras| {eq['max_abs_diff_outputs']:.3g} in the traced graph "
        f"({round(eq['frac_events_logits_differ'] * n)} of {n} test events differ), "
        f"{eq['file_max_abs_diff_outputs']:.3g} for the file as onnxruntime optimises "
        f"it: **{'identical' if eq['exact'] else 'NOT identical'}**.",
        "",
    ]
    if eq.get("layer_plan"):
        lines += ["Layer plan: " + "; ".join(eq["layer_plan"]) + ".", ""]
    return lines


def _sections_sample(r: dict) -> list[str]:
    s, t, q = r["samples"], r["train"], r["quantize"]
    m, qc = r["config"]["model"], r["config"]["quantize"]
    fm, qm = q["metrics"]["float"], q["metrics"]["quantized"]
    lines = ["## Sample", ""]
    lines += [
        f"{s['n_events']} L1 events (Pythia 8 + parametric detector, {s['path']}): "
        + ", ".join(f"{k} {v}" for k, v in s["n_per_process"].items())
        + f". Trained on SM background only; split {t['sizes']}.",
        "",
    ]
    sc = t["input_scaling"]
    where = (
        f"the deployed model takes the raw features (pT in GeV, eta, phi in rad) as "
        f"{raw_type_text(qc)} and does both itself (layer standardise, then input_quant)"
        if sc.get("inside")
        else "applied outside the model"
    )
    lines += [
        "Inputs: the 57 features times 2^-shift per group, rounded to "
        f"{sc.get('input_type', 'the input type')} (LSB {sc.get('input_lsb', '-')}): a bit "
        f"shift of the integer L1 words, no multiplier; {where}. Shifts: "
        + ", ".join(f"{k} {v}" for k, v in sc["shifts"].items())
        + ".",
        "",
        f"Model: encoder 57 -> {' -> '.join(map(str, m['vae_hidden']))} -> mu, log_var "
        f"(latent {m['latent_dim']}), mirrored decoder; loss (1 - {m['kl_beta']}) MSE + "
        f"{m['kl_beta']} KL. {_deployed_text(m, qc)}",
        "",
        "## Anomaly detection (test events)",
        "",
        qm["statement"],
        "",
    ]
    rate = f"TPR @ {qm.get('rates', {}).get('l1_rate_khz', 1.0):g} kHz"
    header = ["signal", "model", "events", "AUC", "TPR @ FPR 1e-5", "TPR @ FPR 1e-4",
              "TPR @ FPR 1e-3", rate, "TPR @ FPR 1/N"]  # fmt: skip
    lines += table(header, _metric_rows("float", fm) + _metric_rows("QKeras", qm))
    return [*lines, "", *_rates_lines(qm)]


def _deployed_text(m: dict, qc: dict) -> str:
    """What the deployed model computes (``model.score``)."""
    lat = f"quantized_bits({qc['latent']['bits']},{qc['latent']['integer']})"
    if m.get("score", "mu2") != "recon":
        return (f"Deployed: encoder to mu, mu quantized as {lat}, then Multiply(mu, mu) and a "
                "frozen all-ones Dense(1): score = sum(mu^2) in firmware.")  # fmt: skip
    d = qc.get("recon_diff") or {"bits": 10, "integer": 2}
    return (
        f"Deployed: encoder to mu (quantized as {lat}, no sampling), the QAT decoder, the "
        "difference from the model's own scaled, quantized inputs (Subtract), quantized as "
        f"quantized_bits({d['bits']},{d['integer']}), squared (Multiply) and summed by a frozen "
        "all-ones Dense(1): score = sum((x - decoder(mu))^2) in firmware."
    )


def _fpr_headline(m: dict) -> str:
    return m["rates"]["statement"] if "rates" in m else m["statement"]


def raw_type_text(qc: dict) -> str:
    """``ap_fixed<B,I+1>`` of the raw input type in a resolved quantize config."""
    raw = qc.get("raw_input") or {"bits": 22, "integer": 10}
    return f"ap_fixed<{raw['bits']},{raw['integer'] + 1}>"


def _headline(r: dict) -> list[str]:
    qm = r["quantize"]["metrics"]["quantized"]["signals"]
    aucs = ", ".join(f"{k} {v['auc']:.3f}" for k, v in qm.items())
    e, eq = r["export"], r["export_quantized"]
    onnx = (
        f"float {'agrees' if e['agrees'] else 'DISAGREES'} with Keras; QDQ score "
        f"{'identical' if eq.get('exact') else 'NOT identical'} to QKeras"
    )
    return headline([
        ("AUC per signal, QKeras", aucs),
        ("TPR at FPR 1e-5", _fpr_headline(r["quantize"]["metrics"]["quantized"])),
        ("firmware (C-sim) vs QKeras, score included", csim_headline(r)),
        ("trigger decisions", decisions_headline(r)),
        ("latency and resources", estimate_headline(r)),
        ("RTL (da4ml, Verilator, Yosys)", rtl_headline(r)),
        ("ONNX (onnxruntime)", onnx),
    ])  # fmt: skip


def _hls(r: dict) -> list[str]:
    mech = r["hls"]["precision_mechanism"]
    return hls_section(r, f"Precisions from the quantizers ({mech}).")


def _csim(r: dict) -> list[str]:
    return csim_sections(r, "Real events (test events first)", argmax=False)


def _onnx(r: dict) -> list[str]:
    e = r["export"]
    lines = ["## ONNX (onnxruntime)", ""]
    lines += [onnx_float_line(e, "events", "Float score model "), ""]
    return lines + quantized_onnx_lines(r["export_quantized"])


def _summary(report: dict) -> str:
    """One line for the CLI: AUC per signal, C-sim and ONNX agreement."""
    m = report["quantize"]["metrics"]
    aucs = ", ".join(
        f"{k} {v['auc']:.3f} ({m['float']['signals'][k]['auc']:.3f})"
        for k, v in m["quantized"]["signals"].items()
    )
    v = report["verify"]
    edges = v.get("edge_inputs")
    edge_txt = f" + {edges['n_events']} edge inputs: {edges['ok']}" if edges else ""
    return (
        f"AUC QKeras (float): {aucs}; C-sim bit-exact on {v['n_events']} events: {v['ok']}"
        f"{edge_txt}; ONNX agrees: {report['export']['agrees']}; quantized ONNX identical: "
        f"{report['export_quantized']['exact']}"
    )


def _failures(r: dict, run_dir: Path) -> list[str]:
    out = csim_failures(r, run_dir)
    if not r["export_quantized"]["exact"]:
        out.append(
            f"the quantized ONNX model differs from QKeras (see {run_dir / 'report.md'} and "
            f"{run_dir / 'onnx_q' / 'qdq_artifact.json'} for the layer that diverges)"
        )
    return out


def _plots(r: dict) -> dict[str, str]:
    return {
        "float_roc": "model/roc.png",
        "float_scores": "model/scores.png",
        "float_loss": "model/loss.png",
        "quantized_roc": "qmodel/roc.png",
        "quantized_scores": "qmodel/scores.png",
        "quantized_rate": "qmodel/rate.png",
        "qat_loss": "qmodel/loss.png",
    }


def _needs_l1(cfg: RunConfig) -> None:
    check_sample_kind(cfg, "anomaly_vae", "L1 events", "l1")


ANOMALY_VAE = Family(
    name="anomaly_vae",
    title="anomaly-trigger VAE (AXOL1TL-like)",
    sample_kind="l1",
    model_keys=("vae_hidden", "latent_dim", "kl_beta", "score", "total_rate_mhz", "l1_rate_khz"),
    stages=standard_stages(
        train_vae,
        quantize_vae,
        verify_inputs=_verify_inputs,
        export_quantized=_export_quantized,
        rtl=True,
        decisions=_decisions,
    ),
    sections=(_headline, _sections_sample, _hls, _csim, decisions_section, rtl_section, _onnx),
    summary=_summary,
    failures=_failures,
    train=train_vae,
    quantize=quantize_vae,
    plots=_plots,
    check_config=_needs_l1,
    description="VAE on the 57 L1 features, anomaly score (sum(mu^2) or the reconstruction "
    "error, model.score) in firmware",
)
