"""Nearest-neighbour strategy lookup: the learning-free middle ground between explicit MPC and a classifier.

The candidates for a state are the strategies of its ``k`` nearest training states (nearest first), given as
scores to the certified pipeline (``CertifiedSolver(laws, NearestStrategy(...))`` of :mod:`l2o_lib.enhance`): the
same region tests, the same fallback. Nothing is trained; what it stores is the training states and their strategy
indices.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class NearestStrategy:
    """Scores over ``n_strategies``: the strategies of the ``k`` nearest training states get k, k − 1, … (a
    strategy met twice keeps its better score), every other strategy −inf. A scipy k-d tree finds the neighbours."""

    def __init__(self, xi_train: Any, strategy: Any, n_strategies: int, *, k: int = 3):
        from scipy.spatial import cKDTree

        xi_train = np.asarray(xi_train, dtype=float)
        strategy = np.asarray(strategy, dtype=np.int64)
        if xi_train.ndim != 2 or strategy.shape != (len(xi_train),):
            raise ValueError(f"NearestStrategy: need states (n, n_ξ) and one strategy index each, got {xi_train.shape} "
                             f"and {strategy.shape}")
        if strategy.min(initial=0) < 0 or strategy.max(initial=0) >= n_strategies:
            raise ValueError(f"NearestStrategy: strategy indices must lie in [0, {n_strategies})")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"NearestStrategy: k must be a positive integer, got {k!r}")
        self.tree = cKDTree(xi_train)
        self.strategy, self.n_strategies, self.k = strategy, int(n_strategies), int(k)
        self.xi_train = xi_train

    def storage_bytes(self) -> int:
        """The training states and their strategy indices (the k-d tree's own index not counted)."""
        return int(self.xi_train.nbytes + self.strategy.nbytes)

    def __call__(self, xi: Any) -> np.ndarray:
        """Scores (batch, n_strategies)."""
        xi = np.asarray(xi, dtype=float)
        _, idx = self.tree.query(xi, k=self.k)
        idx = np.asarray(idx).reshape(len(xi), self.k)
        scores = np.full((len(xi), self.n_strategies), -np.inf)
        rows = np.arange(len(xi))
        for j in range(self.k - 1, -1, -1):  # nearest last: its score wins where a strategy repeats
            scores[rows, self.strategy[idx[:, j]]] = self.k - j
        return scores

    def one(self, xi: np.ndarray) -> np.ndarray:
        """Scores (n_strategies,) of one state (n_ξ,)."""
        _, idx = self.tree.query(xi, k=self.k)
        idx = np.atleast_1d(idx)
        scores = np.full(self.n_strategies, -np.inf)
        for j in range(self.k - 1, -1, -1):
            scores[self.strategy[idx[j]]] = self.k - j
        return scores
