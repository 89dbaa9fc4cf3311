"""Networks that map parameters ξ to decisions x, and their round trip through plain arrays."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from l2o_lib.problems.base import ProblemFamily

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU,
                                           "softplus": nn.Softplus}


class MLP(nn.Module):
    """A plain fully connected network ``n_in -> hidden... -> n_out``."""

    def __init__(self, n_in: int, n_out: int, hidden: Sequence[int] = (64, 64), activation: str = "relu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise KeyError(f"unknown activation {activation!r}; known: {sorted(ACTIVATIONS)}")
        sizes = [int(n_in), *map(int, hidden), int(n_out)]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(ACTIVATIONS[activation]())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class Normalize(nn.Module):
    """Affine map of the box [low, high] onto [−1, 1] (fixed, not trained)."""

    def __init__(self, low: np.ndarray, high: np.ndarray):
        super().__init__()
        low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
        self.register_buffer("center", torch.as_tensor((low + high) / 2, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(np.maximum((high - low) / 2, 1e-12), dtype=torch.float32))

    def forward(self, xi: torch.Tensor) -> torch.Tensor:
        return (xi - self.center.to(xi.dtype)) / self.scale.to(xi.dtype)


class SolutionMap(nn.Module):
    """π_θ(ξ): normalize ξ over the family's domain, then an MLP to x."""

    def __init__(self, family: ProblemFamily, hidden: Sequence[int] = (64, 64), activation: str = "relu"):
        super().__init__()
        self.normalize = Normalize(family.param_low, family.param_high)
        self.mlp = MLP(family.n_params, family.n_vars, hidden, activation)
        self.config = {"hidden": list(map(int, hidden)), "activation": activation}

    def forward(self, xi: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.normalize(xi))


def to_arrays(module: nn.Module) -> dict[str, np.ndarray]:
    """A module's state as float32/float64 numpy arrays, ready for ``pretrained.save``."""
    return {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def from_arrays(module: nn.Module, arrays: dict[str, np.ndarray]) -> nn.Module:
    """Load arrays into ``module`` (strict: names and shapes must match)."""
    state = {k: torch.as_tensor(np.asarray(v)) for k, v in arrays.items()}
    module.load_state_dict(state, strict=True)
    return module


def batched_predict(module: nn.Module, device: str = "cpu", dtype: torch.dtype = torch.float32
                    ) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap a torch module as numpy ``predict(ξ) -> x`` (eval mode, no grad)."""
    module = module.to(device=device, dtype=dtype).eval()

    def predict(xi: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = module(torch.as_tensor(np.asarray(xi), dtype=dtype, device=device))
        return out.detach().cpu().numpy().astype(float)

    return predict


def load_solution_map(family: ProblemFamily, arrays: dict[str, np.ndarray], config: dict[str, Any]
                      ) -> Callable[[np.ndarray], np.ndarray]:
    """Pretrained-registry loader for :class:`SolutionMap`."""
    model = SolutionMap(family, config.get("hidden", (64, 64)), config.get("activation", "relu"))
    return batched_predict(from_arrays(model, arrays))
