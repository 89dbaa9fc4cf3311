"""Polytopes in the plane and the maximal control invariant set of a two-state, one-input system.

The safe set of a safety filter: from every state in it some admissible input keeps the next state in it,
forever (:func:`control_invariant_set`); :func:`safe_input_interval` gives those inputs for a batch of states.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Polytope:
    """{x : H x ≤ h} in the plane, with its vertices in counter-clockwise order."""

    H: np.ndarray
    h: np.ndarray
    vertices: np.ndarray

    def contains(self, x: np.ndarray, tol: float = 1e-9) -> np.ndarray:
        """Boolean mask over the rows of ``x`` (batch, 2)."""
        x = np.asarray(x, dtype=float)
        return np.all(x @ self.H.T <= self.h + tol, axis=-1)

    def margin(self, x: np.ndarray) -> np.ndarray:
        """min_i (h_i − H_i x) / ‖H_i‖: the distance to the boundary inside, negative outside."""
        norms = np.linalg.norm(self.H, axis=1)
        return np.min((self.h - np.asarray(x, dtype=float) @ self.H.T) / norms, axis=-1)

    @property
    def area(self) -> float:
        v = self.vertices
        if len(v) < 3:
            return 0.0
        return 0.5 * abs(float(np.dot(v[:, 0], np.roll(v[:, 1], -1)) - np.dot(v[:, 1], np.roll(v[:, 0], -1))))

    #: rejection rounds before :meth:`sample` gives up on a set too thin to hit
    MAX_ROUNDS = 200

    def sample(self, n: int, seed: int) -> np.ndarray:
        """``n`` points uniformly inside (rejection from the bounding box of the vertices).

        Raises ``ValueError`` when the set is empty or so thin inside its bounding box that rejection
        sampling would not finish (no point accepted in :data:`MAX_ROUNDS` rounds).
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"Polytope.sample: n must be a non-negative integer, got {n!r}")
        if len(self.vertices) < 3 or not self.area > 0:
            raise ValueError(f"Polytope.sample: the set has no interior (area {self.area:.3g}); nothing to sample")
        rng = np.random.default_rng(seed)
        lo, hi = self.vertices.min(0), self.vertices.max(0)
        out: list[np.ndarray] = []
        have = 0
        for _ in range(self.MAX_ROUNDS):
            if have >= n:
                break
            draw = rng.uniform(lo, hi, size=(2 * (n - have) + 16, 2))
            keep = draw[self.contains(draw, tol=0.0)]
            out.append(keep)
            have += len(keep)
        else:
            if have < n:
                box = float(np.prod(hi - lo))
                raise ValueError(f"Polytope.sample: only {have} of {n} points in {self.MAX_ROUNDS} rejection rounds: "
                                 f"the set (area {self.area:.3g}) fills {self.area / box:.2e} of its bounding box, or "
                                 "H, h describe a set other than the vertices'")
        return np.concatenate(out)[:n] if out else np.zeros((0, 2))


def _minimal(H: np.ndarray, h: np.ndarray) -> Polytope:
    """Drop redundant rows of a bounded 2-D polytope containing the origin in its interior."""
    from scipy.spatial import ConvexHull, HalfspaceIntersection, QhullError

    if np.any(h <= 0):
        raise ValueError("control_invariant_set: the origin must lie strictly inside every set of the iteration "
                         "(the invariant set has shrunk to a set without interior around it)")
    try:
        points = HalfspaceIntersection(np.hstack([H, -h[:, None]]), np.zeros(2)).intersections
        hull = ConvexHull(points)
    except QhullError as exc:
        raise ValueError("control_invariant_set: the set became degenerate (no interior): no safe set with "
                         f"interior exists for this system and these bounds ({str(exc).splitlines()[0]})") from None
    eq = hull.equations  # rows (a, b) with a·x + b ≤ 0 inside
    return Polytope(H=eq[:, :2].copy(), h=-eq[:, 2].copy(), vertices=points[hull.vertices])


def _pre(poly: Polytope, A: np.ndarray, B: np.ndarray, u_min: float, u_max: float) -> tuple[np.ndarray, np.ndarray]:
    """{x : ∃ u ∈ [u_min, u_max], A x + B u ∈ poly}, by Fourier–Motzkin elimination of the single input."""
    G = np.vstack([poly.H @ A, np.zeros((2, A.shape[1]))])
    b = np.concatenate([(poly.H @ B)[:, 0], [1.0, -1.0]])
    c = np.concatenate([poly.h, [u_max, -u_min]])
    pos, neg = np.flatnonzero(b > 1e-12), np.flatnonzero(b < -1e-12)
    zero = np.flatnonzero(np.abs(b) <= 1e-12)
    rows = [G[i] / b[i] - G[j] / b[j] for i in pos for j in neg] + [G[i] for i in zero]
    rhs = [c[i] / b[i] - c[j] / b[j] for i in pos for j in neg] + [c[i] for i in zero]
    return np.array(rows), np.array(rhs)


def control_invariant_set(A: np.ndarray, B: np.ndarray, x_min: np.ndarray, x_max: np.ndarray, u_min: np.ndarray,
                          u_max: np.ndarray, *, max_iter: int = 200, tol: float = 1e-9) -> tuple[Polytope, int]:
    """The maximal control invariant set of x⁺ = A x + B u inside the state box, inputs in their box.

    Iterates C_{k+1} = C_k ∩ Pre(C_k) from C_0 = the state box until C_k ⊆ Pre(C_k): every vertex of C_k
    satisfies Pre's inequalities to ``tol`` relative to their scale (then C_k is control invariant, up to that
    tolerance); returns the set and the number of iterations. From every state in it some admissible input keeps
    the next state in it, forever; outside it no input sequence keeps the state in its box for ever. Two states,
    one input. A system whose invariant set has no interior raises ``ValueError``.
    """
    A, B = np.asarray(A, dtype=float), np.asarray(B, dtype=float)
    if A.shape != (2, 2) or B.shape != (2, 1):
        raise ValueError(f"control_invariant_set: needs two states and one input, got A {A.shape}, B {B.shape}")
    if not (np.isfinite(A).all() and np.isfinite(B).all()):
        raise ValueError("control_invariant_set: A and B must be finite")
    x_min, x_max = np.asarray(x_min, dtype=float).ravel(), np.asarray(x_max, dtype=float).ravel()
    if x_min.shape != (2,) or x_max.shape != (2,):
        raise ValueError(f"control_invariant_set: x_min and x_max must have two entries, got {x_min.shape}, {x_max.shape}")
    u_lo, u_hi = float(np.asarray(u_min).ravel()[0]), float(np.asarray(u_max).ravel()[0])
    if not (np.all(x_min < 0) and np.all(x_max > 0) and u_lo <= 0 <= u_hi):
        raise ValueError("control_invariant_set: the state box must contain the origin inside and the input box 0")
    if not (np.isfinite(x_min).all() and np.isfinite(x_max).all() and np.isfinite(u_lo) and np.isfinite(u_hi)):
        raise ValueError("control_invariant_set: the boxes must be finite")
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"control_invariant_set: tol must be a positive number, got {tol!r}")
    current = _minimal(np.vstack([np.eye(2), -np.eye(2)]), np.concatenate([x_max, -x_min]))
    for k in range(1, max_iter + 1):
        Hp, hp = _pre(current, A, B, u_lo, u_hi)
        scale = np.abs(hp) + np.abs(Hp) @ np.abs(current.vertices).max(0)
        if np.all(current.vertices @ Hp.T <= hp + tol * np.maximum(scale, 1e-12)):
            return current, k
        current = _minimal(np.vstack([current.H, Hp]), np.concatenate([current.h, hp]))
    raise RuntimeError(f"control_invariant_set: no convergence in {max_iter} iterations (area {current.area:.6g})")


def safe_input_interval(x: np.ndarray, safe: Polytope, A: np.ndarray, B: np.ndarray, u_min: float, u_max: float,
                        margin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """For each state, the interval [lo, hi] of admissible inputs u with A x + B u ∈ ``safe`` (one input).

    ``margin`` asks for that distance inside the set. The interval is empty (lo > hi) where x is outside
    the control invariant set.
    """
    x = np.asarray(x, dtype=float)
    coef = (safe.H @ B)[:, 0]  # H (A x + B u) ≤ h  <=>  coef · u ≤ h − H A x
    slack = safe.h[None, :] - margin * np.linalg.norm(safe.H, axis=1)[None, :] - x @ (safe.H @ A).T
    with np.errstate(divide="ignore"):
        bound = slack / coef[None, :]
    lo = np.max(np.where(coef[None, :] < 0, bound, -np.inf), axis=1, initial=-np.inf)
    hi = np.min(np.where(coef[None, :] > 0, bound, np.inf), axis=1, initial=np.inf)
    return np.maximum(lo, u_min), np.minimum(hi, u_max)
