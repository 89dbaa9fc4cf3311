"""Input-convex networks for LEAF (Chapter 6): a scalar convex surrogate of a Moreau envelope and its gradient.

The network is convex in its input z because every hidden-to-hidden weight is nonnegative (a softplus
of a free parameter), every activation (softplus) is convex and nondecreasing, the input enters every
layer through unconstrained skip weights (affine in z, hence convex), and the output adds a convex
quadratic ½‖Az‖² and an affine term. The gradient is written out by hand (:meth:`ICNN.grad`): one
forward and one backward sweep, differentiable by autograd so that training can match gradients.

MEL-ADMM is :func:`l2o_lib.torch.admm.admm` (the loop Chapter 5 unrolls) with the x-update
:func:`mel_update`, v ↦ v − ∇M_θ(v)/ρ; :func:`admm_predictor` wraps a run as a batched ξ ↦ x predictor.
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
        model.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in arrays.items()}, strict=True)
    return model.eval()


def admm_predictor(x_update: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], family: Any, rho: float, iters: int,
                   *, polish: int = 0, dtype: torch.dtype = torch.float64) -> Callable[[np.ndarray], np.ndarray]:
    """Batched ξ ↦ z^K of ADMM on ``family`` from zero with the given x-update (no gradients kept).

    ``polish`` > 0 continues from (z^K, y^K) with that many iterations of ADMM with the exact prox
    (``family.prox``): the learned steps do the bulk of the work, the exact ones remove their bias.
    z is a projection onto C(ξ) (``family.project``) either way, so the answer is feasible.
    """
    from l2o_lib.torch.admm import admm

    def exact(v: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        return family.prox(v, rho)

    def predict(xi: np.ndarray) -> np.ndarray:
        xi_t = torch.as_tensor(np.asarray(xi), dtype=dtype)
        with torch.no_grad():
            res = admm(x_update, family.project, xi_t, rho, iters)
            if polish:
                res = admm(exact, family.project, xi_t, rho, polish, z0=res.z, y0=res.y)
        return res.z.numpy().astype(float)

    return predict


def load_leaf(family: Any, arrays: dict[str, np.ndarray], config: dict[str, Any]) -> Callable[[np.ndarray], np.ndarray]:
    """Pretrained-registry loader: the ICNN envelope inside MEL-ADMM on ``family`` (needs ``project`` and ``prox``).

    ``config["iters"]`` MEL-ADMM iterations from zero, then ``config.get("polish", 0)`` iterations of ADMM
    with the exact prox from where MEL-ADMM stopped (:func:`admm_predictor`).
    """
    for key in ("hidden", "rho", "iters"):
        if key not in config:
            raise KeyError(f"load_leaf: the model card's config lacks {key!r}")
    model = from_config({"n_in": family.n_vars, **config}, arrays)
    rho = float(config["rho"])
    return admm_predictor(mel_update(model, rho), family, rho, int(config["iters"]),
                          polish=int(config.get("polish", 0)), dtype=next(model.parameters()).dtype)
