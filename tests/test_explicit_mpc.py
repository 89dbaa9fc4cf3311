"""Explicit MPC: the critical-region partition, its compiled point location and the nearest-neighbour lookup."""

import numpy as np
import pytest

from l2o_lib import enhance, problems
from l2o_lib.explicit_mpc import (
    NearestStrategy,
    SequentialLocator,
    TreeLocator,
    build_partition,
    containing,
    locate_sequential,
    region_frequency,
)
from l2o_lib.solvers import DAQPSession


@pytest.fixture(scope="module")
def di5():
    fam = problems.get("mpc", horizon=5)
    return fam, build_partition(fam, time_limit=120, check_samples=5000)


@pytest.fixture(scope="module")
def fresh(di5):
    fam, _ = di5
    xi = fam.sample(300, seed=41)  # a seed neither the build's check nor the training states use
    x, _ = fam.solve_duals(xi)
    return xi, x


def test_partition_is_complete_and_exact(di5, fresh):
    fam, part = di5
    xi, x = fresh
    assert part.complete and part.coverage == 1.0 and len(part) == 51
    assert part.thin_skipped == 0 and part.build_seconds > 0
    # every fresh feasible state lies in a region, in two only on a shared facet, where the laws agree
    counts = containing(part, xi)
    assert counts.min() >= 1 and np.mean(counts == 1) >= 0.99
    region = locate_sequential(part, xi)
    u = part.evaluate(xi, region)
    np.testing.assert_allclose(u, x[:, :fam.nu], atol=1e-8)   # u₀ against Clarabel at 1e-10
    daqp = DAQPSession(fam).solve(xi)
    np.testing.assert_allclose(part.evaluate(xi, region, plan=True), daqp.x[:, :fam.horizon * fam.nu], atol=1e-9)
    # each region's stored strategy is the active set DAQP finds at its Chebyshev centre
    at_center = DAQPSession(fam).solve(part.center)
    assert np.array_equal(np.sign(at_center.y[:, fam.n_eq:]).astype(np.int8), part.strategies)


def test_locators_agree_batched_and_one_state(di5, fresh):
    fam, part = di5
    xi, x = fresh
    xi_train = fam.sample(3000, seed=1)
    seq = SequentialLocator.by_frequency(part, xi_train)
    tree = TreeLocator(part)
    u_seq, r_seq = seq(xi)
    u_tree, r_tree = tree(xi)
    np.testing.assert_allclose(u_seq, x[:, :fam.nu], atol=1e-8)
    np.testing.assert_allclose(u_tree, u_seq, atol=1e-12)
    assert (r_seq >= 0).all() and (r_tree >= 0).all()
    assert not tree.truncated and tree.depth >= np.log2(len(part)) and np.diff(tree.leaf_offsets).max() == 1
    for i in range(0, len(xi), 37):
        for loc in (seq, tree):
            u1, r1 = loc.one(xi[i])
            np.testing.assert_allclose(u1, u_seq[i], atol=1e-12)
    # regions in decreasing frequency on the training states; storage counts the halfspaces and the u₀ laws
    counts = region_frequency(part, xi_train)
    assert counts.sum() == len(xi_train) and np.all(np.diff(counts[seq.order]) <= 0)
    assert seq.storage_bytes() >= part.rows.nbytes + part.u0_law.nbytes
    assert tree.storage_bytes() > seq.storage_bytes() - seq.order.nbytes


def test_outside_the_partition_is_reported(di5):
    fam, part = di5
    bad = np.array([[10.0, 10.0], [-10.0, -9.5], [11.0, 0.0], [np.nan, 0.0]])
    assert not fam.feasible(bad[:2]).any()
    for loc in (SequentialLocator(part), TreeLocator(part)):
        u, region = loc(bad)
        assert (region == -1).all() and np.isnan(u).all()
        u1, r1 = loc.one(bad[0])
        assert r1 == -1 and np.isnan(u1).all()


def test_second_system_four_states_two_inputs():
    fam = problems.get("mpc", system="quadruple_tank", horizon=2)
    assert (fam.nx, fam.nu) == (4, 2)
    part = build_partition(fam, time_limit=120, check_samples=3000)
    assert part.complete
    xi = fam.sample(200, seed=43)
    x, _ = fam.solve_duals(xi)
    daqp = DAQPSession(fam).solve(xi)
    assert enhance.kkt_certify(fam, daqp.x, daqp.y, xi).ok.all()
    for loc in (SequentialLocator(part), TreeLocator(part)):
        u, region = loc(xi)
        assert (region >= 0).all()
        np.testing.assert_allclose(u, daqp.x[:, :fam.nu], atol=1e-9)
        # Clarabel at 1e-10 stops up to ~1e-6 away along nearly flat directions of this cost (its cost within 1e-9)
        np.testing.assert_allclose(u, x[:, :fam.nu], atol=1e-5)
    f_law = fam.objective(np.hstack([part.evaluate(xi, locate_sequential(part, xi), plan=True), daqp.x[:, 2 * fam.nu:]]), xi)
    np.testing.assert_allclose(f_law, fam.objective(x, xi), rtol=1e-9)
    assert containing(part, xi).min() >= 1


def test_default_double_integrator_is_unchanged():
    fam = problems.get("mpc")
    assert fam.params == {"system": "double_integrator", "horizon": 10, "xi_bound": 10.0, "x_bound": None,
                          "u_bound": None, "q": None, "r": None}
    np.testing.assert_array_equal(fam.A, [[1.2, 1.0], [0.0, 1.0]])
    np.testing.assert_array_equal(fam.B, [[1.0], [0.5]])
    assert fam.name == "mpc"


def test_nearest_strategy_goes_through_the_certificate(di5, fresh):
    fam, _ = di5
    xi, x = fresh
    xi_train = fam.sample(2000, seed=1)
    laws, ids = enhance.ActiveSetLaws.from_solutions(fam, DAQPSession(fam).solve(xi_train).x)
    nearest = NearestStrategy(xi_train, ids, len(laws), k=3)
    scores = nearest(xi)
    assert scores.shape == (len(xi), len(laws))
    # the nearest training state's strategy ranks first
    _, idx = nearest.tree.query(xi[:5])
    assert np.array_equal(np.argmax(scores[:5], axis=1), ids[idx])
    np.testing.assert_array_equal(nearest.one(xi[0]), scores[0])
    solver = enhance.CertifiedSolver(laws, nearest, top_k=3)
    cs = solver.solve(xi)
    assert cs.certified.all() and np.mean(cs.stage == 0) > 0.8
    np.testing.assert_allclose(cs.x[:, :fam.nu], x[:, :fam.nu], atol=1e-7)
    # one state per call, through the nearest neighbours' own scores
    for i in range(0, len(xi), 50):
        one = solver.solve_one(xi[i])
        assert one.certified and one.stage == cs.stage[i]
        np.testing.assert_allclose(one.x, cs.x[i], atol=1e-9)


def test_bad_input(di5):
    fam, part = di5
    with pytest.raises(TypeError, match="LinearMPC"):
        build_partition(problems.get("dc3_qp"))
    with pytest.raises(ValueError, match="time_limit"):
        build_partition(fam, time_limit=0)
    with pytest.raises(ValueError, match="shape"):
        SequentialLocator(part)(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="entries"):
        TreeLocator(part).one(np.zeros(3))
    with pytest.raises(ValueError, match="permutation"):
        SequentialLocator(part, order=np.zeros(len(part), dtype=int))
    with pytest.raises(ValueError, match="max_leaf"):
        TreeLocator(part, max_leaf=0)
    with pytest.raises(ValueError, match="strategy"):
        NearestStrategy(np.zeros((3, 2)), np.array([0, 1, 5]), 3)


def test_horizon_ten_has_the_regions_ppopt_finds():
    """ppopt's graph algorithm finds 197 critical regions for the chapter's MPC (horizon 10, the ±10 box)."""
    fam = problems.get("mpc")
    part = build_partition(fam, time_limit=300)
    assert part.complete and len(part) == 197
    xi = fam.sample(300, seed=44)
    x, _ = fam.solve_duals(xi)
    u, region = TreeLocator(part)(xi)
    assert (region >= 0).all()
    np.testing.assert_allclose(u, x[:, :fam.nu], atol=5e-8)  # Clarabel's own accuracy at 1e-10
    np.testing.assert_allclose(u, DAQPSession(fam).solve(xi).x[:, :fam.nu], atol=1e-10)


def test_locator_drives_a_closed_loop(di5):
    from l2o_lib import control

    fam, part = di5
    tree = TreeLocator(part)
    daqp = control.DAQPController(fam, warm=False)
    x0 = fam.sample(3, seed=45)
    explicit, exact = (control.simulate(c, x0, 15, fam) for c in (control.PolicyController("explicit", tree.policy()), daqp))
    # the same inputs until a state from which the horizon-5 MPC is infeasible (no terminal set: no recursive
    # feasibility); there DAQP reports failure and explicit MPC finds the state outside its partition
    for i in range(len(x0)):
        stop = int(np.argmax(exact.failed[i])) if exact.failed[i].any() else exact.u.shape[1]
        np.testing.assert_allclose(explicit.u[i, :stop], exact.u[i, :stop], atol=1e-9)
        if stop < exact.u.shape[1]:
            assert np.isnan(explicit.u[i, stop]).all() and not fam.feasible(explicit.x[i, stop][None]).any()
    assert exact.failed.any() and not exact.failed.all()
    one = control.simulate(control.PolicyController("explicit", tree.policy()), x0[:1], 15, fam)
    np.testing.assert_allclose(one.u, explicit.u[:1], atol=1e-12)
    with pytest.raises(ValueError, match="into"):
        tree.into(np.zeros((1, 2)), np.zeros((2, 1)))
