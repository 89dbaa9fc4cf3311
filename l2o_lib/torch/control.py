"""Learned controllers for linear MPC (chapter 9): approximate MPC (imitation) and DPC in NeuroMANCER.

Both are explicit policies. Their registry ``predict`` returns a full MPC decision vector
(u₀ … u_{N−1}, x₁ … x_N) whose states are the model's rollout of the predicted inputs, so the dynamics hold
exactly and the scorecard can score them as solutions of the MPC problem; a controller applies u₀
(``family.first_input``).

- :class:`PlanNet`: an MLP x₀ ↦ (u₀ … u_{N−1}), trained on solver labels (approximate MPC).
- :func:`nm_dpc`: NeuroMANCER's differentiable predictive control: a policy node u = π(x) and the model
  node x⁺ = A x + B u in a ``System`` rolled out over the horizon, trained on the MPC cost plus penalties
  on the state and input bounds (the structure of NeuroMANCER's DPC double-integrator example).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from l2o_lib.predict import Loaded, module_device, numpy_predictor
from l2o_lib.problems.capabilities import LinearMPCForm
from l2o_lib.torch.nets import MLP, from_arrays


def rollout(family: LinearMPCForm, x0: torch.Tensor, U: torch.Tensor) -> torch.Tensor:
    """The decision vector (U, x₁ … x_N) of inputs U (batch, N·nu) applied to the model from x0 (batch, nx)."""
    x, xs = x0, []
    for k in range(family.horizon):
        x = family.next_state(x, U[:, k * family.nu:(k + 1) * family.nu])
        xs.append(x)
    return torch.cat([U, *xs], dim=1)


class PlanNet(nn.Module):
    """Approximate MPC: x₀ (scaled by the state bound) ↦ the N inputs of the MPC plan."""

    def __init__(self, family: LinearMPCForm, hidden: Sequence[int] = (64, 64, 64)):
        super().__init__()
        self.family = family
        self.config = {"hidden": [int(h) for h in hidden]}
        self.register_buffer("scale", torch.as_tensor(np.asarray(family.x_max, dtype=np.float32)))
        self.mlp = MLP(family.nx, family.horizon * family.nu, hidden)

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        return self.mlp(x0 / self.scale)


def nm_dpc(family: LinearMPCForm, hidden: Sequence[int] = (20, 20, 20, 20), *, state_penalty: float = 10.0,
           input_penalty: float = 50.0) -> Any:
    """The DPC problem in NeuroMANCER: policy and model nodes in a ``System`` over the MPC horizon.

    The policy is u = u_max tanh(MLP(x / x_max)). Loss = the MPC cost of the rolled-out trajectory
    (Σ x_kᵀQx_k + u_kᵀRu_k + x_NᵀPx_N, averaged over the batch and divided by N) + ``state_penalty`` · the
    mean violation of the state bounds + ``input_penalty`` · the mean violation of the input bounds
    (NeuroMANCER's ``PenaltyLoss``; zero here, kept as in the example). The data dictionary holds ``"X"``:
    initial states of shape (batch, 1, nx).
    """
    from l2o_lib.torch.nm import neuromancer as nm

    Node, System, variable = nm.system.Node, nm.system.System, nm.constraint.variable
    scale = torch.as_tensor(np.asarray(family.x_max, dtype=np.float32))
    net = nm.modules.blocks.MLP(insize=family.nx, outsize=family.nu, bias=True, linear_map=nm.slim.maps["linear"],
                                nonlin=nn.ReLU, hsizes=[int(h) for h in hidden])
    u_max = float(family.u_max[0])
    # u = u_max tanh(net): the input bound holds by construction (NeuroMANCER's example penalizes it instead)
    policy = Node(lambda x: u_max * torch.tanh(net(x / scale)), ["X"], ["U"], name="policy")
    policy.net = net  # registered as a submodule, so its weights are the problem's parameters
    model = Node(family.next_state, ["X", "U"], ["X"], name="model")
    system = System([policy, model], nsteps=family.horizon, name="closed_loop")

    def mpc_cost(X: torch.Tensor, U: torch.Tensor) -> torch.Tensor:
        stage = family.stage_cost(X[:, :-1], U).sum(dim=1)
        return ((stage + family.terminal_cost(X[:, -1])) / family.horizon)[:, None]

    cost_node = Node(mpc_cost, ["X", "U"], ["J"], name="cost")
    x, u, J = variable("X"), variable("U"), variable("J")
    objective = J.minimize(weight=1.0, name="mpc_cost")
    x_max = float(family.x_max[0])
    bounds = [state_penalty * (x <= x_max), state_penalty * (x >= -x_max),
              input_penalty * (u <= u_max), input_penalty * (u >= -u_max)]
    for con, name in zip(bounds, ("x_max", "x_min", "u_max", "u_min")):
        con.name = name
    loss = nm.loss.PenaltyLoss([objective], bounds)
    return nm.problem.Problem([system, cost_node], loss)


def dpc_policy(problem: Any) -> nn.Module:
    """The policy network u = π(x) of an :func:`nm_dpc` problem (inputs scaled inside)."""
    return problem.nodes[0].nodes[0]


def policy_function(module: Callable[[Any], Any], *, first_only: bool = False) -> Callable[[np.ndarray], np.ndarray]:
    """numpy (batch, nx) -> numpy inputs, without autograd; ``first_only`` keeps u₀ of a plan.

    ``module`` is a torch module on states, or a NeuroMANCER node reading ``"X"`` and writing ``"U"``.
    """
    takes_dict = "X" in getattr(module, "input_keys", ())
    device = module_device(module) or "cpu"

    def policy(x: np.ndarray) -> np.ndarray:
        t = torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)
        with torch.no_grad():
            out = module({"X": t})["U"] if takes_dict else module(t)
        return (out[:, :1] if first_only else out).cpu().numpy().astype(float)

    return policy


def dpc_plan(family: LinearMPCForm, policy: nn.Module, x0: np.ndarray) -> np.ndarray:
    """The DPC decision vector: the policy rolled out through the model over the horizon (batch, n_vars)."""
    device = module_device(policy) or "cpu"
    with torch.no_grad():
        x = torch.as_tensor(np.asarray(x0, dtype=np.float32), device=device)
        us, xs = [], []
        for _ in range(family.horizon):
            u = policy({"X": x})["U"]
            x = family.next_state(x, u)
            us.append(u)
            xs.append(x)
    return torch.cat([*us, *xs], dim=1).cpu().numpy().astype(float)


def load_approx_mpc(family: LinearMPCForm, arrays: dict[str, np.ndarray], config: dict[str, Any]) -> Loaded:
    """Pretrained-registry loader of a :class:`PlanNet`: ξ = x₀ ↦ the rolled-out plan (batch, n_vars)."""
    net = from_arrays(PlanNet(family, config["hidden"]), arrays).eval()
    predict = numpy_predictor(lambda x0: rollout(family, x0, net(x0)), dtype="float32", device=module_device(net))
    return Loaded(predict=predict, module=net)


def load_dpc(family: LinearMPCForm, arrays: dict[str, np.ndarray], config: dict[str, Any]) -> Loaded:
    """Pretrained-registry loader of an :func:`nm_dpc` policy: ξ = x₀ ↦ its rollout over the horizon."""
    problem = from_arrays(nm_dpc(family, config["hidden"], state_penalty=config["state_penalty"],
                                 input_penalty=config["input_penalty"]), arrays)
    policy = dpc_policy(problem)

    def predict(xi: np.ndarray) -> np.ndarray:
        return dpc_plan(family, policy, xi)

    return Loaded(predict=predict, module=policy, parts={"problem": problem})
