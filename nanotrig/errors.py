"""One small error hierarchy. The CLI turns these into one line on stderr and exit code 2."""

from __future__ import annotations

__all__ = [
    "BudgetExceededError",
    "ConfigError",
    "ConversionError",
    "DataError",
    "ModelError",
    "NanotrigError",
    "OutputExistsError",
    "ToolMissingError",
    "VerificationError",
]


class NanotrigError(Exception):
    """A user-facing error. Its message is one line naming the problem and the fix."""


class ConfigError(NanotrigError):
    """The YAML config or a command-line option is invalid."""


class DataError(NanotrigError):
    """An input file is missing, corrupt, of the wrong shape or holds NaN/inf."""


class ModelError(NanotrigError):
    """A model file is missing, unreadable or uses a layer the toolchain does not support."""


class ConversionError(NanotrigError):
    """hls4ml could not convert or compile the model."""


class VerificationError(NanotrigError):
    """C-simulation or ONNX output disagrees with the Keras reference."""


class OutputExistsError(NanotrigError):
    """An output directory exists and ``--force`` was not given."""


class ToolMissingError(NanotrigError):
    """An optional external tool (g++, Vivado/Vitis HLS) is not installed."""


class BudgetExceededError(NanotrigError):
    """The estimated latency or II of a model exceeds the configured budget."""
