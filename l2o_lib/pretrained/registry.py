"""Loading shipped models and checking results against their cards' targets."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from l2o_lib import problems
from l2o_lib.paths import data_dir
from l2o_lib.predict import Loaded, as_float64
from l2o_lib.pretrained.card import LOWER_BOUNDS, ROW_FIELDS, TIMING_FIELDS, CardError, ModelCard
from l2o_lib.pretrained.loaders import resolve
from l2o_lib.pretrained.store import card_paths, check_name, read_json, read_tensors, verified_weights, verify_card
from l2o_lib.problems.base import ProblemFamily


@dataclass
class Pretrained:
    """A loaded model: its problem family, a batched ``predict(ξ) -> x`` on numpy arrays, its card, and what the
    loader rebuilt (``module``: the framework model, when there is one; ``parts``: named pieces, e.g. an active-set
    model's laws and classifier)."""

    name: str
    problem: ProblemFamily
    predict: Callable[[np.ndarray], np.ndarray]
    card: ModelCard
    module: Any = None
    parts: dict[str, Any] = field(default_factory=dict)

    def __call__(self, xi: np.ndarray) -> np.ndarray:
        return self.predict(xi)

    def tensors(self) -> dict[str, np.ndarray]:
        """The model's weights as numpy arrays (checked against the card and the manifest)."""
        return read_tensors(verified_weights(self.card, data_dir()))


def available() -> list[str]:
    """Names of the models whose cards are in the data folder (a card that does not parse raises)."""
    names = []
    for path in card_paths(data_dir()):
        read_json(path)
        names.append(path.stem)
    return names


def card(name: str) -> ModelCard:
    """The validated card of model ``name``, every field checked against the manifest; ``KeyError`` naming the
    known models when it is not there."""
    check_name(name)
    path = data_dir() / f"{name}.json"
    if path not in card_paths(data_dir()):
        raise KeyError(f"unknown pretrained model {name!r}; available: {available()} (in {data_dir()})")
    c = ModelCard.from_dict(read_json(path), str(path))
    if c.name != name:
        raise CardError(f"{path}: field 'name' is {c.name!r} but the file is {name}.json")
    verify_card(c, data_dir())
    return c


def load(name: str, *, verify: bool = True) -> Pretrained:
    """Load model ``name``: check its card, the manifest and the weights' sha256, rebuild family and predict."""
    c = card(name)
    loader = resolve(c.loader)
    path = verified_weights(c, data_dir(), verify=verify)
    family = problems.get(c.family, **c.family_kwargs)
    built = loader(family, read_tensors(path), c.config)
    if not isinstance(built, Loaded):
        built = Loaded(predict=built)
    return Pretrained(name=name, problem=family, predict=checked_predict(family, built.predict, name), card=c,
                      module=built.module, parts=dict(built.parts))


def checked_predict(family: ProblemFamily, fn: Callable, name: str) -> Callable[[np.ndarray], np.ndarray]:
    """``fn`` with ξ checked against the family (shape, finiteness, domain) and its output's shape checked."""
    def predict(xi: np.ndarray, *, check_domain: bool = True) -> np.ndarray:
        xi = as_float64(xi, f"{name}.predict: ξ")  # numpy in, numpy out (a torch tensor of any dtype is read)
        xi = np.asarray(family.check_params(xi, check_domain=check_domain, where=f"{name}.predict"), dtype=float)
        if len(xi) == 0:
            return np.zeros((0, family.n_vars))
        x = np.asarray(fn(xi), dtype=float)
        if x.shape != (len(xi), family.n_vars):
            raise ValueError(f"{name}.predict: the model returned shape {x.shape}, expected ({len(xi)}, "
                             f"{family.n_vars}) for {family.name}; the card's loader or config does not fit the family")
        bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
        if bad.size:  # returned as computed (NaN marks the rows), but never silently
            warnings.warn(f"{name}.predict: {bad.size} of {len(x)} predictions are not finite (rows "
                          f"{', '.join(map(str, bad[:5]))}{', ...' if bad.size > 5 else ''}): the model (or the solver inside "
                          "it) returned no answer there, e.g. an infeasible instance or a diverged network"
                          + ("" if check_domain else "; ξ was not checked against the domain (check_domain=False)"),
                          RuntimeWarning, stacklevel=2)
        return x

    predict.__doc__ = f"Batched prediction of {name}: ξ (batch, {family.n_params}) -> x (batch, {family.n_vars})."
    return predict


# ---------------------------------------------------------------------------------------------------- targets
@dataclass(frozen=True)
class Target:
    """One target of a card and how a result fared: ``value`` against ``bound`` (``kind`` 'max' or 'min')."""

    field: str
    kind: str
    bound: float
    value: float | None

    @property
    def met(self) -> bool:
        if self.value is None or not np.isfinite(self.value):
            return False
        return self.value <= self.bound if self.kind == "max" else self.value >= self.bound

    def __str__(self) -> str:
        op = "≤" if self.kind == "max" else "≥"
        return f"{self.field} = {self.value:.3g} {op} {self.bound:g}" if self.value is not None else self.field


@dataclass
class TargetCheck:
    """The targets of a card that a result met, missed, or could not decide (timings, absent extras)."""

    model: str
    met: list[Target]
    missed: list[Target]
    unchecked: list[Target]

    @property
    def ok(self) -> bool:
        return not self.missed

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        parts = [f"{self.model}: {len(self.met)} target(s) met" + (f" ({'; '.join(map(str, self.met))})" if self.met else "")]
        if self.missed:
            parts.append(f"MISSED {'; '.join(map(str, self.missed))}")
        if self.unchecked:
            parts.append(f"not decided here: {'; '.join(map(str, self.unchecked))}")
        return ", ".join(parts)

    def require(self) -> TargetCheck:
        """Return self, or raise ``AssertionError`` naming the missed targets."""
        if self.missed:
            raise AssertionError(str(self))
        return self


def check(row: Any, card_: ModelCard | str, *, extra: dict[str, float] | None = None,
          timing: bool = False) -> TargetCheck:
    """Which of the card's targets ``row`` (a ``metrics.Row`` or a dict of its fields) meets.

    Targets on ``speedup``/``time_per_instance`` decide only with ``timing=True`` (timings are printed, never
    asserted); ``extra`` gives the values of the card's ``extra_targets`` (those absent are left undecided).
    """
    c = card(card_) if isinstance(card_, str) else card_
    return check_targets(c.name, c.targets, c.extra_targets, row, extra, timing)


def check_targets(name: str, targets: dict[str, float], extra_targets: dict[str, dict[str, float]], row: Any,
                  extra: dict[str, float] | None, timing: bool) -> TargetCheck:
    values = row.to_dict() if hasattr(row, "to_dict") else dict(row)
    if unknown := sorted(set(values) - set(ROW_FIELDS)):
        raise ValueError(f"check({name}): {unknown} are not fields of metrics.Row")
    met, missed, unchecked = [], [], []
    items = [(f, "min" if f in LOWER_BOUNDS else "max", b, values.get(f)) for f, b in targets.items()]
    items += [(f, *next(iter(s.items())), (extra or {}).get(f)) for f, s in extra_targets.items()]
    for f, kind, bound, value in items:
        t = Target(f, kind, float(bound), None if value is None else float(value))
        if value is None or (f in TIMING_FIELDS and not timing):
            unchecked.append(t)
        else:
            (met if t.met else missed).append(t)
    return TargetCheck(name, met, missed, unchecked)
