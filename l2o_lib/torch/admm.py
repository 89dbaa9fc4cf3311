"""Classical batched ADMM with primal/dual residual history, the plumbing for unrolled (learned) ADMM.

Problem: min_x f(x; ξ) s.t. x ∈ C(ξ), split as min f(x) + ι_C(ξ)(z) s.t. x = z. One iteration (scaled by ρ)::

    x^{k+1} = x_update(z^k + y^k/ρ, ξ)          # argmin_x f(x; ξ) + ρ/2 ‖x − v‖²  (the expensive step)
    z^{k+1} = project(x^{k+1} − y^k/ρ, ξ)       # Π_C(ξ), cheap and exact
    y^{k+1} = y^k + ρ (z^{k+1} − x^{k+1})

Primal residual r^k = ‖x^k − z^k‖, dual residual s^k = ρ ‖z^k − z^{k−1}‖ (per instance). Replace ``x_update``
(or both updates) by a network to get learned ADMM; the loop is differentiable, so unroll it and train.
Batched torch, device- and dtype-agnostic (everything follows ``xi``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

Update = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class ADMMResult:
    """Final iterates (x, z, y), per-iteration residuals (K, batch) and, with ``trace``, every z^k (K+1 entries)."""

    x: torch.Tensor
    z: torch.Tensor
    y: torch.Tensor
    primal: torch.Tensor
    dual: torch.Tensor
    zs: list[torch.Tensor] = field(default_factory=list)


def _check(name: str, t: torch.Tensor, shape: tuple[int, ...]) -> None:
    if tuple(t.shape) != shape:
        raise ValueError(f"admm: {name} has shape {tuple(t.shape)}, expected {shape}")
    if not torch.isfinite(t).all():
        raise ValueError(f"admm: {name} contains NaN or inf")


def admm(x_update: Update, project: Update, xi: torch.Tensor, rho: float, K: int, *, n_vars: int | None = None,
         z0: torch.Tensor | None = None, y0: torch.Tensor | None = None, z_update: Update | None = None,
         trace: bool = False) -> ADMMResult:
    """Run K ADMM iterations on a batch ξ (batch, n_params).

    ``x_update(v, xi)`` returns argmin_x f(x; ξ) + ρ/2‖x − v‖² (or a learned stand-in); ``project(v, xi)`` is
    Π_C(ξ). ``z_update(v, xi)``, if given, replaces the projection inside the loop (learned z-step); the
    returned ``z`` is then still passed through ``project`` once, so it lies in C(ξ). ``n_vars`` defaults to
    xi.shape[1]; (z0, y0) default to zeros. Raises ValueError on bad shapes, NaN, ρ ≤ 0 or K < 0.
    """
    if xi.ndim != 2:
        raise ValueError(f"admm: xi must be (batch, n_params), got shape {tuple(xi.shape)}")
    if not torch.isfinite(xi).all():
        raise ValueError("admm: xi contains NaN or inf")
    if not rho > 0:
        raise ValueError(f"admm: rho must be positive, got {rho!r}")
    if int(K) != K or K < 0:
        raise ValueError(f"admm: K must be a non-negative integer, got {K!r}")
    shape = (xi.shape[0], xi.shape[1] if n_vars is None else int(n_vars))
    z = torch.zeros(shape, dtype=xi.dtype, device=xi.device) if z0 is None else z0
    y = torch.zeros(shape, dtype=xi.dtype, device=xi.device) if y0 is None else y0
    _check("z0", z, shape)
    _check("y0", y, shape)
    step_z = project if z_update is None else z_update
    x = z
    primal, dual, zs = [], [], [z] if trace else []
    for _ in range(int(K)):
        x = x_update(z + y / rho, xi)
        z_new = step_z(x - y / rho, xi)
        y = y + rho * (z_new - x)
        primal.append(torch.linalg.vector_norm(x - z_new, dim=1))
        dual.append(rho * torch.linalg.vector_norm(z_new - z, dim=1))
        z = z_new
        if trace:
            zs.append(z)
    if z_update is not None:
        z = project(z, xi)
    empty = torch.zeros((0, shape[0]), dtype=xi.dtype, device=xi.device)
    return ADMMResult(x, z, y, torch.stack(primal) if primal else empty, torch.stack(dual) if dual else empty, zs)


def iterations_to_reach(history: torch.Tensor, tol: float) -> torch.Tensor:
    """First k (1-based) with history[k-1, i] ≤ tol for each instance i (K+1 where never reached)."""
    hit = history <= tol
    K = history.shape[0]
    first = torch.where(hit.any(0), hit.float().argmax(0) + 1, torch.full_like(hit[0], K + 1, dtype=torch.long))
    return first.long()
