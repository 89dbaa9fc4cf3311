"""What an explicit MPC controller stores: the critical regions, their affine laws and their vertices."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Partition:
    """Critical regions of one LinearMPC, each a polytope {ξ : a·ξ ≤ b for its rows} with an affine plan law.

    ``rows[offsets[r]:offsets[r + 1]]`` are region r's non-redundant halfspaces ``[a, b]`` (unit normals a,
    box rows included); ``plan_law[r]`` maps [ξ; 1] to the N·nu inputs (u₀ first); ``vertices`` likewise by
    ``vertex_offsets``. ``complete`` says whether the last completeness check found every sampled feasible
    state inside a region (``coverage``: the share it found, on ``checked`` states); ``history`` holds
    (seconds, regions, coverage) through the build (coverage None between the checks): the enumeration's growth.
    """

    strategies: np.ndarray
    rows: np.ndarray
    offsets: np.ndarray
    plan_law: np.ndarray
    vertices: np.ndarray
    vertex_offsets: np.ndarray
    center: np.ndarray
    radius: np.ndarray
    nu: int
    xi_bound: float
    build_seconds: float
    complete: bool
    coverage: float
    checked: int
    time_limit: float
    thin_skipped: int
    history: tuple[tuple[float, int, float | None], ...] = ()

    def __len__(self) -> int:
        return len(self.strategies)

    @property
    def n_params(self) -> int:
        return self.rows.shape[1] - 1

    @property
    def u0_law(self) -> np.ndarray:
        """(R, nu, n_ξ + 1): u₀ = L [ξ; 1] in each region."""
        return self.plan_law[:, :self.nu]

    def region_rows(self, r: int) -> np.ndarray:
        """Region r's halfspaces [a, b] (a·ξ ≤ b)."""
        return self.rows[self.offsets[r]:self.offsets[r + 1]]

    def region_vertices(self, r: int) -> np.ndarray:
        """Region r's vertices (n_vertices, n_ξ)."""
        return self.vertices[self.vertex_offsets[r]:self.vertex_offsets[r + 1]]

    def storage_bytes(self, *, plan: bool = False) -> int:
        """Bytes an explicit controller stores: the regions' halfspaces (float64) and row offsets, and the u₀ laws
        (``plan``: the laws of the whole plan)."""
        law = self.plan_law if plan else self.u0_law
        return int(self.rows.nbytes + self.offsets.nbytes + law.size * 8)

    def evaluate(self, xi: np.ndarray, region: np.ndarray, *, plan: bool = False) -> np.ndarray:
        """u₀ (or the plan) of each state by its region's law; NaN where ``region`` is −1 (outside)."""
        xi = np.asarray(xi, dtype=float)
        law = self.plan_law if plan else self.u0_law
        region = np.asarray(region)
        out = np.full((len(xi), law.shape[1]), np.nan)
        ok = region >= 0
        xi1 = np.concatenate([xi[ok], np.ones((int(ok.sum()), 1))], axis=1)
        out[ok] = np.matmul(law[region[ok]], xi1[:, :, None])[..., 0]
        return out
