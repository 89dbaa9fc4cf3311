"""The scaling study's record: the JSON document ``python -m l2o_lib.scaling`` writes, its schema and reader."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from l2o_lib.paths import data_dir

SCHEMA = "l2o-book/scaling/1"
#: the largest size a crossing is extrapolated to from the power-law fits (further out means nothing)
EXTRAPOLATE_MAX = 1e6
KEYS = {"schema", "mode", "config", "environment", "seconds", "size", "size_skipped", "batch", "batch_skipped",
        "accuracy"}
SIZE_KEYS = {"family", "method", "kind", "n", "time_per_instance", "peak_mb", "batch"}
BATCH_KEYS = {"family", "method", "kind", "n", "batch", "time_per_instance", "peak_mb"}
ACCURACY_KEYS = {"family", "method", "n", "train_seconds", "gap_mean", "gap_max", "ineq_max", "eq_max",
                 "time_per_instance", "ref_time_per_instance"}


def default_path(quick: bool = False) -> Path:
    """Where the recorded sweep lives: ``scaling.json`` (or ``scaling_quick.json``) in the data folder."""
    return data_dir() / ("scaling_quick.json" if quick else "scaling.json")


def validate(doc: dict[str, Any]) -> dict[str, Any]:
    """Return ``doc`` if it is a scaling document (schema, keys, positive times); raise ValueError naming what is not."""
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ValueError(f"scaling: not a {SCHEMA} document (schema {doc.get('schema') if isinstance(doc, dict) else doc!r})")
    missing = KEYS - set(doc)
    if missing:
        raise ValueError(f"scaling: document lacks {sorted(missing)}")
    for section, keys in (("size", SIZE_KEYS), ("batch", BATCH_KEYS), ("accuracy", ACCURACY_KEYS)):
        for i, row in enumerate(doc[section]):
            lack = keys - set(row)
            if lack:
                raise ValueError(f"scaling: {section}[{i}] lacks {sorted(lack)}")
            t = row["time_per_instance"]
            if not (isinstance(t, (int, float)) and math.isfinite(t) and t > 0):
                raise ValueError(f"scaling: {section}[{i}] ({row['method']}, n={row['n']}) has time {t!r}")
    return doc


def load(path: str | Path | None = None) -> dict[str, Any]:
    """The recorded sweep (``scaling.json`` in ``$L2O_DATA_DIR`` or the repository's ``data/``), validated."""
    path = default_path() if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"scaling: no recorded sweep at {path}; run `python -m l2o_lib.scaling`")
    return validate(json.loads(path.read_text()))
