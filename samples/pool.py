"""Shared orchestration: seeded chunks of events on a process pool, reproducible whatever the
number of workers.

A sample is made of *streams* (a jet class, an L1 process, a block of DQM runs), each filling a
target number of accepted rows. Chunk ``i`` of a stream is an independent task seeded from
``SeedSequence([seed, stream.seed_key, i])``; results are kept by chunk index and the first
``target`` accepted rows in chunk order are used, so the output never depends on ``workers``,
scheduling or timing. Look-ahead chunks of a stream already complete are cancelled or ignored.
With a ``cache_dir``, every finished chunk is written there (one pickle per chunk, atomically)
and a rerun loads the chunks already there instead of generating them again (resume).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import multiprocessing
import os
import pickle
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nanotrig.errors import ConfigError, DataError
from nanotrig.fileio import atomic_path

__all__ = ["SEED_MAX", "Stream", "dask_scheduler", "run_streams", "stream_seed", "take_first"]

#: Pythia accepts ``Random:seed`` in 1..900_000_000; numpy tasks use the same range.
SEED_MAX = 900_000_000

#: A chunk task: ``(chunk seed, events) -> dict`` with at least ``n_accepted`` and ``n_events``.
Task = Callable[[int, int], dict[str, Any]]


def stream_seed(seed: int, key: int, index: int) -> int:
    """Seed (1..900_000_000) of chunk ``index`` of the stream with ``seed_key`` ``key``."""
    state = np.random.SeedSequence([seed, key, index]).generate_state(1, np.uint64)
    return int(state[0] % SEED_MAX) + 1


@dataclass(frozen=True)
class Stream:
    """One independently seeded source of rows (must be picklable: ``task`` a top-level
    function or a ``functools.partial`` of one)."""

    name: str
    task: Task
    target: int  #: accepted rows wanted
    chunk_size: int  #: events per task
    seed_key: int  #: stable key for seeding (independent of the stream's position)
    max_chunks: int  #: give up after this many chunks
    prior_acceptance: float = 0.7  #: acceptance guess before the first chunk returns
    hint: str = "acceptance is too low: loosen the selection"  #: fix named on give-up


@dataclass
class _State:
    chunks: dict[int, dict[str, Any]] = field(default_factory=dict)
    pending: int = 0
    next_index: int = 0

    def accepted(self) -> int:
        return sum(c["n_accepted"] for c in self.chunks.values())

    def prefix_done(self, n: int) -> bool:
        total, i = 0, 0
        while i in self.chunks:
            total += self.chunks[i]["n_accepted"]
            if total >= n:
                return True
            i += 1
        return n <= 0


def _want(st: _State, s: Stream, workers: int) -> int:
    events = sum(c["n_events"] for c in st.chunks.values())
    acc = st.accepted() / events if events else s.prior_acceptance
    still = s.target - st.accepted()
    need = math.ceil(max(still, 0) / (max(acc, 1e-4) * s.chunk_size)) - st.pending
    return min(need, 2 * workers)


def _quiet_stdout() -> None:
    """Worker initializer: C++ chatter on stdout (the FastJet banner, once per worker; Pythia)
    goes to stderr with ``--debug`` (the parent logs at DEBUG, inherited by fork), else nowhere."""
    if logging.getLogger().isEnabledFor(logging.DEBUG):
        os.dup2(2, 1)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


#: How long ``run_streams`` waits to connect to a Dask scheduler.
CONNECT_TIMEOUT = "30s"
#: Dask scheduler address that :func:`run_streams` sends its chunks to (see :func:`dask_scheduler`).
_SCHEDULER: ContextVar[str | None] = ContextVar("nanotrig_dask_scheduler", default=None)


@contextlib.contextmanager
def dask_scheduler(address: str | None) -> Iterator[None]:
    """Within the block, :func:`run_streams` runs its chunks on the Dask cluster at ``address``
    (its worker count replaces ``workers``) instead of local processes; None keeps them local.
    Chunk seeds do not depend on where chunks run, so the output is the same."""
    token = _SCHEDULER.set(address)
    try:
        yield
    finally:
        _SCHEDULER.reset(token)


@contextlib.contextmanager
def _executor(workers: int, address: str | None) -> Iterator[tuple[Any, int]]:
    """``(executor, n_workers)``: a local fork process pool, or a Dask cluster's executor."""
    if address is None:
        # fork: no re-import of __main__ (scripts/notebooks need no main guard); the parent
        # never loads Pythia or FastJet, so the children start clean.
        # gc.freeze: a child must never garbage-collect what it inherited; when the parent has
        # TensorFlow loaded (a notebook, the test suite), collecting TF's objects in a forked
        # child segfaults it.
        ctx = multiprocessing.get_context("fork")
        gc.freeze()
        try:
            with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_quiet_stdout) as pool:
                yield pool, workers
        finally:
            gc.unfreeze()
        return
    from dask.distributed import Client

    try:
        client = Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as err:
        raise ConfigError(
            f"cannot reach the Dask scheduler at {address!r} ({type(err).__name__}): "
            "give its address as tcp://HOST:PORT"
        ) from None
    with client, client.get_executor(pure=False) as pool:
        yield pool, max(1, len(client.scheduler_info()["workers"]))


def _chunk_file(cache_dir: Path, s: Stream, index: int) -> Path:
    return cache_dir / f"{s.seed_key:x}-{index}.pkl"


def _load_cached(cache_dir: Path | None, s: Stream) -> dict[int, dict[str, Any]]:
    """Chunks of ``s`` finished by an earlier, interrupted run (a cache written by this module)."""
    if cache_dir is None:
        return {}
    out = {}
    for f in sorted(cache_dir.glob(f"{s.seed_key:x}-*.pkl")):
        with open(f, "rb") as fh:
            out[int(f.stem.rsplit("-", 1)[1])] = pickle.load(fh)  # our own cache file
    return out


def _save_chunk(cache_dir: Path | None, s: Stream, index: int, res: dict[str, Any]) -> None:
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(_chunk_file(cache_dir, s, index)) as tmp, open(tmp, "wb") as fh:
            pickle.dump(res, fh, protocol=pickle.HIGHEST_PROTOCOL)


def run_streams(
    streams: Sequence[Stream], seed: int, workers: int, progress: bool, desc: str = "events",
    unit: str = "ev", cache_dir: Path | None = None,
) -> dict[str, dict[int, dict[str, Any]]]:  # fmt: skip
    """Run every stream to its target on ``workers`` processes (or on the Dask cluster set by
    :func:`dask_scheduler`), chunk seeds derived from ``seed``; returns the chunk results by
    stream name and chunk index. The progress bar counts what was asked for: accepted rows
    (``unit``) up to each stream's target, not the events generated to find them.
    ``cache_dir`` (unique to the sample's config and seed) keeps finished chunks for a rerun."""
    from tqdm import tqdm

    states = {s.name: _State(chunks=_load_cached(cache_dir, s)) for s in streams}
    by_name = {s.name: s for s in streams}
    pending: dict[Future, tuple[str, int]] = {}
    with _executor(workers, _SCHEDULER.get()) as (pool, workers):
        bar = tqdm(
            total=sum(s.target for s in streams), unit=f" {unit}", desc=desc,
            disable=not progress, dynamic_ncols=True,
        )  # fmt: skip
        bar.update(sum(min(states[x.name].accepted(), x.target) for x in streams))
        try:
            while True:
                for s in streams:
                    st = states[s.name]
                    if st.prefix_done(s.target):
                        continue
                    # a gap among chunks cached by an earlier run: fill it even if the
                    # chunks after it already hold enough rows
                    n_new = max(_want(st, s, workers), 0 if st.pending else 1)
                    for _ in range(n_new):
                        while st.next_index in st.chunks:  # finished by an earlier run
                            st.next_index += 1
                        if st.next_index >= s.max_chunks:
                            break
                        cseed = stream_seed(seed, s.seed_key, st.next_index)
                        fut = pool.submit(s.task, cseed, s.chunk_size)
                        pending[fut] = (s.name, st.next_index)
                        st.next_index += 1
                        st.pending += 1
                    if not st.pending and st.next_index >= s.max_chunks:
                        raise DataError(
                            f"{s.name}: only {st.accepted()} of {s.target} accepted after "
                            f"{st.next_index} chunks of {s.chunk_size} events: {s.hint}"
                        )
                bar.refresh()
                if not pending:
                    return {name: st.chunks for name, st in states.items()}
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    name, idx = pending.pop(fut)
                    st, s = states[name], by_name[name]
                    st.pending -= 1
                    if fut.cancelled():  # look-ahead chunk of a stream already complete
                        continue
                    res = fut.result()
                    st.chunks[idx] = res
                    _save_chunk(cache_dir, s, idx, res)
                    kept = sum(min(states[x.name].accepted(), x.target) for x in streams)
                    bar.update(kept - bar.n)
                    if st.prefix_done(s.target):
                        for f2, (n2, _) in pending.items():
                            if n2 == name:
                                f2.cancel()
        finally:
            for fut in pending:
                fut.cancel()
            bar.close()


def take_first(
    chunks: dict[int, dict[str, Any]], n: int, row_keys: Sequence[str]
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """First ``n`` accepted rows in chunk order (arrays under ``row_keys``), and the statistics
    of the chunks used (events, chunks, accepted)."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in row_keys}
    total = events = used = 0
    extra: dict[str, int] = {}
    for i in range(len(chunks)):
        if total >= n or i not in chunks:
            break
        c = chunks[i]
        for k in parts:
            parts[k].append(c[k])
        total += c["n_accepted"]
        events += c["n_events"]
        for k, v in c.get("counters", {}).items():
            extra[k] = extra.get(k, 0) + int(v)
        used += 1
    out = {k: np.concatenate(v)[:n] for k, v in parts.items()}
    stats = {"events": events, "chunks": used, "accepted": total, **extra}
    return out, stats
