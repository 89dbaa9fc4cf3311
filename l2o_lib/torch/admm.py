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

from l2o_lib.predict import numpy_predictor
from l2o_lib.problems.capabilities import Proximable, require
from l2o_lib.torch.nets import MLP, from_arrays

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


class LearnedADMM(torch.nn.Module):
    """Unrolled ADMM whose x-update (and, with ``learn_z``, z-update) is a cheap step plus a learned correction.

    x-update: ``c = family.prox(v, ρ, max_iter=inner_steps)`` (a few proximal-gradient steps of the x-subproblem
    instead of an inner solve to tolerance), then ``x = c + N_θ(v, c − v, ξ)``. z-update with ``learn_z``:
    ``z = Π_C(u + M_φ(u, Π_C(u) − u, ξ))`` with u = x − y/ρ, so every z^k stays in C(ξ); otherwise the exact
    ``Π_C(u)``. Both corrections start at zero (last layer zero-initialised): an untrained model is the truncated
    classical iteration. The same weights serve every iteration, so ``forward`` runs any K.

    ``warm_start``: the inner steps start at the previous x-iterate (inexact ADMM; ``family.prox`` takes ``x0``) and
    the network also sees their move d = c − x_prev. ``fixed_point`` (needs ``warm_start``): the correction is
    scaled by that move, ``x = c + d ⊙ N_θ(v, c − v, d, ξ)``, so it vanishes where the inner steps stop moving x,
    at ADMM's own fixed points.
    """

    def __init__(self, family, rho: float, K: int, *, learn_z: bool = False, hidden: int = 64, inner_steps: int = 1,
                 warm_start: bool = False, fixed_point: bool = False):
        super().__init__()
        if fixed_point and not warm_start:
            raise ValueError("LearnedADMM: fixed_point=True needs warm_start=True (the move d = c − x_prev)")
        require(family, Proximable, "LearnedADMM")
        n = family.n_vars
        self.family, self.rho, self.K, self.inner_steps = family, float(rho), int(K), int(inner_steps)
        self.warm_start, self.fixed_point = bool(warm_start), bool(fixed_point)
        self.learn_x_net = _zero_last(_mlp((3 if warm_start else 2) * n + family.n_params, n, hidden))
        self.learn_z_net = _zero_last(_mlp(2 * n + family.n_params, n, hidden)) if learn_z else None
        self.config = {"rho": self.rho, "K": self.K, "learn_z": bool(learn_z), "hidden": int(hidden),
                       "inner_steps": self.inner_steps, "warm_start": self.warm_start, "fixed_point": self.fixed_point}

    def x_update(self, v: torch.Tensor, xi: torch.Tensor, x_prev: torch.Tensor | None = None) -> torch.Tensor:
        """The learned x-step at v. With ``warm_start`` the inner steps start at ``x_prev``, the previous x-iterate
        (v when None, as in a run's first iteration); the module itself keeps no state between calls."""
        if not self.warm_start:
            c = self.family.prox(v, self.rho, max_iter=self.inner_steps)
            return c + self.learn_x_net(torch.cat([v, c - v, xi], dim=1))
        start = v if x_prev is None else x_prev
        c = self.family.prox(v, self.rho, max_iter=self.inner_steps, x0=start)
        d = c - start
        out = self.learn_x_net(torch.cat([v, c - v, d, xi], dim=1))
        return c + d * out if self.fixed_point else c + out

    def z_update(self, u: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        p = self.family.project(u, xi)
        return self.family.project(u + self.learn_z_net(torch.cat([u, p - u, xi], dim=1)), xi)

    def forward(self, xi: torch.Tensor, K: int | None = None, *, trace: bool = False) -> ADMMResult:
        x_prev = None  # this run's previous x-iterate: the first inner steps start at v

        def x_step(v: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
            nonlocal x_prev
            x_prev = self.x_update(v, xi, x_prev)
            return x_prev

        return admm(x_step, self.family.project, xi, self.rho, self.K if K is None else K,
                    n_vars=self.family.n_vars, z_update=self.z_update if self.learn_z_net is not None else None,
                    trace=trace)


def _mlp(n_in: int, n_out: int, hidden: int) -> torch.nn.Sequential:
    # the Sequential inside nets.MLP, so the state-dict keys stay "learn_x_net.0.weight", ... as in the shipped files
    return MLP(n_in, n_out, (hidden, hidden), activation="silu").net


def _zero_last(net: torch.nn.Sequential) -> torch.nn.Sequential:
    torch.nn.init.zeros_(net[-1].weight)
    torch.nn.init.zeros_(net[-1].bias)
    return net


def learned_admm_from_arrays(family, arrays: dict, config: dict) -> LearnedADMM:
    """A float64 :class:`LearnedADMM` (eval mode) rebuilt from its config and its state-dict arrays."""
    for key in ("rho", "K", "learn_z", "hidden", "inner_steps"):
        if key not in config:
            raise KeyError(f"learned ADMM: the model card's config lacks {key!r}")
    model = LearnedADMM(family, config["rho"], config["K"], learn_z=config["learn_z"], hidden=config["hidden"],
                        inner_steps=config["inner_steps"], warm_start=config.get("warm_start", False),
                        fixed_point=config.get("fixed_point", False)).double()
    return from_arrays(model, arrays)


def load_learned_admm(family, arrays: dict, config: dict) -> Callable:
    """Pretrained-registry loader: a :class:`LearnedADMM` from its weights; predict(ξ) = z^K (numpy, in C(ξ))."""
    model = learned_admm_from_arrays(family, arrays, config)
    # tiny batched ops: a second thread only adds synchronisation (slower on busy cores); restored after each call
    return numpy_predictor(lambda xi: model(xi).z, threads=1)
