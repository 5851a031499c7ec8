"""Shared training loop: Adam, early stopping on validation loss, best weights restored."""

from __future__ import annotations

import logging

import numpy as np

__all__ = ["fit", "seed_everything"]

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and TensorFlow and make TF ops deterministic."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:  # older TF: determinism is best effort
        log.debug("TF op determinism not available")


def fit(
    model,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    patience: int,
    seed: int,
    verbose: int = 0,
    callbacks: list | None = None,
) -> dict[str, list[float]]:
    """Compile and train ``model`` on integer labels (``callbacks`` besides early stopping);
    return the Keras history as lists."""
    import tensorflow as tf

    seed_everything(seed)
    model.compile(
        optimizer=tf.keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    stop = tf.keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=patience, restore_best_weights=True
    )
    hist = model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        callbacks=[stop, _LogEpoch(), *(callbacks or [])],
        verbose=verbose,
    )
    return {k: [float(v) for v in vals] for k, vals in hist.history.items()}


class _LogEpoch:
    """Minimal callback logging one line per epoch (Keras' own bar is off: logs go to stderr)."""

    def __new__(cls):
        import tensorflow as tf

        class LogEpoch(tf.keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                log.info(
                    "epoch %d: loss %.4f val_loss %.4f val_acc %.4f",
                    epoch + 1, logs.get("loss", float("nan")),
                    logs.get("val_loss", float("nan")), logs.get("val_accuracy", float("nan")),
                )  # fmt: skip

        return LogEpoch()
