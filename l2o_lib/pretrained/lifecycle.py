"""Writing models: ``save`` (weights, card, manifest entry), and the two calls a chapter makes,
``shipped_or_trained`` (the shipped model in quick mode) and ``save_if_requested`` (a full-mode run that ships)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from l2o_lib import problems
from l2o_lib.paths import data_dir
from l2o_lib.pretrained.card import ModelCard, plain
from l2o_lib.pretrained.loaders import loader_name
from l2o_lib.pretrained.registry import Pretrained, available, card, check_targets, load
from l2o_lib.pretrained.store import (
    FORMATS,
    atomic_write_text,
    check_name,
    manifest_entry,
    read_manifest,
    sha256,
    write_manifest_doc,
)
from l2o_lib.problems.base import ProblemFamily


def save(
    name: str,
    tensors: dict[str, np.ndarray],
    *,
    family: ProblemFamily,
    loader: str,
    description: str,
    chapter: str,
    config: dict[str, Any] | None = None,
    headline: Any = None,
    headline_extra: dict[str, Any] | None = None,
    targets: dict[str, float] | None = None,
    extra_targets: dict[str, dict[str, float]] | None = None,
    regenerate: str = "python scripts/regenerate_data.py",
    fmt: str = ".safetensors",
    family_kwargs: dict[str, Any] | None = None,
) -> Path:
    """Write ``NAME.safetensors`` (or ``.npz``) and its card ``NAME.json``, and sign both in the manifest.

    The family's parameters come from ``family.params`` (``family_kwargs``, if given, must agree with them);
    ``headline`` is a ``metrics.Row`` or a dict of its fields. Returns the weights path.
    """
    check_name(name)
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    params = plain(family.params)
    if family_kwargs is not None and {**params, **plain(family_kwargs)} != params:
        raise ValueError(f"save({name}): family_kwargs {family_kwargs} disagree with the family's own parameters {params}")
    arrays = {k: np.ascontiguousarray(np.asarray(v)) for k, v in tensors.items()}
    for k, v in arrays.items():
        if v.dtype == object or not np.all(np.isfinite(v)):
            raise ValueError(f"tensor {k!r} of {name!r} is not a finite numeric array")
    head = headline.to_dict() if hasattr(headline, "to_dict") else dict(headline or {})
    folder = data_dir()
    c = ModelCard(name=name, family=problems.key_of(family), family_kwargs=params, loader=loader_name(loader),
                  file=f"{name}{fmt}", sha256="0" * 64, description=description, chapter=chapter,
                  config=plain(config or {}), headline=plain(head), headline_extra=plain(headline_extra or {}),
                  targets=plain(targets or {}), extra_targets=plain(extra_targets or {}), regenerate=regenerate)
    c.validate(f"save({name})")  # before anything is written
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / c.file
    tmp = folder / f".{name}.{os.getpid()}.tmp{fmt}"
    if fmt == ".safetensors":
        from safetensors.numpy import save_file

        save_file(arrays, str(tmp))
    else:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    os.replace(tmp, path)
    c.sha256 = sha256(path)
    atomic_write_text(folder / f"{name}.json", c.to_json() + "\n")
    models = read_manifest(folder)
    models[name] = manifest_entry(c, c.sha256)
    write_manifest_doc(folder, models)
    return path


T = TypeVar("T")


@dataclass
class Choice(Generic[T]):
    """What :func:`shipped_or_trained` picked: the value, and the shipped model it came from (or None)."""

    value: T
    model: Pretrained | None

    @property
    def shipped(self) -> bool:
        return self.model is not None

    @property
    def source(self) -> str:
        return f"shipped {self.model.name} (trained in full mode)" if self.model else "trained in this run"


def shipped_or_trained(name: str, trained: T, *, rebuild: Callable[[Pretrained], T] | None = None,
                       use_shipped: bool | None = None) -> Choice[T]:
    """The shipped model ``name`` in quick mode (when it is in the data folder), else what this run trained.

    ``trained`` is what this run made; ``rebuild(model)`` turns the loaded
    :class:`Pretrained` into the same kind of value (default: its batched ``predict``). ``use_shipped``
    overrides the quick-mode default.
    """
    from l2o_lib import runtime

    check_name(name)
    use = runtime.quick_mode() if use_shipped is None else use_shipped
    if use and name in available():
        model = load(name)
        return Choice(rebuild(model) if rebuild else model.predict, model)
    return Choice(trained, None)


def save_if_requested(name: str, tensors: dict[str, np.ndarray] | Callable[[], dict[str, np.ndarray]], *,
                      problem: ProblemFamily, row: Any, extra: dict[str, float] | None = None,
                      **card_fields: Any) -> Path | None:
    """Save the model as ``name`` when a full-mode run sets ``L2O_SAVE_PRETRAINED=1``; else do nothing.

    ``row`` (a ``metrics.Row``) is the headline; the family and its parameters come from ``problem``; the rest
    (``loader``, ``description``, ``chapter``, ``config``, ...) are :func:`save`'s arguments. Without ``targets``
    the model keeps those of its current card (a target is written once, on the card); ``extra`` gives the values
    of its ``extra_targets``. The row must meet the targets (timings aside) before anything is written.
    """
    from l2o_lib import runtime

    check_name(name)
    if not runtime.save_pretrained_requested():
        return None
    if runtime.quick_mode():
        raise RuntimeError(f"save_if_requested({name}): L2O_SAVE_PRETRAINED=1 in quick mode; ship weights trained in "
                           "full mode only")
    if "targets" not in card_fields and name in available():
        current = card(name)
        card_fields.update(targets=current.targets, extra_targets=card_fields.get("extra_targets", current.extra_targets))
    arrays = tensors() if callable(tensors) else tensors
    head = row.to_dict() if hasattr(row, "to_dict") else dict(row)
    check_targets(name, card_fields.get("targets") or {}, card_fields.get("extra_targets") or {}, head, extra,
                   False).require()
    path = save(name, arrays, family=problem, headline=head, **card_fields)
    print(f"saved {name} to {path.parent}")
    return path
