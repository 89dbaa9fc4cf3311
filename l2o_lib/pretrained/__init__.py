"""Registry of the book's shipped models: name -> (problem, batched predict), weights in the data folder.

Each model is two files in the data folder (:func:`~l2o_lib.paths.data_dir`): ``NAME.safetensors`` (or
``NAME.npz``, plain arrays, never pickle) and ``NAME.json``, its card (:mod:`.card`): the problem family and its
parameters, the loader that rebuilds the model (a name in :data:`LOADERS`, never an import path), the training
configuration, the sha256 of the weights, the headline figures and the targets (both keyed by the fields of
:class:`l2o_lib.metrics.Row`), and the command that regenerates it. ``manifest.json`` (:mod:`.store`) records the
hash of the weights and of every card field; :func:`load` refuses a model whose card or weights differ from it.
After a deliberate change (a retrained model) re-sign the folder with

    python -m l2o_lib.pretrained --write-manifest

    >>> from l2o_lib import pretrained
    >>> model = pretrained.load("ch1_direct_mlp")
    >>> xi = model.problem.sample(1000, seed=1); x = model.predict(xi)

Layout: :mod:`.card` (schema), :mod:`.loaders` (the registry of loaders), :mod:`.store` (files, manifest),
:mod:`.registry` (load, check), :mod:`.lifecycle` (save, shipped_or_trained, save_if_requested), :mod:`.cli`.
"""

from l2o_lib.paths import DATA_ENV, data_dir
from l2o_lib.predict import Loaded
from l2o_lib.pretrained.card import (
    CARD_SCHEMA,
    LOWER_BOUNDS,
    NUMERIC_ROW_FIELDS,
    ROW_FIELDS,
    SIGN_COMMAND,
    SIGNED_FIELDS,
    TIMING_FIELDS,
    CardError,
    ModelCard,
)
from l2o_lib.pretrained.cli import main
from l2o_lib.pretrained.lifecycle import Choice, save, save_if_requested, shipped_or_trained
from l2o_lib.pretrained.loaders import LOADERS, resolve
from l2o_lib.pretrained.registry import (
    Pretrained,
    Target,
    TargetCheck,
    available,
    card,
    check,
    checked_predict,
    load,
)
from l2o_lib.pretrained.store import MANIFEST, MANIFEST_SCHEMA, read_manifest, read_tensors, sha256, sign

#: ``write_manifest(folder)`` re-signs a data folder (the command line's ``--write-manifest``)
write_manifest = sign

__all__ = [
    "CARD_SCHEMA", "DATA_ENV", "LOADERS", "LOWER_BOUNDS", "MANIFEST", "MANIFEST_SCHEMA", "NUMERIC_ROW_FIELDS",
    "ROW_FIELDS", "SIGNED_FIELDS", "SIGN_COMMAND", "TIMING_FIELDS", "CardError", "Choice", "Loaded", "ModelCard",
    "Pretrained", "Target", "TargetCheck", "available", "card", "check", "checked_predict", "data_dir", "load", "main",
    "read_manifest", "read_tensors", "resolve", "save", "save_if_requested", "sha256", "shipped_or_trained", "sign",
    "write_manifest",
]
