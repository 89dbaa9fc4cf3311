"""Files of the data folder: names, weights, cards on disk, and the manifest that signs them.

``manifest.json`` records, per model, the sha256 of its weights and of every card field (:data:`SIGNED_FIELDS`);
a model whose card or weights differ from it is refused. The digests detect a changed file; they are not a
secret-keyed signature (anyone who can write the folder can re-sign it with :data:`SIGN_COMMAND`), which is why
a card can name only a loader of the registry and nothing in a card is ever run or printed as an instruction.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from l2o_lib.paths import data_dir
from l2o_lib.pretrained.card import FILE, NAME, SIGN_COMMAND, SIGNED_FIELDS, CardError, ModelCard, plain

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "l2o-book/model-manifest/2"
FORMATS = (".safetensors", ".npz")


def check_name(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"model name must be a string, got {type(name).__name__}")
    if not NAME.fullmatch(name):
        raise ValueError(f"model name must be letters, digits and underscores (a plain name, no path), got {name!r}")
    return name


def inside(folder: Path, file: str, where: str) -> Path:
    """``folder / file`` for a plain file name that resolves inside ``folder`` (no path, no link out)."""
    if not FILE.fullmatch(file):
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


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise CardError(f"{path}: not valid JSON ({exc})") from None


def card_paths(folder: Path, *, with_manifest: bool = True) -> list[Path]:
    """The cards of a folder: every ``NAME.json`` with a weights file beside it or signed in the manifest
    (``with_manifest=False``: beside a weights file only, the manifest unread)."""
    if not folder.is_dir():
        return []
    signed = set(read_manifest(folder)) if with_manifest else set()
    return sorted(p for p in folder.glob("*.json")
                  if p.stem in signed or any(p.with_suffix(s).is_file() for s in FORMATS))


def read_tensors(path: Path) -> dict[str, np.ndarray]:
    """Arrays from a ``.safetensors`` or ``.npz`` file (npz read with ``allow_pickle=False``)."""
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        return load_file(str(path))
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    raise ValueError(f"unsupported weights format {path.suffix!r}; use one of {FORMATS}")


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def field_hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(plain(value), sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def manifest_entry(c: ModelCard, weights_sha256: str) -> dict[str, Any]:
    """What the manifest records for one model: the weights' hash and one hash per card field."""
    return {"weights": weights_sha256, "fields": {f: field_hash(getattr(c, f)) for f in SIGNED_FIELDS}}


def read_manifest(folder: Path | None = None) -> dict[str, dict[str, Any]]:
    """``{model: entry}`` from ``manifest.json`` (empty when the folder has none)."""
    path = (folder or data_dir()) / MANIFEST
    if not path.is_file():
        return {}
    raw = read_json(path)
    if not isinstance(raw, dict) or raw.get("schema") != MANIFEST_SCHEMA or not isinstance(raw.get("models"), dict):
        raise CardError(f"{path}: not a model manifest (schema {MANIFEST_SCHEMA!r}); rewrite it with: {SIGN_COMMAND}")
    return raw["models"]


def write_manifest_doc(folder: Path, models: dict[str, dict[str, Any]]) -> Path:
    doc = {"schema": MANIFEST_SCHEMA,
           "about": "sha256 of each model's weights and of every field of its card; written by "
                    f"`{SIGN_COMMAND}`, checked by pretrained.load",
           "models": dict(sorted(models.items()))}
    path = folder / MANIFEST
    atomic_write_text(path, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return path


def verify_card(c: ModelCard, folder: Path) -> dict[str, Any]:
    """Check every field of card ``c`` against the manifest of ``folder``; returns the model's manifest entry."""
    where = str(folder / f"{c.name}.json")
    signed = read_manifest(folder).get(c.name)
    if signed is None:
        raise CardError(f"{where}: model {c.name!r} is not in {folder / MANIFEST}; a card dropped into the folder is "
                        f"not loaded until the folder is re-signed with: {SIGN_COMMAND}")
    changed = [f for f in SIGNED_FIELDS if signed.get("fields", {}).get(f) != field_hash(getattr(c, f))]
    if changed:
        raise CardError(f"{where}: field(s) {changed} differ from what {MANIFEST} signed; if the change is intended "
                        f"re-sign with: {SIGN_COMMAND}")
    return signed


def verified_weights(c: ModelCard, folder: Path, *, verify: bool = True) -> Path:
    """The weights path of card ``c``, the card checked against the manifest first, the weights against both."""
    path = inside(folder, c.file, str(folder / f"{c.name}.json"))
    signed = verify_card(c, folder)
    if not path.is_file():
        raise FileNotFoundError(f"weights of {c.name!r} missing: {path}; regenerate with: {c.regenerate}")
    if verify:
        digest = sha256(path)
        if digest != c.sha256 or digest != signed.get("weights"):
            raise CardError(f"checksum mismatch for {path.name}: card says {c.sha256[:12]}…, manifest "
                            f"{str(signed.get('weights'))[:12]}…, file is {digest[:12]}…; the file changed after it was "
                            f"signed (regenerate with: {c.regenerate})")
    return path


def sign(folder: Path | None = None) -> Path:
    """(Re)write the manifest of ``folder`` from its cards and weights; idempotent.

    Signs what is there: run it after a deliberate change, never to silence a mismatch you cannot explain.
    """
    folder = folder or data_dir()
    models = {}
    for path in card_paths(folder, with_manifest=False):
        c = ModelCard.from_dict(read_json(path), str(path))
        if c.name != path.stem:
            raise CardError(f"{path}: field 'name' is {c.name!r} but the file is {path.name}")
        weights = inside(folder, c.file, str(path))
        digest = sha256(weights)
        if digest != c.sha256:
            raise CardError(f"{path}: field 'sha256' {c.sha256[:12]}… does not match {c.file} ({digest[:12]}…); "
                            "regenerate the model rather than sign a file its card does not describe")
        text = c.to_json() + "\n"
        if path.read_text() != text:
            atomic_write_text(path, text)
        models[c.name] = manifest_entry(c, digest)
    return write_manifest_doc(folder, models)
