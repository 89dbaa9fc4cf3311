"""Active sets of solutions and the KKT certificate of a QP in OSQP's form (no framework needed)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from l2o_lib.problems.capabilities import OSQPForm, require


def bounds_part(family: OSQPForm) -> tuple[np.ndarray, np.ndarray, int]:
    """(lo, hi, n_eq): the simple bounds of the variables (the rows after the ``n_eq`` equalities of ``qp()``)."""
    require(family, OSQPForm, "enhance.bounds_part")
    qp = family.qp()
    n_eq = qp.n_eq
    return qp.l[0, n_eq:], qp.u[0, n_eq:], n_eq


def active_sets(family: OSQPForm, x: np.ndarray, tol: float = 1e-7, *,
                bounds: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Per-variable state of the simple bounds at x: +1 at the upper bound, −1 at the lower, 0 inside.

    ``bounds = (lo, hi)`` of the variables, when the caller holds them (the family's QP is not rebuilt).
    """
    lo, hi = bounds_part(family)[:2] if bounds is None else bounds
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] != len(lo):
        raise ValueError(f"active_sets: x must have shape (batch, {len(lo)}), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("active_sets: x has NaN or inf entries (an unsolved instance has no active set)")
    if not (np.isfinite(tol) and tol >= 0):
        raise ValueError(f"active_sets: tol must be a non-negative number, got {tol!r}")
    return np.where(x >= hi - tol, 1, np.where(x <= lo + tol, -1, 0)).astype(np.int8)


@dataclass(frozen=True)
class Certificate:
    """Per-instance KKT residuals and the verdict."""

    ok: np.ndarray
    primal: np.ndarray
    dual_sign: np.ndarray
    stationarity: np.ndarray


def check_tolerances(owner: str, **tol: float) -> dict[str, float]:
    """The KKT tolerances, each a positive finite number (a NaN or negative tolerance would decide nothing)."""
    known = ("tol_primal", "tol_dual", "tol_stat")
    if unknown := sorted(set(tol) - set(known)):
        raise TypeError(f"{owner}: unknown tolerance(s) {unknown}; the tolerances are {list(known)}")
    out = {}
    for k, v in tol.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) or not (np.isfinite(v) and v > 0):
            raise ValueError(f"{owner}: {k} must be a positive finite number, got {v!r}")
        out[k] = float(v)
    return out


def kkt_certify(family: OSQPForm, x: np.ndarray, y: np.ndarray, xi: np.ndarray, *, tol_primal: float = 1e-9,
                tol_dual: float = 1e-9, tol_stat: float = 1e-8) -> Certificate:
    """Check the KKT conditions of the QP ``family.qp(ξ)`` at (x, y) in OSQP's sign convention.

    primal: violation of l ≤ A x ≤ u; dual sign and complementary slackness: y_i > 0 only where row i is at its
    upper bound, y_i < 0 only at its lower bound (the largest multiplier on a row that is not at that bound);
    stationarity: ‖P x + q + Aᵀy‖∞. A convex QP's point passing all three is optimal up to these tolerances
    (non-finite rows fail).
    """
    tol = check_tolerances("kkt_certify", tol_primal=tol_primal, tol_dual=tol_dual, tol_stat=tol_stat)
    require(family, OSQPForm, "kkt_certify")
    qp = family.qp(xi, check_domain=False)
    q = np.broadcast_to(qp.q, (len(qp.l), qp.P.shape[0]))
    return kkt(qp.P.toarray(), q, qp.A.toarray(), qp.l, qp.u, x, y, **tol)


def kkt(P: np.ndarray, q: np.ndarray, A: np.ndarray, lo: np.ndarray, hi: np.ndarray, x: np.ndarray, y: np.ndarray,
        *, tol_primal: float, tol_dual: float, tol_stat: float) -> Certificate:
    """:func:`kkt_certify` on explicit matrices: P (n, n), q (n,) or (batch, n), A (m, n), bounds (batch, m)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != (len(lo), A.shape[1]) or y.shape != (len(lo), A.shape[0]):
        raise ValueError(f"kkt_certify: x must have shape ({len(lo)}, {A.shape[1]}) and y ({len(lo)}, {A.shape[0]}), "
                         f"got {x.shape} and {y.shape}")
    Ax = x @ A.T
    primal = np.maximum(np.max(Ax - hi, axis=1), np.max(lo - Ax, axis=1)).clip(min=0)
    scale = 1.0 + np.abs(hi).clip(max=1e6)
    at_up = Ax >= hi - 1e3 * tol_primal * scale
    at_lo = Ax <= lo + 1e3 * tol_primal * scale
    wrong = np.where(at_up, 0.0, np.maximum(y, 0)) + np.where(at_lo, 0.0, np.maximum(-y, 0))
    dual_sign = wrong.max(axis=1)
    stat = np.abs(x @ P + q + y @ A).max(axis=1)
    finite = np.isfinite(x).all(axis=1) & np.isfinite(y).all(axis=1)
    ok = finite & (primal <= tol_primal) & (dual_sign <= tol_dual) & (stat <= tol_stat)
    return Certificate(ok=ok, primal=np.where(finite, primal, np.inf), dual_sign=np.where(finite, dual_sign, np.inf),
                       stationarity=np.where(finite, stat, np.inf))
