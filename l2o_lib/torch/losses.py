"""The two training losses of chapter 2, shared by later chapters.

* supervised:      (1/M) Σᵢ ‖π_θ(ξⁱ) − x*ⁱ‖²                                   (needs labels x*)
* self-supervised: (1/M) Σᵢ f(x̂ⁱ; ξⁱ) + λ_g ‖max(g(x̂ⁱ; ξⁱ) + δ, 0)‖² + λ_h ‖h(x̂ⁱ; ξⁱ)‖²   (needs only ξ;
  the margin δ ≥ 0, default 0, penalizes g > −δ: a tightened constraint, so small errors stay feasible)

Both return a dict of terms with key ``"loss"`` (the one minimized), the form ``train.fit`` logs.
"""

from __future__ import annotations

import torch

from l2o_lib.problems.base import ProblemFamily


def supervised_loss(x_hat: torch.Tensor, x_star: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean over the batch of ‖x̂ − x*‖² (the squared distance to the reference solution)."""
    if x_hat.shape != x_star.shape:
        raise ValueError(f"supervised_loss: prediction has shape {tuple(x_hat.shape)} but labels have "
                         f"{tuple(x_star.shape)}")
    if not torch.all(torch.isfinite(x_star)):
        raise ValueError("supervised_loss: labels contain NaN or inf (an unsolved instance left in the data?)")
    return {"loss": ((x_hat - x_star) ** 2).sum(dim=1).mean()}


def penalty_loss(family: ProblemFamily, x_hat: torch.Tensor, xi: torch.Tensor, *, lam_ineq: float,
                 lam_eq: float = 0.0, ineq_margin: float = 0.0) -> dict[str, torch.Tensor]:
    """Mean over the batch of f(x̂; ξ) + λ_g ‖g₊(x̂; ξ)‖² + λ_h ‖h(x̂; ξ)‖², with its three terms.

    The squared norms are sums over the constraints of one instance, then averaged over instances. With
    ``ineq_margin`` δ > 0 the inequality term penalizes max(g + δ, 0) instead: the map is asked for g ≤ −δ.
    """
    for label, lam in (("lam_ineq", lam_ineq), ("lam_eq", lam_eq), ("ineq_margin", ineq_margin)):
        if not (float(lam) >= 0.0) or lam == float("inf"):
            raise ValueError(f"penalty_loss: {label} must be a finite number ≥ 0, got {lam!r}")
    f = family.objective(x_hat, xi)
    g_plus = torch.relu(family.ineq_residual(x_hat, xi) + ineq_margin)
    h = family.eq_residual(x_hat, xi)
    ineq = (g_plus**2).sum(dim=1).mean()
    eq = (h**2).sum(dim=1).mean()
    return {"loss": f.mean() + lam_ineq * ineq + lam_eq * eq, "f": f.mean(), "‖g₊‖²": ineq, "‖h‖²": eq}


__all__ = ["penalty_loss", "supervised_loss"]
