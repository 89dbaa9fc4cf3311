"""One batched "numpy in, numpy out" wrapper for every model kind (torch modules, JAX functions).

``numpy_predictor(fn)`` turns a batched ``fn(ξ) -> x`` written in torch or JAX into ``predict(ξ) -> x`` on numpy
arrays: ξ is checked to be 2-D, converted to the model's dtype and device, run without gradients, and the result
comes back as a float64 numpy array, from a GPU as well (``.detach().cpu()``). Torch's thread count can be set for
the call only (``threads=1`` for tiny batched ops on a busy CPU) and is restored afterwards; JAX calls in float64 run
inside ``jax.enable_x64(True)``, so neither framework's global settings change as a side effect.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

BACKENDS = ("torch", "jax")


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with torch using ``threads`` CPU threads (None: unchanged), then restore the count."""
    if threads is None:
        yield
        return
    import torch

    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def module_device(fn: Any) -> Any:
    """The device of a torch module's first parameter; None for a plain function or a module without parameters."""
    params = getattr(fn, "parameters", None)
    if params is None:
        return None
    first = next(iter(params()), None)
    return None if first is None else first.device


def numpy_predictor(fn: Callable[[Any], Any], *, backend: str = "torch", dtype: str = "float64", device: Any = None,
                    threads: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """``predict(ξ) -> x`` on numpy arrays around a batched torch or JAX ``fn``.

    ``fn`` returns a tensor, or a tuple of tensors (then ``predict`` returns a tuple of arrays). ``dtype``: the
    floating type ξ is given to ``fn`` in (``"float32"`` or ``"float64"``). ``device`` (torch): where
    ξ goes; by default the device of ``fn``'s parameters when it is a module, else the CPU. ``threads`` (torch):
    CPU threads for the call only. A torch module is put in eval mode.
    """
    if backend not in BACKENDS:
        raise ValueError(f"numpy_predictor: backend must be one of {BACKENDS}, got {backend!r}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"numpy_predictor: dtype must be 'float32' or 'float64', got {dtype!r}")
    if backend == "torch":
        import torch

        if isinstance(fn, torch.nn.Module):
            fn.eval()
        t_dtype, t_device = getattr(torch, dtype), device or module_device(fn) or "cpu"

        def run(xi: np.ndarray) -> np.ndarray:
            with torch.no_grad(), torch_threads(threads):
                out = fn(torch.as_tensor(xi, dtype=t_dtype, device=t_device))
            return _host(out)
    else:
        if threads is not None or device is not None:
            raise ValueError("numpy_predictor: threads and device are torch options; JAX places arrays itself")
        import jax
        import jax.numpy as jnp

        def run(xi: np.ndarray) -> np.ndarray:
            with jax.enable_x64(dtype == "float64"):
                return np.asarray(fn(jnp.asarray(xi, dtype=dtype))).astype(float)

    def predict(xi: np.ndarray) -> np.ndarray:
        xi = as_float64(xi, "predict: ξ")
        if xi.ndim != 2:
            raise ValueError(f"predict: ξ must have shape (batch, n_params), got {xi.shape}")
        return run(xi)

    return predict


def as_float64(a: Any, what: str) -> np.ndarray:
    """``a`` (a numpy array, list, or a torch tensor of any real dtype, bfloat16 included) as float64 numpy."""
    if hasattr(a, "detach") and hasattr(a, "is_floating_point"):  # a torch tensor: numpy cannot read bfloat16
        if a.is_complex():
            raise TypeError(f"{what} must be real, got a tensor of dtype {a.dtype}")
        a = a.detach().cpu().double().numpy()
    try:
        out = np.asarray(a, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a real numeric array, got {type(a).__name__}") from None
    return out


def _host(out: Any) -> Any:
    """A torch tensor (or a tuple of them, e.g. a primal-dual pair) as float64 numpy on the host."""
    if isinstance(out, (tuple, list)):
        return tuple(_host(o) for o in out)
    out = out.detach().cpu()
    return (out if out.is_floating_point() and out.element_size() >= 4 else out.double()).numpy().astype(float)


@dataclass
class Loaded:
    """What a registry loader rebuilds: the batched ``predict(ξ) -> x``, the framework ``module`` it runs (if
    any), and named ``parts`` a chapter may reuse (e.g. an active-set model's laws, classifier and solver)."""

    predict: Callable[[np.ndarray], np.ndarray]
    module: Any = None
    parts: dict[str, Any] = field(default_factory=dict)
