"""Checks of a problem family's constructor arguments, from their annotations, before the constructor runs.

``ProblemFamily`` calls :func:`constructor_args` for every family, so a wrong type or value (a seed of 1.7 or −1,
a range that is not two increasing finite numbers, a number given as a string) fails at once with a message
naming the family and the argument, not deep inside sampling or a solver. Checks of meaning that only a
family knows (n_eq < n_vars, positivity of a radius) stay in its constructor.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np


def is_integer(v: Any) -> bool:
    """An int or numpy integer, not a bool."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def is_real(v: Any) -> bool:
    """An int, float or numpy real scalar, not a bool."""
    return (isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)))


def check_seed(where: str, seed: Any, label: str = "seed") -> int:
    """``seed`` as an int, or ``ValueError`` naming ``where``: a non-negative integer (1.7 is not rounded)."""
    if not is_integer(seed) or seed < 0:
        raise ValueError(f"{where}: {label} must be a non-negative integer, got {seed!r} ({type(seed).__name__})")
    return int(seed)


def check_range(where: str, label: str, value: Any) -> tuple[float, float]:
    """A pair (low, high) of finite numbers with low < high."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise ValueError(f"{where}: {label} must be a pair (low, high) of numbers, got {value!r}")
    low, high = value
    if not (is_real(low) and is_real(high)):
        raise ValueError(f"{where}: {label} must hold two numbers, got {value!r}")
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"{where}: {label} must be finite, got {value!r}")
    if not low < high:
        raise ValueError(f"{where}: {label} must be increasing (low < high), got {value!r}")
    return float(low), float(high)


def constructor_args(where: str, signature: inspect.Signature, params: dict[str, Any]) -> None:
    """Check each argument against its annotation (``int``, ``float``, ``tuple[float, float]``, ``bool``, ``str``)."""
    for name, value in params.items():
        ann = signature.parameters[name].annotation
        ann = ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann))
        if name == "seed" or name.endswith("_seed"):
            check_seed(where, value, name)
        elif ann == "int":
            if not is_integer(value):
                raise ValueError(f"{where}: {name} must be an integer, got {value!r} ({type(value).__name__})")
        elif ann == "float":
            if not is_real(value) or not math.isfinite(value):
                raise ValueError(f"{where}: {name} must be a finite number, got {value!r} ({type(value).__name__})")
        elif ann.replace(" ", "") == "tuple[float,float]":
            check_range(where, name, value)
        elif ann == "bool" and not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{where}: {name} must be True or False, got {value!r}")
        elif ann == "str" and not isinstance(value, str):
            raise ValueError(f"{where}: {name} must be a string, got {value!r}")
