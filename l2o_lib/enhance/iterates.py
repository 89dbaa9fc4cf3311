"""OSQP's ADMM iteration in numpy, iterate by iterate (for plots of what a warm start changes), and the
break-even count of an offline investment."""

from __future__ import annotations

import numpy as np

from l2o_lib.problems.capabilities import OSQPForm, require


def osqp_iterates(family: OSQPForm, xi: np.ndarray, K: int, *, x0: np.ndarray | None = None,
                  y0: np.ndarray | None = None, rho: float = 0.1, sigma: float = 1e-6,
                  alpha: float = 1.6) -> dict[str, np.ndarray]:
    """K iterations of OSQP's ADMM (no scaling, fixed ρ, ρ·1e3 on equality rows as OSQP does) on one instance.

    Returns the iterates x^k (K+1, n) and the primal ‖Ax − z‖∞ and dual ‖Px + q + Aᵀy‖∞ residuals.
    """
    require(family, OSQPForm, "osqp_iterates")
    qp = family.qp(np.asarray(xi, dtype=float)[None, :], check_domain=False)
    P, A, q, lo, hi = qp.P.toarray(), qp.A.toarray(), qp.q, qp.l[0], qp.u[0]
    n, m = A.shape[1], A.shape[0]
    r = np.full(m, rho)
    r[:qp.n_eq] *= 1e3
    M = np.linalg.inv(P + sigma * np.eye(n) + A.T @ (r[:, None] * A))
    x = np.zeros(n) if x0 is None else np.asarray(x0, dtype=float).copy()
    y = np.zeros(m) if y0 is None else np.asarray(y0, dtype=float).copy()
    z = np.clip(A @ x, lo, hi)
    xs, prim, dual = [x.copy()], [np.abs(A @ x - z).max()], [np.abs(P @ x + q + A.T @ y).max()]
    for _ in range(K):
        xt = M @ (sigma * x - q + A.T @ (r * z - y))
        zt = A @ xt
        x = alpha * xt + (1 - alpha) * x
        zr = alpha * zt + (1 - alpha) * z
        z_new = np.clip(zr + y / r, lo, hi)
        y = y + r * (zr - z_new)
        z = z_new
        xs.append(x.copy())
        prim.append(np.abs(A @ x - z).max())
        dual.append(np.abs(P @ x + q + A.T @ y).max())
    return {"x": np.array(xs), "primal": np.array(prim), "dual": np.array(dual)}


def break_even(offline_seconds: float, saved_per_solve: float) -> float:
    """Solves after which ``offline_seconds`` (labels + training) are paid back; inf if nothing is saved."""
    if not np.isfinite(offline_seconds) or offline_seconds < 0:
        raise ValueError(f"break_even: offline_seconds must be a non-negative number, got {offline_seconds!r}")
    if not np.isfinite(saved_per_solve):
        raise ValueError(f"break_even: saved_per_solve must be a finite number of seconds, got {saved_per_solve!r}")
    return float(offline_seconds / saved_per_solve) if saved_per_solve > 0 else float("inf")
