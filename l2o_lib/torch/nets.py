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


def with_prefix(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays stored under ``prefix`` (e.g. ``"stage0."``), with the prefix removed from their names."""
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def from_arrays(module: nn.Module, arrays: dict[str, np.ndarray], *, prefix: str = "", only_parameters: bool = False
                ) -> nn.Module:
    """Load arrays into ``module`` in the module's own dtype; names and shapes must match its state exactly.

    With ``prefix``, only the arrays stored under it are loaded (:func:`with_prefix`); others are left alone.
    ``only_parameters``: the arrays are the trainable parameters alone (fixed buffers, e.g. a QP layer's
    constraint matrices, stay as the module built them). Returns the module, in eval mode.
    """
    state = {k: torch.as_tensor(np.asarray(v)) for k, v in (with_prefix(arrays, prefix) if prefix else arrays).items()}
    if prefix and not state:
        raise KeyError(f"from_arrays: no arrays under the prefix {prefix!r}; names start with "
                       f"{sorted({k.split('.')[0] for k in arrays})}")
    if only_parameters:
        expected = {name for name, _ in module.named_parameters()}
        if set(state) != expected:
            raise KeyError(f"from_arrays: expected the parameters {sorted(expected)}, got {sorted(state)}")
    module.load_state_dict(state, strict=not only_parameters)
    return module.eval()


def batched_predict(module: nn.Module, device: str = "cpu", dtype: torch.dtype = torch.float32
                    ) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap a torch module as numpy ``predict(ξ) -> x`` (eval mode, no grad), cast to ``dtype`` on ``device``."""
    from l2o_lib.predict import numpy_predictor

    return numpy_predictor(module.to(device=device, dtype=dtype), dtype=str(dtype).removeprefix("torch."), device=device)


def load_solution_map(family: ProblemFamily, arrays: dict[str, np.ndarray], config: dict[str, Any]
                      ) -> Callable[[np.ndarray], np.ndarray]:
    """Pretrained-registry loader for :class:`SolutionMap`."""
    model = SolutionMap(family, config.get("hidden", (64, 64)), config.get("activation", "relu"))
    return batched_predict(from_arrays(model, arrays))
