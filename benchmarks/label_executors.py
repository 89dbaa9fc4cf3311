"""Reference labels serially versus on a local process pool (and on a Dask cluster when one is given).

    python benchmarks/label_executors.py [--family dc3_qp] [--n 2000] [--workers N] [--dask tcp://scheduler:8786]

Prints the wall time of ``family.solve(xi)`` serially and through each executor, and checks that the labels are
the same bit for bit. The pool's figure includes starting its worker processes (each imports l2o_lib and the
solver), which is why it pays off only from a few hundred instances on; on a machine whose cores are busy with
other work the ratio is smaller than the core count says.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from l2o_lib import problems


def timed(label: str, solve) -> tuple[float, object]:
    t0 = time.perf_counter()
    sol = solve()
    seconds = time.perf_counter() - t0
    print(f"  {label:38s} {seconds:7.1f} s")
    return seconds, sol


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", default="dc3_qp", choices=sorted(problems.FAMILIES))
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--dask", default=None, help="address of a running Dask scheduler (optional)")
    args = ap.parse_args()
    fam = problems.get(args.family)
    xi = fam.sample(args.n, seed=0)
    print(f"{args.n} instances of {fam.name} ({fam.reference_solver}), {os.cpu_count()} CPU cores here")
    t_serial, serial = timed("serial", lambda: fam.solve(xi, executor="serial", progress=False))
    runs = {}
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        runs[f"process pool, {args.workers} workers"] = timed(f"process pool, {args.workers} workers",
                                                               lambda: fam.solve(xi, executor=pool, progress=False))
    if args.dask:
        from distributed import Client

        with Client(args.dask) as client:
            runs["dask"] = timed(f"dask at {args.dask}", lambda: fam.solve(xi, executor=client.get_executor(),
                                                                          progress=False))
    for label, (seconds, sol) in runs.items():
        same = np.array_equal(sol.x, serial.x, equal_nan=True) and np.array_equal(sol.status, serial.status)
        print(f"{label}: {t_serial / seconds:.2f}x the serial speed; labels identical to the serial ones: {same}")


if __name__ == "__main__":
    main()
