"""onnxruntime sessions (CUDA where present, else CPU) with input checks and batching."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nanotrig.errors import DataError, ModelError

__all__ = ["OnnxModel"]


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
        self.session = ort.InferenceSession(str(self.path), opts, providers=providers)
        self.providers = self.session.get_providers()
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_shape = tuple(inp.shape[1:])

    def predict(self, x: np.ndarray, batch_size: int = 16384) -> np.ndarray:
        """Run the model on ``x`` (N, ...) in batches; checks shape and finiteness first."""
        x = np.asarray(x, dtype=np.float32)
        if tuple(x.shape[1:]) != self.input_shape:
            raise DataError(
                f"inputs have shape {x.shape}, model {self.path.name} expects "
                f"(N, {', '.join(map(str, self.input_shape))}): pass inputs of that shape"
            )
        if not np.isfinite(x).all():
            raise DataError("inputs contain NaN or inf: clean them before inference")
        outs = [
            self.session.run(None, {self.input_name: x[i : i + batch_size]})[0]
            for i in range(0, len(x), batch_size)
        ]
        return np.concatenate(outs) if outs else np.empty((0,), np.float32)
