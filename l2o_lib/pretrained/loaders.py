"""The loader registry: every function that may rebuild a shipped model, by the name a card gives.

A card names a key of :data:`LOADERS`, never an import path; a name outside the table is refused before anything
is imported. A loader is ``loader(family, arrays, config)`` and returns a :class:`~l2o_lib.predict.Loaded` (the
batched predict, the rebuilt module, named parts) or a bare batched predict.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

#: card name -> ``l2o_lib`` module and function. A new kind of model adds one line here.
LOADERS: dict[str, str] = {
    "solution_map": "l2o_lib.torch.nets:load_solution_map",
    "learned_cost_qp": "l2o_lib.torch.layers:load_learned_cost_qp",
    "dc3_qp": "l2o_lib.torch.restoration:load_dc3_qp",
    "dc3_nonconvex_2d": "l2o_lib.torch.restoration:load_dc3_nonconvex_2d",
    "learned_admm": "l2o_lib.torch.admm:load_learned_admm",
    "leaf": "l2o_lib.torch.icnn:load_leaf",
    "huanet": "l2o_lib.jax.huanet:load_predict",
    "approx_mpc": "l2o_lib.torch.control:load_approx_mpc",
    "dpc": "l2o_lib.torch.control:load_dpc",
    "warm_start": "l2o_lib.torch.warmstart:load_warm_start",
    "active_set": "l2o_lib.torch.warmstart:load_active_set",
    "rho": "l2o_lib.torch.warmstart:load_rho",
    "completed_opf": "l2o_lib.torch.acopf:load_completed_opf",
    "strategy": "l2o_lib.torch.strategies:load_strategy",
}


def resolve(loader: str) -> Callable:
    """The function registered as ``loader`` in :data:`LOADERS`; nothing outside the registry is imported."""
    if not isinstance(loader, str) or loader not in LOADERS:
        raise ValueError(f"loader {loader!r} is not in l2o_lib's loader registry {sorted(LOADERS)} "
                         "(pretrained.LOADERS); nothing was imported")
    module, _, attr = LOADERS[loader].partition(":")
    if not module.startswith("l2o_lib."):  # the table itself must stay inside the library
        raise ValueError(f"loader {loader!r} points outside l2o_lib: {LOADERS[loader]!r}")
    return getattr(importlib.import_module(module), attr)


def loader_name(loader: str) -> str:
    """A registry name from a name or from the ``module:function`` it stands for."""
    if loader in LOADERS:
        return loader
    for key, target in LOADERS.items():
        if target == loader:
            return key
    raise ValueError(f"loader {loader!r} is not in l2o_lib's loader registry {sorted(LOADERS)}; "
                     "add one line to pretrained.LOADERS for a new kind of model")
