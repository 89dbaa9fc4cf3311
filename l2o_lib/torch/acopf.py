"""Learned AC-OPF (chapter 10): a network predicts the power-flow set points, a power flow completes the rest.

* :class:`SetpointNet`: ξ ↦ z, the independent variables of an
  :class:`~l2o_lib.problems.capabilities.EqualityCompletable` family (for AC-OPF: Pg at the non-reference
  generators and Vm at the generator buses), squashed into their bounds;
* :class:`CompletedOPF`: the deployed pipeline, x = correct(complete(z, ξ)): the completion is
  :class:`~l2o_lib.torch.restoration.ImplicitCompletion` (a Newton power flow), the correction DC3's gradient
  steps or Gauss–Newton steps on the violated inequalities (:mod:`l2o_lib.torch.restoration`);
* :class:`PenaltyNet`: ξ ↦ all of x, trained on objective plus penalties (no completion: the baseline whose
  power-flow equations are only approximately met);
* :class:`MultiplierNet`: ξ ↦ IPOPT's multipliers (of the power-flow equations and of the bounds), the dual half of
  a primal-dual warm start;
* the registry loader :func:`load_completed_opf`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from l2o_lib.predict import numpy_predictor
from l2o_lib.problems.base import ProblemFamily
from l2o_lib.problems.capabilities import EqualityCompletable, InequalityJacobian, require
from l2o_lib.torch.nets import MLP, Normalize, from_arrays
from l2o_lib.torch.restoration import ImplicitCompletion, dc3_correct, newton_correct

SQUASH = ("sigmoid", "clamp")
CORRECTIONS = ("none", "gradient", "newton")


def _box(family: ProblemFamily, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    low, high = family.variable_bounds()
    low, high = low[columns], high[columns]
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        raise ValueError(f"{family.name}: the predicted variables need finite bounds to squash into")
    return low, high


class SetpointNet(nn.Module):
    """z = low + (high − low) · s(u), u = MLP(normalized ξ): the independent variables inside their box.

    ``squash``: ``"sigmoid"`` (smooth, DC3's) or ``"clamp"`` (u clipped to [0, 1]: reaches the bounds exactly;
    supervised training fits u itself, see :meth:`unit_target`).
    """

    def __init__(self, family: ProblemFamily, hidden: Sequence[int] = (256, 256), activation: str = "relu",
                 squash: str = "clamp"):
        super().__init__()
        require(family, EqualityCompletable, "SetpointNet")
        if squash not in SQUASH:
            raise KeyError(f"unknown squash {squash!r}; known: {list(SQUASH)}")
        partial, _ = family.completion_split()
        low, high = _box(family, partial)
        self.squash = squash
        self.normalize = Normalize(family.param_low, family.param_high)
        self.mlp = MLP(family.n_params, len(partial), hidden, activation)
        self.register_buffer("low", torch.as_tensor(low, dtype=torch.float64), persistent=False)
        self.register_buffer("width", torch.as_tensor(high - low, dtype=torch.float64), persistent=False)
        self.config = {"hidden": list(map(int, hidden)), "activation": activation, "squash": squash}

    def unit(self, xi: torch.Tensor) -> torch.Tensor:
        """u, the network's raw output: 0 and 1 are the lower and upper bounds."""
        return self.mlp(self.normalize(xi))

    def unit_target(self, z: torch.Tensor) -> torch.Tensor:
        """The u of given set points z (the supervised target)."""
        return (z - self.low.to(z.dtype)) / self.width.to(z.dtype)

    def forward(self, xi: torch.Tensor) -> torch.Tensor:
        u = self.unit(xi)
        s = torch.sigmoid(u) if self.squash == "sigmoid" else u.clamp(0.0, 1.0)
        return self.low.to(u.dtype) + self.width.to(u.dtype) * s


class CompletedOPF(nn.Module):
    """x = correct(complete(net(ξ), ξ)): set points from the network, the rest from the power flow.

    ``correction``: ``"none"``, ``"gradient"`` (DC3: ``steps`` momentum steps of ``step_size``) or ``"newton"``
    (Gauss–Newton steps on the violated inequalities, aiming at g ≤ −``margin``; with ``exact_sensitivity=False``
    the power flow's sensitivity dy/dz at the reference point stands in for the one at each instance). With
    ``hold_limits`` the power flow first holds the generators that it pushes beyond their reactive limits at the
    limit and frees their bus voltages (:meth:`ImplicitCompletion.hold`, a power-flow program's PV-PQ switching),
    and the correction starts from there.
    """

    def __init__(self, family: ProblemFamily, net: SetpointNet, *, reference: tuple[np.ndarray, np.ndarray],
                 correction: str = "newton", steps: int = 4, step_size: float = 1e-3, momentum: float = 0.5,
                 margin: float = 1e-6, exact_sensitivity: bool = True, hold_limits: bool = False):
        super().__init__()
        if correction not in CORRECTIONS:
            raise KeyError(f"unknown correction {correction!r}; known: {list(CORRECTIONS)}")
        self.family, self.net = family, net
        self.complete = ImplicitCompletion(family, reference=reference)
        self.correction, self.steps, self.step_size = correction, int(steps), float(step_size)
        self.momentum, self.margin, self.exact_sensitivity = float(momentum), float(margin), bool(exact_sensitivity)
        self.ineq_jac = family.ineq_jacobian if isinstance(family, InequalityJacobian) else None
        self.hold_limits = bool(hold_limits)

    def ineq(self, y: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        return self.family.ineq_residual(y, xi)

    def forward(self, xi: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        z = self.net(xi)
        k = self.steps if steps is None else int(steps)
        y = None
        if self.hold_limits:
            y = self.complete.hold(self.complete(z, xi), xi, margin=self.margin)
            z = y[:, self.complete.partial]
        if self.correction == "none" or k == 0:
            return self.complete(z, xi) if y is None else y
        if self.correction == "gradient":
            return dc3_correct(z, xi, self.complete, steps=k, step_size=self.step_size, momentum=self.momentum,
                               ineq=self.ineq)
        return newton_correct(z, xi, self.complete, self.ineq, steps=k, margin=self.margin,
                              exact_sensitivity=self.exact_sensitivity, ineq_jac=self.ineq_jac, start=y)


class PenaltyNet(nn.Module):
    """x̂ = MLP(normalized ξ): every variable predicted, the power-flow equations only penalized."""

    def __init__(self, family: ProblemFamily, hidden: Sequence[int] = (256, 256), activation: str = "relu"):
        super().__init__()
        low, high = family.variable_bounds()
        boxed = np.isfinite(low) & np.isfinite(high)
        center = np.where(boxed, (np.where(boxed, low, 0.0) + np.where(boxed, high, 0.0)) / 2, 0.0)
        scale = np.where(boxed, (np.where(boxed, high, 1.0) - np.where(boxed, low, -1.0)) / 2, 1.0)
        self.normalize = Normalize(family.param_low, family.param_high)
        self.mlp = MLP(family.n_params, family.n_vars, hidden, activation)
        self.register_buffer("center", torch.as_tensor(center, dtype=torch.float64), persistent=False)
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float64), persistent=False)
        self.config = {"hidden": list(map(int, hidden)), "activation": activation}

    def forward(self, xi: torch.Tensor) -> torch.Tensor:
        u = self.mlp(self.normalize(xi))
        return self.center.to(u.dtype) + self.scale.to(u.dtype) * u


class MultiplierNet(nn.Module):
    """(λ_g, λ_x) = IPOPT's multipliers of the power-flow equations and of the variable bounds, predicted from ξ.

    The multipliers span many orders of magnitude (on case57 a binding voltage limit's reaches 10⁷, a generator
    limit's 10⁵, an inactive bound's is 0), so the network predicts them in a signed-log space: λ = sign(o)(e^{|o|} − 1)
    with o = mean + std · MLP(normalized ξ), ``mean`` and ``std`` those of the training labels in that space
    (:meth:`fit_scaling`, stored with the weights). :meth:`standardized` and :meth:`targets` give the two sides of
    the training loss.
    """

    def __init__(self, family: ProblemFamily, hidden: Sequence[int] = (256, 256), activation: str = "tanh"):
        super().__init__()
        lam_g, lam_x = family.multipliers(family.flat_start(), family.nominal())  # only the sizes are used
        self.n_g, self.n_x = len(lam_g), len(lam_x)
        n = self.n_g + self.n_x
        self.normalize = Normalize(family.param_low, family.param_high)
        self.mlp = MLP(family.n_params, n, hidden, activation)
        self.register_buffer("mean", torch.zeros(n, dtype=torch.float64))
        self.register_buffer("std", torch.ones(n, dtype=torch.float64))
        self.config = {"hidden": list(map(int, hidden)), "activation": activation, "output": "signed-log"}

    @staticmethod
    def _log(lam: torch.Tensor) -> torch.Tensor:
        return torch.sign(lam) * torch.log1p(lam.abs())

    def fit_scaling(self, lam_g: torch.Tensor, lam_x: torch.Tensor) -> MultiplierNet:
        """Set ``mean`` and ``std`` from training labels (rows of λ_g and λ_x); returns the network."""
        o = self._log(torch.cat([torch.as_tensor(lam_g), torch.as_tensor(lam_x)], dim=1).to(self.mean.dtype))
        self.mean.copy_(o.mean(0))
        self.std.copy_(o.std(0).clamp_min(1e-6))
        return self

    def targets(self, lam_g: torch.Tensor, lam_x: torch.Tensor) -> torch.Tensor:
        """Labels in the space the MLP's output is fitted in."""
        o = self._log(torch.cat([lam_g, lam_x], dim=1))
        return (o - self.mean.to(o.dtype)) / self.std.to(o.dtype)

    def standardized(self, xi: torch.Tensor) -> torch.Tensor:
        """The MLP's output: the multipliers in the standardized signed-log space."""
        return self.mlp(self.normalize(xi))

    def forward(self, xi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u = self.standardized(xi)
        o = self.mean.to(u.dtype) + self.std.to(u.dtype) * u
        lam = torch.sign(o) * torch.expm1(o.abs())
        return lam[:, :self.n_g], lam[:, self.n_g:]


def nominal_reference(family: ProblemFamily) -> tuple[np.ndarray, np.ndarray]:
    """(x*, ξ) of the family's nominal instance, solved by the reference: the chord point of the completion."""
    xi = family.nominal()
    run = family.ipopt(xi[0])
    if not run.ok:
        raise ValueError(f"{family.name}: the reference did not solve the nominal instance ({run.status})")
    return run.x, xi[0]


def load_completed_opf(family: ProblemFamily, arrays: dict[str, np.ndarray], config: dict[str, Any]
                       ) -> Callable[[np.ndarray], np.ndarray]:
    """Pretrained-registry loader for :class:`CompletedOPF` (float64, CPU, the card's correction); the set-point
    network's weights are stored under ``setpoints.`` (a file may hold other networks beside it)."""
    net = SetpointNet(family, config["hidden"], config["activation"], config["squash"]).double()
    from_arrays(net, arrays, prefix="setpoints.")
    model = CompletedOPF(family, net, reference=nominal_reference(family), correction=config["correction"],
                         steps=config["steps"], step_size=config.get("step_size", 1e-3),
                         momentum=config.get("momentum", 0.5), margin=config.get("margin", 1e-6),
                         hold_limits=config.get("hold_limits", False))
    return numpy_predictor(model)
