"""A small GarNet jet tagger on jet constituents: (N, F) constituents + vertex count -> 5 classes.

One ``hls4ml.contrib.garnet.GarNet`` layer (simplified, ``input_format="xn"``, collapse
``mean``, linear output: the only form hls4ml converts), then Dense + ReLU and Dense logits with a
softmax. ``quantize_transforms`` stays off: hls4ml's converter replaces the layer's
``quantized_bits`` transforms by ternary ones (see ``hls.garnet_convert`` and the README section
"GarNet: what is exact and what is not").

The constituent features come from the sample's ``CONSTITUENT_FEATURES`` (pt, eta_rel, phi_rel,
energy, delta_r) through :func:`garnet_inputs`: ln(pT/GeV), 5 eta_rel, 5 phi_rel, 5 delta_r,
clipped to +-16 so that they fit the firmware input type ``ap_fixed<16,6>``; rows past the vertex
count are zero.
"""

from __future__ import annotations

import logging

import numpy as np

from nanotrig.errors import ConfigError, DataError

__all__ = [
    "GARNET_FEATURES",
    "GarnetTagger",
    "build_garnet_tagger",
    "garnet_inputs",
    "train_garnet_tagger",
]

log = logging.getLogger(__name__)

#: Per-vertex input features of the tagger, in this order.
GARNET_FEATURES: tuple[str, ...] = ("log_pt", "eta_rel_x5", "phi_rel_x5", "delta_r_x5")
_CLIP = 16.0
_SCALE = 5.0


def garnet_inputs(
    constituents: np.ndarray, n_constituents: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(x, n)``: x (jets, M, 4) float32 ``GARNET_FEATURES``, n (jets, 1) float32 vertex counts.

    ``constituents`` is a jet sample's (jets, M, 5) array in ``CONSTITUENT_FEATURES`` order and
    ``n_constituents`` its (jets,) filled-row counts."""
    c = np.asarray(constituents, dtype=np.float64)
    n = np.asarray(n_constituents)
    if c.ndim != 3 or c.shape[2] != 5 or n.shape != (c.shape[0],):
        raise DataError(
            f"constituents must be (jets, M, 5) with (jets,) counts, got {c.shape} and {n.shape}: "
            "load the sample with parts=('constituents',)"
        )
    if not np.isfinite(c).all():
        raise DataError("constituents hold NaN or inf: regenerate the sample")
    if (n < 0).any() or (n > c.shape[1]).any():
        raise DataError(f"n_constituents must lie in [0, {c.shape[1]}]: regenerate the sample")
    filled = np.arange(c.shape[1])[None, :] < n[:, None]
    x = np.stack(
        [
            np.log(np.maximum(c[..., 0], 1e-3)),
            _SCALE * c[..., 1],
            _SCALE * c[..., 2],
            _SCALE * c[..., 4],
        ],
        axis=-1,
    )
    x = np.clip(x, -_CLIP, _CLIP) * filled[..., None]
    return x.astype(np.float32), n.astype(np.float32).reshape(-1, 1)


def build_garnet_tagger(
    n_vertices: int,
    n_features: int,
    n_classes: int,
    n_aggregators: int = 4,
    n_filters: int = 8,
    n_propagate: int = 8,
    dense: int = 16,
):
    """Float Keras model with inputs ``constituents`` (n_vertices, n_features) and ``n_vertices``
    (1,); layers ``garnet``, ``fc1``, ``relu1``, ``output``, ``softmax``.

    ``n_vertices`` must be a power of two: hls4ml's GarNet divides by it with a shift."""
    from hls4ml.contrib.garnet import GarNet
    from tensorflow import keras

    if n_vertices < 1 or n_vertices & (n_vertices - 1):
        raise ConfigError(
            f"GarNet needs a power-of-two vertex count (hls4ml shifts by log2 of it), "
            f"got {n_vertices}: use 16, 32 or 64 constituents"
        )
    x_in = keras.Input(shape=(n_vertices, n_features), name="constituents")
    n_in = keras.Input(shape=(1,), name="n_vertices")
    x = GarNet(
        n_aggregators,
        n_filters,
        n_propagate,
        simplified=True,
        collapse="mean",
        input_format="xn",
        output_activation=None,
        mean_by_nvert=False,
        quantize_transforms=False,
        name="garnet",
    )([x_in, n_in])
    x = keras.layers.Dense(dense, kernel_initializer="lecun_uniform", name="fc1")(x)
    x = keras.layers.Activation("relu", name="relu1")(x)
    x = keras.layers.Dense(n_classes, kernel_initializer="lecun_uniform", name="output")(x)
    out = keras.layers.Activation("softmax", name="softmax")(x)
    return keras.Model([x_in, n_in], out, name="jet_garnet")


class GarnetTagger:
    """A trained tagger: the Keras model, its history and its test accuracy."""

    def __init__(self, model, history: dict[str, list[float]], test_accuracy: float) -> None:
        self.model = model
        self.history = history
        self.test_accuracy = test_accuracy

    @property
    def garnet_layer(self):
        return self.model.get_layer("garnet")


def train_garnet_tagger(
    x: np.ndarray,
    n: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    *,
    seed: int = 0,
    epochs: int = 40,
    batch_size: int = 128,
    learning_rate: float = 3e-3,
    patience: int = 6,
) -> GarnetTagger:
    """Train on a 60/20/20 split (seeded); return the model and its accuracy on the last 20%."""
    from nanotrig.models.train import fit, seed_everything

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    n_tr, n_va = int(0.6 * len(order)), int(0.2 * len(order))
    tr, va, te = np.split(order, [n_tr, n_tr + n_va])
    seed_everything(seed)  # before the model exists: its initial weights are drawn here
    model = build_garnet_tagger(x.shape[1], x.shape[2], n_classes)
    history = fit(
        model,
        [x[tr], n[tr]],
        labels[tr],
        [x[va], n[va]],
        labels[va],
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        patience=patience,
        seed=seed,
    )
    probs = model.predict([x[te], n[te]], verbose=0)
    acc = float(np.mean(np.argmax(probs, axis=1) == labels[te]))
    log.info("GarNet tagger: test accuracy %.3f on %d jets", acc, len(te))
    return GarnetTagger(model, history, acc)
