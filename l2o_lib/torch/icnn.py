"""Input-convex networks for LEAF (Chapter 6): a scalar convex surrogate of a Moreau envelope and its gradient.

The network is convex in its input z because every hidden-to-hidden weight is nonnegative (a softplus
of a free parameter), every activation (softplus) is convex and nondecreasing, the input enters every
layer through unconstrained skip weights (affine in z, hence convex), and the output adds a convex
quadratic ½‖Az‖² and an affine term. The gradient is written out by hand (:meth:`ICNN.grad`): one
forward and one backward sweep, differentiable by autograd so that training can match gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def _half_softplus_sq(a: torch.Tensor) -> torch.Tensor:
    return 0.5 * F.softplus(a) ** 2


def _d_half_softplus_sq(a: torch.Tensor) -> torch.Tensor:
    return F.softplus(a) * torch.sigmoid(a)


#: first-layer activations (value, derivative); both convex and nondecreasing. ½softplus² has a smoothed
#: ramp as derivative, so sums of them make the piecewise-linear gradients that envelopes of ℓ1 terms have.
FIRST_ACTIVATIONS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]] = {
    "softplus": (F.softplus, torch.sigmoid),
    "softplus2": (_half_softplus_sq, _d_half_softplus_sq),
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


def n_parameters(module: nn.Module) -> int:
    """Number of trainable scalars."""
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))


def admm(x_update: Callable[[torch.Tensor], torch.Tensor], project: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
         xi: torch.Tensor, rho: float, iters: int, *, z0: torch.Tensor | None = None, y0: torch.Tensor | None = None,
         trace: bool = False) -> Any:
    """ADMM for min f(x) s.t. x ∈ C(ξ), with the x-update v ↦ argmin f(x) + ρ/2‖x − v‖² given as ``x_update``.

    Exact prox: ``x_update = prox``; MEL-ADMM (LEAF): ``x_update = lambda v: v - grad_M(v) / rho``.
    Starts from (z0, y0) (zeros by default). Returns (z^K, y^K), z^K in C(ξ) by construction; with
    ``trace`` also the list of every z^k.
    """
    z = torch.zeros_like(xi) if z0 is None else z0
    y = torch.zeros_like(xi) if y0 is None else y0
    zs = [z]
    for _ in range(iters):
        x = x_update(z + y / rho)
        z = project(x - y / rho, xi)
        y = y + rho * (z - x)
        if trace:
            zs.append(z)
    return (z, y, zs) if trace else (z, y)


def load_leaf(family: Any, arrays: dict[str, np.ndarray], config: dict[str, Any]) -> Callable[[np.ndarray], np.ndarray]:
    """Pretrained-registry loader: the ICNN envelope inside MEL-ADMM on ``family`` (needs ``family.project``)."""
    for key in ("hidden", "rho", "iters"):
        if key not in config:
            raise KeyError(f"load_leaf: the model card's config lacks {key!r}")
    model = ICNN(family.n_vars, config["hidden"], rank=config.get("rank"), convex=config.get("convex", True),
                 first=config.get("first", "softplus"))
    state = {k: torch.as_tensor(np.asarray(v)) for k, v in arrays.items()}
    model.load_state_dict(state, strict=True)
    dtype = torch.float64 if config.get("dtype", "float64") == "float64" else torch.float32
    model = model.to(dtype).eval()
    rho, iters = float(config["rho"]), int(config["iters"])

    def predict(xi: np.ndarray) -> np.ndarray:
        xi_t = torch.as_tensor(np.asarray(xi), dtype=dtype)
        with torch.no_grad():
            z, _ = admm(lambda v: v - model.grad(v) / rho, family.project, xi_t, rho, iters)
        return z.numpy().astype(float)

    return predict
