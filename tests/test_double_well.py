"""The double-well family: its exact reference is the global minimizer, and its solution map really jumps."""

import numpy as np
import pytest

from l2o_lib import problems


@pytest.fixture(scope="module")
def fam():
    return problems.get("double_well")


def test_reference_is_the_global_minimizer_on_a_grid(fam):
    xi = fam.sample(40, seed=3)
    sol = fam.solve(xi).require_ok()
    grid = np.linspace(-2, 2, 200_001)
    for (t, s), x in zip(xi, sol.x):
        phi = (grid**2 - 1) ** 2 + t * grid
        phi[np.abs(grid) < 0.5] = np.inf
        assert abs(x[0] - grid[np.argmin(phi)]) < 1e-4 and x[1] == s
    assert np.allclose(sol.objective, fam.objective(sol.x, xi), atol=1e-12)
    assert np.all(fam.ineq_residual(sol.x, xi) <= 0)


def test_the_solution_map_jumps_at_zero_tilt_and_f_star_does_not(fam):
    t = np.linspace(-1, 1, 201)
    xi = np.stack([t, np.zeros_like(t)], axis=1)
    sol = fam.solve(xi).require_ok()
    step = np.abs(np.diff(sol.x[:, 0]))
    k = int(np.argmax(step))
    assert step[k] > 1.9 and np.sort(step)[-2] < 0.01          # one jump of about 2, smooth elsewhere
    assert t[k] < fam.jump_at() <= t[k + 1]
    assert np.abs(np.diff(sol.objective)).max() < 0.02        # the optimal value stays continuous
    midpoint = 0.5 * (sol.x[k] + sol.x[k + 1])                   # what a regression averages to
    assert fam.ineq_residual(midpoint[None], xi[k:k + 1])[0, 0] > 0.2   # infeasible
    assert fam.objective(midpoint[None], xi[k:k + 1])[0] > 0.9 + sol.objective[k]   # and far from optimal


def test_bad_ranges_are_refused():
    with pytest.raises(ValueError, match="increasing"):
        problems.get("double_well", t_range=(1.0, -1.0))
    with pytest.raises(ValueError, match="both wells"):
        problems.get("double_well", t_range=(-3.0, 1.0))
