"""AXOL1TL-like anomaly-trigger VAE on the 57 L1 features.

Encoder ``57 -> 32 -> 16 -> (mu, log_var)`` (ReLU), decoder ``latent -> 16 -> 32 -> 57`` (the
mirror, linear output). Trained on SM background only with ``(1 - beta) * MSE + beta * KL``.
The deployed part is the encoder up to ``mu`` followed by the anomaly score in the model
itself, one of two (``model.score``):

* ``mu2``: ``Multiply()([mu, mu])`` (``mu_sq``) and a ``Dense(1)`` with all-ones weights and no
  bias (``score``, frozen): ``score = sum(mu**2)``;
* ``recon``: the decoder applied to ``mu`` (no sampling), ``Subtract()`` of the reconstruction
  from the model's own scaled inputs (``recon_diff``), ``Multiply()([d, d])`` (``diff_sq``) and
  the same all-ones ``score``: the reconstruction error ``sum((x - decoder(mu))**2)``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ENCODER_OUTPUTS",
    "RECON_LAYERS",
    "SCORES",
    "SCORE_LAYERS",
    "build_decoder",
    "build_deployed_model",
    "build_encoder",
    "build_recon_model",
    "build_score_model",
    "make_vae_trainer",
    "reconstruction_target",
    "vae_loss_terms",
]

#: Names of the encoder's two heads.
ENCODER_OUTPUTS = ("mu", "log_var")
#: Names of the score layers appended to ``mu``.
SCORE_LAYERS = ("mu_sq", "score")
#: Names of the reconstruction-error layers: difference, its quantizer, square, sum.
RECON_LAYERS = ("recon_diff", "diff_quant", "diff_sq", "score")
#: The deployable scores (``model.score``).
SCORES = ("mu2", "recon")


def build_encoder(
    n_features: int, hidden: Sequence[int] = (32, 16), latent_dim: int = 3, standardise=None
):
    """Float encoder: ``input -> [standardise] -> fc1, relu1, ..., -> [mu, log_var]``;
    ``standardise``: the layer scaling raw features inside
    (:func:`nanotrig.models.l1_inputs.standardise_layer`), or None for pre-scaled inputs."""
    from tensorflow import keras

    inp = keras.Input(shape=(n_features,), name="l1_features")
    x = inp if standardise is None else standardise(inp)
    for i, width in enumerate(hidden, start=1):
        x = keras.layers.Dense(width, kernel_initializer="lecun_uniform", name=f"fc{i}")(x)
        x = keras.layers.Activation("relu", name=f"relu{i}")(x)
    mu = keras.layers.Dense(latent_dim, kernel_initializer="lecun_uniform", name="mu")(x)
    log_var = keras.layers.Dense(latent_dim, kernel_initializer="zeros", name="log_var")(x)
    return keras.Model(inp, [mu, log_var], name="vae_encoder")


def build_decoder(n_features: int, hidden: Sequence[int] = (32, 16), latent_dim: int = 3):
    """Float decoder, the encoder's mirror: ``z -> ... -> reconstruction`` (linear)."""
    from tensorflow import keras

    inp = keras.Input(shape=(latent_dim,), name="z")
    x = inp
    for i, width in enumerate(reversed(tuple(hidden)), start=1):
        x = keras.layers.Dense(width, kernel_initializer="lecun_uniform", name=f"dec{i}")(x)
        x = keras.layers.Activation("relu", name=f"dec_relu{i}")(x)
    out = keras.layers.Dense(n_features, name="reco")(x)
    return keras.Model(inp, out, name="vae_decoder")


def build_score_model(encoder, mu_name: str = "mu", dense_cls=None, **dense_kwargs):
    """Deployed model: the encoder's layers up to ``mu_name``, then ``sum(mu**2)``.

    The layers (and weights) of ``encoder`` are reused; ``log_var`` is dropped. ``dense_cls``
    (default ``keras.layers.Dense``) builds the all-ones ``score`` layer, e.g. a QDense with a
    quantizer holding 1 exactly; ``dense_kwargs`` go to it.
    """
    from tensorflow import keras

    mu = encoder.get_layer(mu_name).output
    sq = keras.layers.Multiply(name=SCORE_LAYERS[0])([mu, mu])
    score = _ones_score(sq, dense_cls, **dense_kwargs)
    return keras.Model(encoder.inputs, score, name="anomaly_score")


def _ones_score(x, dense_cls=None, **dense_kwargs):
    """``sum(x)`` over the last axis as a frozen all-ones Dense(1) without bias."""
    import numpy as np
    from tensorflow import keras

    cls = dense_cls or keras.layers.Dense
    layer = cls(1, use_bias=False, kernel_initializer="ones", name="score", **dense_kwargs)
    out = layer(x)
    layer.set_weights([np.ones((int(x.shape[-1]), 1), dtype=np.float32)])
    layer.trainable = False
    return out


def build_recon_model(encoder, decoder, mu_name: str = "mu", diff_quantizer=None,
                      dense_cls=None, **dense_kwargs):  # fmt: skip
    """Deployed model of ``model.score: recon``: ``sum((x - decoder(mu))**2)``.

    ``x`` is what the decoder reconstructs (:func:`reconstruction_target`: the encoder's
    ``input_quant`` or ``standardise`` output, else its input); the decoder's layers (and
    weights) are applied to the encoder's ``mu_name`` output (no sampling). ``diff_quantizer``:
    a layer applied to the difference (named ``diff_quant``), e.g. a QActivation; ``dense_cls``
    and ``dense_kwargs`` build the all-ones ``score`` as in :func:`build_score_model`.
    """
    from tensorflow import keras

    names = [layer.name for layer in encoder.layers]
    target = next((n for n in ("input_quant", "standardise") if n in names), None)
    x = encoder.inputs[0] if target is None else encoder.get_layer(target).output
    y = encoder.get_layer(mu_name).output
    for layer in decoder.layers[1:]:
        y = layer(y)
    d = keras.layers.Subtract(name=RECON_LAYERS[0])([x, y])
    if diff_quantizer is not None:
        d = diff_quantizer(d)
    sq = keras.layers.Multiply(name=RECON_LAYERS[2])([d, d])
    score = _ones_score(sq, dense_cls, **dense_kwargs)
    return keras.Model(encoder.inputs, score, name="anomaly_recon_score")


def build_deployed_model(score: str, encoder, decoder, **kwargs):
    """The deployed float model of ``model.score`` (``mu2`` or ``recon``)."""
    if score == "recon":
        return build_recon_model(encoder, decoder, **kwargs)
    return build_score_model(encoder, **kwargs)


def vae_loss_terms(x, reco, mu, log_var):
    """Per-event ``(mse, kl)``: mean squared error over features, KL to N(0, 1) summed over
    the latent dimensions."""
    import tensorflow as tf

    mse = tf.reduce_mean(tf.square(x - reco), axis=-1)
    kl = -0.5 * tf.reduce_sum(1.0 + log_var - tf.square(mu) - tf.exp(log_var), axis=-1)
    return mse, kl


def reconstruction_target(encoder):
    """The model of what the decoder reconstructs: the encoder's inputs as its first Dense
    reads them (after the input quantizer ``input_quant``, else after the ``standardise``
    layer), or the inputs themselves (None) when the encoder has neither."""
    from tensorflow import keras

    names = [layer.name for layer in encoder.layers]
    for name in ("input_quant", "standardise"):
        if name in names:
            return keras.Model(encoder.inputs, encoder.get_layer(name).output)
    return None


def make_vae_trainer(encoder, decoder, beta: float):
    """A Keras model training ``encoder`` + ``decoder`` as a VAE (reparametrisation trick),
    loss ``(1 - beta) * mse + beta * kl``, the reconstruction compared with the scaled inputs
    (:func:`reconstruction_target`); works with ``fit`` and its callbacks."""
    import tensorflow as tf

    target = reconstruction_target(encoder)

    class _VAE(tf.keras.Model):
        def __init__(self) -> None:
            super().__init__(name="vae")
            self.encoder, self.decoder, self.beta = encoder, decoder, float(beta)
            self.trackers = {
                k: tf.keras.metrics.Mean(name=k) for k in ("loss", "reco_loss", "kl_loss")
            }

        @property
        def metrics(self):
            return list(self.trackers.values())

        def _vae_terms(self, x, training: bool, w=None):
            mu, log_var = self.encoder(x, training=training)
            eps = tf.random.normal(tf.shape(mu))
            z = mu + tf.exp(0.5 * log_var) * eps if training else mu
            reco = self.decoder(z, training=training)
            y = x if target is None else target(x, training=False)
            mse, kl = vae_loss_terms(y, reco, mu, log_var)
            if w is None:
                mse, kl = tf.reduce_mean(mse), tf.reduce_mean(kl)
            else:  # event weights (biased background generation)
                w = tf.cast(tf.reshape(w, [-1]), mse.dtype)
                mse, kl = (tf.reduce_sum(w * v) / tf.reduce_sum(w) for v in (mse, kl))
            return (1.0 - self.beta) * mse + self.beta * kl, mse, kl

        def _record(self, loss, mse, kl):
            for k, v in zip(self.trackers, (loss, mse, kl), strict=True):
                self.trackers[k].update_state(v)
            return {k: t.result() for k, t in self.trackers.items()}

        def call(self, x, training=False):
            mu, _ = self.encoder(x, training=training)
            return self.decoder(mu, training=training)

        def train_step(self, data):
            x, _, w = tf.keras.utils.unpack_x_y_sample_weight(data)
            with tf.GradientTape() as tape:
                loss, mse, kl = self._vae_terms(x, training=True, w=w)
            grads = tape.gradient(loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
            return self._record(loss, mse, kl)

        def test_step(self, data):
            x, _, w = tf.keras.utils.unpack_x_y_sample_weight(data)
            return self._record(*self._vae_terms(x, training=False, w=w))

    return _VAE()
