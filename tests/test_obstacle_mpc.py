"""Chapter 11's mixed-integer MPC family, its fixed-integer QP and the strategy pipeline, on real SCIP solves."""

import numpy as np
import pytest

from l2o_lib import control, metrics, problems, strategies
from l2o_lib.problems import FixedSidesQP, MixedIntegerQP, ObstacleMPC
from l2o_lib.problems.obstacle_mpc import SIDES
from l2o_lib.solvers import NullSpaceDAQPSession, OSQPSession


@pytest.fixture(scope="module")
def fam():
    return problems.get("obstacle_mpc")


@pytest.fixture(scope="module")
def data(fam):
    xi = fam.sample(12, seed=11)
    return xi, fam.solve(xi, progress=False)


def test_sizes_dynamics_and_domain(fam):
    assert isinstance(fam, ObstacleMPC) and isinstance(fam, MixedIntegerQP)
    assert (fam.horizon, fam.n_obstacles, fam.nx, fam.nu) == (10, 3, 4, 2)
    assert fam.n_params == 12 and fam.n_vars == 60 and fam.n_eq == 40 and fam.n_ineq == 150
    assert fam.n_sides == 10 * 3 * len(SIDES)
    # exact discretization of the double integrator: a constant input from rest
    u = np.array([0.3, -0.2])
    x1 = fam.A @ np.zeros(4) + fam.B @ u
    np.testing.assert_allclose(x1, [0.5 * 0.3, 0.5 * -0.2, 0.3, -0.2])
    xi = fam.sample(400, seed=1)
    assert not fam.start_inside(xi).any()
    with pytest.raises(ValueError, match="right of every obstacle"):
        problems.get("obstacle_mpc", goal_x=(6.0, 9.0))
    with pytest.raises(ValueError, match="inside the arena"):
        problems.get("obstacle_mpc", obstacle_y=(0.5, 9.0))


def test_scip_solution_is_feasible_and_its_sides_give_the_same_optimum(fam, data):
    xi, sol = data
    assert sol.ok.sum() >= 9  # a few states may be too fast to stop: SCIP proves it, the status says so
    assert set(sol.status[~sol.ok]) <= {"infeasible"}
    ok = sol.ok
    eq, ineq = metrics.violations(fam, sol.x[ok], xi[ok])
    assert eq.max() < 1e-8 and ineq.max() < 1e-5
    assert fam.penetration(sol.x[ok], xi[ok]).max() <= 1e-5
    form = fam.fixed_integer_qp()
    session = NullSpaceDAQPSession(form)
    res = session.solve(form.theta(xi[ok], strategies.tight_strategy(fam, session, sol.x[ok], xi[ok])))
    assert res.ok.all()
    f = fam.objective(res.x, xi[ok])
    # the QP with the solution's sides enforced has the MIQP's optimum (SCIP stops at a relative gap of 1e-4 and
    # meets its constraints to 1e-6, so its objective can be a hair lower)
    assert np.all(f <= sol.objective[ok] * (1 + 1e-6))
    assert np.all(f >= sol.objective[ok] * (1 - 2 * fam.mip_gap))


def test_warm_start_is_accepted_and_keeps_the_optimum(fam, data):
    xi, sol = data
    i = int(np.flatnonzero(sol.ok)[0])
    warm, info = fam.solve_from(xi[i:i + 1], sol.x[i:i + 1])
    assert info["start_accepted"].all() and warm.ok.all()
    assert abs(warm.objective[0] - sol.objective[0 + i]) <= 2 * fam.mip_gap * sol.objective[i]
    with pytest.raises(ValueError, match="starts must have shape"):
        fam.solve_from(xi[:2], sol.x[:1])


def test_fixed_qp_forms_agree_and_contradictions_are_infeasible(fam, data):
    xi, sol = data
    ok = sol.ok
    form = FixedSidesQP(fam)
    theta = form.theta(xi[ok], fam.sides(sol.x[ok], xi[ok]))
    qp = form.qp(theta)
    assert qp.q.shape == (ok.sum(), fam.n_vars) and qp.l.shape == qp.u.shape
    # the same QP by DAQP (null space) and by OSQP (the q of one instance at a time): same objective
    daqp = NullSpaceDAQPSession(form).solve(theta)
    for i in range(3):
        osqp_i = OSQPSession(_one(form, theta[i]), eps=1e-7, polishing=True).solve(theta[i:i + 1])
        assert osqp_i.ok.all()
        np.testing.assert_allclose(fam.objective(osqp_i.x, xi[ok][i:i + 1]), fam.objective(daqp.x[i:i + 1],
                                                                                          xi[ok][i:i + 1]), rtol=1e-5)
    # left and right of one obstacle at one step: the bounds cross, reported infeasible
    bad = fam.sides(sol.x[ok], xi[ok])
    bad[:, 4, 1, :2] = True
    res = NullSpaceDAQPSession(form).solve(form.theta(xi[ok], bad))
    assert not res.ok.any() and set(res.status) == {"infeasible"}
    with pytest.raises(ValueError, match="sides must have shape"):
        form.theta(xi[:2], np.zeros((2, 5)))


def _one(form, theta_row):
    """The fixed QP of one θ as a form with its q shared (today's OSQPSession updates only l and u)."""
    import dataclasses

    class One:
        def qp(self, theta=None, *, check_domain=True):
            data = form.qp(theta_row[None, :] if theta is None else theta, check_domain=check_domain)
            return dataclasses.replace(data, q=data.q[0])
    return One()


def test_pipeline_returns_the_best_feasible_candidate_and_falls_back(fam, data):
    xi, sol = data
    ok = np.flatnonzero(sol.ok)
    form = fam.fixed_integer_qp()
    session = NullSpaceDAQPSession(form)
    s = strategies.tight_strategy(fam, session, sol.x[ok], xi[ok])
    table, ids = strategies.StrategyTable.from_assignments(s)
    assert len(table) == len(np.unique(ids)) and table.counts.sum() == len(ok)
    assert np.array_equal(table.lookup(s), ids)
    # candidates: each instance's own strategy second, behind a strategy that contradicts itself
    contradiction = np.zeros((1, table.strategies.shape[1]), dtype=np.int8)
    contradiction[0, :2] = 1  # left and right of obstacle 0 at step 0
    tab = np.vstack([table.strategies, contradiction])
    cand = np.stack([np.full(len(ok), len(tab) - 1), ids], axis=1)
    res = strategies.solve_candidates(form, session, tab, cand, xi[ok])
    assert not res.feasible[:, 0].any() and res.feasible[:, 1].all() and (res.rank == 1).all()
    assert res.feasible_within(1) == 0.0 and res.feasible_within(2) == 1.0
    gap = metrics.gap_percent(res.objective, sol.objective[ok])
    assert gap.max() <= 100 * 2 * fam.mip_gap
    # no feasible candidate at all: the fallback (the reference) answers
    calls = []

    def fallback(rows):
        calls.append(len(rows))
        return fam.solve(rows, progress=False)

    res = strategies.solve_candidates(form, session, tab, cand[:2, :1], xi[ok][:2], fallback=fallback)
    assert calls == [2] and res.fallback.all() and res.solved.all() and (res.rank == -1).all()
    np.testing.assert_allclose(res.objective, sol.objective[ok][:2])


def test_top_k_and_neighbour_candidates():
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [3.0, 2.0, 1.0, 0.0]])
    np.testing.assert_array_equal(strategies.top_k(scores, 3), [[1, 3, 2], [0, 1, 2]])
    train_xi = np.array([[0.0], [1.0], [2.0], [3.0]])
    ids = np.array([5, 5, 7, 8])
    np.testing.assert_array_equal(strategies.neighbour_candidates(train_xi, ids, np.array([[0.9]]), 2), [[5, 7]])
    with pytest.raises(ValueError, match="k must be a positive integer"):
        strategies.top_k(scores, 0)


def test_canonical_order_is_the_same_instance(fam, data):
    xi, sol = data
    i = int(np.flatnonzero(sol.ok)[0])
    c = xi[i, 6:].reshape(3, 2)
    assert np.all(np.diff(c[:, 0]) >= 0)  # the sampler lists the obstacles left to right
    shuffled = xi[i:i + 1].copy()
    shuffled[0, 6:] = c[[2, 0, 1]].ravel()
    np.testing.assert_array_equal(fam.canonical(shuffled), xi[i:i + 1])
    # the order does not change the problem: same objective and no penetration either way
    np.testing.assert_allclose(fam.objective(sol.x[i:i + 1], shuffled), sol.objective[i:i + 1])
    assert fam.penetration(sol.x[i:i + 1], shuffled).max() <= 1e-5


def test_repair_enforces_the_nearest_side_of_what_was_crossed(fam, data):
    xi, sol = data
    ok = np.flatnonzero(sol.ok)
    form = fam.fixed_integer_qp()
    session = NullSpaceDAQPSession(form)
    none = np.zeros((len(ok), fam.n_sides), dtype=np.int8)
    theta = form.theta(xi[ok], none)
    res = session.solve(theta)
    crossing = res.ok & ~form.feasible(res.x, theta)
    assert crossing.any()  # the obstacle-free plan crosses an obstacle on some instances
    fixed = form.repair(res.x[crossing], theta[crossing])
    added = form.split(fixed)[1].reshape(crossing.sum(), fam.horizon, fam.n_obstacles, 4)
    inside = fam.penetration(res.x[crossing], xi[ok][crossing]) > 1e-6
    # one side per crossed (step, obstacle), none elsewhere
    np.testing.assert_array_equal(added.sum(-1), inside.astype(int))
    again = session.solve(fixed)
    assert form.feasible(again.x[again.ok], fixed[again.ok]).mean() > 0.5


def test_relaxation_is_a_lower_bound_and_rounds_to_valid_sides(fam, data):
    xi, sol = data
    ok = np.flatnonzero(sol.ok)[:4]
    delta = fam.relaxed_binaries(xi[ok])
    assert delta.shape == (4, fam.horizon, fam.n_obstacles, 4)
    assert np.all((delta >= -1e-7) & (delta <= 1 + 1e-7)) and np.all(delta.sum(-1) <= 3 + 1e-6)
    pick = np.zeros(delta.shape, dtype=bool)
    np.put_along_axis(pick, delta.argmin(-1)[..., None], True, -1)
    form = fam.fixed_integer_qp()
    res = NullSpaceDAQPSession(form).solve(form.theta(xi[ok], pick))
    # one enforced side per step and obstacle: whatever DAQP solves clears every obstacle
    assert form.feasible(res.x[res.ok], form.theta(xi[ok], pick)[res.ok]).all()
    assert np.all(fam.objective(res.x[res.ok], xi[ok][res.ok]) >= sol.objective[ok][res.ok] * (1 - 2 * fam.mip_gap))


def test_point_slack_of_a_closed_loop_path(fam):
    xi = fam.sample(1, seed=5)
    lo, hi = fam.obstacles(xi)
    center = 0.5 * (lo[0, 0] + hi[0, 0])
    points = np.array([[center, [0.0, 0.0]]])
    depth = -fam.point_slack(points, xi).max(-1)
    np.testing.assert_allclose(depth[0, 0, 0], fam.half.min())
    assert depth[0, 1].max() < 0


def test_tight_strategy_and_simulate_ask_for_their_capabilities(fam):
    mpc = problems.get("mpc")
    with pytest.raises(TypeError, match="MixedIntegerQP"):
        strategies.tight_strategy(mpc, None, np.zeros((1, mpc.n_vars)), np.zeros((1, mpc.n_params)))
    # the obstacle family is a linear system: simulate steps it with x⁺ = A x + B u
    x0 = np.array([[1.0, 2.0, 0.5, -0.5]])
    push = control.PolicyController("push", lambda x: np.tile([0.5, -0.5], (len(x), 1)))
    run = control.simulate(push, x0, 2, fam)
    np.testing.assert_allclose(run.x[0, 1], [1.75, 1.25, 1.0, -1.0])
    with pytest.raises(TypeError, match="LinearDynamics"):
        control.simulate(push, x0, 2, problems.get("nonconvex_2d"))


def test_scip_emphasis_keeps_the_optimum_and_refuses_an_unknown_name(fam, data):
    xi, sol = data
    i = int(np.flatnonzero(sol.ok)[0])
    x, f, status, _, _ = fam.scip_solve(xi[i], emphasis="easycip")
    assert status == "optimal" and abs(f / sol.objective[i] - 1) < 3 * fam.mip_gap
    assert fam.penetration(x[None, :], xi[i:i + 1]).max() <= 1e-5
    with pytest.raises(ValueError, match="emphasis must be one of"):
        fam.scip_solve(xi[i], emphasis="fastest")
