"""Registry of the book's shipped models: name -> (problem, batched predict), weights in ``data/``.

Each model is two files in the data folder: ``NAME.safetensors`` (or ``NAME.npz``, plain arrays,
never pickle) and ``NAME.json``, its card (schema :data:`CARD_SCHEMA`): the problem family and its
parameters, the loader that rebuilds the model (a name in :data:`LOADERS`, never an import path), the
training configuration, the sha256 of the weights, the headline figures and the targets (both keyed by
the fields of :class:`l2o_lib.metrics.Row`), and the command that regenerates it.

``manifest.json`` in the same folder records, per model, the hash of the weights and of every card field
that rebuilds the model; :func:`load` refuses a model whose card or weights differ from it. After a
deliberate change (a retrained model, a migrated card) re-sign the folder with

    python -m l2o_lib.pretrained --write-manifest

    >>> from l2o_lib import pretrained
    >>> model = pretrained.load("ch1_direct_mlp")
    >>> xi = model.problem.sample(1000, seed=1); x = model.predict(xi)

The data folder is ``$L2O_DATA_DIR`` when set (the Colab setup cell sets it), else ``data/`` beside
the package in a checkout.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib
import json
import os
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from l2o_lib import problems
from l2o_lib.metrics import Row
from l2o_lib.problems.base import ProblemFamily

DATA_ENV = "L2O_DATA_DIR"
CARD_SCHEMA = "l2o-book/model-card/2"
MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "l2o-book/model-manifest/1"
SIGN_COMMAND = "python -m l2o_lib.pretrained --write-manifest"
_FORMATS = (".safetensors", ".npz")

#: Every function that may rebuild a shipped model: card name -> ``l2o_lib`` module and function. A card naming
#: anything else is refused before anything is imported. A new kind of model adds one line here.
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
}

#: Row fields a card's headline and targets may use; targets on these are lower bounds, on the others upper bounds.
ROW_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Row))
NUMERIC_ROW_FIELDS: tuple[str, ...] = tuple(f for f in ROW_FIELDS if f not in ("method", "note"))
LOWER_BOUNDS = frozenset({"speedup", "n"})
#: Timing targets are reported by :func:`check` but decide nothing unless asked (timings are never asserted).
TIMING_FIELDS = frozenset({"speedup", "time_per_instance"})
#: The card fields that rebuild the model; the manifest hashes each of them with the weights.
REBUILD_FIELDS = ("name", "family", "family_kwargs", "loader", "config", "file")

_NAME = re.compile(r"[A-Za-z0-9_]+")
_FILE = re.compile(r"[A-Za-z0-9_]+\.(safetensors|npz)")


class CardError(ValueError):
    """A card (or the manifest) that is malformed, or differs from what was signed; the message names the file."""


def data_dir() -> Path:
    """Where shipped data and weights live."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "data"


# ---------------------------------------------------------------------------------------------------- the card
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
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True, default=_jsonable)

    @classmethod
    def from_dict(cls, raw: Any, where: str) -> ModelCard:
        """A validated card; :class:`CardError` naming ``where`` and the field otherwise."""
        if not isinstance(raw, dict):
            raise CardError(f"{where}: a card is a JSON object, got {type(raw).__name__}")
        if raw.get("schema") != CARD_SCHEMA:
            raise CardError(f"{where}: field 'schema' is {raw.get('schema')!r}, expected {CARD_SCHEMA!r}; "
                            f"migrate old cards with: {SIGN_COMMAND}")
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
        if not _NAME.fullmatch(self.name):
            raise bad("name", f"must be letters, digits and underscores, got {self.name!r}")
        if not _FILE.fullmatch(self.file):
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
            elif value is not None and not _is_number(value):
                raise bad("headline", f"{key!r} must be a number or null, got {value!r}")
        for key, value in self.targets.items():
            if key not in NUMERIC_ROW_FIELDS:
                raise bad("targets", f"key {key!r} is not a numeric field of metrics.Row {list(NUMERIC_ROW_FIELDS)}; "
                                     "other targets go in extra_targets")
            if not _is_number(value) or not np.isfinite(value):
                raise bad("targets", f"{key!r} must be a finite number, got {value!r}")
        for key, spec in self.extra_targets.items():
            if not (isinstance(spec, dict) and len(spec) == 1 and next(iter(spec)) in ("min", "max")
                    and _is_number(next(iter(spec.values())))):
                raise bad("extra_targets", f"{key!r} must be {{'min': number}} or {{'max': number}}, got {spec!r}")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON serializable: {type(v).__name__}")


def _plain(value: Any) -> Any:
    """``value`` as it reads back from JSON (numpy scalars to Python, tuples to lists)."""
    return json.loads(json.dumps(value, default=_jsonable))


@dataclass
class Pretrained:
    """A loaded model: its problem family and a batched ``predict(ξ) -> x`` on numpy arrays."""

    name: str
    problem: ProblemFamily
    predict: Callable[[np.ndarray], np.ndarray]
    card: ModelCard

    def __call__(self, xi: np.ndarray) -> np.ndarray:
        return self.predict(xi)

    def tensors(self) -> dict[str, np.ndarray]:
        """The model's weights as numpy arrays (checked against the card and the manifest)."""
        return read_tensors(_verified_weights(self.card, data_dir()))


# ---------------------------------------------------------------------------------------------------- names, files
def _check_name(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"model name must be a string, got {type(name).__name__}")
    if not _NAME.fullmatch(name):
        raise ValueError(f"model name must be letters, digits and underscores (a plain name, no path), got {name!r}")
    return name


def _inside(folder: Path, file: str, where: str) -> Path:
    if not _FILE.fullmatch(file):
        raise CardError(f"{where}: field 'file' must be a plain file name in the data folder, got {file!r}")
    path = (folder / file).resolve()
    if path.parent != folder.resolve():
        raise CardError(f"{where}: field 'file' {file!r} resolves outside the data folder {folder}")
    return path


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _card_paths(folder: Path) -> list[Path]:
    """The cards of a folder: every ``NAME.json`` with a weights file beside it or signed in the manifest."""
    if not folder.is_dir():
        return []
    signed = set(read_manifest(folder))
    return sorted(p for p in folder.glob("*.json")
                  if p.stem in signed or any(p.with_suffix(s).is_file() for s in _FORMATS))


def available() -> list[str]:
    """Names of the models whose cards are in the data folder (a card that does not parse raises)."""
    names = []
    for path in _card_paths(data_dir()):
        _read_json(path)
        names.append(path.stem)
    return names


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise CardError(f"{path}: not valid JSON ({exc})") from None


def card(name: str) -> ModelCard:
    """The validated card of model ``name``; ``KeyError`` naming the known models when it is not there."""
    _check_name(name)
    path = data_dir() / f"{name}.json"
    if path not in _card_paths(data_dir()):
        raise KeyError(f"unknown pretrained model {name!r}; available: {available()} (in {data_dir()})")
    c = ModelCard.from_dict(_read_json(path), str(path))
    if c.name != name:
        raise CardError(f"{path}: field 'name' is {c.name!r} but the file is {name}.json")
    return c


def read_tensors(path: Path) -> dict[str, np.ndarray]:
    """Arrays from a ``.safetensors`` or ``.npz`` file (npz read with ``allow_pickle=False``)."""
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        return load_file(str(path))
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    raise ValueError(f"unsupported weights format {path.suffix!r}; use one of {_FORMATS}")


# ---------------------------------------------------------------------------------------------------- manifest
def _field_hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(_plain(value), sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def manifest_entry(c: ModelCard, weights_sha256: str) -> dict[str, Any]:
    """What the manifest records for one model: the weights' hash and one hash per rebuild field."""
    return {"weights": weights_sha256, "fields": {f: _field_hash(getattr(c, f)) for f in REBUILD_FIELDS}}


def read_manifest(folder: Path | None = None) -> dict[str, dict[str, Any]]:
    """``{model: entry}`` from ``manifest.json`` (empty when the folder has none)."""
    path = (folder or data_dir()) / MANIFEST
    if not path.is_file():
        return {}
    raw = _read_json(path)
    if not isinstance(raw, dict) or raw.get("schema") != MANIFEST_SCHEMA or not isinstance(raw.get("models"), dict):
        raise CardError(f"{path}: not a model manifest (schema {MANIFEST_SCHEMA!r}); rewrite it with: {SIGN_COMMAND}")
    return raw["models"]


def _write_manifest(folder: Path, models: dict[str, dict[str, Any]]) -> Path:
    doc = {"schema": MANIFEST_SCHEMA,
           "about": "sha256 of each model's weights and of the card fields that rebuild it; written by "
                    f"`{SIGN_COMMAND}`, checked by pretrained.load",
           "models": dict(sorted(models.items()))}
    path = folder / MANIFEST
    _atomic_write_text(path, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return path


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _verified_weights(c: ModelCard, folder: Path, *, verify: bool = True) -> Path:
    """The weights path of card ``c``, checked against the card's sha256 and the manifest."""
    where = str(folder / f"{c.name}.json")
    path = _inside(folder, c.file, where)
    if not path.is_file():
        raise FileNotFoundError(f"weights of {c.name!r} missing: {path}; regenerate with: {c.regenerate}")
    signed = read_manifest(folder).get(c.name)
    if signed is None:
        raise CardError(f"{where}: model {c.name!r} is not in {folder / MANIFEST}; a card dropped into the folder is "
                        f"not loaded until the folder is re-signed with: {SIGN_COMMAND}")
    changed = [f for f in REBUILD_FIELDS if signed.get("fields", {}).get(f) != _field_hash(getattr(c, f))]
    if changed:
        raise CardError(f"{where}: field(s) {changed} differ from what {MANIFEST} signed; if the change is intended "
                        f"re-sign with: {SIGN_COMMAND}")
    if verify:
        digest = sha256(path)
        if digest != c.sha256 or digest != signed.get("weights"):
            raise CardError(f"checksum mismatch for {path.name}: card says {c.sha256[:12]}…, manifest "
                            f"{str(signed.get('weights'))[:12]}…, file is {digest[:12]}…; the file changed after it was "
                            f"signed (regenerate with: {c.regenerate})")
    return path


# ---------------------------------------------------------------------------------------------------- loading
def resolve(loader: str) -> Callable:
    """The function registered as ``loader`` in :data:`LOADERS`; nothing outside the registry is imported."""
    if not isinstance(loader, str) or loader not in LOADERS:
        raise ValueError(f"loader {loader!r} is not in l2o_lib's loader registry {sorted(LOADERS)} "
                         "(pretrained.LOADERS); nothing was imported")
    module, _, attr = LOADERS[loader].partition(":")
    if not module.startswith("l2o_lib."):  # the table itself must stay inside the library
        raise ValueError(f"loader {loader!r} points outside l2o_lib: {LOADERS[loader]!r}")
    return getattr(importlib.import_module(module), attr)


def _loader_name(loader: str) -> str:
    """A registry name from a name or from the ``module:function`` it stands for."""
    if loader in LOADERS:
        return loader
    for key, target in LOADERS.items():
        if target == loader:
            return key
    raise ValueError(f"loader {loader!r} is not in l2o_lib's loader registry {sorted(LOADERS)}; "
                     "add one line to pretrained.LOADERS for a new kind of model")


def load(name: str, *, verify: bool = True) -> Pretrained:
    """Load model ``name``: check its card, the manifest and the weights' sha256, rebuild family and predict."""
    c = card(name)
    loader = resolve(c.loader)
    path = _verified_weights(c, data_dir(), verify=verify)
    family = problems.get(c.family, **c.family_kwargs)
    predict = loader(family, read_tensors(path), c.config)
    return Pretrained(name=name, problem=family, predict=_checked_predict(family, predict, name), card=c)


def _checked_predict(family: ProblemFamily, fn: Callable, name: str) -> Callable[[np.ndarray], np.ndarray]:
    def predict(xi: np.ndarray, *, check_domain: bool = True) -> np.ndarray:
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
                          f"{', '.join(map(str, bad[:5]))}{', ...' if bad.size > 5 else ''}): the model diverged there"
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
    return _check_targets(c.name, c.targets, c.extra_targets, row, extra, timing)


def _check_targets(name: str, targets: dict[str, float], extra_targets: dict[str, dict[str, float]], row: Any,
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


# ---------------------------------------------------------------------------------------------------- saving
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
    _check_name(name)
    if fmt not in _FORMATS:
        raise ValueError(f"fmt must be one of {_FORMATS}, got {fmt!r}")
    params = _plain(family.params)
    if family_kwargs is not None and {**params, **_plain(family_kwargs)} != params:
        raise ValueError(f"save({name}): family_kwargs {family_kwargs} disagree with the family's own parameters {params}")
    arrays = {k: np.ascontiguousarray(np.asarray(v)) for k, v in tensors.items()}
    for k, v in arrays.items():
        if v.dtype == object or not np.all(np.isfinite(v)):
            raise ValueError(f"tensor {k!r} of {name!r} is not a finite numeric array")
    head = headline.to_dict() if hasattr(headline, "to_dict") else dict(headline or {})
    folder = data_dir()
    c = ModelCard(name=name, family=problems.key_of(family), family_kwargs=params, loader=_loader_name(loader),
                  file=f"{name}{fmt}", sha256="0" * 64, description=description, chapter=chapter,
                  config=_plain(config or {}), headline=_plain(head), headline_extra=_plain(headline_extra or {}),
                  targets=_plain(targets or {}), extra_targets=_plain(extra_targets or {}), regenerate=regenerate)
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
    _atomic_write_text(folder / f"{name}.json", c.to_json() + "\n")
    models = read_manifest(folder)
    models[name] = manifest_entry(c, c.sha256)
    _write_manifest(folder, models)
    return path


# ---------------------------------------------------------------------------------------------------- lifecycle
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

    _check_name(name)
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

    _check_name(name)
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
    _check_targets(name, card_fields.get("targets") or {}, card_fields.get("extra_targets") or {}, head, extra,
                   False).require()
    path = save(name, arrays, family=problem, headline=head, **card_fields)
    print(f"saved {name} to {path.parent}")
    return path


# ---------------------------------------------------------------------------------------------------- migration
_TARGET_ALIASES = {"gap_mean_percent": "gap_mean", "gap_mean_percent_below": "gap_mean", "gap_mean_pct": "gap_mean",
                   "gap_max_percent": "gap_max", "gap_max_pct": "gap_max", "speedup_min": "speedup",
                   "n_test": "n", "speedup_vs_clarabel": "speedup", "speedup_vs_clarabel_solver": "speedup"}
_BOTH_VIOLATIONS = ("violation_max", "violation_max_below")
_LOWER_EXTRAS = ("iteration_ratio", "wall_ratio")  # old cards' lower bounds without a _min suffix


def migrate(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """An old (schema-less) card as a :data:`CARD_SCHEMA` card: targets and headline keyed by Row fields."""
    if raw.get("schema") == CARD_SCHEMA:
        return raw
    if "schema" in raw:
        raise CardError(f"{where}: unknown card schema {raw['schema']!r}")
    out = {k: raw[k] for k in ("name", "family", "family_kwargs", "file", "sha256", "description", "chapter",
                               "config", "regenerate") if k in raw}
    out["schema"] = CARD_SCHEMA
    out["loader"] = _loader_name(raw.get("loader", ""))
    if raw.get("family") in problems.FAMILIES and isinstance(raw.get("family_kwargs", {}), dict):
        # spell out every parameter (defaults included), so the manifest also covers a changed default
        out["family_kwargs"] = _plain(problems.get(raw["family"], **raw.get("family_kwargs", {})).params)
    headline, head_extra = {}, {}
    old_head = dict(raw.get("headline") or {})
    if isinstance(old_head.get("best"), dict):  # a chapter that recorded several rows marked its model "best"
        head_extra.update({k: v for k, v in old_head.items() if k != "best"})
        old_head = old_head["best"]
    for key, value in old_head.items():
        k = _TARGET_ALIASES.get(key, key)
        if k in ROW_FIELDS and k not in headline and (isinstance(value, str) if k in ("method", "note")
                                                     else value is None or _is_number(value)):
            headline[k] = value
        else:
            head_extra[key] = value
    targets, extra_targets = {}, {}
    for key, value in (raw.get("targets") or {}).items():
        if key in _BOTH_VIOLATIONS:
            targets["eq_max"] = targets["ineq_max"] = value
            continue
        k = _TARGET_ALIASES.get(key, key)
        if k in NUMERIC_ROW_FIELDS:
            targets[k] = value
        elif key.endswith("_min"):
            extra_targets[key[:-4]] = {"min": value}
        elif key in _LOWER_EXTRAS or "speedup" in key:
            extra_targets[key] = {"min": value}
        else:
            extra_targets[key] = {"max": value}
    out.update(headline=headline, headline_extra=head_extra, targets=targets, extra_targets=extra_targets)
    return out


def write_manifest(folder: Path | None = None) -> Path:
    """Migrate every old card of ``folder`` to :data:`CARD_SCHEMA` and (re)write its manifest; idempotent.

    Signs what is there: run it after a deliberate change, never to silence a mismatch you cannot explain.
    """
    folder = folder or data_dir()
    models = {}
    for path in _card_paths(folder):
        raw = _read_json(path)
        if not isinstance(raw, dict):
            raise CardError(f"{path}: a card is a JSON object")
        new = migrate(raw, str(path))
        if new is not raw:  # an old card: show what its targets became, for review
            print(f"migrated {path.name}: targets {new['targets']}, extra_targets {new['extra_targets']}")
        c = ModelCard.from_dict(new, str(path))
        if c.name != path.stem:
            raise CardError(f"{path}: field 'name' is {c.name!r} but the file is {path.name}")
        weights = _inside(folder, c.file, str(path))
        digest = sha256(weights)
        if digest != c.sha256:
            raise CardError(f"{path}: field 'sha256' {c.sha256[:12]}… does not match {c.file} ({digest[:12]}…); "
                            "regenerate the model rather than sign a file its card does not describe")
        text = c.to_json() + "\n"
        if path.read_text() != text:
            _atomic_write_text(path, text)
        models[c.name] = manifest_entry(c, digest)
    return _write_manifest(folder, models)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m l2o_lib.pretrained", description="Sign and check the shipped models.")
    ap.add_argument("--write-manifest", action="store_true",
                    help="migrate old cards to the current schema and rewrite manifest.json (idempotent)")
    ap.add_argument("--check", action="store_true", help="verify every card and weights file against the manifest")
    ap.add_argument("--data-dir", type=Path, default=None, help=f"folder (default ${DATA_ENV} or data/)")
    args = ap.parse_args(argv)
    folder = args.data_dir or data_dir()
    if not folder.is_dir():
        ap.error(f"--data-dir {folder} is not a folder")
    if args.write_manifest:
        path = write_manifest(folder)
        print(f"signed {len(read_manifest(folder))} model(s) in {path}")
    if args.check or not args.write_manifest:
        bad = 0
        for p in _card_paths(folder):
            try:
                _verified_weights(ModelCard.from_dict(_read_json(p), str(p)), folder)
            except (CardError, FileNotFoundError) as exc:
                bad += 1
                print(f"FAIL {exc}", file=sys.stderr)
        print(f"{len(_card_paths(folder)) - bad} of {len(_card_paths(folder))} model(s) match the manifest")
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
