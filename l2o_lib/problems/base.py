"""The interface every problem family shares.

A family is P(ξ): minimize f(x; ξ) s.t. g(x; ξ) ≤ 0, h(x; ξ) = 0, with a seeded sampler over its
parameter domain Ξ and a reference solver. ``objective``, ``eq_residual`` and ``ineq_residual`` are
written once against the array API: numpy, torch and jax.numpy arrays all work, and gradients flow
through them in torch and JAX, so a chapter's training loss and the book's metric are the same code.
Shapes are batched: ξ is ``(batch, n_params)`` and x is ``(batch, n_vars)``.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_jax_array, is_numpy_array, is_torch_array

from l2o_lib.problems.solution import OPTIMAL, Solution
from l2o_lib.problems.validate import constructor_args

__all__ = ["OPTIMAL", "CvxpyFamily", "ProblemFamily", "Solution"]


def _shape_of(a: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in (a.shape if hasattr(a, "shape") else np.shape(a)))


class ProblemFamily(ABC):
    """A parametric problem family P(ξ) with sampler, residuals and reference solver."""

    name: str
    n_params: int
    n_vars: int
    n_eq: int
    n_ineq: int
    param_names: tuple[str, ...]
    var_names: tuple[str, ...]
    #: the parameter domain Ξ as a box; ``sample`` draws inside it and inputs outside are rejected.
    param_low: np.ndarray
    param_high: np.ndarray
    reference_solver: str

    # ------------------------------------------------------------------ identity
    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return
        signature = inspect.signature(init)

        @functools.wraps(init)
        def recording_init(self: ProblemFamily, *args: Any, **kw: Any) -> None:
            # the outermost constructor records the arguments (a subclass calling super().__init__ must not
            # overwrite its own, more complete record)
            if "_init_params" not in self.__dict__:
                bound = signature.bind(self, *args, **kw)
                bound.apply_defaults()
                params = dict(bound.arguments)
                params.pop(next(iter(signature.parameters)))
                constructor_args(_label(cls), signature, params)
                self.__dict__["_init_params"] = params
            init(self, *args, **kw)

        cls.__init__ = recording_init

    @property
    def params(self) -> dict[str, Any]:
        """Every constructor parameter of this family, defaults included."""
        return dict(self.__dict__.get("_init_params", {}))

    @property
    def identity(self) -> tuple[str, str]:
        """One hashable value naming this family exactly: its class and every constructor parameter.

        Two families with the same identity sample, score and solve identically; cache keys, model cards and
        ``describe()`` use it, never ``name`` alone (``name`` omits seeds and ranges).
        """
        return type(self).__name__, json.dumps(_canonical(self.params), sort_keys=True, separators=(",", ":"))

    @property
    def identity_key(self) -> str:
        """A short hex digest of :attr:`identity`, for file names."""
        return hashlib.sha256("|".join(self.identity).encode()).hexdigest()[:12]

    # ------------------------------------------------------------------ sampling
    @abstractmethod
    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray: ...

    def sample(self, n: int, seed: int) -> np.ndarray:
        """``n`` parameter vectors, shape ``(n, n_params)``; the same seed gives the same draw."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{self.name}.sample: n must be a positive integer, got {n!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"{self.name}.sample: seed must be a non-negative integer, got {seed!r}")
        xi = self._sample(int(n), np.random.default_rng(int(seed)))
        return self.check_params(xi)

    # ------------------------------------------------------------------ validation
    def check_params(self, xi: Any, *, check_domain: bool = True, where: str = "") -> Any:
        """Validate ξ: 2-D ``(batch, n_params)``, finite, inside Ξ (unless ``check_domain=False``).

        Values are checked for numpy inputs (and torch tensors on the CPU); traced JAX values and GPU
        tensors get the shape check only, so that training loops stay free of host syncs.
        """
        where = where or f"{self.name}"
        xi = _numeric(xi, "ξ", where)
        shape = _shape_of(xi)
        if len(shape) != 2 or shape[1] != self.n_params:
            hint = " (use xi[None, :] for a single instance)" if len(shape) == 1 else ""
            raise ValueError(
                f"{where}: ξ must have shape (batch, {self.n_params}) for {self.param_names}, got {shape}{hint}"
            )
        values = _host_values(xi)
        if values is None:
            return xi
        if not np.all(np.isfinite(values)):
            rows = np.flatnonzero(~np.all(np.isfinite(values), axis=1))
            raise ValueError(f"{where}: ξ has NaN or inf in rows {rows[:10].tolist()}")
        if check_domain:
            tol = 1e-9 * (1.0 + np.abs(self.param_high - self.param_low))
            low = values < self.param_low - tol
            high = values > self.param_high + tol
            if np.any(low | high):
                row, col = np.argwhere(low | high)[0]
                raise ValueError(
                    f"{where}: ξ[{row}, {col}] ({self.param_names[col]}) = {values[row, col]:.6g} is outside the "
                    f"domain [{self.param_low[col]:.6g}, {self.param_high[col]:.6g}]; "
                    f"{int(np.sum(np.any(low | high, axis=1)))} row(s) affected. Pass check_domain=False to "
                    "evaluate out-of-distribution parameters on purpose."
                )
        return xi

    def check_x(self, x: Any, batch: int | None = None, *, where: str = "") -> Any:
        """Validate x: ``(batch, n_vars)``, and finite for host arrays."""
        where = where or f"{self.name}"
        x = _numeric(x, "x", where)
        shape = _shape_of(x)
        if len(shape) != 2 or shape[1] != self.n_vars:
            raise ValueError(f"{where}: x must have shape (batch, {self.n_vars}), got {shape}")
        if batch is not None and shape[0] != batch:
            raise ValueError(f"{where}: x has {shape[0]} rows but ξ has {batch}")
        values = _host_values(x)
        if values is not None and not np.all(np.isfinite(values)):
            rows = np.flatnonzero(~np.all(np.isfinite(values), axis=1))
            raise ValueError(f"{where}: x has NaN or inf in rows {rows[:10].tolist()}")
        return x

    def _checked(self, x: Any, xi: Any, what: str) -> tuple[Any, Any]:
        where = f"{self.name}.{what}"
        xi = self.check_params(xi, check_domain=False, where=where)
        x = self.check_x(x, _shape_of(xi)[0], where=where)
        return _same_library(x, xi, where)

    # ------------------------------------------------------------------ the mathematics
    def objective(self, x: Any, xi: Any) -> Any:
        """f(x; ξ), shape ``(batch,)``."""
        return self._objective(*self._checked(x, xi, "objective"))

    def eq_residual(self, x: Any, xi: Any) -> Any:
        """h(x; ξ), shape ``(batch, n_eq)``; zero at a feasible point."""
        return self._eq(*self._checked(x, xi, "eq_residual"))

    def ineq_residual(self, x: Any, xi: Any) -> Any:
        """g(x; ξ), shape ``(batch, n_ineq)``; feasible where ≤ 0."""
        return self._ineq(*self._checked(x, xi, "ineq_residual"))

    @abstractmethod
    def _objective(self, x: Any, xi: Any) -> Any: ...

    def _eq(self, x: Any, xi: Any) -> Any:
        xp = array_namespace(x)
        return xp.zeros((x.shape[0], 0), dtype=x.dtype, device=_device(x))

    def _ineq(self, x: Any, xi: Any) -> Any:
        xp = array_namespace(x)
        return xp.zeros((x.shape[0], 0), dtype=x.dtype, device=_device(x))

    # ------------------------------------------------------------------ reference solver
    @abstractmethod
    def _solve_one(self, xi: np.ndarray, **options: Any) -> tuple[np.ndarray | None, float, str, float]:
        """Solve one instance: (x or None, objective, status, solver's own time in seconds)."""

    def solve(self, xi: Any, *, check_domain: bool = True, progress: bool | None = None, executor: Any = None,
              chunk_size: int | None = None, **options: Any) -> Solution:
        """Solve every instance with the reference solver; failures come back with their status.

        ``solve_time`` is the solver's own time; ``wall_time`` adds the modeling layer's overhead. ``executor``: any
        ``concurrent.futures.Executor`` (a process pool, Dask's ``client.get_executor()``) solves blocks of
        ``chunk_size`` rows in parallel; by default a local process pool from
        :data:`~l2o_lib.problems.executors.POOL_THRESHOLD` instances on, ``"serial"`` never. Either way the result is
        the serial one, bit for bit and in order (:mod:`l2o_lib.problems.executors`).
        """
        from l2o_lib.problems.executors import solve_rows

        xi = np.asarray(self.check_params(xi, check_domain=check_domain, where=f"{self.name}.solve"), dtype=float)
        label = self._solver_label(options)
        show = bool(progress or (progress is None and xi.shape[0] >= 200))
        x, obj, status, solve_time, wall = solve_rows(self, xi, options, executor=executor, chunk_size=chunk_size,
                                                      progress=show)
        return Solution(x=x, objective=obj, status=status, solve_time=solve_time, wall_time=wall, solver=label,
                        xi=xi.copy())

    def _solver_label(self, options: dict[str, Any]) -> str:
        """Check ``solve``'s options before any instance is solved; the label of the solver they select."""
        if options:
            raise ValueError(f"{self.name}.solve: unknown option(s) {sorted(options)}; the reference "
                             f"{self.reference_solver} takes none")
        return self.reference_solver

    # ------------------------------------------------------------------ helpers for subclasses
    def _const(self, value: np.ndarray, like: Any) -> Any:
        """A numpy constant as an array of ``like``'s namespace, dtype and device."""
        if is_numpy_array(like):
            return value.astype(like.dtype, copy=False) if np.issubdtype(like.dtype, np.floating) else value
        if is_torch_array(like):
            import torch

            key = (like.device, like.dtype, id(value))
            cache = self.__dict__.setdefault("_torch_consts", {})
            if key not in cache:
                cache[key] = torch.as_tensor(value, dtype=like.dtype, device=like.device)
            return cache[key]
        if is_jax_array(like):
            import jax.numpy as jnp

            return jnp.asarray(value, dtype=like.dtype)
        xp = array_namespace(like)
        return xp.asarray(value, dtype=like.dtype)

    def describe(self) -> str:
        """One line: name, constructor parameters (:attr:`identity`), sizes and the parameter domain."""
        dom = ", ".join(
            f"{n} ∈ [{lo:.3g}, {hi:.3g}]" for n, lo, hi in zip(self.param_names[:4], self.param_low, self.param_high)
        )
        more = ", ..." if self.n_params > 4 else ""
        params = ", ".join(f"{k}={v}" for k, v in json.loads(self.identity[1]).items())
        return (
            f"{self.name} ({self.identity[0]}{': ' + params if params else ''}): "
            f"{self.n_vars} variables, {self.n_eq} equalities, {self.n_ineq} inequalities; "
            f"ξ has {self.n_params} entries ({dom}{more})"
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


class CvxpyFamily(ProblemFamily):
    """A family whose reference is one cvxpy problem, parametrized by ξ and compiled once (DPP).

    Subclasses build ``(problem, x_variable, xi_parameter)`` in :meth:`_build_cvxpy`; the objective reported
    for a solution is the family's own f(x; ξ) at the returned x, so it matches the metric exactly.
    ``solve(xi, solver="SCS")`` picks another cvxpy solver.
    """

    default_solver = "CLARABEL"

    @abstractmethod
    def _build_cvxpy(self) -> tuple[Any, Any, Any]: ...

    def _parametrized(self) -> tuple[Any, Any, Any]:
        cache = self.__dict__.setdefault("_cvxpy_problem", [])
        if not cache:
            cache.append(self._build_cvxpy())
        return cache[0]

    def _solver_label(self, options: dict[str, Any]) -> str:
        import cvxpy as cp

        solver = options.get("solver")
        if solver is None:
            return self.reference_solver
        if not isinstance(solver, str) or solver.upper() not in cp.installed_solvers():
            raise ValueError(f"{self.name}.solve: solver {solver!r} is not an installed cvxpy solver; installed: "
                             f"{cp.installed_solvers()}")
        return self.reference_solver if solver.upper() == self.default_solver else f"{solver.upper()} (cvxpy)"

    def _solve_one(self, xi: np.ndarray, *, solver: str | None = None, **kwargs: Any):
        import cvxpy as cp

        chosen = set(kwargs)
        prob, x, param = self._parametrized()
        param.value = xi
        # No warm start by default: each instance is solved from scratch, as a reference should be. With cvxpy's
        # default (warm_start=True) Clarabel's solver object is reused, and the solve time it reports creeps up
        # over a run (0.19 -> 0.55 ms per l1qp_box instance over 1000 solves, wall time flat), which would
        # overstate every speed-up measured against it.
        kwargs.setdefault("warm_start", False)
        try:
            prob.solve(solver=solver or self.default_solver, **kwargs)
        except cp.SolverError as exc:
            return None, np.nan, f"solver error: {exc}", 0.0
        except (TypeError, ValueError, KeyError) as exc:
            if not chosen:
                raise
            raise ValueError(f"{self.name}.solve: {solver or self.default_solver} rejected the option(s) "
                             f"{sorted(chosen)}: {exc}") from exc
        status = OPTIMAL if prob.status == "optimal" else str(prob.status)
        stats = prob.solver_stats
        t = float(stats.solve_time) if stats is not None and stats.solve_time else float("nan")
        if status != OPTIMAL or x.value is None:
            return None, np.nan, status, t
        xs = np.asarray(x.value, dtype=float)
        f = float(self._objective(xs[None, :], xi[None, :])[0])
        # a first-order solver (SCS) may return x a hair outside f's domain (e.g. -1e-10 in an entropy): keep
        # the solver's own objective then rather than reporting NaN for a solved instance
        return xs, (f if np.isfinite(f) else float(prob.value)), status, t


def _label(cls: type) -> str:
    """The family's name for messages: its ``name`` class attribute, else its class name."""
    name = cls.__dict__.get("name")
    return name if isinstance(name, str) else cls.__name__


def _canonical(value: Any) -> Any:
    """Constructor arguments as plain JSON values (tuples as lists, numpy scalars and arrays as Python)."""
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, np.ndarray):
        return _canonical(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"a problem family's constructor parameter must be a plain value, got {type(value).__name__}")


def _library(a: Any) -> str:
    if is_numpy_array(a):
        return "numpy"
    if is_torch_array(a):
        return "torch"
    if is_jax_array(a):
        return "jax"
    return type(a).__name__


def _numeric(a: Any, what: str, where: str) -> Any:
    """``a`` as given when it is a real numeric array; lists and tuples as float numpy arrays; else an error."""
    if isinstance(a, (list, tuple)):
        try:
            return np.asarray(a, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"{where}: {what} must be numbers, got a {type(a).__name__} holding {a!r:.80}") from None
    if is_numpy_array(a) and a.dtype.kind not in "biuf":
        raise TypeError(f"{where}: {what} must be a real numeric array, got dtype {a.dtype}")
    if is_torch_array(a) and (a.is_complex() or a.dtype == _torch_bool()):
        raise TypeError(f"{where}: {what} must be a real numeric tensor, got dtype {a.dtype}")
    if not (is_numpy_array(a) or is_torch_array(a) or is_jax_array(a)):
        raise TypeError(f"{where}: {what} must be a numpy, torch or JAX array, got {type(a).__name__}")
    return a


@functools.cache
def _numpy_torch_dtypes() -> frozenset:
    """Torch dtypes that `.numpy()` converts (built lazily: torch is optional)."""
    import torch

    return frozenset({torch.float64, torch.float32, torch.float16, torch.int64, torch.int32, torch.int16, torch.int8,
                      torch.uint8, torch.bool})


def _torch_bool() -> Any:
    import torch

    return torch.bool


def _same_library(x: Any, xi: Any, where: str) -> tuple[Any, Any]:
    """x and ξ from one array library, with a floating dtype where the arithmetic casts constants to it.

    A numpy ξ next to a torch or JAX x is converted to x's library (dtype and device); any other mix is an error.
    """
    lx, lxi = _library(x), _library(xi)
    if lx != lxi:
        if lxi != "numpy":
            raise TypeError(f"{where}: x is a {lx} array but ξ is a {lxi} array; pass both from the same library")
        if lx == "torch":
            import torch

            xi = torch.as_tensor(np.asarray(xi, dtype=float), dtype=x.dtype if x.is_floating_point() else None,
                                 device=x.device)
        else:
            import jax.numpy as jnp

            xi = jnp.asarray(np.asarray(xi, dtype=float), dtype=x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else None)
    for name, a in (("x", x), ("ξ", xi)):
        if lx == "torch" and not a.is_floating_point():
            raise TypeError(f"{where}: {name} has dtype {a.dtype}; the objective and residuals need a floating dtype "
                            "(use .double())")
        if lx == "jax":
            import jax.numpy as jnp

            if not jnp.issubdtype(a.dtype, jnp.floating):
                raise TypeError(f"{where}: {name} has dtype {a.dtype}; the objective and residuals need a floating dtype "
                                "(use .astype(float))")
    return x, xi


def _device(x: Any) -> Any:
    from array_api_compat import device

    return device(x)


def _host_values(a: Any) -> np.ndarray | None:
    """Values of a host array as numpy, or None for traced JAX values and accelerator tensors."""
    if is_numpy_array(a):
        return np.asarray(a)
    if is_torch_array(a):
        if a.device.type != "cpu":
            return None
        a = a.detach()
        return (a if a.dtype in _numpy_torch_dtypes() else a.double()).numpy()
    if is_jax_array(a):
        try:
            return np.asarray(a)
        except Exception:  # a tracer inside jit/grad: no concrete values
            return None
    if isinstance(a, (list, tuple)):
        return np.asarray(a, dtype=float)
    return None
