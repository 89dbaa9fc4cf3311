"""Where the book's shipped data lives: ``$L2O_DATA_DIR`` when set (the Colab setup cell sets it), else ``data/``
beside the package in a checkout. Every module that reads shipped files asks here."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "L2O_DATA_DIR"


def data_dir() -> Path:
    """The folder of shipped weights, cards, label caches and recorded figures."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "data"
