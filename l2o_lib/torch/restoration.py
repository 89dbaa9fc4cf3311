"""Feasibility restoration x = F(x̂) in torch: DC3's equality completion and inequality correction,
and the NeuroMANCER DC3 model of chapter 4, with the loaders the pretrained registry rebuilds them with.

DC3 (Donti, Rolnick, Kolter 2021) for linear equalities A y = ξ:

* **completion**: a network predicts the free coordinates z = y_P; the others solve A_O y_O = ξ − A_P z,
  so y_O = A_O⁻¹ξ + M z with M = −A_O⁻¹A_P, and A y = ξ holds up to round-off;
* **correction**: K gradient steps on ½‖max(G y − h, 0)‖² taken in z (the chain rule through the
  completion, dy/dz = [I; M]), so that the equalities stay exact while the inequalities are repaired.

Both are differentiable, so the network is trained through them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from l2o_lib.predict import module_device, numpy_predictor
from l2o_lib.problems.base import ProblemFamily
from l2o_lib.problems.capabilities import LinearlyConstrained, require
from l2o_lib.torch.nets import MLP, Normalize, from_arrays

# ---------------------------------------------------------------------------- DC3 on linear equalities


class EqualityCompletion(nn.Module):
    """y = complete(z, ξ): put z in the coordinates ``partial``, solve A y = ξ for the others."""

    def __init__(self, A: np.ndarray, partial: Sequence[int], dtype: torch.dtype = torch.float64):
        super().__init__()
        A = np.asarray(A, dtype=float)
        n_eq, n = A.shape
        partial = np.asarray(partial, dtype=int)
        other = np.setdiff1d(np.arange(n), partial)
        if len(other) != n_eq:
            raise ValueError(f"EqualityCompletion: {len(partial)} predicted coordinates leave {len(other)} to "
                             f"complete, but A has {n_eq} rows; they must match")
        A_o_inv = np.linalg.inv(A[:, other])
        order = np.argsort(np.concatenate([partial, other]))  # [z, y_O][:, order] = y
        self.n_vars, self.n_eq, self.n_partial = n, n_eq, len(partial)
        self.register_buffer("A_o_inv", torch.as_tensor(A_o_inv, dtype=dtype), persistent=False)
        self.register_buffer("M", torch.as_tensor(-A_o_inv @ A[:, partial], dtype=dtype), persistent=False)
        self.register_buffer("order", torch.as_tensor(order, dtype=torch.long), persistent=False)
        self.register_buffer("partial", torch.as_tensor(partial, dtype=torch.long), persistent=False)
        self.register_buffer("other", torch.as_tensor(other, dtype=torch.long), persistent=False)

    def forward(self, z: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        y_o = xi @ self.A_o_inv.T + z @ self.M.T
        return torch.cat([z, y_o], dim=1)[:, self.order]

    def pullback(self, grad_y: torch.Tensor) -> torch.Tensor:
        """The gradient in z of a function of y = complete(z, ξ): (dy/dz)ᵀ ∇_y = ∇_P + Mᵀ ∇_O."""
        return grad_y[:, self.partial] + grad_y[:, self.other] @ self.M


class NullSpaceCompletion(nn.Module):
    """y = A⁺ξ + N z with N an orthonormal basis of null(A): A y = ξ for every z, and z ↦ y is an isometry."""

    def __init__(self, A: np.ndarray, dtype: torch.dtype = torch.float64):
        super().__init__()
        A = np.asarray(A, dtype=float)
        n_eq, n = A.shape
        _, s, vt = np.linalg.svd(A)
        if s[-1] < 1e-12 * s[0]:
            raise ValueError("NullSpaceCompletion: A must have full row rank")
        self.n_vars, self.n_eq, self.n_partial = n, n_eq, n - n_eq
        self.register_buffer("A_pinv", torch.as_tensor(np.linalg.pinv(A), dtype=dtype), persistent=False)
        self.register_buffer("N", torch.as_tensor(vt[n_eq:].T, dtype=dtype), persistent=False)

    def forward(self, z: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        return xi @ self.A_pinv.T + z @ self.N.T

    def pullback(self, grad_y: torch.Tensor) -> torch.Tensor:
        """(dy/dz)ᵀ ∇_y = Nᵀ ∇_y."""
        return grad_y @ self.N


def dc3_correct(z: torch.Tensor, xi: torch.Tensor, complete: EqualityCompletion | NullSpaceCompletion, G: torch.Tensor,
                h: torch.Tensor, steps: int, step_size: float, momentum: float = 0.5,
                trace: list[torch.Tensor] | None = None) -> torch.Tensor:
    """DC3's inequality correction: ``steps`` momentum gradient steps on ½‖max(G y − h, 0)‖² in z.

    Returns the completed, corrected y; with ``trace`` a list, appends y after every step (y⁰ first).
    """
    if steps < 0 or step_size < 0:
        raise ValueError(f"dc3_correct: need steps ≥ 0 and step_size ≥ 0, got {steps}, {step_size}")
    y = complete(z, xi)
    velocity = torch.zeros_like(z)
    if trace is not None:
        trace.append(y)
    for _ in range(steps):
        grad_y = torch.relu(y @ G.T - h) @ G  # ∇_y ½‖max(Gy − h, 0)‖²
        velocity = momentum * velocity + step_size * complete.pullback(grad_y)
        z = z - velocity
        y = complete(z, xi)
        if trace is not None:
            trace.append(y)
    return y


class DC3Net(nn.Module):
    """DC3 for a linearly constrained family with equalities A y = ξ and fixed inequalities G y ≤ h (the DC3 QP).

    ``mode``: ``"penalty"`` (the net predicts all of y), ``"completion"`` (predict z, complete), or
    ``"dc3"`` (complete, then ``steps`` correction steps of size ``step_size``). ``completion``:
    ``"split"`` (DC3's: predict the first n − n_eq coordinates) or ``"nullspace"`` (y = A⁺ξ + N z).
    """

    MODES = ("penalty", "completion", "dc3")

    def __init__(self, family: ProblemFamily, mode: str = "dc3", hidden: Sequence[int] = (200, 200),
                 activation: str = "relu", steps: int = 10, step_size: float = 1e-3, momentum: float = 0.5,
                 completion: str = "split"):
        super().__init__()
        if mode not in self.MODES:
            raise KeyError(f"unknown DC3Net mode {mode!r}; known: {list(self.MODES)}")
        require(family, LinearlyConstrained, "DC3Net")
        sf = family.standard_form()
        m = family.n_params
        if not (np.array_equal(sf.b0, np.zeros(sf.A.shape[0])) and np.array_equal(sf.B, np.eye(m)) and not sf.H.any()):
            raise ValueError(f"DC3Net completes A y = ξ with fixed G y ≤ h; {family.name}'s standard form has "
                             "b(ξ) ≠ ξ or an h that depends on ξ")
        if completion not in ("split", "nullspace"):
            raise KeyError(f"unknown completion {completion!r}; known: ['split', 'nullspace']")
        partial = np.arange(family.n_vars - sf.A.shape[0])  # DC3's split: the first n − n_eq are predicted
        self.mode, self.steps, self.step_size, self.momentum = mode, int(steps), float(step_size), float(momentum)
        n_out = family.n_vars if mode == "penalty" else len(partial)
        self.normalize = Normalize(family.param_low, family.param_high)
        self.mlp = MLP(family.n_params, n_out, hidden, activation)
        self.complete = (EqualityCompletion(sf.A, partial) if completion == "split" else NullSpaceCompletion(sf.A))
        self.register_buffer("G", torch.tensor(sf.G, dtype=torch.float64), persistent=False)
        self.register_buffer("h", torch.tensor(sf.h0, dtype=torch.float64), persistent=False)
        self.config = {"mode": mode, "hidden": list(map(int, hidden)), "activation": activation,
                       "steps": self.steps, "step_size": self.step_size, "momentum": self.momentum,
                       "completion": completion}

    def forward(self, xi: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        out = self.mlp(self.normalize(xi))
        if self.mode == "penalty":
            return out
        k = self.steps if steps is None else int(steps)
        if self.mode == "completion":
            k = 0 if steps is None else k
        return dc3_correct(out, xi, self.complete, self.G, self.h, k, self.step_size, self.momentum)


def load_dc3_qp(family: ProblemFamily, arrays: dict[str, np.ndarray], config: dict[str, Any]
                ) -> Callable[[np.ndarray], np.ndarray]:
    """Pretrained-registry loader for :class:`DC3Net` (float64, CPU, test-time steps from the card)."""
    model = DC3Net(family, config["mode"], config["hidden"], config["activation"], config["steps"],
                   config["step_size"], config["momentum"], config.get("completion", "split")).double()
    from_arrays(model, arrays)
    steps = config.get("test_steps", config["steps"])
    return numpy_predictor(lambda xi: model(xi, steps=steps))


# ---------------------------------------------------------------------------- DC3 in NeuroMANCER (2-D problem)


def nm_dc3_nonconvex_2d(hidden: Sequence[int] = (80, 80, 80, 80), steps: int = 5, step_size: float = 0.05,
                        decay: float = 0.1, penalty: float = 10.0) -> Any:
    """The NeuroMANCER DC3 model of the 2-D nonconvex problem: MLP map, GradientProjection, penalty loss.

    Returns the ``neuromancer.problem.Problem``; its nodes are ``[map, correction]`` where ``map`` reads
    ``p`` and ``a`` and writes ``x``, and ``correction`` takes ``steps`` gradient steps on the mean
    inequality violation (step ``step_size``, shrunk by a factor ``1 − decay`` after each step).
    """
    from l2o_lib.torch.nm import neuromancer as nm

    variable, Node = nm.constraint.variable, nm.system.Node
    net = nm.modules.blocks.MLP(insize=2, outsize=2, bias=True, linear_map=nm.slim.maps["linear"],
                                nonlin=nn.ReLU, hsizes=list(map(int, hidden)))
    solution_map = Node(net, ["p", "a"], ["x"], name="map")
    p, a, x = variable("p"), variable("a"), variable("x")
    x1, x2 = x[:, [0]], x[:, [1]]
    f = (1 - x1) ** 2 + a * (x2 - x1**2) ** 2
    objective = f.minimize(weight=1.0, name="f")
    inner = penalty * (x1**2 + x2**2 >= (p / 2) ** 2)
    outer = penalty * (x1**2 + x2**2 <= p**2)
    half = penalty * (x1 >= x2)
    for con, name in ((inner, "inner"), (outer, "outer"), (half, "half_plane")):
        con.name = name
    correction = nm.modules.solvers.GradientProjection([inner, outer, half], input_keys=["x"], num_steps=steps,
                                                       step_size=step_size, decay=decay, name="correction")
    loss = nm.loss.PenaltyLoss([objective], [inner, outer, half])
    return nm.problem.Problem([solution_map, correction], loss, grad_inference=True)


def nm_predict(problem: Any, xi: np.ndarray, steps: int | None = None, trace: bool = False) -> np.ndarray:
    """x = F(π_θ(ξ)) from the NeuroMANCER DC3 model, with ``steps`` correction steps (default: as trained).

    With ``trace=True`` returns all iterates, shape ``(steps + 1, batch, 2)``: x⁰ = π_θ(ξ), then each step.
    """
    xi = np.asarray(xi, dtype=float)
    if xi.ndim != 2 or xi.shape[1] != 2:
        raise ValueError(f"nm_predict: ξ must have shape (batch, 2) for (p, a), got {xi.shape}")
    solution_map, correction = problem.nodes[0], problem.nodes[1]
    k_trained = correction.num_steps
    k = k_trained if steps is None else int(steps)
    if k < 0:
        raise ValueError(f"nm_predict: steps must be ≥ 0, got {k}")
    xi_t = torch.as_tensor(xi, dtype=torch.float32, device=module_device(problem) or "cpu")
    data = {"p": xi_t[:, :1], "a": xi_t[:, 1:]}
    out = []
    try:
        with torch.enable_grad():
            data = {**data, **solution_map(data)}
            out.append(data["x"].detach())
            for kk in range(1, k + 1) if trace else [k]:
                correction.num_steps = kk
                out.append(correction(dict(data))["x"].detach())
    finally:
        correction.num_steps = k_trained
    xs = torch.stack(out).cpu().numpy().astype(float)
    return xs if trace else xs[-1]


def load_dc3_nonconvex_2d(family: ProblemFamily, arrays: dict[str, np.ndarray], config: dict[str, Any]
                          ) -> Callable[[np.ndarray], np.ndarray]:
    """Pretrained-registry loader for :func:`nm_dc3_nonconvex_2d` (test-time steps from the card)."""
    problem = nm_dc3_nonconvex_2d(config["hidden"], config["steps"], config["step_size"], config["decay"],
                                  config["penalty"])
    from_arrays(problem, arrays)
    steps = config.get("test_steps", config["steps"])
    return lambda xi: nm_predict(problem, xi, steps)
