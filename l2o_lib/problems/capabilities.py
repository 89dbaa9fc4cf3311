"""What a problem family can do, declared as types: code that needs a capability asks for it, never for a name.

* :class:`LinearlyConstrained`: ``standard_form()`` gives min f(x) s.t. A x = b(ξ), G x ≤ h(ξ) with b and h
  affine in ξ, as a frozen :class:`StandardForm` whose factorizations (A⁺, the null space of A) are computed
  once and cached, with ``grad``, ``hess`` and the feasibility layer for A x = b.
* :class:`QPForm`: a linearly constrained family whose f is the quadratic ½ xᵀQx + pᵀx (``Q``, ``p``, ``A``,
  ``G`` and the affine b(ξ), h(ξ) as fields); its standard form is a :class:`QuadraticForm`.
* :class:`Proximable`: ``prox(v, ρ)`` of the objective and ``project(v, ξ)`` onto the feasible set (ADMM's two
  building blocks).
* :class:`OSQPForm`: ``qp(ξ)`` gives OSQP's form, P and A shared by every instance, the bounds l(ξ), u(ξ) (and
  optionally the linear term q(ξ)) per instance (what :class:`~l2o_lib.solvers.OSQPSession` sets up once and
  updates).
* :class:`LinearDynamics`: x⁺ = A x + B u and its ``next_state`` (what :func:`l2o_lib.control.simulate` steps).
* :class:`LinearMPCForm`: a linear MPC problem: x⁺ = A x + B u, weights Q, R, P, horizon N, state and input
  boxes, its sparse QP (an :class:`OSQPForm`), the condensed QP and the layout of the first input (what the
  active-set solver, the active-set laws and the controllers of chapters 8 and 9 need).
* :class:`MixedIntegerQP`: a mixed-integer family whose problem with the integers fixed is a QP:
  ``sides(x, ξ)`` and ``side_slack(x, ξ)`` read the constraints the binaries switch off a solution,
  ``fixed_integer_qp()`` is the convex form with the enforced sides among its parameters (what
  :mod:`l2o_lib.strategies` solves per candidate).
* :class:`EqualityCompletable`: the equalities h(x; ξ) = 0 determine some variables (the dependent ones) from the
  others (the independent ones): a split of the variables, the Jacobian ∂h/∂x and a starting guess, from which
  :meth:`~EqualityCompletable.complete` solves h = 0 for the dependent variables by Newton's method (DC3's
  completion, for linear and nonlinear equalities alike).
* :class:`InequalityJacobian`: ``ineq_jacobian(x, ξ)``, ∂g/∂x in closed form (else autograd provides it).

The forms' methods are written against the array API: numpy, torch and jax.numpy arrays (traced ones too) go in
and come out in the same namespace, so the JAX layers of chapter 7 and a numpy check use the same code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol, runtime_checkable

import numpy as np
from array_api_compat import array_namespace, device, is_jax_array, is_numpy_array, is_torch_array


def as_array_like(value: np.ndarray, like: Any) -> Any:
    """A numpy constant as an array of ``like``'s namespace, floating dtype and device."""
    if is_numpy_array(like):
        return value
    if is_jax_array(like):
        import jax.numpy as jnp

        return jnp.asarray(value, dtype=like.dtype)
    if is_torch_array(like):
        import torch

        return torch.tensor(value, dtype=like.dtype, device=like.device)  # a copy: the form's arrays are read-only
    return array_namespace(like).asarray(value, dtype=like.dtype)


def _frozen(a: Any, name: str) -> np.ndarray:
    arr = np.array(a, dtype=float)  # a private copy: the caller's array cannot change a frozen form
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"StandardForm: {name} has NaN or inf entries")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class StandardForm(ABC):
    """min f(x) s.t. A x = b(ξ), G x ≤ h(ξ), with b(ξ) = b0 + ξ B and h(ξ) = h0 + ξ H (ξ a row vector).

    Frozen: the arrays are read-only copies, and the factorizations are computed on first use and cached.
    Subclasses say what f is (:meth:`grad`, :meth:`hess`) and how a point is put on A x = b
    (:meth:`feasibility`, :meth:`retract`, :meth:`primal_update`).
    """

    A: np.ndarray
    b0: np.ndarray
    B: np.ndarray
    G: np.ndarray
    h0: np.ndarray
    H: np.ndarray

    def __post_init__(self) -> None:
        for name in ("A", "b0", "B", "G", "h0", "H"):
            object.__setattr__(self, name, _frozen(getattr(self, name), name))
        (m_eq, n), m_in = self.A.shape, self.G.shape[0]
        shapes = {"b0": (m_eq,), "G": (m_in, n), "h0": (m_in,), "B": (self.B.shape[0], m_eq),
                  "H": (self.B.shape[0], m_in)}
        for name, shape in shapes.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"StandardForm: {name} must have shape {shape}, got {getattr(self, name).shape}")

    @property
    def n_vars(self) -> int:
        return self.A.shape[1]

    # ------------------------------------------------------------------ factorizations, once
    @cached_property
    def A_pinv(self) -> np.ndarray:
        """A⁺ (n × m_eq): A⁺(b − A x) is the smallest step onto A x = b."""
        return np.linalg.pinv(self.A)

    @cached_property
    def null_space(self) -> np.ndarray:
        """An orthonormal basis Z of null(A), shape (n, n − rank A)."""
        from scipy.linalg import null_space

        return null_space(self.A)

    @cached_property
    def multiplier_map(self) -> np.ndarray:
        """The rows of [A; G]ᵀ⁺ that give G's multipliers: μ = −M ∇f is the least-squares fit of ∇f + Aᵀλ + Gᵀμ = 0."""
        return np.linalg.pinv(np.concatenate([self.A, self.G], axis=0).T)[self.A.shape[0]:]

    # ------------------------------------------------------------------ the problem, batched
    def rhs(self, xi: Any) -> tuple[Any, Any]:
        """b(ξ) and h(ξ), batched."""
        return (as_array_like(self.b0, xi) + xi @ as_array_like(self.B, xi),
                as_array_like(self.h0, xi) + xi @ as_array_like(self.H, xi))

    @abstractmethod
    def grad(self, x: Any) -> Any:
        """∇f(x), batched (batch, n)."""

    @abstractmethod
    def hess(self, x: Any) -> Any:
        """∇²f(x), batched (batch, n, n)."""

    @abstractmethod
    def feasibility(self, xbar: Any, b: Any) -> Any:
        """The feasibility layer: any vector x̄ to a point with A x = b exactly (to rounding)."""

    def retract(self, x: Any, b: Any) -> Any:
        """A point that nearly satisfies A x = b, put back on it exactly."""
        return self.feasibility(x, b)

    def primal_update(self, x: Any, step: Any, b: Any) -> Any:
        """x + step, then back onto A x = b (and into f's domain where it has a boundary)."""
        return self.retract(x + step, b)

    def step_length(self, x: Any, dx: Any) -> Any:
        """The largest fraction of the step dx that stays in f's domain: 1 where f is defined everywhere."""
        return 1.0

    def start(self, xi: Any) -> Any:
        """x⁰ = feasibility(0): the point every iteration of chapter 7 starts from."""
        b = self.rhs(xi)[0]
        zeros = array_namespace(xi).zeros((xi.shape[0], self.n_vars), dtype=xi.dtype, device=device(xi))
        return self.feasibility(zeros, b)

    def ineq_violation(self, x: Any, xi: Any) -> Any:
        """max(G x − h(ξ), 0), batched (batch, m_ineq)."""
        xp = array_namespace(x)
        r = x @ as_array_like(self.G, x).T - self.rhs(xi)[1]
        return xp.maximum(r, xp.zeros_like(r))


@dataclass(frozen=True, eq=False)
class QuadraticForm(StandardForm):
    """f(x) = ½ xᵀQx + pᵀx (Q symmetric positive definite on null(A)): a constant Hessian, and an affine
    feasibility layer x = x̄ + A⁺(b − A x̄)."""

    Q: np.ndarray = None  # type: ignore[assignment]
    p: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        super().__post_init__()
        n = self.n_vars
        if self.Q is None or self.p is None:
            raise ValueError("QuadraticForm: Q and p are required")
        object.__setattr__(self, "Q", _frozen(self.Q, "Q"))
        object.__setattr__(self, "p", _frozen(self.p, "p"))
        if self.Q.shape != (n, n) or self.p.shape != (n,):
            raise ValueError(f"QuadraticForm: Q must be ({n}, {n}) and p ({n},), got {self.Q.shape}, {self.p.shape}")

    def grad(self, x: Any) -> Any:
        return x @ as_array_like(self.Q, x) + as_array_like(self.p, x)

    def hess(self, x: Any) -> Any:
        xp = array_namespace(x)
        return xp.broadcast_to(as_array_like(self.Q, x), (x.shape[0],) + self.Q.shape)

    def feasibility(self, xbar: Any, b: Any) -> Any:
        return xbar + (b - xbar @ as_array_like(self.A, xbar).T) @ as_array_like(self.A_pinv, xbar).T

    @cached_property
    def penalty_eigenbasis(self) -> tuple[np.ndarray, np.ndarray]:
        """T and Λ with Z (Zᵀ(Q + ρGᵀG)Z)⁻¹ Zᵀ = T diag(1/(1 + ρΛ)) Tᵀ for every ρ > 0 (Z = :attr:`null_space`).

        With ZᵀQZ = LLᵀ and L⁻¹ZᵀGᵀGZL⁻ᵀ = UΛUᵀ, T = Z L⁻ᵀ U: one eigendecomposition serves every penalty.
        """
        from scipy.linalg import cholesky, eigh, solve_triangular

        Z = self.null_space
        L = cholesky(Z.T @ self.Q @ Z, lower=True)
        LiZt = solve_triangular(L, Z.T, lower=True)  # L⁻¹Zᵀ
        lam, U = eigh(LiZt @ self.G.T @ self.G @ LiZt.T)
        return LiZt.T @ U, np.maximum(lam, 0.0)


@dataclass(frozen=True, eq=False)
class DiagonalHessianForm(StandardForm):
    """A separable f: ∇²f(x) = diag(1 / :meth:`hess_inv_diag`), so Newton steps need no dense factorization."""

    @abstractmethod
    def hess_inv_diag(self, x: Any) -> Any:
        """The diagonal of ∇²f(x)⁻¹, batched (batch, n)."""

    def hess(self, x: Any) -> Any:
        xp = array_namespace(x)
        eye = xp.eye(self.n_vars, dtype=x.dtype)
        return eye[None, :, :] * (1.0 / self.hess_inv_diag(x))[:, None, :]


# ---------------------------------------------------------------------------- capabilities of a family


class LinearlyConstrained(ABC):
    """A family whose constraints are A x = b(ξ), G x ≤ h(ξ), affine in ξ: it has a standard form."""

    @abstractmethod
    def _standard_form(self) -> StandardForm: ...

    def standard_form(self) -> StandardForm:
        """The frozen standard form of this family, built once (its factorizations are cached in it)."""
        cached = self.__dict__.get("_standard_form_cache")
        if cached is None:
            cached = self.__dict__["_standard_form_cache"] = self._standard_form()
        return cached


class QPForm(LinearlyConstrained):
    """min ½ xᵀQx + pᵀx s.t. A x = b(ξ), G x ≤ h(ξ): the fields ``Q``, ``p``, ``A``, ``G``; b(ξ) and h(ξ) are
    ``standard_form().rhs(ξ)``, and the standard form is a :class:`QuadraticForm`."""

    Q: np.ndarray
    p: np.ndarray
    A: np.ndarray
    G: np.ndarray

    @abstractmethod
    def _standard_form(self) -> QuadraticForm: ...

    def standard_form(self) -> QuadraticForm:
        return super().standard_form()  # type: ignore[return-value]



@runtime_checkable
class Proximable(Protocol):
    """A family with ADMM's two building blocks: the proximal step of f and the projection onto C(ξ)."""

    def prox(self, v: Any, rho: float, **options: Any) -> Any:
        """prox_{f/ρ}(v) = argmin_x f(x) + ρ/2 ‖x − v‖², batched."""

    def project(self, v: Any, xi: Any) -> Any:
        """The nearest point of the feasible set C(ξ), batched."""


@runtime_checkable
class OSQPForm(Protocol):
    """A QP in OSQP's form: ``qp(ξ)`` returns P, q, A (shared) and the bounds l, u of each instance, ``(batch, m)``."""

    def qp(self, xi: Any | None = None, *, check_domain: bool = True) -> Any:
        """OSQP's form of the instances ξ (those of ξ = 0 without ``xi``)."""


@dataclass(frozen=True)
class Completed:
    """The result of :meth:`EqualityCompletable.complete`: x, whether each row converged, the Newton steps taken."""

    x: Any
    converged: Any
    iterations: int


@dataclass(frozen=True)
class Pivots:
    """Pairs of variables that may trade roles in a completion: when the dependent ``dependent[j]`` leaves
    [``low[j]``, ``high[j]``], it is held at the bound and the independent ``independent[j]`` is solved for instead
    (a generator that reaches its reactive-power limit in a power flow: its bus voltage becomes free)."""

    dependent: np.ndarray
    independent: np.ndarray
    low: np.ndarray
    high: np.ndarray


class EqualityCompletable(ABC):
    """A family whose equalities h(x; ξ) = 0 can be solved for its dependent variables given the independent ones.

    x splits into independent coordinates z = x[I] and dependent ones x[D] with len(D) = n_eq, so that the square
    Jacobian ∂h/∂x[D] is nonsingular at the points of interest. :meth:`complete` solves h(z, x[D]; ξ) = 0 for x[D]
    by Newton's method from :meth:`completion_guess`; the implicit function theorem then gives the derivatives
    dx[D]/dz = −(∂h/∂x[D])⁻¹ ∂h/∂z (what DC3 trains through). Linear equalities converge in one step.
    """

    @abstractmethod
    def completion_split(self) -> tuple[np.ndarray, np.ndarray]:
        """The indices of the independent and of the dependent variables (disjoint, together all of x)."""

    @abstractmethod
    def eq_jacobian(self, x: Any, xi: Any) -> Any:
        """∂h/∂x at (x, ξ), batched: ``(batch, n_eq, n_vars)``, in x's array namespace."""

    def completion_guess(self, xi: Any) -> Any:
        """A full x whose dependent entries start Newton's method (default: zeros), batched like ξ."""
        xp = array_namespace(xi)
        return xp.zeros((xi.shape[0], self.n_vars), dtype=xi.dtype, device=device(xi))

    def assemble(self, z: Any, x_dep: Any) -> Any:
        """The full x from its independent part z and its dependent part (differentiable)."""
        independent, dependent = self.completion_split()
        xp = array_namespace(z, x_dep)
        return _take(xp.concat([z, x_dep], axis=1), np.argsort(np.concatenate([independent, dependent])))

    def complete(self, z: Any, xi: Any, *, guess: Any = None, chord: Any = None, tol: float = 1e-10,
                 max_iter: int = 30) -> Completed:
        """x with x[I] = z and h(x; ξ) = 0 solved for x[D] by Newton's method (no autograd: wrap it to train).

        ``guess``: a full x whose dependent entries start the iteration (default :meth:`completion_guess`).
        ``chord``: the inverse of ∂h/∂x[D] at a reference point (:meth:`chord_matrix`); the iteration then reuses it
        (x[D] ← x[D] − chord · h, a chord method: no Jacobian and no factorization per step, linear convergence),
        and rows it leaves unconverged after ``max_iter`` steps finish with Newton steps. A row converges when
        max |h| ≤ ``tol``; rows that do not are reported in ``converged``, not raised.
        """
        independent, dependent = self.completion_split()
        xp = array_namespace(z, xi)
        if z.ndim != 2 or z.shape[1] != len(independent):
            raise ValueError(f"complete: z must have shape (batch, {len(independent)}) (the independent variables), "
                             f"got {tuple(z.shape)}")
        start = self.completion_guess(xi) if guess is None else guess
        x = self.assemble(z, _take(start, dependent))
        self.eq_residual(x, xi)  # validates shapes and values once; the iterations call the unchecked _eq
        steps, chord_steps = 0, 0 if chord is None else max_iter
        while True:
            r = self._eq(x, xi)
            worst = xp.max(xp.abs(r), axis=1)
            finite = xp.isfinite(worst)
            if steps == chord_steps + max_iter or bool(xp.all((worst <= tol) | ~finite)):
                return Completed(x, worst <= tol, steps)
            if steps < chord_steps:
                step = r @ xp.matrix_transpose(chord) if chord.ndim == 2 else (chord @ r[:, :, None])[:, :, 0]
            else:
                eye = xp.eye(len(dependent), dtype=r.dtype, device=device(r))
                x_safe = xp.where(finite[:, None], x, start)  # a row that blew up stays as it is
                J = xp.where(finite[:, None, None], _take(self.eq_jacobian(x_safe, xi), dependent), eye[None, :, :])
                r = xp.where(finite[:, None], r, xp.zeros_like(r))
                step = _solve_rows(xp, J, r)
            x = x - self.assemble(xp.zeros_like(z), xp.where(finite[:, None], step, xp.zeros_like(step)))
            steps += 1

    def completion_pivots(self) -> Pivots:
        """The pairs that :meth:`complete_held` may switch (default: none)."""
        empty = np.zeros(0, dtype=np.int64)
        return Pivots(empty, empty.copy(), np.zeros(0), np.zeros(0))

    def complete_held(self, x: Any, xi: Any, held: Any, *, chord: Any, chord_pivots: Any, tol: float = 1e-10,
                      max_iter: int = 30) -> Completed:
        """h(x; ξ) = 0 solved from x with some pivot pairs switched (:meth:`completion_pivots`).

        Where ``held[:, j]``, the pivot's dependent variable keeps its value in x and its independent partner is
        solved for instead; every other variable is split as in :meth:`completion_split`. A chord iteration: the
        reference inverse ``chord`` = (∂h/∂x[D])⁻¹ corrected for the swapped columns by the Woodbury identity, with
        ``chord_pivots`` = chord · (∂h/∂x[i_j] − ∂h/∂x[d_j]) at the reference point, one column per pair (no
        factorization per row). Returns the rows' convergence like :meth:`complete`.
        """
        xp = array_namespace(x, xi)
        pivots = self.completion_pivots()
        independent, dependent = self.completion_split()
        pos = np.array([int(np.flatnonzero(dependent == d)[0]) for d in pivots.dependent], dtype=np.int64)
        n_p, dt, dev = len(pos), x.dtype, device(x)
        to_dep = np.zeros((n_p, len(dependent)))  # pair j -> its slot in x[D]
        to_dep[np.arange(n_p), pos] = 1.0
        to_ind = np.zeros((n_p, len(independent)))  # pair j -> its partner's slot in z
        to_ind[np.arange(n_p), [int(np.flatnonzero(independent == i)[0]) for i in pivots.independent]] = 1.0
        to_dep, to_ind = (xp.asarray(a, dtype=dt, device=dev) for a in (to_dep, to_ind))
        m = xp.astype(held, dt)
        mu_pp = to_dep @ chord_pivots  # rows of chord_pivots at the pairs' slots, (p, p)
        K = xp.eye(n_p, dtype=dt, device=dev)[None] + m[:, :, None] * mu_pp[None] * m[:, None, :]
        K_inv = xp.linalg.inv(K)
        keep = 1.0 - m @ to_dep  # slots of x[D] that are still unknowns
        steps = 0
        while True:
            r = self._eq(x, xi)
            worst = xp.max(xp.abs(r), axis=1)
            finite = xp.isfinite(worst)
            if steps == max_iter or bool(xp.all((worst <= tol) | ~finite)):
                return Completed(x, worst <= tol, steps)
            step = r @ xp.matrix_transpose(chord)
            t = (K_inv @ ((step @ xp.matrix_transpose(to_dep)) * m)[:, :, None])[:, :, 0]
            step = step - (t * m) @ xp.matrix_transpose(chord_pivots)
            swapped = (step @ xp.matrix_transpose(to_dep)) * m  # the partners' steps
            x = x - self.assemble(swapped @ to_ind, step * keep)
            steps += 1

    def chord_matrix(self, x: Any, xi: Any) -> Any:
        """(∂h/∂x[D])⁻¹ at the points (x, ξ), batched, for :meth:`complete`'s chord iteration (one row: a matrix)."""
        xp = array_namespace(x)
        inv = xp.linalg.inv(_take(self.eq_jacobian(x, xi), self.completion_split()[1]))
        return inv[0] if x.shape[0] == 1 else inv


def _solve_rows(xp: Any, J: Any, r: Any) -> Any:
    """J⁻¹ r row by row of a batch; a row whose J is singular gets NaN (its Newton iteration is then reported
    unconverged instead of failing the whole batch)."""
    try:
        return xp.linalg.solve(J, r[:, :, None])[:, :, 0]
    except (np.linalg.LinAlgError, RuntimeError):  # torch's LinAlgError is a RuntimeError
        rows = []
        for k in range(J.shape[0]):
            try:
                rows.append(xp.linalg.solve(J[k], r[k]))
            except (np.linalg.LinAlgError, RuntimeError):
                rows.append(xp.full_like(r[k], float("nan")))
        return xp.stack(rows)


def _take(a: Any, columns: np.ndarray) -> Any:
    """The given columns of the last axis (numpy, torch and jax arrays alike)."""
    if is_torch_array(a):
        import torch

        return a[..., torch.tensor(columns, dtype=torch.long, device=a.device)]
    return a[..., np.asarray(columns)]


@runtime_checkable
class InequalityJacobian(Protocol):
    """A family that gives ∂g/∂x in closed form (a correction step needs it for every instance)."""

    def ineq_jacobian(self, x: Any, xi: Any) -> Any:
        """∂g/∂x at (x, ξ), batched ``(batch, n_ineq, n_vars)``, in x's array namespace."""


class LinearDynamics:
    """A linear system x⁺ = A x + B u (``A``, ``B``, ``nx``, ``nu``): what a closed-loop simulation steps.

    Every :class:`LinearMPCForm` is one; so is a mixed-integer MPC over linear dynamics (chapter 11's).
    """

    A: np.ndarray
    B: np.ndarray
    nx: int
    nu: int

    def dynamics_rows(self, horizon: int) -> np.ndarray:
        """The stacked dynamics x_{k+1} − A x_k − B u_k = 0 over z = (u₀ … u_{N−1}, x₁ … x_N) as rows of
        A_eq, (N·nx, N·(nu + nx)); x₀ is on the right-hand side (A x₀ in the first nx rows)."""
        N, nx, nu = int(horizon), self.nx, self.nu
        nU = N * nu
        rows = np.zeros((N * nx, N * (nu + nx)))
        for k in range(N):
            r = slice(k * nx, (k + 1) * nx)
            rows[r, k * nu:(k + 1) * nu] = -self.B
            rows[r, nU + k * nx:nU + (k + 1) * nx] = np.eye(nx)
            if k > 0:
                rows[r, nU + (k - 1) * nx:nU + k * nx] = -self.A
        return rows

    def next_state(self, x: Any, u: Any, model: tuple[Any, Any] | None = None) -> Any:
        """The prediction x⁺ = A x + B u of a batch ``(..., nx)``, ``(..., nu)`` (array API; ``model = (A, B)``
        predicts with other matrices, e.g. a perturbed plant's)."""
        A, B = (self.A, self.B) if model is None else model
        return x @ as_array_like(np.asarray(A, dtype=float).T, x) + u @ as_array_like(np.asarray(B, dtype=float).T, u)


class LinearMPCForm(LinearDynamics, ABC):
    """A linear MPC problem: x⁺ = A x + B u, stage cost xᵀQx + uᵀRu, terminal xᵀPx, horizon N, boxes on x and u.

    The decision vector is (u₀ … u_{N−1}, x₁ … x_N); ξ = x₀. ``qp(ξ)`` is OSQP's form (the N·nx dynamics rows
    A_eq z = E_eq ξ first, then the identity on z: the boxes), ``condensed()`` the inputs-only form, and
    ``first_input(z)`` the applied input u₀ of each plan.
    """

    A: np.ndarray
    B: np.ndarray
    Q: np.ndarray
    R: np.ndarray
    P: np.ndarray
    E_eq: np.ndarray
    horizon: int
    nx: int
    nu: int
    x_min: np.ndarray
    x_max: np.ndarray
    u_min: np.ndarray
    u_max: np.ndarray

    @abstractmethod
    def qp(self, xi: Any | None = None, *, check_domain: bool = True) -> Any:
        """OSQP's form of the instances ξ = x₀ (those of x₀ = 0 without ``xi``)."""

    @abstractmethod
    def condensed(self) -> Any:
        """The inputs-only form: H, F, Γ, Φ and the bound rows G U ≤ w + E ξ."""

    @abstractmethod
    def first_input(self, x: Any) -> Any:
        """u₀ of each plan, ``(batch, nu)``."""

    def stage_cost(self, x: Any, u: Any) -> Any:
        """xᵀQx + uᵀRu over the trailing axes of states ``(..., nx)`` and inputs ``(..., nu)`` (array API)."""
        xp = array_namespace(x, u)
        Q, R = as_array_like(np.asarray(self.Q, dtype=float), x), as_array_like(np.asarray(self.R, dtype=float), u)
        return xp.sum((x @ Q) * x, axis=-1) + xp.sum((u @ R) * u, axis=-1)

    def terminal_cost(self, x: Any) -> Any:
        """xᵀPx over the trailing axis of ``(..., nx)`` (array API)."""
        return array_namespace(x).sum((x @ as_array_like(np.asarray(self.P, dtype=float), x)) * x, axis=-1)



@runtime_checkable
class MixedIntegerQP(Protocol):
    """A mixed-integer QP family whose binaries each switch one constraint (a "side") on or off.

    ``sides(x, ξ)`` the sides a solution satisfies (bool, (batch, …)), ``side_slack(x, ξ)`` their slacks (same
    shape, ≥ 0 where satisfied), ``fixed_integer_qp()`` the QP left when the sides are fixed (``theta(ξ, sides)``,
    ``qp(θ)``, ``objective``, ``feasible``, ``repair``, ``relaxation``) and ``canonical(ξ)`` (ξ in the order its
    sides are indexed by). :func:`l2o_lib.strategies.tight_strategy` reads a solution's strategy off these.
    """

    def sides(self, x: Any, xi: Any) -> np.ndarray:
        """The sides each solution satisfies, bool (batch, …)."""

    def side_slack(self, x: Any, xi: Any) -> Any:
        """Each side's slack at x (≥ 0 where x satisfies it), (batch, …) as :meth:`sides`."""

    def fixed_integer_qp(self) -> Any:
        """The convex form whose parameters are ξ and the sides enforced."""

    def canonical(self, xi: Any) -> np.ndarray:
        """The same instances, listed the way strategies index them (e.g. interchangeable parts sorted)."""


def require(family: Any, capability: type, who: str) -> None:
    """Raise naming ``who`` and the missing capability unless ``family`` has it."""
    if not isinstance(family, capability):
        raise TypeError(f"{who} needs a family that is {capability.__name__} "
                        f"({(capability.__doc__ or '').strip().splitlines()[0]}); {getattr(family, 'name', family)!r} is not")
