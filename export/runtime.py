"""onnxruntime sessions (CUDA where present, else CPU) with input checks and batching."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from nanotrig.errors import DataError, ModelError

__all__ = ["PROGRESS_MIN_EVENTS", "OnnxModel"]

PROGRESS_MIN_EVENTS = 1_000_000  # inputs above this size show a progress bar (on a terminal)


class OnnxModel:
    """An ONNX model ready to run: ``OnnxModel(path).predict(x)``."""

    def __init__(self, path: str | Path, providers: list[str] | None = None) -> None:
        import onnx
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"ONNX file {self.path} not found: run 'nanotrig export' first")
        try:
            onnx.checker.check_model(str(self.path))
        except Exception as err:  # corrupt protobuf or invalid graph
            raise ModelError(
                f"{self.path} is not a valid ONNX model ({str(err).splitlines()[0][:120]}): "
                "re-export it"
            ) from None
        available = ort.get_available_providers()
        if providers is None:
            providers = [
                p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available
            ]
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=providers)
        except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ModelError(
                f"onnxruntime cannot load {self.path} ({str(err).splitlines()[0][:160]}): "
                "re-export it with 'nanotrig export'"
            ) from None
        self.providers = self.session.get_providers()
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_shape = tuple(inp.shape[1:])

    def predict(
        self, x: np.ndarray, batch_size: int = 16384, progress: bool | None = None
    ) -> np.ndarray:
        """Run the model on ``x`` (N, ...) in batches; checks shape and finiteness first.

        ``progress``: a tqdm bar on stderr; None shows it for inputs of more than
        ``PROGRESS_MIN_EVENTS`` events when stderr is a terminal.
        """
        if batch_size < 1:
            raise DataError(f"batch size {batch_size} must be at least 1")
        x = np.asarray(x, dtype=np.float32)
        if tuple(x.shape[1:]) != self.input_shape:
            raise DataError(
                f"inputs have shape {x.shape}, model {self.path.name} expects "
                f"(N, {', '.join(map(str, self.input_shape))}): pass inputs of that shape"
            )
        if not np.isfinite(x).all():
            raise DataError("inputs contain NaN or inf: clean them before inference")
        if progress is None:
            progress = len(x) > PROGRESS_MIN_EVENTS and sys.stderr.isatty()
        outs = []
        with tqdm(
            total=len(x), disable=not progress, unit="ev", unit_scale=True, file=sys.stderr,
            desc=self.path.name, leave=False,
        ) as bar:  # fmt: skip
            for i in range(0, len(x), batch_size):
                outs.append(self.session.run(None, {self.input_name: x[i : i + batch_size]})[0])
                bar.update(len(outs[-1]))
        return np.concatenate(outs) if outs else np.empty((0,), np.float32)
