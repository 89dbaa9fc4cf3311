"""Reference solves in blocks, on any ``concurrent.futures.Executor``: labels at scale.

:meth:`ProblemFamily.solve` cuts ξ into blocks of rows and solves each block with the same per-row loop, here or
on an executor: a local process pool (the default from :data:`POOL_THRESHOLD` instances on), a cluster through
Dask (``Client.get_executor()``) or any other engine's ``concurrent.futures`` adapter, or a thread pool.
What travels to a worker is plain data: the family's class path and its constructor parameters as JSON
(:attr:`ProblemFamily.identity`), a block of ξ and the solver options. The worker rebuilds the family once (per
process and thread) and checks that its identity matches, so a cluster never unpickles a solver object. Every
instance is solved from scratch, so the labels equal the serial ones bit for bit, in the same order.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any

import numpy as np

from l2o_lib.problems.solution import OPTIMAL

#: from this many instances on, ``solve(xi)`` without an executor uses a local process pool (all CPU cores)
POOL_THRESHOLD = 5000
#: the executors named by a string: the per-row loop here, or a local process pool of all CPU cores
EXECUTORS = ("serial", "processes")

Block = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def solve_block(family: Any, xi: np.ndarray, options: dict[str, Any]) -> Block:
    """Solve the rows of ``xi`` one by one: (x, objective, status, solve_time, wall_time), NaN where not optimal."""

    n = xi.shape[0]
    x = np.full((n, family.n_vars), np.nan)
    obj = np.full(n, np.nan)
    status = np.empty(n, dtype=object)
    solve_time = np.zeros(n)
    wall = np.zeros(n)
    for i in range(n):
        t0 = time.perf_counter()
        xs, fs, st, ts = family._solve_one(xi[i], **options)
        wall[i] = time.perf_counter() - t0
        status[i] = st
        solve_time[i] = ts
        if st == OPTIMAL and xs is not None:
            x[i] = xs
            obj[i] = fs
    return x, obj, status.astype(str), solve_time, wall


_local = threading.local()


def _rebuilt(module: str, qualname: str, params: str, identity: list[str]) -> Any:
    """The family named by its class and parameters, built once per worker process and thread."""
    cache = _local.__dict__.setdefault("families", {})
    key = (module, qualname, params)
    if key not in cache:
        cls = getattr(importlib.import_module(module), qualname)
        family = cls(**json.loads(params))
        if list(family.identity) != identity:
            raise RuntimeError(f"a worker rebuilt {qualname} with identity {family.identity}, not {tuple(identity)}: "
                               "its constructor does not reproduce the family from its recorded parameters")
        cache[key] = family
    return cache[key]


def solve_remote(module: str, qualname: str, params: str, identity: list[str], xi: np.ndarray,
                 options: dict[str, Any]) -> Block:
    """A worker's task: rebuild the family from plain data and solve one block (see :func:`solve_block`)."""
    return solve_block(_rebuilt(module, qualname, params, identity), xi, options)


def _blocks(n: int, chunk_size: int | None, workers: int) -> list[slice]:
    if chunk_size is None:
        chunk_size = max(1, min(500, math.ceil(n / (4 * max(workers, 1)))))
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"solve: chunk_size must be a positive integer, got {chunk_size!r}")
    return [slice(i, min(i + chunk_size, n)) for i in range(0, n, chunk_size)]


def solve_rows(family: Any, xi: np.ndarray, options: dict[str, Any], *, executor: Executor | str | None,
               chunk_size: int | None, progress: bool) -> Block:
    """All rows of ``xi`` solved serially or on ``executor``; the blocks come back in their order.

    ``executor``: None (serial below :data:`POOL_THRESHOLD` instances, a local process pool from there on),
    ``"serial"``, ``"processes"`` (a local process pool at any size) or any ``concurrent.futures.Executor``, which
    is used as given and left running.
    """
    n = xi.shape[0]
    if executor is None:
        executor = "processes" if n >= POOL_THRESHOLD and (os.cpu_count() or 1) > 1 else "serial"
    if isinstance(executor, str) and executor not in EXECUTORS:
        raise ValueError(f"solve: executor must be 'serial', 'processes', None or a concurrent.futures.Executor, "
                         f"got {executor!r}")
    if executor != "serial" and not isinstance(executor, (str, Executor)):
        raise TypeError(f"solve: executor must be a concurrent.futures.Executor, got {type(executor).__name__} "
                        "(for Dask pass client.get_executor())")
    workers = (os.cpu_count() or 1) if isinstance(executor, str) else 8  # a remote executor's size is unknown here
    blocks = _blocks(n, 64 if chunk_size is None and executor == "serial" else chunk_size, workers)
    label = f"{family.reference_solver} on {family.name}"
    if executor == "serial":
        parts: Iterable[Block] = (solve_block(family, xi[b], options) for b in blocks)
        return _joined(_progress(parts, len(blocks), label, progress))
    own = executor == "processes"
    if own:
        import multiprocessing

        # spawn, not fork: a forked copy of a process running torch/JAX threads can deadlock
        executor = ProcessPoolExecutor(max_workers=min(workers, len(blocks)), mp_context=multiprocessing.get_context("spawn"))
    cls = type(family)
    what = (cls.__module__, cls.__qualname__, family.identity[1], list(family.identity))
    try:
        futures = [executor.submit(solve_remote, *what, np.ascontiguousarray(xi[b]), dict(options)) for b in blocks]
        return _joined(_progress((f.result() for f in futures), len(blocks), label, progress))
    finally:
        if own:
            executor.shutdown()


def _progress(parts: Iterable[Block], total: int, label: str, progress: bool) -> Iterable[Block]:
    if not progress:
        return parts
    from tqdm.auto import tqdm

    return tqdm(parts, total=total, desc=label, unit="block", leave=False)


def _joined(parts: Iterable[Block]) -> Block:
    parts = list(parts)
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(5))  # type: ignore[return-value]
