"""Labeled data sets and cached reference solves: (ξ, reference solution) on disk, keyed by (family, seed, n).

``labeled(family, n, seed)`` returns the instances, their reference solutions and the seconds the solver
spent making them (the label cost). The file is plain npz (no pickle) named after the family, seed and
count; it is regenerated when missing, and safe to delete.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from l2o_lib.problems.base import ProblemFamily, Solution


@dataclass
class Labeled:
    """Instances ξ, their reference solutions, and what they cost."""

    xi: np.ndarray
    solution: Solution
    seconds: float
    path: Path
    loaded: bool

    def __len__(self) -> int:
        return len(self.xi)


def cache_path(family: ProblemFamily, n: int, seed: int, folder: Path | str | None = None) -> Path:
    """Where ``labeled(family, n, seed)`` keeps its file."""
    if folder is None:
        from l2o_lib.pretrained import data_dir

        folder = data_dir()
    return Path(folder) / f"labels_{family.name}_seed{seed}_n{n}.npz"


def labeled(family: ProblemFamily, n: int, seed: int, *, folder: Path | str | None = None,
            regenerate: bool = False, progress: bool | None = None, executor: Any = None) -> Labeled:
    """``n`` instances drawn with ``seed`` and solved by the family's reference solver, cached as npz.

    ``executor`` (a ``concurrent.futures.Executor``, e.g. Dask's ``client.get_executor()``) is passed to
    :meth:`ProblemFamily.solve`: the labels are the same, only made elsewhere.
    """
    path = cache_path(family, n, seed, folder)
    if path.is_file() and not regenerate:
        with np.load(path, allow_pickle=False) as z:
            if str(z["family"]) != family.name or int(z["n"]) != n or int(z["seed"]) != seed:
                raise ValueError(f"{path} holds {z['family']} n={z['n']} seed={z['seed']}, not what its name says")
            sol = Solution(x=z["x"], objective=z["objective"], status=z["status"].astype(str),
                           solve_time=z["solve_time"], wall_time=z["wall_time"], solver=str(z["solver"]))
            return Labeled(z["xi"], sol, float(z["seconds"]), path, loaded=True)
    xi = family.sample(n, seed)
    t0 = time.perf_counter()
    sol = family.solve(xi, progress=progress, executor=executor)
    seconds = time.perf_counter() - t0
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, xi=xi, x=sol.x, objective=sol.objective, status=sol.status.astype("U64"),
                        solve_time=sol.solve_time, wall_time=sol.wall_time, solver=np.array(sol.solver),
                        seconds=np.array(seconds), family=np.array(family.name), n=np.array(n), seed=np.array(seed))
    return Labeled(xi, sol, seconds, path, loaded=False)
