"""Helpers the shipped-model tests share: load a registered model (skip when it is not shipped), and draw and
solve fresh held-out instances for it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from l2o_lib import metrics, pretrained


def load_or_skip(name: str) -> Any:
    """The registered model ``name``; the test is skipped when data/ does not ship it."""
    if name not in pretrained.available():
        pytest.skip(f"{name} is not shipped in {pretrained.data_dir()}")
    return pretrained.load(name)


def fresh_instances(model: Any, n: int, seed: int) -> tuple[np.ndarray, Any]:
    """``n`` instances of the model's problem drawn with ``seed`` (pick one its chapter never used), solved."""
    xi = model.problem.sample(n, seed=seed)
    return xi, model.problem.solve(xi).require_ok()


def shipped_fixtures(name: str, n: int, seed: int) -> tuple[Any, Any]:
    """Module-scoped pytest fixtures ``model`` (the registered model, skipped if not shipped) and ``fresh``
    (``n`` instances drawn with ``seed`` and solved); assign them as ``model, fresh = shipped_fixtures(...)``."""

    @pytest.fixture(scope="module")
    def model() -> Any:
        return load_or_skip(name)

    @pytest.fixture(scope="module")
    def fresh(model: Any) -> tuple[np.ndarray, Any]:
        return fresh_instances(model, n, seed)

    return model, fresh


def assert_gap_mean_not_rejected(family: Any, x: np.ndarray, xi: np.ndarray, ref: Any, card: Any) -> None:
    """A card's ``gap_mean`` target is a population figure: a fresh sample must not reject it at three standard
    errors (a model whose mean sits near its target, carried by a few instances, passes one sample and not
    another). No target on the card: nothing to check."""
    target = card.targets.get("gap_mean")
    if target is None:
        return
    gaps = metrics.per_instance(family, x, xi, ref)["gap"]
    margin = 3 * gaps.std(ddof=1) / np.sqrt(len(gaps))
    assert gaps.mean() - margin <= target, (gaps.mean(), margin, target)
