"""Import NeuroMANCER 1.5.6 without its two import-time traps.

1. ``neuromancer.trainer`` does ``import wandb`` although wandb is not a declared dependency (and the
   trainer never calls it unless asked for hyper-parameter sweeps). When wandb is not installed we
   register a placeholder module that raises a clear ImportError on first use.
2. ``neuromancer.plot`` imports ``pyts.image``, whose import compiles numba code for ~30 s on two cores,
   although the book never draws recurrence plots. We register ``pyts.image`` and
   ``pyts.multivariate.image`` with :class:`importlib.util.LazyLoader`: the real modules execute (and
   compile) only when an attribute of them is first used.

Use ``nm = import_neuromancer()`` (or ``from l2o_lib.torch.nm import neuromancer``) instead of
``import neuromancer``.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types

_LAZY = ("pyts.image", "pyts.multivariate.image")


class _MissingWandb(types.ModuleType):
    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise ImportError(
            f"wandb.{name} was used, but wandb is not installed; neuromancer only needs it for "
            "hyper-parameter sweeps: `pip install wandb` to use them"
        )


def _install_wandb_placeholder() -> bool:
    if "wandb" in sys.modules or importlib.util.find_spec("wandb") is not None:
        return False
    placeholder = _MissingWandb("wandb")
    placeholder.__spec__ = importlib.machinery.ModuleSpec("wandb", None)
    sys.modules["wandb"] = placeholder
    return True


class _Deferred(types.ModuleType):
    """A module placeholder that imports the real module on first use of a non-dunder attribute.

    ``importlib.util.LazyLoader`` is not enough here: ``inspect.getmodule`` (called by torch while it
    registers custom ops) reads ``__file__`` of every module in ``sys.modules``, which would trigger the
    load. This placeholder answers ``__file__``, ``__path__`` and ``__spec__`` without loading.
    """

    def __getattr__(self, attr: str):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        name = self.__name__
        del sys.modules[name]
        real = importlib.import_module(name)
        self.__dict__.update(real.__dict__)
        return getattr(real, attr)


def _lazy_import(name: str) -> None:
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None:
        return
    module = _Deferred(name)
    module.__file__ = spec.origin
    module.__spec__ = spec
    if spec.submodule_search_locations is not None:
        module.__path__ = list(spec.submodule_search_locations)
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, module)


def import_neuromancer() -> types.ModuleType:
    """``neuromancer``, imported without the wandb error and without compiling pyts at import."""
    if "neuromancer" in sys.modules:
        return sys.modules["neuromancer"]
    _install_wandb_placeholder()
    for name in _LAZY:
        parent = name.rpartition(".")[0]
        if importlib.util.find_spec(parent.split(".")[0]) is not None:
            importlib.import_module(parent)
            _lazy_import(name)
    return importlib.import_module("neuromancer")


neuromancer = import_neuromancer()
