"""The book's torch networks as :class:`~l2o_lib.compiled.CompiledMLP` (arrays, no framework at run time).

Each exporter folds the module's fixed input scaling into the first layer, so the compiled network takes the
raw ξ (or state) and returns what the module returns; :func:`check_export` compares the two on inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from l2o_lib.compiled import CompiledMLP
from l2o_lib.problems.capabilities import LinearMPCForm


def _linears(module: nn.Module, activation: type[nn.Module] = nn.ReLU) -> list[nn.Linear]:
    """The nn.Linear layers of a plain MLP, checking that only ``activation`` (or identity) sits between them."""
    layers = [m for m in module.modules() if isinstance(m, nn.Linear)]
    others = {type(m) for m in module.modules() if not list(m.children()) and not isinstance(m, nn.Linear)}
    if not layers or not others <= {activation, nn.Identity}:
        raise TypeError(f"export: expected Linear layers with {activation.__name__} between them, found "
                        f"{sorted(t.__name__ for t in others)}")
    return layers


def _fold(layers: list[nn.Linear], center: np.ndarray, scale: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Weights and biases with the first layer applied to (x − center) / scale folded into it."""
    W = [layer.weight.detach().cpu().double().numpy() for layer in layers]
    b = [layer.bias.detach().cpu().double().numpy() if layer.bias is not None else np.zeros(layer.out_features)
         for layer in layers]
    W0 = W[0] / scale[None, :]
    b[0] = b[0] - W0 @ center
    W[0] = W0
    return W, b


def export_mlp(mlp: nn.Module, *, center: Any = 0.0, scale: Any = 1.0, out_activation: str = "none",
               out_scale: Any = 1.0, out_shift: Any = 0.0, dtype: Any = np.float32) -> CompiledMLP:
    """A ReLU MLP applied to (x − center) / scale, then ``out_scale · act(·) + out_shift``.

    The layers are read in registration order; that the module really computes Linear → ReLU → … → Linear in that
    order (no residual connection, no activation before the first or after the last layer, no two Linear layers in
    a row) is checked by evaluating both on random inputs: ``ValueError`` when they differ.
    """
    layers = _linears(mlp)
    n_in = layers[0].in_features
    center = np.broadcast_to(np.asarray(center, dtype=float), (n_in,))
    scale = np.broadcast_to(np.asarray(scale, dtype=float), (n_in,))
    if not (np.all(np.isfinite(center)) and np.all(np.isfinite(scale)) and np.all(scale != 0)):
        raise ValueError("export_mlp: center and scale must be finite, scale non-zero")
    W, b = _fold(layers, center, scale)
    out = CompiledMLP(W, b, out_activation=out_activation, out_scale=out_scale, out_shift=out_shift, dtype=dtype)
    _same_function(mlp, out, center, scale)
    return out


def _same_function(mlp: nn.Module, compiled: CompiledMLP, center: np.ndarray, scale: np.ndarray) -> None:
    """Raise unless ``compiled`` (before its output map) equals ``mlp((x − center) / scale)`` on random inputs."""
    x = center + scale * np.random.default_rng(0).standard_normal((64, len(center)))
    param = next(mlp.parameters())
    with torch.no_grad():
        ref = mlp(torch.as_tensor((x - center) / scale, dtype=param.dtype, device=param.device)).double().cpu().numpy()
    plain = CompiledMLP(compiled.weights, compiled.biases, dtype=np.float64)(x)
    if ref.shape != plain.shape or not np.abs(ref - plain).max() <= 1e-4 * (1.0 + np.abs(ref).max()):
        raise ValueError(f"export_mlp: the {type(mlp).__name__} does not compute Linear → ReLU → … → Linear in the order "
                         "its layers are registered (a residual connection, an activation before the first or after "
                         "the last layer, or layers applied in another order); it cannot be exported as a plain MLP")


def export_score_net(net: nn.Module, dtype: Any = np.float32) -> CompiledMLP:
    """A :class:`~l2o_lib.torch.warmstart.ScoreNet` (normalize, then MLP): ξ ↦ scores."""
    return export_mlp(net.mlp, center=net.normalize.center.double().numpy(),
                      scale=net.normalize.scale.double().numpy(), dtype=dtype)


def export_plan_net(net: nn.Module, *, first_only: bool = False, saturate: bool = False,
                    dtype: Any = np.float32) -> CompiledMLP:
    """A :class:`~l2o_lib.torch.control.PlanNet`: x₀ ↦ the N inputs (``first_only``: u₀ alone), clipped to the
    family's input bounds with ``saturate`` (approximate MPC as deployed: the actuator saturates)."""
    out = export_mlp(net.mlp, scale=net.scale.double().numpy(), dtype=dtype)
    fam = net.family
    reps = 1 if first_only else fam.horizon
    bounds = (np.tile(fam.u_min, reps), np.tile(fam.u_max, reps)) if saturate else None
    if first_only:
        nu = fam.nu
        return CompiledMLP(out.weights[:-1] + (out.weights[-1][:nu],), out.biases[:-1] + (out.biases[-1][:nu],),
                           saturate=bounds, dtype=dtype)
    return out if bounds is None else CompiledMLP(out.weights, out.biases, saturate=bounds, dtype=dtype)


def export_dpc_policy(policy: nn.Module, family: LinearMPCForm, dtype: Any = np.float32) -> CompiledMLP:
    """The policy of :func:`~l2o_lib.torch.control.nm_dpc`: x ↦ u_max tanh(MLP(x / x_max))."""
    return export_mlp(policy.net, scale=np.asarray(family.x_max, dtype=float), out_activation="tanh",
                      out_scale=float(family.u_max[0]), dtype=dtype)


def check_export(module_fn: Any, compiled: CompiledMLP, x: np.ndarray) -> float:
    """Largest |difference| between ``module_fn(x)`` (numpy in, numpy out) and the compiled network, batched
    and one vector at a time."""
    x = np.asarray(x, dtype=float)
    with torch.no_grad():
        ref = np.asarray(module_fn(x), dtype=float)
    batch = np.abs(compiled(x) - ref).max()
    one = max(np.abs(compiled.one(xi) - r).max() for xi, r in zip(x, ref))
    return float(max(batch, one))
