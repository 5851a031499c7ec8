"""AXOL1TL-like anomaly-trigger VAE on the 57 L1 features.

Encoder ``57 -> 32 -> 16 -> (mu, log_var)`` (ReLU), decoder ``latent -> 16 -> 32 -> 57`` (the
mirror, linear output). Trained on SM background only with ``(1 - beta) * MSE + beta * KL``.
The deployed part is the encoder up to ``mu`` followed by the anomaly score in the model
itself: ``Multiply()([mu, mu])`` (``mu_sq``) and a ``Dense(1)`` with all-ones weights and no
bias (``score``, frozen), so ``score = sum(mu**2)`` is computed by the firmware.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ENCODER_OUTPUTS",
    "SCORE_LAYERS",
    "build_decoder",
    "build_encoder",
    "build_score_model",
    "make_vae_trainer",
    "reconstruction_target",
    "vae_loss_terms",
]

#: Names of the encoder's two heads.
ENCODER_OUTPUTS = ("mu", "log_var")
#: Names of the score layers appended to ``mu``.
SCORE_LAYERS = ("mu_sq", "score")


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
    import numpy as np
    from tensorflow import keras

    mu = encoder.get_layer(mu_name).output
    sq = keras.layers.Multiply(name=SCORE_LAYERS[0])([mu, mu])
    cls = dense_cls or keras.layers.Dense
    score_layer = cls(1, use_bias=False, kernel_initializer="ones", name=SCORE_LAYERS[1],
                      **dense_kwargs)  # fmt: skip
    score = score_layer(sq)
    score_layer.set_weights([np.ones((int(mu.shape[-1]), 1), dtype=np.float32)])
    score_layer.trainable = False
    return keras.Model(encoder.inputs, score, name="anomaly_score")


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
