"""Registry of the book's shipped models: name -> (problem, batched predict), weights in ``data/``.

Each model is two files in the data folder: ``NAME.safetensors`` (or ``NAME.npz``, plain arrays,
never pickle) and ``NAME.json``, its card: the problem family, the loader that rebuilds the model,
the training configuration, the sha256 of the weights (checked at every load), the headline figures
measured when it was trained, and the command that regenerates it.

    >>> from l2o_lib import pretrained
    >>> model = pretrained.load("ch1_direct_mlp")
    >>> xi = model.problem.sample(1000, seed=1); x = model.predict(xi)

The data folder is ``$L2O_DATA_DIR`` when set (the Colab setup cell sets it), else ``data/`` beside
the package in a checkout.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from l2o_lib import problems
from l2o_lib.problems.base import ProblemFamily

DATA_ENV = "L2O_DATA_DIR"
_FORMATS = (".safetensors", ".npz")


def data_dir() -> Path:
    """Where shipped data and weights live."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "data"


@dataclass
class ModelCard:
    """What the ``NAME.json`` file beside a weights file says about the model."""

    name: str
    family: str
    family_kwargs: dict[str, Any]
    loader: str
    file: str
    sha256: str
    description: str
    chapter: str
    config: dict[str, Any] = field(default_factory=dict)
    headline: dict[str, Any] = field(default_factory=dict)
    targets: dict[str, Any] = field(default_factory=dict)
    regenerate: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, default=_jsonable)


@dataclass
class Pretrained:
    """A loaded model: its problem family and a batched ``predict(ξ) -> x`` on numpy arrays."""

    name: str
    problem: ProblemFamily
    predict: Callable[[np.ndarray], np.ndarray]
    card: ModelCard

    def __call__(self, xi: np.ndarray) -> np.ndarray:
        return self.predict(xi)


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON serializable: {type(v).__name__}")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def available() -> list[str]:
    """Names of the models whose cards are in the data folder."""
    folder = data_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if _is_card(p))


def _is_card(path: Path) -> bool:
    try:
        return "loader" in json.loads(path.read_text())
    except (OSError, ValueError):
        return False


def card(name: str) -> ModelCard:
    """The card of model ``name``; ``KeyError`` naming the known models when it is not there."""
    if not isinstance(name, str):
        raise TypeError(f"model name must be a string, got {type(name).__name__}")
    path = data_dir() / f"{name}.json"
    if not path.is_file() or not _is_card(path):
        raise KeyError(f"unknown pretrained model {name!r}; available: {available()} (in {data_dir()})")
    return ModelCard(**json.loads(path.read_text()))


def read_tensors(path: Path) -> dict[str, np.ndarray]:
    """Arrays from a ``.safetensors`` or ``.npz`` file (npz read with ``allow_pickle=False``)."""
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        return load_file(str(path))
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    raise ValueError(f"unsupported weights format {path.suffix!r}; use one of {_FORMATS}")


def load(name: str, *, verify: bool = True) -> Pretrained:
    """Load model ``name``: check its sha256, rebuild its family and its batched predict."""
    c = card(name)
    path = data_dir() / c.file
    if not path.is_file():
        raise FileNotFoundError(f"weights of {name!r} missing: {path}; regenerate with: {c.regenerate}")
    if verify:
        digest = sha256(path)
        if digest != c.sha256:
            raise ValueError(
                f"checksum mismatch for {path.name}: card says {c.sha256[:12]}…, file is {digest[:12]}…; "
                f"the file changed after its card was written (regenerate with: {c.regenerate})"
            )
    family = problems.get(c.family, **c.family_kwargs)
    loader = resolve(c.loader)
    predict = loader(family, read_tensors(path), c.config)
    return Pretrained(name=name, problem=family, predict=_checked_predict(family, predict, name), card=c)


def _checked_predict(family: ProblemFamily, fn: Callable, name: str) -> Callable[[np.ndarray], np.ndarray]:
    def predict(xi: np.ndarray, *, check_domain: bool = True) -> np.ndarray:
        xi = np.asarray(family.check_params(xi, check_domain=check_domain, where=f"{name}.predict"), dtype=float)
        x = np.asarray(fn(xi), dtype=float)
        bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
        if bad.size:  # returned as computed (NaN marks the rows), but never silently
            warnings.warn(f"{name}.predict: {bad.size} of {len(x)} predictions are not finite (rows "
                          f"{', '.join(map(str, bad[:5]))}{', ...' if bad.size > 5 else ''}): the model diverged there"
                          + ("" if check_domain else "; ξ was not checked against the domain (check_domain=False)"),
                          RuntimeWarning, stacklevel=2)
        return x

    predict.__doc__ = f"Batched prediction of {name}: ξ (batch, {family.n_params}) -> x (batch, {family.n_vars})."
    return predict


def resolve(dotted: str) -> Callable:
    """``"package.module:function"`` -> the function."""
    module, _, attr = dotted.partition(":")
    if not module or not attr:
        raise ValueError(f"loader must look like 'package.module:function', got {dotted!r}")
    return getattr(importlib.import_module(module), attr)


def save(
    name: str,
    tensors: dict[str, np.ndarray],
    *,
    family: ProblemFamily,
    family_kwargs: dict[str, Any] | None = None,
    loader: str,
    description: str,
    chapter: str,
    config: dict[str, Any] | None = None,
    headline: dict[str, Any] | None = None,
    targets: dict[str, Any] | None = None,
    regenerate: str = "python scripts/regenerate_data.py",
    fmt: str = ".safetensors",
) -> Path:
    """Write ``NAME.safetensors`` (or ``.npz``) and its card ``NAME.json``; returns the weights path."""
    if fmt not in _FORMATS:
        raise ValueError(f"fmt must be one of {_FORMATS}, got {fmt!r}")
    if not name.replace("_", "").isalnum():
        raise ValueError(f"model name must be letters, digits and underscores, got {name!r}")
    arrays = {k: np.ascontiguousarray(np.asarray(v)) for k, v in tensors.items()}
    for k, v in arrays.items():
        if v.dtype == object or not np.all(np.isfinite(v)):
            raise ValueError(f"tensor {k!r} of {name!r} is not a finite numeric array")
    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}{fmt}"
    if fmt == ".safetensors":
        from safetensors.numpy import save_file

        save_file(arrays, str(path))
    else:
        np.savez(path, **arrays)
    resolve(loader)  # fail now, not at load time, if the loader does not exist
    c = ModelCard(name=name, family=problems.key_of(family),
                  family_kwargs=family_kwargs or {}, loader=loader, file=path.name, sha256=sha256(path),
                  description=description, chapter=chapter, config=config or {}, headline=headline or {},
                  targets=targets or {}, regenerate=regenerate)
    (folder / f"{name}.json").write_text(c.to_json() + "\n")
    return path

