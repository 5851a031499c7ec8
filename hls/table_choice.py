"""The final softmax's tables, chosen for accuracy, and the firmware's output head.

:func:`choose_softmax_tables` tries a small ladder of softmax settings (implementation, table
size, exp/inverse table types and the type of the exp sum that indexes the inverse table),
cheapest first by the estimate (BRAM, then LUT, then table bits; at equal cost the *centred*
setting, whose inverse-table index rounds to the nearest point, before the truncating one),
converts the model with each
(in memory, a fraction of a second) and runs the emulator of :mod:`hls.tables` on the test
vectors' logits (the firmware's logits: they equal QKeras' bit for bit), and on 20,000
logit vectors resampled column by column from them (so that the choice holds beyond the test
vectors). The first setting whose probabilities are within ``hls.softmax.tolerance`` (2^-7) of
QKeras' softmax, with a margin (:data:`MARGIN`: 3/4 of the tolerance on the sample), is kept.
Settings given in ``hls.softmax`` are kept as given; when they miss the tolerance, or no rung
reaches it, the record (and one log line) names the cheapest setting that would, with its
estimated cost.

:func:`apply_output_head`: ``hls.output_head: logits`` drops the final softmax from the
reference (the firmware ends at the logits); ``argmax`` sets hls4ml's softmax ``argmax``
implementation (a one-hot of the first largest logit).
"""

from __future__ import annotations

import copy
import logging
import math
from typing import Any

import numpy as np

from nanotrig.config import HlsConfig
from nanotrig.errors import ConfigError

__all__ = ["apply_output_head", "choose_softmax_tables", "final_softmax", "softmax_ladder"]

log = logging.getLogger(__name__)

_RS = ",AP_RND,AP_SAT>"
#: hls4ml 1.3's defaults (the first rung).
_DEFAULT = {
    "implementation": "stable",
    "table_size": 1024,
    "exp_table_t": "ap_fixed<18,8" + _RS,
    "inv_table_t": "ap_fixed<18,8" + _RS,
    "inv_inp_t": "ap_fixed<18,8" + _RS,
}
_TYPE_KEYS = ("exp_table_t", "inv_table_t", "inv_inp_t")


def final_softmax(model) -> str | None:
    """The name of the model's last layer when it is a separate softmax ``Activation``."""
    last = model.layers[-1]
    if type(last).__name__ == "Activation" and last.get_config().get("activation") == "softmax":
        return last.name
    if type(last).__name__ == "Softmax":
        return last.name
    return None


def apply_output_head(reference, cfg: HlsConfig):
    """The reference ending where ``cfg.output_head`` says (``logits``: without the final
    softmax). :class:`ConfigError` when the head asks for a softmax the model does not end in."""
    if cfg.output_head == "softmax":
        return reference
    name = final_softmax(reference)
    if name is None:
        raise ConfigError(
            f"hls.output_head: {cfg.output_head} needs a model ending in a softmax Activation "
            f"layer; {reference.layers[-1].name!r} is not one: set hls.output_head: softmax"
        )
    if cfg.output_head == "argmax":
        return reference
    import keras

    return keras.Model(reference.inputs, _softmax_input(reference), name=reference.name)


def _softmax_input(model):
    """The tensor feeding the model's final softmax in this model's graph (a layer reused
    from another model, as the inserted input quantizer makes it, has several inputs)."""
    layer, node_index, _ = model.outputs[0]._keras_history
    return layer._inbound_nodes[node_index].input_tensors


def softmax_ladder(n_classes: int) -> list[dict[str, Any]]:
    """Candidate settings: hls4ml's defaults, then an exp-sum type just wide enough for
    ``n_classes`` (finer inverse-table index), then larger tables. Each size comes first
    *centred*: the exp sum cast, rounding, to exactly the inverse table's index bits, so the
    index is the nearest table point instead of the one below (the inverse table, 1/x of its
    lower edge, otherwise overshoots: the softmax's upward bias), at the same table cost."""
    sum_int = math.ceil(math.log2(n_classes + 1)) + 1  # signed: sum of n values <= 1
    tight = {**_DEFAULT, "inv_inp_t": f"ap_fixed<18,{sum_int}" + _RS,
             "inv_table_t": "ap_fixed<18,2" + _RS}  # fmt: skip
    rungs = [dict(_DEFAULT)]
    for size in (1024, 2048, 4096, 8192, 16384):
        index_bits = size.bit_length() - 1
        centred = f"ap_fixed<{index_bits},{sum_int}" + _RS
        rungs += [{**tight, "table_size": size, "inv_inp_t": centred},
                  {**tight, "table_size": size}]  # fmt: skip
    return rungs


def _apply(hls_config: dict, name: str, setting: dict[str, Any]) -> dict:
    out = copy.deepcopy(hls_config)
    layer = out["LayerName"].setdefault(name, {})
    layer["Implementation"] = setting["implementation"]
    layer["TableSize"] = setting["table_size"]
    for key in _TYPE_KEYS:  # layer attributes ``*_t`` (hls4ml applies these over Precision)
        layer[key] = setting[key]
    return out


def choose_softmax_tables(
    reference, hls_config: dict, kwargs: dict, cfg: HlsConfig, tb_x: np.ndarray | None
) -> tuple[dict, dict[str, Any] | None]:
    """``(hls_config with the softmax settings, record)``; the record is ``None`` when the
    model does not end in a softmax (or the head is not ``softmax``)."""
    name = final_softmax(reference)
    if name is None or cfg.output_head != "softmax":
        return hls_config, None
    fixed = {k: v for k, v in cfg.softmax.model_dump().items() if v is not None}
    fixed.pop("tolerance")
    tol = cfg.softmax.tolerance
    if tb_x is None:
        setting = {**_DEFAULT, **fixed}
        why = "no test vectors: hls4ml's defaults, table error not measured"
        record = {"layer": name, "setting": setting, "tolerance": tol, "chosen": False,
                  "reason": why}  # fmt: skip
        return _apply(hls_config, name, setting), record
    import keras

    logits = keras.Model(reference.inputs, _softmax_input(reference)).predict(
        tb_x, batch_size=1024, verbose=0
    )
    probs = np.asarray(reference.predict(tb_x, batch_size=1024, verbose=0), dtype=np.float64)
    logits, probs = _with_resampled(np.asarray(logits), probs)
    n_classes = int(np.prod(probs.shape[1:]))
    tried = []
    for rung in softmax_ladder(n_classes):
        tried.append(_evaluate(reference, hls_config, kwargs, name, rung, logits, probs))
    tried.sort(key=lambda t: (t["bram"], t["lut"], t["table_bits"]))
    reaching = [t for t in tried if t["table_error"] <= MARGIN * tol]
    if fixed:
        user = _evaluate(reference, hls_config, kwargs, name, {**_DEFAULT, **fixed}, logits, probs)
        chosen, how = user, "given in hls.softmax"
    elif reaching:
        chosen, how = reaching[0], "cheapest setting of the ladder within 3/4 of the tolerance"
    else:
        chosen, how = min(tried, key=lambda t: t["table_error"]), "most accurate of the ladder"
    record = {
        "layer": name,
        "setting": chosen["setting"],
        "table_error": chosen["table_error"],
        "argmax_agreement": chosen["argmax_agreement"],
        "tolerance": tol,
        "within_tolerance": chosen["table_error"] <= tol,
        "chosen": not fixed,
        "reason": how,
        "n_events": len(tb_x),
        "n_resampled": len(probs) - len(tb_x),
        "ladder": tried,
    }
    if not record["within_tolerance"]:
        record["advice"] = _advice(reaching, chosen, tol)
        log.warning("softmax tables: %s", record["advice"])
    return _apply(hls_config, name, chosen["setting"]), record


#: A rung is kept when its error on the sample is within this share of the tolerance: the
#: largest error over many more events lies above the sample's (on the demo: 0.0072 on 20,100
#: logit vectors, 0.0083 on 1,000,000 resampled events).
MARGIN = 0.75
#: Resampled logit vectors added to the test vectors' for the table choice (seeded).
N_RESAMPLED = 20_000


def _with_resampled(logits: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The test vectors' logits plus :data:`N_RESAMPLED` vectors whose every column is drawn
    from that column of the test logits (seeded), with their float32 softmax: the choice then
    holds beyond the test vectors (the stress check feeds resampled inputs), not only on them."""
    flat = logits.reshape(len(logits), -1).astype(np.float32)
    rng = np.random.default_rng(0)
    cols = [flat[rng.integers(0, len(flat), N_RESAMPLED), j] for j in range(flat.shape[1])]
    extra = np.stack(cols, axis=1)
    z = extra - extra.max(axis=1, keepdims=True)
    soft = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    both_probs = np.concatenate([probs.reshape(len(probs), -1), soft.astype(np.float64)])
    return np.concatenate([flat, extra]), both_probs


def _advice(reaching: list[dict], chosen: dict, tol: float) -> str:
    """One line: which setting would reach the tolerance and what it costs in the estimate."""
    head = f"table error {chosen['table_error']:.3g} > {tol:.3g}"
    if not reaching:
        return (f"{head}, and no setting of the ladder reaches it: use hls.output_head: "
                "logits or argmax")  # fmt: skip
    r = reaching[0]
    s = r["setting"]
    return (
        f"{head}: hls.softmax {{implementation: {s['implementation']}, table_size: "
        f"{s['table_size']}, inv_inp_t: {s['inv_inp_t']}, inv_table_t: {s['inv_table_t']}}} "
        f"reaches {r['table_error']:.3g} at an estimated BRAM_18K {r['bram']}, LUT {r['lut']} "
        f"(this setting: BRAM_18K {chosen['bram']}, LUT {chosen['lut']})"
    )


def _evaluate(reference, hls_config, kwargs, name, setting, logits, probs) -> dict[str, Any]:
    """Convert with ``setting`` (in memory), emulate the softmax on the logits, estimate it."""
    import hls4ml
    from nanotrig.hls._capture import captured_stdout
    from nanotrig.hls.estimate import estimate_model
    from nanotrig.hls.tables import emulate, table_spec

    trial = {k: v for k, v in kwargs.items() if k not in ("input_data_tb", "output_data_tb")}
    with captured_stdout():
        hls_model = hls4ml.converters.convert_from_keras_model(
            reference, hls_config=_apply(hls_config, name, setting), **trial
        )
    layer = hls_model.graph[name]
    spec = table_spec(layer)
    scale = 2.0**spec.in_t.frac  # the firmware's logits (QKeras' are on this grid when exact)
    feed = np.round(np.asarray(logits, dtype=np.float64).reshape(len(logits), -1) * scale)
    emulated = emulate(spec, feed / scale)
    k = probs.reshape(len(probs), -1)
    try:
        est = estimate_model(hls_model)
        bram, lut = int(est.bram), int(est.lut)
    except Exception:  # the estimate is advisory
        bram = lut = -1
    bits = spec.exp_table_size * spec.exp_table_t.width
    bits += spec.inv_table_size * spec.inv_table_t.width
    return {
        "setting": dict(setting),
        "table_error": float(np.max(np.abs(emulated - k))),
        "argmax_agreement": float(np.mean(np.argmax(emulated, 1) == np.argmax(k, 1))),
        "bram": bram,
        "lut": lut,
        "table_bits": int(bits),
    }
