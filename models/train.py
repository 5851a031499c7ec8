"""Shared training loop: Adam, early stopping on validation loss, best weights restored."""

from __future__ import annotations

import logging

import numpy as np

__all__ = ["EpochProgress", "fit", "seed_everything"]

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
        callbacks=[stop, EpochProgress(), *(callbacks or [])],
        verbose=verbose,
    )
    return {k: [float(v) for v in vals] for k, vals in hist.history.items()}


class EpochProgress:
    """Training progress as one bar over the epochs on stderr (on a terminal; elsewhere
    nothing), then one log line: epochs run, best val_loss and its val_accuracy."""

    def __new__(cls, desc: str = "training"):
        import sys

        import tensorflow as tf
        from tqdm import tqdm

        class _EpochProgress(tf.keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.bar = tqdm(
                    total=self.params.get("epochs"), desc=desc, unit=" epoch", file=sys.stderr,
                    leave=False, disable=None, dynamic_ncols=True,
                )  # fmt: skip
                self.best: tuple[float, float, int] | None = None
                self.epochs = 0

            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                val_loss = logs.get("val_loss", float("nan"))
                val_acc = logs.get("val_accuracy", float("nan"))
                self.epochs = epoch + 1
                if self.best is None or val_loss < self.best[0]:
                    self.best = (val_loss, val_acc, epoch + 1)
                self.bar.set_postfix(loss=f"{logs.get('loss', float('nan')):.4f}",
                                     val_loss=f"{val_loss:.4f}", refresh=False)  # fmt: skip
                self.bar.update(1)

            def on_train_end(self, logs=None):
                self.bar.close()
                if self.best is not None:
                    loss, acc, at = self.best
                    acc_text = "" if acc != acc else f" (val_accuracy {acc:.4f})"  # nan: no acc
                    log.info(
                        "%s: %d epochs; best val_loss %.4f%s at epoch %d",
                        desc, self.epochs, loss, acc_text, at,
                    )  # fmt: skip

        return _EpochProgress()
