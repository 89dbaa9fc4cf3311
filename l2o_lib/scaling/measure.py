"""Time and peak memory of one call, the same way for numpy, torch, JAX and the solvers' C code.

Memory is the process's resident set (``/proc/self/statm``) sampled every millisecond by a background thread
during the call, minus its level just before (after handing freed memory back to the system, glibc's
``malloc_trim``): it sees every allocator (torch's, XLA's, a solver's), which
``tracemalloc`` (Python allocations only) and ``torch.cuda`` memory statistics (GPU only) do not. It
under-counts what the allocators reuse from their own caches and allocations shorter than a millisecond, so
small figures (under a few MB) are noise.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from l2o_lib.metrics import synchronize

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """The process's resident memory now, in bytes (0 where ``/proc`` is missing)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except OSError:
        return 0


def _trim() -> None:
    """Hand memory freed by earlier calls back to the system (glibc), so that a call's own allocations show in RSS."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakRSS:
    """Context manager: ``peak_mb`` is the highest resident memory above the level on entry, in MB."""

    def __init__(self, interval: float = 1e-3):
        self.interval = float(interval)
        self.peak_mb = 0.0
        self._stop = threading.Event()

    def _watch(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, rss_bytes())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        _trim()
        self._base = rss_bytes()
        self._peak = self._base
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, rss_bytes())
        self.peak_mb = (self._peak - self._base) / 2**20


def time_calls(fn: Callable[[], Any], *, budget: float, min_repeat: int = 1, max_repeat: int = 5
               ) -> dict[str, float]:
    """Warm up once (compilation, caches), then time calls of ``fn`` until ``budget`` seconds or ``max_repeat``.

    Returns the first call's seconds (``first``), the fastest and the median timed call (``seconds``,
    ``median``), how many were timed (``repeat``) and the peak memory of the first timed call (``peak_mb``).
    """
    if budget <= 0 or min_repeat < 1 or max_repeat < min_repeat:
        raise ValueError(f"time_calls: need budget > 0 and 1 ≤ min_repeat ≤ max_repeat, got {budget}, "
                         f"{min_repeat}, {max_repeat}")
    t0 = time.perf_counter()
    synchronize(fn())
    first = time.perf_counter() - t0
    times: list[float] = []
    peak = 0.0
    start = time.perf_counter()
    while len(times) < max_repeat and (len(times) < min_repeat or time.perf_counter() - start < budget):
        if not times:
            with PeakRSS() as mem:
                t0 = time.perf_counter()
                synchronize(fn())
                times.append(time.perf_counter() - t0)
            peak = mem.peak_mb
        else:
            t0 = time.perf_counter()
            synchronize(fn())
            times.append(time.perf_counter() - t0)
    times.sort()
    return {"first": first, "seconds": times[0], "median": times[len(times) // 2], "repeat": len(times), "peak_mb": peak}
