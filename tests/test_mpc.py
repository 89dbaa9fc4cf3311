"""The MPC family (chapters 8, 9) and the OSQP session: forms agree, the reference is optimal, counts are honest."""

import numpy as np
import pytest

from l2o_lib import problems
from l2o_lib.problems.mpc import LinearMPC
from l2o_lib.solvers import OSQPSession


@pytest.fixture(scope="module")
def data(fam):
    xi = fam.sample(60, seed=3)
    return xi, fam.solve(xi, progress=False)


def test_system_and_sizes(fam):
    assert isinstance(fam, LinearMPC)
    np.testing.assert_allclose(fam.A, [[1.2, 1.0], [0.0, 1.0]])
    np.testing.assert_allclose(fam.B, [[1.0], [0.5]])
    assert (fam.nx, fam.nu, fam.horizon) == (2, 1, 10)
    assert fam.n_params == 2 and fam.n_vars == 30 and fam.n_eq == 20 and fam.n_ineq == 60
    np.testing.assert_allclose(fam.u_max, [1.0])
    np.testing.assert_allclose(fam.x_max, [10.0, 10.0])
    # P solves the Riccati equation
    A, B, Q, R, P = fam.A, fam.B, fam.Q, fam.R, fam.P
    K = np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
    np.testing.assert_allclose(A.T @ P @ A - A.T @ P @ B @ K + Q, P, atol=1e-8)


def test_sample_is_feasible_and_seeded(fam):
    xi = fam.sample(200, seed=1)
    np.testing.assert_array_equal(xi, fam.sample(200, seed=1))
    assert fam.feasible(xi).all()
    # the box holds infeasible states too, and feasible() says so
    assert not fam.feasible(np.array([[10.0, 10.0]])).any()


def test_reference_is_feasible_and_optimal(fam, data):
    xi, sol = data
    assert sol.ok.all()
    assert np.abs(fam.eq_residual(sol.x, xi)).max() < 1e-8
    assert fam.ineq_residual(sol.x, xi).max() < 1e-8
    # optimality: a feasible perturbation along the equality null space never lowers the cost
    rng = np.random.default_rng(0)
    _, _, vt = np.linalg.svd(fam.A_eq)
    null = vt[fam.n_eq:]
    x = sol.x + 1e-3 * rng.standard_normal((len(xi), null.shape[0])) @ null
    ok = fam.ineq_residual(x, xi).max(axis=1) <= 0
    assert ok.sum() > 0
    assert np.all(fam.objective(x, xi)[ok] >= sol.objective[ok] - 1e-9)


def test_infeasible_state_reported_by_status(fam):
    sol = fam.solve(np.array([[10.0, 10.0], [1.0, 0.0]]), progress=False)
    assert sol.status[0] != "optimal" and np.isnan(sol.x[0]).all()
    assert sol.status[1] == "optimal"


def test_forms_agree(fam, data):
    xi, sol = data
    qp = fam.qp(xi)
    x = sol.x
    f_qp = 0.5 * np.sum((x @ qp.P.toarray()) * x, axis=1) + np.sum(xi @ fam.Q * xi, axis=1)
    np.testing.assert_allclose(f_qp, sol.objective, rtol=1e-9)
    Ax = x @ qp.A.toarray().T
    assert np.all(Ax >= qp.l - 1e-8) and np.all(Ax <= qp.u + 1e-8)
    np.testing.assert_allclose(qp.l[:, :fam.n_eq], qp.u[:, :fam.n_eq])
    c = fam.condensed()
    U = x[:, :fam.horizon * fam.nu]
    np.testing.assert_allclose(xi @ c.Phi.T + U @ c.Gamma.T, x[:, fam.horizon * fam.nu:], atol=1e-8)
    f_c = 0.5 * np.sum((U @ c.H) * U, axis=1) + np.sum((xi @ c.F.T) * U, axis=1) + np.sum((xi @ c.Y) * xi, axis=1)
    np.testing.assert_allclose(f_c, sol.objective, rtol=1e-8)
    assert np.all(U @ c.G.T <= c.w + xi @ c.E.T + 1e-8)
    np.testing.assert_allclose(fam.first_input(x), x[:, :1])


def test_duals_satisfy_kkt(fam, data):
    xi, sol = data
    X, Y = fam.solve_duals(xi[:20])
    qp = fam.qp(xi[:20])
    P, A = qp.P.toarray(), qp.A.toarray()
    np.testing.assert_allclose(X @ P + Y @ A, 0.0, atol=1e-7)
    box = Y[:, fam.n_eq:]
    x = X
    # y > 0 only at an upper bound, y < 0 only at a lower bound
    assert np.all((box <= 1e-7) | (x >= fam.z_max - 1e-6))
    assert np.all((box >= -1e-7) | (x <= fam.z_min + 1e-6))


def test_osqp_session_cold_and_warm(fam, data):
    xi, sol = data
    s = OSQPSession(fam, eps=1e-5)
    cold = s.solve(xi[:20])
    assert cold.ok.all()
    assert np.abs(cold.x - sol.x[:20]).max() < 1e-2
    again = s.solve(xi[:20])
    np.testing.assert_array_equal(cold.iters, again.iters)  # no state leaks between solves
    X, Y = fam.solve_duals(xi[:20])
    warm = s.solve(xi[:20], x0=X, y0=Y)
    assert warm.ok.all() and np.all(warm.iters <= 2)
    assert np.median(warm.iters) < np.median(cold.iters)
    print(f"median iterations cold {np.median(cold.iters)}, warm from the solution {np.median(warm.iters)}")


def test_bad_input(fam):
    with pytest.raises(KeyError, match="unknown system"):
        LinearMPC(system="cartpole_typo")
    with pytest.raises(ValueError, match="horizon"):
        LinearMPC(horizon=0)
    with pytest.raises(ValueError, match="outside the domain"):
        fam.qp(np.array([[11.0, 0.0]]))
    s = OSQPSession(fam)
    with pytest.raises(ValueError, match="x0 must be finite"):
        s.solve(fam.sample(2, seed=0), x0=np.zeros((3, fam.n_vars)))
    with pytest.raises(TypeError, match="qp"):
        OSQPSession(problems.get("nonconvex_2d"))


def test_long_horizons_use_the_sparse_lps_and_they_agree_with_the_condensed_ones(monkeypatch):
    import l2o_lib.problems.mpc as mpc

    xi = np.array([[0.0, 0.0], [3.0, -2.0], [9.0, 9.0], [-9.5, 4.0], [2.0, 6.5]])
    dense = LinearMPC(horizon=8)
    W, c = dense.feasible_polytope()
    monkeypatch.setattr(mpc, "CONDENSED_MAX_HORIZON", 5)
    sparse = LinearMPC(horizon=8)
    Ws, cs = sparse.feasible_polytope()
    assert "_condensed_cache" not in sparse.__dict__  # the sparse path never built the condensed form
    np.testing.assert_array_equal(sparse.feasible(xi), dense.feasible(xi))
    assert sparse.feasible(xi).any() and not sparse.feasible(xi).all()
    # the same polytope: every vertex of one satisfies the other's halfspaces
    from scipy.spatial import HalfspaceIntersection

    for (Wa, ca), (Wb, cb) in (((W, c), (Ws, cs)), ((Ws, cs), (W, c))):
        vertices = HalfspaceIntersection(np.hstack([Wa, -ca[:, None]]), np.zeros(2)).intersections
        assert len(vertices) >= 4 and np.all(vertices @ Wb.T <= cb + 1e-6)
    with pytest.raises(ValueError, match=r"horizon must be an integer in \[1, 300\]"):
        LinearMPC(horizon=301)
