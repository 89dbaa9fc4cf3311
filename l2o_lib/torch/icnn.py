"""Input-convex networks for LEAF (Chapter 6): a scalar convex surrogate of a Moreau envelope and its gradient.

The network is convex in its input z because every hidden-to-hidden weight is nonnegative (a softplus
of a free parameter), every activation (softplus) is convex and nondecreasing, the input enters every
layer through unconstrained skip weights (affine in z, hence convex), and the output adds a convex
quadratic ½‖Az‖² and an affine term. The gradient is written out by hand (:meth:`ICNN.grad`): one
forward and one backward sweep, differentiable by autograd so that training can match gradients.

MEL-ADMM is :func:`l2o_lib.torch.admm.admm` (the loop Chapter 5 unrolls) with the x-update
:func:`mel_update`, v ↦ v − ∇M_θ(v)/ρ; :func:`schedule_predictor` wraps a run, possibly in stages with different
x-updates and ρ (an envelope learned per ρ), as a batched ξ ↦ x predictor; :func:`admm_predictor` is its
one-stage form (optionally followed by exact-prox iterations).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from l2o_lib.predict import numpy_predictor
from l2o_lib.problems.capabilities import Proximable, require
from l2o_lib.torch.nets import from_arrays, with_prefix


def _half_softplus_sq(a: torch.Tensor) -> torch.Tensor:
    return 0.5 * F.softplus(a) ** 2


def _d_half_softplus_sq(a: torch.Tensor) -> torch.Tensor:
    return F.softplus(a) * torch.sigmoid(a)


def _ramp(a: torch.Tensor) -> torch.Tensor:
    c = a.clamp(0.0, 1.0)
    return 0.5 * c * c + F.relu(a - 1.0)


def _d_ramp(a: torch.Tensor) -> torch.Tensor:
    return a.clamp(0.0, 1.0)


#: first-layer activations (value, derivative); all convex and nondecreasing. ½softplus² has a smoothed
#: ramp as derivative, so sums of them make the piecewise-linear gradients that envelopes of ℓ1 terms have.
#: "ramp" (½a² on [0, 1], linear beyond, 0 below) has the saturating ramp clip(a, 0, 1) as derivative: the shape
#: of one coordinate of an ℓ1 subgradient, −1 … 1 across a dead zone, so its gradients are exactly piecewise affine.
FIRST_ACTIVATIONS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]] = {
    "softplus": (F.softplus, torch.sigmoid),
    "softplus2": (_half_softplus_sq, _d_half_softplus_sq),
    "ramp": (_ramp, _d_ramp),
}


class ICNN(nn.Module):
    """M_θ(z) = uᵀ h_L + ½‖A z‖² + wᵀz + c with h_1 = σ(W_1 z + b_1), h_l = σ(U_l h_{l−1} + W_l z + b_l).

    σ = softplus (convex, nondecreasing, σ'' ≤ ¼); U_l = softplus(Û_l) ≥ 0 and u = softplus(û) ≥ 0 keep
    M_θ convex in z for every value of the free parameters, so plain gradient descent cannot break it.
    ``convex=False`` drops the nonnegativity (the ablation of the chapter's "what goes wrong").
    """

    def __init__(self, n_in: int, hidden: Sequence[int] = (64, 64), *, rank: int | None = None, convex: bool = True,
                 first: str = "softplus"):
        super().__init__()
        hidden = [int(h) for h in hidden]
        if int(n_in) < 1 or not hidden or min(hidden) < 1:
            raise ValueError(f"ICNN: need n_in ≥ 1 and positive hidden sizes, got {n_in}, {hidden}")
        if first not in FIRST_ACTIVATIONS:
            raise KeyError(f"ICNN: unknown first-layer activation {first!r}; known: {sorted(FIRST_ACTIVATIONS)}")
        self.n_in, self.hidden, self.convex, self.first = int(n_in), hidden, bool(convex), first
        self.rank = int(rank) if rank is not None else int(n_in)
        self.W = nn.ModuleList([nn.Linear(n_in, h) for h in hidden])  # input skips, unconstrained
        # free parameters of the nonnegative hidden-to-hidden weights; softplus(−4) ≈ 0.018 at init
        # (the unconstrained ablation starts from the usual 1/√fan-in scale instead)
        def init(*shape: int) -> nn.Parameter:
            raw = -4.0 + 0.5 * torch.randn(*shape) if convex else torch.randn(*shape) / np.sqrt(shape[-1])
            return nn.Parameter(raw)

        self.U_raw = nn.ParameterList([init(b, a) for a, b in zip(hidden[:-1], hidden[1:])])
        self.u_raw = init(hidden[-1])
        self.A = nn.Parameter(torch.eye(self.rank, n_in) * 0.5 + 0.01 * torch.randn(self.rank, n_in))
        self.w = nn.Parameter(torch.zeros(n_in))
        self.c = nn.Parameter(torch.zeros(()))
        self.config = {"n_in": self.n_in, "hidden": hidden, "rank": self.rank, "convex": self.convex, "first": first}

    def _pos(self, raw: torch.Tensor) -> torch.Tensor:
        return F.softplus(raw) if self.convex else raw

    def _dact(self, a: torch.Tensor, layer: int) -> torch.Tensor:
        return FIRST_ACTIVATIONS[self.first][1](a) if layer == 0 else torch.sigmoid(a)

    def _forward(self, z: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if z.ndim != 2 or z.shape[1] != self.n_in:
            raise ValueError(f"ICNN: z must have shape (batch, {self.n_in}), got {tuple(z.shape)}")
        pre = []
        h = None
        for i, lin in enumerate(self.W):
            a = lin(z) if i == 0 else lin(z) + h @ self._pos(self.U_raw[i - 1]).T
            pre.append(a)
            h = FIRST_ACTIVATIONS[self.first][0](a) if i == 0 else F.softplus(a)
        Az = z @ self.A.T
        value = h @ self._pos(self.u_raw) + 0.5 * (Az * Az).sum(-1) + z @ self.w + self.c
        return value, pre

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """M_θ(z), shape ``(batch,)``."""
        return self._forward(z)[0]

    def grad(self, z: torch.Tensor) -> torch.Tensor:
        """∇M_θ(z), shape ``(batch, n_in)``."""
        return self.value_and_grad(z)[1]

    def value_and_grad(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(M_θ(z), ∇M_θ(z)): one forward sweep, then the backward sweep written out (σ' = sigmoid)."""
        value, pre = self._forward(z)
        L = len(pre) - 1
        delta = self._pos(self.u_raw) * self._dact(pre[L], L)  # ∂M/∂a_L
        g = delta @ self.W[L].weight
        for i in range(L - 1, -1, -1):
            delta = (delta @ self._pos(self.U_raw[i])) * self._dact(pre[i], i)  # ∂M/∂a_i
            g = g + delta @ self.W[i].weight
        return value, g + (z @ self.A.T) @ self.A + self.w


def init_l1_quadratic(net: ICNN, Q: np.ndarray, p: np.ndarray, lam: float, rho: float, *, rest: float = 1e-3) -> ICNN:
    """Start a one-hidden-layer "ramp" ICNN at the separable approximation of M_{1/ρ}f, f = ½xᵀQx + pᵀx + λ‖x‖₁.

    The prox satisfies x = B⁻¹(ρv − p − λs) with B = Q + ρI and s ∈ ∂‖x‖₁, so
    ∇M(v) = ρ(v − x) = (ρI − ρ²B⁻¹)v + ρB⁻¹p + ρλB⁻¹s(v). Treating B⁻¹ as diagonal in the equation for s gives
    s_i = 2 clip(a_i, 0, 1) − 1 with a_i = (w_i + τ_i)/(2τ_i), w = B⁻¹(ρv − p), τ_i = λ(B⁻¹)_ii: the derivative of
    the ramp activation. The quadratic skip ½‖Az‖² takes ρI − ρ²B⁻¹, the linear term ρB⁻¹(p − λ1), unit i
    (i < n) takes a_i with output weight 4λτ_i, the remaining units keep their random input weights and start
    with output weight ``rest``. Exact when Q is diagonal; otherwise training learns the coupling. In place.
    """
    Q, p = np.asarray(Q, dtype=float), np.asarray(p, dtype=float)
    n = net.n_in
    if net.first != "ramp" or len(net.hidden) != 1 or net.hidden[0] < n or net.rank != n or not net.convex:
        raise ValueError(f"init_l1_quadratic: needs a convex ICNN with one hidden layer of ≥ {n} 'ramp' units and "
                         f"full rank, got hidden={net.hidden}, first={net.first!r}, rank={net.rank}")
    if Q.shape != (n, n) or p.shape != (n,) or not lam > 0 or not rho > 0:
        raise ValueError(f"init_l1_quadratic: need Q ({n}, {n}), p ({n},), lam > 0, rho > 0")
    B_inv = np.linalg.inv(Q + rho * np.eye(n))
    tau = lam * np.diag(B_inv)
    u = np.full(net.hidden[0], float(rest))
    u[:n] = 4 * lam * tau
    as_t = lambda a: torch.as_tensor(a, dtype=net.A.dtype)  # noqa: E731
    with torch.no_grad():
        net.A.copy_(as_t(np.linalg.cholesky(rho * np.eye(n) - rho**2 * B_inv).T))
        net.w.copy_(as_t(rho * B_inv @ (p - lam * np.ones(n))))
        net.W[0].weight[:n] = as_t(rho * B_inv / (2 * tau[:, None]))
        net.W[0].bias[:n] = as_t((tau - B_inv @ p) / (2 * tau))
        net.u_raw.copy_(as_t(u + np.log(-np.expm1(-u))))  # softplus⁻¹, so that softplus(û) = u
    return net


def n_parameters(module: nn.Module) -> int:
    """Number of trainable scalars."""
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))


def mel_update(model: ICNN, rho: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The MEL-ADMM x-update v ↦ v − ∇M_θ(v)/ρ, as the ``x_update(v, xi)`` of :func:`l2o_lib.torch.admm.admm`.

    The envelope of a fixed f does not depend on ξ, so ``xi`` is accepted and ignored.
    """
    if not rho > 0:
        raise ValueError(f"mel_update: rho must be positive, got {rho!r}")

    def x_update(v: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        return v - model.grad(v) / rho

    return x_update


def from_config(config: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> ICNN:
    """Rebuild an :class:`ICNN` from a model card's config (``n_in``, ``hidden``, …), loading ``arrays`` if given.

    Returned in the card's dtype (float64 unless ``config["dtype"] == "float32"``) and in eval mode.
    """
    for key in ("n_in", "hidden"):
        if key not in config:
            raise KeyError(f"ICNN config lacks {key!r}")
    model = ICNN(config["n_in"], config["hidden"], rank=config.get("rank"), convex=config.get("convex", True),
                 first=config.get("first", "softplus"))
    model = model.to(torch.float32 if config.get("dtype", "float64") == "float32" else torch.float64)
    if arrays is not None:  # loaded after the cast, so float64 weights keep every digit
        from_arrays(model, arrays)
    return model.eval()


def schedule_predictor(stages: Sequence[tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], float, int]],
                       family: Any, *, dtype: torch.dtype = torch.float64) -> Callable[[np.ndarray], np.ndarray]:
    """Batched ξ ↦ z of ADMM on ``family`` from zero, run in stages ``[(x_update, ρ, iters), ...]``, no gradients.

    Each stage continues from the previous stage's (z, y) with its own x-update and penalty ρ (y is the unscaled
    dual, so it carries over unchanged when ρ changes). z is a projection onto C(ξ) (``family.project``) in every
    stage, so the answer is feasible.
    """
    from l2o_lib.torch.admm import admm

    require(family, Proximable, "schedule_predictor")
    stages = [(update, float(rho), int(iters)) for update, rho, iters in stages]
    if not stages:
        raise ValueError("schedule_predictor: need at least one stage")

    def run(xi_t: torch.Tensor) -> torch.Tensor:
        z = y = None
        for update, rho, iters in stages:
            res = admm(update, family.project, xi_t, rho, iters, z0=z, y0=y)
            z, y = res.z, res.y
        return z

    return numpy_predictor(run, dtype=str(dtype).removeprefix("torch."))


def admm_predictor(x_update: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], family: Any, rho: float, iters: int,
                   *, polish: int = 0, dtype: torch.dtype = torch.float64) -> Callable[[np.ndarray], np.ndarray]:
    """Batched ξ ↦ z^K of ADMM on ``family`` from zero with the given x-update (no gradients kept).

    ``polish`` > 0 continues from (z^K, y^K) with that many iterations of ADMM with the exact prox
    (``family.prox``): the learned steps do the bulk of the work, the exact ones remove their bias.
    One- or two-stage :func:`schedule_predictor`.
    """
    def exact(v: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        return family.prox(v, rho)

    stages = [(x_update, rho, iters)] + ([(exact, rho, polish)] if polish else [])
    return schedule_predictor(stages, family, dtype=dtype)


def load_leaf(family: Any, arrays: dict[str, np.ndarray], config: dict[str, Any]) -> Callable[[np.ndarray], np.ndarray]:
    """Pretrained-registry loader: ICNN envelopes of f inside MEL-ADMM on ``family`` (needs ``project`` and ``prox``).

    Either one envelope (``config`` has ``hidden``, ``rho``, ``iters`` and optionally ``polish``: that many
    exact-prox iterations after the learned ones), or ``config["stages"]``, a list of such dicts (``hidden``,
    ``first``, ``rho``, ``iters``) whose weights are stored under the prefix ``stage{i}.``: MEL-ADMM runs
    each stage in turn from where the previous one stopped (:func:`schedule_predictor`). Arrays under other
    prefixes (e.g. ``generic.``) are not used by the loader.
    """
    if "stages" in config:
        stages = []
        for i, stage in enumerate(config["stages"]):
            for key in ("hidden", "rho", "iters"):
                if key not in stage:
                    raise KeyError(f"load_leaf: stage {i} of the model card's config lacks {key!r}")
            model = from_config({"n_in": family.n_vars, "dtype": config.get("dtype", "float64"), **stage},
                                with_prefix(arrays, f"stage{i}."))
            stages.append((mel_update(model, float(stage["rho"])), float(stage["rho"]), int(stage["iters"])))
        return schedule_predictor(stages, family, dtype=next(model.parameters()).dtype)
    for key in ("hidden", "rho", "iters"):
        if key not in config:
            raise KeyError(f"load_leaf: the model card's config lacks {key!r}")
    model = from_config({"n_in": family.n_vars, **config}, arrays)
    rho = float(config["rho"])
    return admm_predictor(mel_update(model, rho), family, rho, int(config["iters"]),
                          polish=int(config.get("polish", 0)), dtype=next(model.parameters()).dtype)
