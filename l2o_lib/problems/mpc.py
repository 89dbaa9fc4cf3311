"""The quadratic program of linear model predictive control (chapters 8 and 9).

    minimize   Σ_{k<N} (x_kᵀQx_k + u_kᵀRu_k) + x_NᵀPx_N
    subject to x_{k+1} = A x_k + B u_k  (k = 0 … N−1),   x_0 = ξ,
               u_min ≤ u_k ≤ u_max,   x_min ≤ x_k ≤ x_max  (k = 1 … N)

ξ = x₀ is the measured state. The default system is the double integrator of NeuroMANCER's differentiable
predictive control examples, A = [[1.2, 1], [0, 1]], B = [[1], [0.5]], with its input bound |u| ≤ 1; the
state bound |x_i| ≤ 10 is imposed here as a hard constraint. Q = I, R = 0.1 I and the terminal weight P is
the solution of the discrete algebraic Riccati equation (the LQR cost-to-go).

The second system, ``system="quadruple_tank"`` (4 states, 2 inputs), is Johansson's quadruple-tank process
linearized at its minimum-phase operating point P₋ (tank levels in cm, pump voltages in V, as deviations from
that point), discretized with a zero-order hold at 5 s: A = exp(A_c·5 s), B = ∫₀⁵ exp(A_c t) dt B_c, rounded to six
decimals. Its continuous model, with the paper's areas A_i, time constants T_i = (62, 90, 23, 30) s, pump gains
k = (3.33, 3.35) and valve ratios γ = (0.70, 0.60):

    ḣ₁ = −h₁/T₁ + A₃/(A₁T₃) h₃ + γ₁k₁/A₁ v₁,    ḣ₂ = −h₂/T₂ + A₄/(A₂T₄) h₄ + γ₂k₂/A₂ v₂,
    ḣ₃ = −h₃/T₃ + (1 − γ₂)k₂/A₃ v₂,              ḣ₄ = −h₄/T₄ + (1 − γ₁)k₁/A₄ v₁,

with A₁ = A₃ = 28 cm² and A₂ = A₄ = 32 cm². It keeps the double integrator's bounds and weights (|x_i| ≤ 10,
|u_j| ≤ 1, Q = I, R = 0.1 I): a stable plant whose inputs saturate over many steps, so that the number of
active sets grows fast with the horizon.

**Decision vector (sparse form).** x = (u₀, …, u_{N−1}, x₁, …, x_N): the N·nu inputs first, then the N·nx
predicted states, each block in time order. The dynamics are the N·nx equalities h(x; ξ) = A_eq x − E ξ,
and the boxes are the 2·n_vars inequalities g = (x − x_max, x_min − x) (upper bounds of every variable, then
lower bounds). The objective includes the constant x₀ᵀQx₀, so f is the true MPC cost.

**Parameter domain.** Ξ is the box [−xi_bound, xi_bound]^nx restricted to the states x₀ for which the MPC
problem is feasible (the box alone contains states from which no admissible input keeps the unstable mode
inside its bounds). :meth:`sample` draws uniformly from the box and keeps the draws inside
:meth:`feasible_polytope`, the convex hull of the feasible set's support points in 720 directions (an inner
approximation that is exact once every vertex is hit); :meth:`feasible` decides one state exactly by an LP.
These LPs are posed on the condensed form up to :data:`CONDENSED_MAX_HORIZON` steps and on the sparse form
beyond it, where the condensed form's Aᴺ (entries growing like 1.2ᴺ) makes them ill-conditioned.

Forms: :meth:`qp` gives OSQP's form (P, q, A, l, u) in which only l and u depend on ξ; :meth:`condensed` gives
the inputs-only form. Reference: Clarabel at tight tolerance through its own API (:meth:`solve`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from l2o_lib.problems.base import OPTIMAL, ProblemFamily
from l2o_lib.problems.capabilities import LinearMPCForm

if TYPE_CHECKING:
    import scipy.sparse as sp

MAX_HORIZON = 300
#: the longest horizon whose feasibility LPs use the condensed (inputs-only) form; longer ones use the sparse form
CONDENSED_MAX_HORIZON = 100

SYSTEMS: dict[str, dict[str, Any]] = {
    "double_integrator": {
        "A": [[1.2, 1.0], [0.0, 1.0]],
        "B": [[1.0], [0.5]],
        "x_bound": 10.0,
        "u_bound": 1.0,
        "q": 1.0,
        "r": 0.1,
    },
    "quadruple_tank": {
        "A": [[0.922521, 0.0, 0.18744, 0.0], [0.0, 0.945959, 0.0, 0.149217], [0.0, 0.0, 0.804615, 0.0],
              [0.0, 0.0, 0.0, 0.846482]],
        "B": [[0.399908, 0.023573], [0.012086, 0.305498], [0.0, 0.215063], [0.143779, 0.0]],
        "x_bound": 10.0,
        "u_bound": 1.0,
        "q": 1.0,
        "r": 0.1,
    },
}


@dataclass(frozen=True)
class QPData:
    """OSQP's form  minimize ½ xᵀPx + qᵀx  subject to  l ≤ A x ≤ u, for a batch of instances.

    ``P``, ``q`` and ``A`` are shared by every instance; ``l`` and ``u`` are ``(batch, m)``. The first
    ``n_eq`` rows of A are equalities (l = u there).
    """

    P: sp.csc_matrix
    q: np.ndarray
    A: sp.csc_matrix
    l: np.ndarray
    u: np.ndarray
    n_eq: int


@dataclass(frozen=True)
class CondensedQP:
    """Inputs-only form: minimize ½ UᵀHU + (Fξ)ᵀU + ξᵀYξ  subject to  G U ≤ w + Eξ.

    U = (u₀, …, u_{N−1}); the states are X = Φξ + ΓU (``Phi``, ``Gamma``).
    """

    H: np.ndarray
    F: np.ndarray
    Y: np.ndarray
    G: np.ndarray
    w: np.ndarray
    E: np.ndarray
    Phi: np.ndarray
    Gamma: np.ndarray


class LinearMPC(ProblemFamily, LinearMPCForm):
    """MPC of a constrained linear system; ξ = x₀ in the feasible part of the box [−xi_bound, xi_bound]^nx."""

    reference_solver = "Clarabel"

    def __init__(self, system: str = "double_integrator", horizon: int = 10, xi_bound: float = 10.0,
                 x_bound: float | None = None, u_bound: float | None = None, q: float | None = None,
                 r: float | None = None):
        if system not in SYSTEMS:
            raise KeyError(f"mpc: unknown system {system!r}; known: {sorted(SYSTEMS)}")
        if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or not 1 <= horizon <= MAX_HORIZON:
            raise ValueError(f"mpc: horizon must be an integer in [1, {MAX_HORIZON}], got {horizon!r}")
        spec = dict(SYSTEMS[system])
        for key, v in (("x_bound", x_bound), ("u_bound", u_bound), ("q", q), ("r", r)):
            if v is not None:
                spec[key] = v
        for key in ("x_bound", "u_bound", "q", "r"):
            v = spec[key]
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not (
                    np.isfinite(v) and v > 0):
                raise ValueError(f"mpc: {key} must be a positive number, got {v!r}")
        if isinstance(xi_bound, bool) or not isinstance(xi_bound, (int, float, np.integer, np.floating)) or not (
                np.isfinite(xi_bound) and xi_bound > 0):
            raise ValueError(f"mpc: xi_bound must be a positive number, got {xi_bound!r}")
        self.system = system
        self.A = np.asarray(spec["A"], dtype=float)
        self.B = np.asarray(spec["B"], dtype=float)
        self.nx, self.nu = self.B.shape
        self.horizon = N = int(horizon)
        self.Q = float(spec["q"]) * np.eye(self.nx)
        self.R = float(spec["r"]) * np.eye(self.nu)
        from scipy.linalg import solve_discrete_are

        self.P = solve_discrete_are(self.A, self.B, self.Q, self.R)
        self.P = 0.5 * (self.P + self.P.T)
        self.x_max = float(spec["x_bound"]) * np.ones(self.nx)
        self.x_min = -self.x_max
        self.u_max = float(spec["u_bound"]) * np.ones(self.nu)
        self.u_min = -self.u_max
        self.xi_bound = float(xi_bound)

        self.name = "mpc" if (system, N) == ("double_integrator", 10) else f"mpc_{system}_N{N}"
        self.n_params = self.nx
        self.n_vars = N * (self.nu + self.nx)
        self.n_eq = N * self.nx
        self.n_ineq = 2 * self.n_vars
        self.param_names = tuple(f"x0_{i}" for i in range(self.nx))
        self.var_names = tuple(f"u{k}_{j}" for k in range(N) for j in range(self.nu)) + tuple(
            f"x{k + 1}_{i}" for k in range(N) for i in range(self.nx))
        self.param_low = -self.xi_bound * np.ones(self.nx)
        self.param_high = self.xi_bound * np.ones(self.nx)
        self._build()

    # ------------------------------------------------------------------ structure
    def _build(self) -> None:
        import scipy.sparse as sp

        N, nx, nu = self.horizon, self.nx, self.nu
        nU = N * nu
        # objective ½ xᵀ H2 x with H2 = 2 blockdiag(R…, Q…, P) (the stage costs carry no ½)
        self.H = sp.block_diag([sp.kron(sp.eye(N), self.R), sp.kron(sp.eye(N - 1), self.Q), self.P]).toarray()
        # dynamics: x_{k+1} − A x_k − B u_k = 0, with x_0 = ξ moved to the right-hand side
        Aeq = np.zeros((N * nx, self.n_vars))
        for k in range(N):
            rows = slice(k * nx, (k + 1) * nx)
            Aeq[rows, k * nu:(k + 1) * nu] = -self.B
            Aeq[rows, nU + k * nx:nU + (k + 1) * nx] = np.eye(nx)
            if k > 0:
                Aeq[rows, nU + (k - 1) * nx:nU + k * nx] = -self.A
        self.A_eq = Aeq
        self.E_eq = np.zeros((N * nx, nx))
        self.E_eq[:nx] = self.A
        self.z_max = np.concatenate([np.tile(self.u_max, N), np.tile(self.x_max, N)])
        self.z_min = np.concatenate([np.tile(self.u_min, N), np.tile(self.x_min, N)])

    def _plans(self, x: Any, where: str) -> Any:
        if len(x.shape) != 2 or x.shape[1] != self.n_vars:
            raise ValueError(f"{self.name}.{where}: plans must have shape (batch, {self.n_vars}) = (u₀ … u_N−1, "
                             f"x₁ … x_N), got {tuple(x.shape)}")
        return x

    def first_input(self, x: Any) -> Any:
        """u₀ of each solution, shape ``(batch, nu)``: what an MPC controller applies."""
        return self._plans(x, "first_input")[:, :self.nu]

    def inputs(self, x: Any) -> Any:
        """All inputs, shape ``(batch, N, nu)``."""
        x = self._plans(np.asarray(x), "inputs")
        return x[:, :self.horizon * self.nu].reshape(-1, self.horizon, self.nu)

    def states(self, x: Any, xi: Any) -> np.ndarray:
        """The trajectory x₀ … x_N, shape ``(batch, N + 1, nx)``."""
        xs = np.asarray(x)[:, self.horizon * self.nu:].reshape(-1, self.horizon, self.nx)
        return np.concatenate([np.asarray(xi, dtype=float)[:, None, :], xs], axis=1)

    # ------------------------------------------------------------------ f, g, h (array API)
    def _objective(self, x: Any, xi: Any) -> Any:
        from array_api_compat import array_namespace

        xp = array_namespace(x)
        H, Q = self._const(self.H, x), self._const(self.Q, x)
        return xp.sum((x @ H) * x, axis=1) + xp.sum((xi @ Q) * xi, axis=1)

    def _eq(self, x: Any, xi: Any) -> Any:
        return x @ self._const(self.A_eq, x).T - xi @ self._const(self.E_eq, x).T

    def _ineq(self, x: Any, xi: Any) -> Any:
        from array_api_compat import array_namespace

        xp = array_namespace(x)
        return xp.concat([x - self._const(self.z_max, x), self._const(self.z_min, x) - x], axis=1)

    # ------------------------------------------------------------------ solver forms
    def qp(self, xi: Any | None = None, *, check_domain: bool = True) -> QPData:
        """OSQP's form. Rows: the N·nx dynamics equalities, then the identity on x (the boxes).

        Only ``l`` and ``u`` depend on ξ; without ``xi`` they are those of x₀ = 0 (shape ``(1, m)``).
        """
        import scipy.sparse as sp

        xi = np.zeros((1, self.nx)) if xi is None else np.asarray(
            self.check_params(xi, check_domain=check_domain, where=f"{self.name}.qp"), dtype=float)
        beq = xi @ self.E_eq.T
        n = xi.shape[0]
        lo = np.concatenate([beq, np.tile(self.z_min, (n, 1))], axis=1)
        hi = np.concatenate([beq, np.tile(self.z_max, (n, 1))], axis=1)
        shared = self.__dict__.get("_qp_shared")
        if shared is None:  # P and A do not depend on ξ: built once
            shared = self.__dict__["_qp_shared"] = (
                sp.csc_matrix(2.0 * self.H), sp.vstack([sp.csc_matrix(self.A_eq), sp.eye(self.n_vars)]).tocsc())
        P, A = shared
        return QPData(P=P, q=np.zeros(self.n_vars), A=A, l=lo, u=hi, n_eq=self.n_eq)

    def osqp_data(self, xi: Any, *, check_domain: bool = True) -> QPData:
        """Alias of :meth:`qp` with ξ given."""
        return self.qp(xi, check_domain=check_domain)

    def condensed(self) -> CondensedQP:
        """The inputs-only form (states eliminated through the dynamics)."""
        import scipy.sparse as sp

        N, nx, nu = self.horizon, self.nx, self.nu
        Phi = np.zeros((N * nx, nx))
        Gamma = np.zeros((N * nx, N * nu))
        Ak = np.eye(nx)
        powers = [np.eye(nx)]
        for k in range(N):
            Ak = self.A @ Ak
            Phi[k * nx:(k + 1) * nx] = Ak
            powers.append(Ak)
        for k in range(N):
            for j in range(k + 1):
                Gamma[k * nx:(k + 1) * nx, j * nu:(j + 1) * nu] = powers[k - j] @ self.B
        Qbar = sp.block_diag([sp.kron(sp.eye(N - 1), self.Q), self.P]).toarray()
        Rbar = np.kron(np.eye(N), self.R)
        H = 2.0 * (Gamma.T @ Qbar @ Gamma + Rbar)
        F = 2.0 * Gamma.T @ Qbar @ Phi
        Y = Phi.T @ Qbar @ Phi + self.Q
        eye = np.eye(N * nu)
        G = np.vstack([eye, -eye, Gamma, -Gamma])
        w = np.concatenate([np.tile(self.u_max, N), -np.tile(self.u_min, N), np.tile(self.x_max, N),
                            -np.tile(self.x_min, N)])
        E = np.vstack([np.zeros((2 * N * nu, nx)), -Phi, Phi])
        return CondensedQP(H=0.5 * (H + H.T), F=F, Y=Y, G=G, w=w, E=E, Phi=Phi, Gamma=Gamma)

    # ------------------------------------------------------------------ feasibility and sampling
    def feasible(self, xi: Any, *, check_domain: bool = False) -> np.ndarray:
        """Boolean mask: the MPC problem of x₀ = ξ has a feasible point (an LP per row, HiGHS).

        A margin of 1e-9 keeps states on the boundary of the feasible set out, so that every state
        reported feasible is solved by the reference solver.
        """
        from scipy.optimize import linprog

        xi = np.asarray(self.check_params(xi, check_domain=check_domain, where=f"{self.name}.feasible"),
                        dtype=float)
        ok = np.zeros(xi.shape[0], dtype=bool)
        if self.horizon > CONDENSED_MAX_HORIZON:
            import scipy.sparse as sp

            Aeq = sp.csr_matrix(self.A_eq)
            bounds = list(zip(self.z_min + 1e-9, self.z_max - 1e-9))
            for i, x0 in enumerate(xi):
                res = linprog(np.zeros(self.n_vars), A_eq=Aeq, b_eq=self.E_eq @ x0, bounds=bounds, method="highs")
                ok[i] = res.status == 0
            return ok
        c = self.__dict__.get("_condensed_cache") or self.__dict__.setdefault("_condensed_cache", self.condensed())
        nU = self.horizon * self.nu
        for i, x0 in enumerate(xi):
            res = linprog(np.zeros(nU), A_ub=c.G, b_ub=c.w + c.E @ x0 - 1e-9, bounds=(None, None), method="highs")
            ok[i] = res.status == 0
        return ok

    def feasible_polytope(self) -> tuple[np.ndarray, np.ndarray]:
        """Halfspaces (W, c) with W x₀ ≤ c of an inner approximation of the feasible set of x₀ (cached).

        The feasible set is a convex polytope; its support points in many directions (one LP each) are
        feasible states, so their convex hull lies inside it (and equals it once every vertex is hit).
        """
        cache = self.__dict__.setdefault("_polytope_cache", [])
        if not cache:
            from scipy.optimize import linprog
            from scipy.spatial import ConvexHull

            if self.nx == 2:
                t = np.linspace(0, 2 * np.pi, 720, endpoint=False)
                dirs = np.stack([np.cos(t), np.sin(t)], axis=1)
            else:
                dirs = np.random.default_rng(0).standard_normal((400 * self.nx, self.nx))
            box = [(lo, hi) for lo, hi in zip(self.param_low, self.param_high)]
            if self.horizon > CONDENSED_MAX_HORIZON:
                import scipy.sparse as sp

                # variables (x₀, z): A_eq z − E x₀ = 0, the boxes of z tightened by the same 1e-7
                lp = {"A_eq": sp.hstack([-sp.csr_matrix(self.E_eq), sp.csr_matrix(self.A_eq)]).tocsr(),
                      "b_eq": np.zeros(self.n_eq),
                      "bounds": box + list(zip(self.z_min + 1e-7, self.z_max - 1e-7))}
                n_extra = self.n_vars
            else:
                c = self.__dict__.get("_condensed_cache") or self.__dict__.setdefault("_condensed_cache", self.condensed())
                n_extra = self.horizon * self.nu
                lp = {"A_ub": np.hstack([-c.E, c.G]), "b_ub": c.w - 1e-7, "bounds": box + [(None, None)] * n_extra}
            pts = []
            for d in dirs:
                res = linprog(np.concatenate([-d, np.zeros(n_extra)]), method="highs", **lp)
                if res.status == 0:
                    pts.append(res.x[:self.nx])
            pts = np.unique(np.round(np.array(pts).reshape(-1, self.nx), 12), axis=0)
            if len(pts) <= self.nx:
                raise ValueError(f"{self.name}: the feasible set of x₀ could not be mapped: the support LPs found "
                                 f"{len(pts)} distinct feasible state(s) with |u| ≤ {self.u_max.max():g}, |x| ≤ "
                                 f"{self.x_max.max():g}, N = {self.horizon} (the set is empty, has no interior, or "
                                 "the bounds are too small for the LP solver)")
            try:
                hull = ConvexHull(pts)
            except Exception as exc:  # a flat set: Qhull's error, named
                raise ValueError(f"{self.name}: the feasible set of x₀ has no interior ({str(exc).splitlines()[0]})") from None
            cache.append((hull.equations[:, :-1], -hull.equations[:, -1]))
        return cache[0]

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        W, c = self.feasible_polytope()
        out: list[np.ndarray] = []
        have = 0
        for _ in range(1000):
            draw = rng.uniform(self.param_low, self.param_high, size=(max(4 * (n - have), 16), self.nx))
            keep = draw[np.all(draw @ W.T <= c - 1e-9, axis=1)]
            out.append(keep)
            have += len(keep)
            if have >= n:
                return np.concatenate(out)[:n]
        raise RuntimeError(f"{self.name}.sample: fewer than {n} feasible states found; is Ξ almost empty?")

    # ------------------------------------------------------------------ reference solver
    def _clarabel(self, tol: float):
        import scipy.sparse as sp

        cache = self.__dict__.setdefault("_clarabel_cache", {})
        if tol not in cache:
            import clarabel

            qp = self.qp()
            # Clarabel: A x + s = b, s in cones; equalities first (zero cone), then x ≤ z_max and −x ≤ −z_min
            I = sp.eye(self.n_vars)
            Acl = sp.vstack([sp.csc_matrix(self.A_eq), I, -I]).tocsc()
            settings = clarabel.DefaultSettings()
            settings.verbose = False
            settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = tol
            settings.tol_ktratio = 1e-8
            cones = [clarabel.ZeroConeT(self.n_eq), clarabel.NonnegativeConeT(2 * self.n_vars)]
            cache[tol] = (qp.P, Acl, cones, settings)
        return cache[tol]

    def _solve_one(self, xi: np.ndarray, *, tol: float = 1e-10) -> tuple[np.ndarray | None, float, str, float]:
        import clarabel
        import scipy.sparse as sp

        P, Acl, cones, settings = self._clarabel(tol)
        b = np.concatenate([self.E_eq @ xi, self.z_max, -self.z_min])
        solver = clarabel.DefaultSolver(sp.triu(P).tocsc(), np.zeros(self.n_vars), Acl, b, cones, settings)
        sol = solver.solve()
        status = str(sol.status)
        st = OPTIMAL if status in ("Solved", "SolverStatus.Solved") else status.replace("SolverStatus.", "").lower()
        t = float(sol.solve_time)
        if st != OPTIMAL:
            return None, np.nan, st, t
        xs = np.asarray(sol.x, dtype=float)
        f = float(self._objective(xs[None, :], xi[None, :])[0])
        return xs, f, st, t

    def solve_duals(self, xi: Any, *, check_domain: bool = True, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
        """Primal x* and OSQP-convention duals y* (one per row of :meth:`qp`'s A) from Clarabel.

        OSQP's y is positive where an upper bound is active and negative at a lower bound; rows of an
        infeasible instance are NaN.
        """
        import clarabel
        import scipy.sparse as sp

        xi = np.asarray(self.check_params(xi, check_domain=check_domain, where=f"{self.name}.solve_duals"), dtype=float)
        P, Acl, cones, settings = self._clarabel(tol)
        n, m = self.n_vars, self.n_eq + self.n_vars
        X = np.full((len(xi), n), np.nan)
        Y = np.full((len(xi), m), np.nan)
        for i, x0 in enumerate(xi):
            b = np.concatenate([self.E_eq @ x0, self.z_max, -self.z_min])
            sol = clarabel.DefaultSolver(sp.triu(P).tocsc(), np.zeros(n), Acl, b, cones, settings).solve()
            if "Solved" not in str(sol.status) or "Almost" in str(sol.status):
                continue
            z = np.asarray(sol.z)
            X[i] = np.asarray(sol.x)
            Y[i] = np.concatenate([z[:self.n_eq], z[self.n_eq:self.n_eq + n] - z[self.n_eq + n:]])
        return X, Y
