"""Labeled data sets and cached reference solves: (ξ, reference solution) on disk, keyed by (family, seed, n).

``labeled(family, n, seed)`` returns the instances, their reference solutions and the seconds the solver
spent making them (the label cost). The file is plain npz (no pickle) named after the family's name and
``identity_key`` (so two families that differ only in a seed or a range never share a file), the seed and
the count. It records the family's full identity and a sha256 of its contents; a file that is truncated,
corrupt, accidentally edited or made for another family is reported with a warning and regenerated. The digest is
corruption detection, not a signature: it has no secret key, so someone who edits the arrays and recomputes it
on purpose is not detected (the file holds plain arrays only, so such an edit can change labels but never run
code). Files are written to a
temporary name and renamed, so a reader never sees half a file. Safe to delete.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from l2o_lib.paths import data_dir
from l2o_lib.problems.base import OPTIMAL, ProblemFamily, Solution

#: the arrays whose bytes the content hash covers, in this order
_HASHED = ("xi", "x", "objective", "status", "solve_time", "wall_time", "solver", "seconds", "family", "identity",
           "n", "seed")
FORMAT = "l2o-book/labels/2"


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


def _check_count(n: int, seed: int) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"labeled: n must be a positive integer, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"labeled: seed must be a non-negative integer, got {seed!r}")


def cache_path(family: ProblemFamily, n: int, seed: int, folder: Path | str | None = None) -> Path:
    """Where ``labeled(family, n, seed)`` keeps its file (the name carries ``family.identity_key``)."""
    _check_count(n, seed)
    if folder is None:
        folder = data_dir()
    return Path(folder) / f"labels_{family.name}_{family.identity_key}_seed{int(seed)}_n{int(n)}.npz"


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in _HASHED:
        a = np.ascontiguousarray(arrays[key])
        h.update(f"{key}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _read(path: Path, family: ProblemFamily, n: int, seed: int) -> Labeled:
    """The cached labels, or ``ValueError`` saying why the file cannot be trusted."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:  # truncated zip, bad header, half-written file from an old writer
        raise ValueError(f"unreadable ({type(exc).__name__}: {exc})") from None
    missing = [k for k in (*_HASHED, "digest", "format") if k not in arrays]
    if missing:
        raise ValueError(f"lacks {missing} (an older or foreign file)")
    if str(arrays["format"]) != FORMAT:
        raise ValueError(f"format {arrays['format']} is not {FORMAT}")
    if str(arrays["digest"]) != _digest(arrays):
        raise ValueError("content hash does not match (corrupt or edited)")
    identity = "|".join(family.identity)
    if str(arrays["identity"]) != identity or int(arrays["n"]) != n or int(arrays["seed"]) != seed:
        raise ValueError(f"holds {arrays['identity']} n={arrays['n']} seed={arrays['seed']}, not {identity} n={n} "
                         f"seed={seed}")
    xi, x = arrays["xi"], arrays["x"]
    if xi.shape != (n, family.n_params) or x.shape != (n, family.n_vars) or arrays["status"].shape != (n,):
        raise ValueError(f"shapes ξ {xi.shape}, x {x.shape} do not fit n={n} for {family.name}")
    status = arrays["status"].astype(str)
    ok = status == OPTIMAL
    if not (np.isfinite(x[ok]).all() and np.isfinite(arrays["objective"][ok]).all()):
        raise ValueError("rows marked optimal hold NaN or inf")
    sol = Solution(x=x, objective=arrays["objective"], status=status, solve_time=arrays["solve_time"],
                   wall_time=arrays["wall_time"], solver=str(arrays["solver"]), xi=xi)
    return Labeled(xi, sol, float(arrays["seconds"]), path, loaded=True)


def _write(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write to a temporary file in the same folder, then rename it over ``path`` (atomic on POSIX)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide a shared cache from other users
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def labels_arrays(family: ProblemFamily, n: int, seed: int, xi: np.ndarray, sol: Solution,
                  seconds: float) -> dict[str, np.ndarray]:
    """The npz contents of a labels file, content hash included."""
    arrays = {"xi": np.asarray(xi, dtype=float), "x": np.asarray(sol.x, dtype=float),
              "objective": np.asarray(sol.objective, dtype=float), "status": np.asarray(sol.status).astype("U64"),
              "solve_time": np.asarray(sol.solve_time, dtype=float), "wall_time": np.asarray(sol.wall_time, dtype=float),
              "solver": np.array(sol.solver), "seconds": np.array(float(seconds)), "family": np.array(family.name),
              "identity": np.array("|".join(family.identity)), "n": np.array(int(n)), "seed": np.array(int(seed))}
    arrays["digest"] = np.array(_digest(arrays))
    arrays["format"] = np.array(FORMAT)
    return arrays


def labeled(family: ProblemFamily, n: int, seed: int, *, folder: Path | str | None = None,
            regenerate: bool = False, progress: bool | None = None, executor: Any = None) -> Labeled:
    """``n`` instances drawn with ``seed`` and solved by the family's reference solver, cached as npz.

    ``executor`` (a ``concurrent.futures.Executor``, e.g. Dask's ``client.get_executor()``) is passed to
    :meth:`ProblemFamily.solve`: the labels are the same, only made elsewhere.
    """
    if not isinstance(family, ProblemFamily):
        raise TypeError(f"labeled: family must be a ProblemFamily, got {type(family).__name__}")
    path = cache_path(family, n, seed, folder)
    n, seed = int(n), int(seed)
    if path.is_file() and not regenerate:
        try:
            return _read(path, family, n, seed)
        except ValueError as why:
            warnings.warn(f"labeled: ignoring {path}: {why}; solving again", RuntimeWarning, stacklevel=2)
    xi = family.sample(n, seed)
    t0 = time.perf_counter()
    sol = family.solve(xi, progress=progress, executor=executor)
    seconds = time.perf_counter() - t0
    _write(path, labels_arrays(family, n, seed, xi, sol, seconds))
    return Labeled(xi, sol, seconds, path, loaded=False)
