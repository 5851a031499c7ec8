"""The one place where the hls4ml configuration is built from :class:`HlsConfig`.

Precisions come from hls4ml's bit-exact pass (``bit_exact=True``): it propagates the input
quantizer's type through the graph with interval arithmetic and sets every result, accumulator,
weight and bias type to the smallest one that holds the QKeras values exactly. The name-granularity
config from ``config_from_keras_model`` supplies the quantizer types it starts from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nanotrig.config import HlsConfig

__all__ = ["LUT_ACTIVATIONS", "PROJECT_SUBDIR", "hls4ml_settings"]

#: Subfolder of the output directory that holds the hls4ml project.
PROJECT_SUBDIR = "{project_name}_prj"
#: Activations hls4ml computes with lookup tables: compared with a tolerance, not bit for bit.
LUT_ACTIVATIONS = frozenset(
    {"softmax", "sigmoid", "tanh", "elu", "selu", "softplus", "softsign", "hard_sigmoid"}
)


def hls4ml_settings(
    model,
    cfg: HlsConfig,
    project_dir: Path,
    input_data_tb: Path | None = None,
    output_data_tb: Path | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return ``(hls_config, convert_kwargs)`` for ``convert_from_keras_model``.

    ``hls_config`` is the name-granularity dict (tracing on for every layer: it only adds code
    under ``#ifndef __SYNTHESIS__``); ``convert_kwargs`` holds backend, part, clock, io type,
    output dir, project name, testbench files and ``bit_exact=True``. Registers the input
    standardisation's layer handler first (idempotent).
    """
    import hls4ml
    from nanotrig.hls.standardise import register_po2_standardise

    register_po2_standardise()
    hls_config = hls4ml.utils.config_from_keras_model(
        model,
        granularity="name",
        backend=cfg.backend,
        default_reuse_factor=cfg.reuse_factor,
    )
    hls_config["Model"]["Strategy"] = cfg.strategy
    hls_config["Model"]["ReuseFactor"] = cfg.reuse_factor
    for layer_cfg in hls_config.get("LayerName", {}).values():
        layer_cfg["Trace"] = True
    if cfg.output_head == "argmax":  # hls4ml's one-hot softmax (the head is checked upstream)
        hls_config["LayerName"][model.layers[-1].name]["Implementation"] = "argmax"
        if "ReuseFactor" in layer_cfg:
            layer_cfg["ReuseFactor"] = cfg.reuse_factor
    kwargs: dict[str, Any] = {
        "backend": cfg.backend,
        "part": cfg.part,
        "clock_period": cfg.clock_period_ns,
        "io_type": cfg.io_type,
        "output_dir": str(project_dir),
        "project_name": cfg.project_name,
        "bit_exact": True,
    }
    if input_data_tb is not None and output_data_tb is not None:
        kwargs["input_data_tb"] = str(input_data_tb)
        kwargs["output_data_tb"] = str(output_data_tb)
    return hls_config, kwargs
