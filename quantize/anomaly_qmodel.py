"""QKeras counterpart of the anomaly VAE's encoder, with the score in the model.

``raw_input_quant`` (the raw type of the L1 features) -> ``standardise`` (``x * 2**-shift`` per
feature, :mod:`models.l1_inputs`) -> ``input_quant`` (the input type: the rounding of the scaled
features) -> QDense ``fc1`` -> ``quantized_relu`` ``relu1`` -> ... -> QDense ``mu`` ->
``mu_quant`` (``quantized_bits``, the latent type) and a float ``log_var`` head for training. An
encoder without the ``standardise`` layer (older runs, pre-scaled inputs) starts at
``input_quant``. The deployed model appends ``mu_sq = Multiply()([mu_quant, mu_quant])`` and
``score``, a frozen QDense(1) with all-ones weights under ``quantized_bits(2, 1)`` (grid {-2,
-1, 0, 1}: 1 is exact) and no bias. Quantizing ``mu`` keeps ``mu**2`` and its sum well inside
float32's 24-bit significand, so the QKeras reference, the C-simulation and ONNX compute the
same integers. With ``model.score: recon`` the deployed model is :func:`build_qrecon_model`:
the QAT decoder (:func:`build_qdecoder`, 6-bit weights, ``quantized_relu``) on ``mu_quant``,
``recon_diff = Subtract()([input_quant, reco])``, ``diff_quant`` (``quantize.recon_diff``),
``diff_sq = Multiply()([d, d])`` and the same all-ones ``score``.
"""

from __future__ import annotations

from nanotrig.quantize.qmodel import INPUT_QUANT_NAME, RAW_QUANT_NAME, layer_bits

from nanotrig.config import QuantBits, QuantizeConfig
from nanotrig.errors import ModelError

__all__ = [
    "DIFF_QUANT_NAME",
    "MU_QUANT_NAME",
    "ONES_QUANTIZER",
    "build_qdecoder",
    "build_qencoder",
    "build_qrecon_model",
    "build_qscore_model",
    "score_lsb",
]

MU_QUANT_NAME = "mu_quant"
DIFF_QUANT_NAME = "diff_quant"
#: Quantizer of the all-ones score weights: quantized_bits(2, 1) holds -2, -1, 0, 1 exactly.
ONES_QUANTIZER = "quantized_bits(2,1,alpha=1)"


def _bits(q: QuantBits) -> str:
    return f"quantized_bits({q.bits},{q.integer},alpha=1)"


def _q_counterpart(layer, cfg: QuantizeConfig):
    """The QKeras layer for a float Dense (QDense with the weight/bias quantizers of ``cfg``,
    per-layer overrides by name) or ReLU (``quantized_relu``); ``None`` for any other layer."""
    from qkeras import QActivation, QDense

    cls, conf = type(layer).__name__, layer.get_config()
    if cls == "Dense":
        w, b, _ = layer_bits(cfg, layer.name)
        conf.update(kernel_quantizer=_bits(w), bias_quantizer=_bits(b))
        for key in ("kernel_constraint", "bias_constraint"):
            conf.pop(key, None)
        return QDense.from_config(conf)
    if cls == "Activation" and conf["activation"] == "relu":
        _, _, a = layer_bits(cfg, layer.name)
        return QActivation(f"quantized_relu({a.bits},{a.integer})", name=layer.name)
    return None


def build_qencoder(encoder, cfg: QuantizeConfig, latent: QuantBits):
    """QKeras encoder mirroring the float ``encoder`` (weights copied); outputs
    ``[mu_quant, log_var]``. ModelError for a layer it cannot map."""
    from qkeras import QActivation
    from tensorflow import keras

    inp = keras.Input(shape=encoder.input_shape[1:], name=encoder.layers[0].name)
    layers, x = encoder.layers[1:], inp
    if layers and type(layers[0]).__name__ == "Po2Standardise":  # raw inputs, scaled inside
        x = QActivation(_bits(cfg.raw_input), name=RAW_QUANT_NAME)(x)
        conf = {**layers[0].get_config(), "clip": 2.0**cfg.input.integer}
        x = type(layers[0]).from_config(conf)(x)
        layers = layers[1:]
    x = QActivation(_bits(cfg.input), name=INPUT_QUANT_NAME)(x)
    copies: list[tuple[str, list]] = []
    heads: dict[str, object] = {}
    for layer in layers:
        cls, conf = type(layer).__name__, layer.get_config()
        if cls == "Dense" and layer.name == "log_var":
            heads["log_var"] = keras.layers.Dense.from_config(conf)(x)
            copies.append((layer.name, layer.get_weights()))
        elif (q := _q_counterpart(layer, cfg)) is not None:
            y = q(x)
            if cls == "Dense":
                copies.append((layer.name, layer.get_weights()))
            if layer.name == "mu":
                heads["mu"] = QActivation(_bits(latent), name=MU_QUANT_NAME)(y)
            else:
                x = y
        else:
            raise ModelError(
                f"encoder layer {layer.name} ({cls}) has no QKeras counterpart here: the anomaly "
                "encoder is Dense + ReLU layers ending in Dense heads 'mu' and 'log_var'"
            )
    if set(heads) != {"mu", "log_var"}:
        raise ModelError("the encoder needs Dense heads named 'mu' and 'log_var'")
    qenc = keras.Model(inp, [heads["mu"], heads["log_var"]], name="q_vae_encoder")
    for name, weights in copies:
        qenc.get_layer(name).set_weights(weights)
    return qenc


def build_qscore_model(qencoder):
    """The deployed QKeras model: ``qencoder`` up to ``mu_quant``, then ``sum(mu_quant**2)``."""
    from nanotrig.models.anomaly_vae import build_score_model
    from qkeras import QDense

    return build_score_model(
        qencoder, mu_name=MU_QUANT_NAME, dense_cls=QDense, kernel_quantizer=ONES_QUANTIZER
    )


def build_qdecoder(decoder, cfg: QuantizeConfig):
    """QKeras decoder mirroring the float ``decoder`` (weights copied): QDense with the
    weight/bias quantizers of ``cfg`` (per-layer overrides by name), ``quantized_relu`` for the
    ReLUs, the output ``reco`` a QDense without activation. ModelError for another layer."""
    from tensorflow import keras

    inp = keras.Input(shape=decoder.input_shape[1:], name=decoder.layers[0].name)
    x, copies = inp, []
    for layer in decoder.layers[1:]:
        cls, conf = type(layer).__name__, layer.get_config()
        linear = cls != "Dense" or conf.get("activation") in (None, "linear")
        if linear and (q := _q_counterpart(layer, cfg)) is not None:
            x = q(x)
            if cls == "Dense":
                copies.append((layer.name, layer.get_weights()))
        else:
            raise ModelError(
                f"decoder layer {layer.name} ({cls}) has no QKeras counterpart here: the anomaly "
                "decoder is Dense + ReLU layers ending in a linear Dense"
            )
    qdec = keras.Model(inp, x, name="q_vae_decoder")
    for name, weights in copies:
        qdec.get_layer(name).set_weights(weights)
    return qdec


def build_qrecon_model(qencoder, qdecoder, cfg: QuantizeConfig):
    """The deployed QKeras model of ``model.score: recon``: ``qencoder`` to ``mu_quant``, then
    ``qdecoder``, ``x - reco`` quantized as ``cfg.recon_diff``, squared and summed."""
    from nanotrig.models.anomaly_vae import build_recon_model
    from qkeras import QActivation, QDense

    return build_recon_model(
        qencoder, qdecoder, mu_name=MU_QUANT_NAME,
        diff_quantizer=QActivation(_bits(cfg.recon_diff), name=DIFF_QUANT_NAME),
        dense_cls=QDense, kernel_quantizer=ONES_QUANTIZER,
    )  # fmt: skip


def score_lsb(cfg: QuantizeConfig, score: str = "mu2") -> float:
    """LSB of the firmware score: the squared quantity (mu, or the difference for ``recon``)
    is ``quantized_bits(bits, integer)``, so its square and their sum lie on LSB**2."""
    q = cfg.recon_diff if score == "recon" else cfg.latent
    return 2.0 ** (-2 * (q.bits - q.integer - 1))
