"""The model card: what ``NAME.json`` beside a weights file says about the model (schema :data:`CARD_SCHEMA`)."""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from l2o_lib import problems
from l2o_lib.metrics import Row
from l2o_lib.pretrained.loaders import LOADERS

CARD_SCHEMA = "l2o-book/model-card/2"
SIGN_COMMAND = "python -m l2o_lib.pretrained --write-manifest"

#: Row fields a card's headline and targets may use; targets on these are lower bounds, on the others upper bounds.
ROW_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Row))
NUMERIC_ROW_FIELDS: tuple[str, ...] = tuple(f for f in ROW_FIELDS if f not in ("method", "note"))
LOWER_BOUNDS = frozenset({"speedup", "n"})
#: Timing targets are reported by :func:`~l2o_lib.pretrained.check` but decide nothing unless asked.
TIMING_FIELDS = frozenset({"speedup", "time_per_instance"})

NAME = re.compile(r"[A-Za-z0-9_]+")
FILE = re.compile(r"[A-Za-z0-9_]+\.(safetensors|npz)")


class CardError(ValueError):
    """A card (or the manifest) that is malformed, or differs from what was signed; the message names the file."""


@dataclass
class ModelCard:
    """What the ``NAME.json`` file beside a weights file says about the model (schema :data:`CARD_SCHEMA`)."""

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
    headline_extra: dict[str, Any] = field(default_factory=dict)
    targets: dict[str, float] = field(default_factory=dict)
    extra_targets: dict[str, dict[str, float]] = field(default_factory=dict)
    regenerate: str = ""
    schema: str = CARD_SCHEMA

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True, default=jsonable)

    @classmethod
    def from_dict(cls, raw: Any, where: str) -> ModelCard:
        """A validated card; :class:`CardError` naming ``where`` and the field otherwise."""
        if not isinstance(raw, dict):
            raise CardError(f"{where}: a card is a JSON object, got {type(raw).__name__}")
        if raw.get("schema") != CARD_SCHEMA:
            raise CardError(f"{where}: field 'schema' is {raw.get('schema')!r}, expected {CARD_SCHEMA!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
        if missing := sorted(required - set(raw)):
            raise CardError(f"{where}: missing field(s) {missing}")
        if extra := sorted(set(raw) - names):
            raise CardError(f"{where}: unknown field(s) {extra}; a card has {sorted(names)}")
        card = cls(**raw)
        card.validate(where)
        return card

    def validate(self, where: str) -> None:
        """Check every field's type and value; :class:`CardError` naming ``where`` and the field."""
        def bad(fld: str, why: str) -> CardError:
            return CardError(f"{where}: field {fld!r} {why}")

        for fld in ("name", "family", "loader", "file", "sha256", "description", "chapter", "regenerate"):
            if not isinstance(getattr(self, fld), str):
                raise bad(fld, f"must be a string, got {type(getattr(self, fld)).__name__}")
        for fld in ("family_kwargs", "config", "headline", "headline_extra", "targets", "extra_targets"):
            if not isinstance(getattr(self, fld), dict):
                raise bad(fld, f"must be an object, got {type(getattr(self, fld)).__name__}")
        if not NAME.fullmatch(self.name):
            raise bad("name", f"must be letters, digits and underscores, got {self.name!r}")
        if not FILE.fullmatch(self.file):
            raise bad("file", f"must be a plain file name NAME.safetensors or NAME.npz in the data folder, got {self.file!r}")
        if not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise bad("sha256", f"must be 64 hex digits, got {self.sha256!r}")
        if self.family not in problems.FAMILIES:
            raise bad("family", f"{self.family!r} is not a registered family {sorted(problems.FAMILIES)}")
        if self.loader not in LOADERS:
            raise bad("loader", f"{self.loader!r} is not in l2o_lib's loader registry {sorted(LOADERS)}")
        for key, value in self.headline.items():
            if key not in ROW_FIELDS:
                raise bad("headline", f"key {key!r} is not a field of metrics.Row {list(ROW_FIELDS)}; "
                                      "other figures go in headline_extra")
            if key in ("method", "note"):
                if not isinstance(value, str):
                    raise bad("headline", f"{key!r} must be a string, got {value!r}")
            elif value is not None and not is_number(value):
                raise bad("headline", f"{key!r} must be a number or null, got {value!r}")
        for key, value in self.targets.items():
            if key not in NUMERIC_ROW_FIELDS:
                raise bad("targets", f"key {key!r} is not a numeric field of metrics.Row {list(NUMERIC_ROW_FIELDS)}; "
                                     "other targets go in extra_targets")
            if not is_number(value) or not np.isfinite(value):
                raise bad("targets", f"{key!r} must be a finite number, got {value!r}")
        for key, spec in self.extra_targets.items():
            if not (isinstance(spec, dict) and len(spec) == 1 and next(iter(spec)) in ("min", "max")
                    and is_number(next(iter(spec.values()))) and np.isfinite(next(iter(spec.values())))):
                raise bad("extra_targets", f"{key!r} must be {{'min': number}} or {{'max': number}}, got {spec!r}")


#: every card field the manifest signs (all of them but the weights' own hash, which it records as ``weights``)
SIGNED_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ModelCard) if f.name != "sha256")


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def jsonable(v: Any) -> Any:
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON serializable: {type(v).__name__}")


def plain(value: Any) -> Any:
    """``value`` as it reads back from JSON (numpy scalars to Python, tuples to lists)."""
    return json.loads(json.dumps(value, default=jsonable))
