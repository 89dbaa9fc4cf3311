"""The solver-enhancement toolkit (chapter 8): exact active-set laws, the KKT certificate, DAQP, break-even."""

import numpy as np
import pytest

from l2o_lib import enhance, problems
from l2o_lib.solvers import DAQPSession


@pytest.fixture(scope="module")
def setup():
    fam = problems.get("mpc")
    xi = fam.sample(200, seed=11)
    x, y = fam.solve_duals(xi)
    return fam, xi, x, y


def test_laws_reproduce_the_reference_and_certify(setup):
    fam, xi, x, y = setup
    laws, ids = enhance.ActiveSetLaws.from_solutions(fam, x)
    assert laws.counts.sum() == len(xi) and np.all(np.diff(laws.counts) <= 0)
    xl, yl = laws.evaluate(xi, ids)
    cert = enhance.kkt_certify(fam, xl, yl, xi)
    # degenerate instances (a bound reached with a zero multiplier) may be misclassified; the rest are exact
    assert cert.ok.mean() >= 0.95
    np.testing.assert_allclose(xl[cert.ok], x[cert.ok], atol=1e-5)
    assert np.all(laws.index_of(enhance.active_sets(fam, xl[cert.ok])) == ids[cert.ok])


def test_certificate_rejects_wrong_points(setup):
    fam, xi, x, y = setup
    laws, ids = enhance.ActiveSetLaws.from_solutions(fam, x)
    xl, yl = laws.evaluate(xi, ids)
    ok = enhance.kkt_certify(fam, xl, yl, xi).ok
    # a feasible but suboptimal point: move along the dynamics' null space, keep y
    bad = enhance.kkt_certify(fam, xl + 1e-3, yl, xi)
    assert not bad.ok.any()
    # the wrong strategy (the next most frequent one) is certified almost never
    other = (ids + 1) % len(laws)
    xo, yo = laws.evaluate(xi, other)
    assert enhance.kkt_certify(fam, xo, yo, xi).ok[ok].mean() < 0.1
    nan = enhance.kkt_certify(fam, np.full_like(xl, np.nan), yl, xi)
    assert not nan.ok.any()


def _solver(laws, top_k, **kw):
    """A CertifiedSolver whose classifier is never called: the tests pass the scores themselves."""
    def no_classifier(xi):
        raise AssertionError("scores were given")
    return enhance.CertifiedSolver(laws, no_classifier, top_k=top_k, **kw)


def test_certified_solve_falls_back_to_daqp(setup):
    fam, xi, x, y = setup
    laws, ids = enhance.ActiveSetLaws.from_solutions(fam, x[:20])   # few strategies: many fallbacks
    scores = np.zeros((len(xi), len(laws)))
    cs = _solver(laws, 1).solve(xi, scores=scores)
    assert cs.certified.all() and cs.ok.all() and np.any(cs.stage == 1)
    assert np.all(cs.iters[cs.stage == 1] > 0) and np.all(cs.iters[cs.stage == 0] == 0)
    # certified KKT points are optimal: never worse than Clarabel's answer, and close to it
    f_cert, f_ref = fam.objective(cs.x, xi), fam.objective(x, xi)
    assert np.all(f_cert <= f_ref + 1e-9 * np.abs(f_ref))
    np.testing.assert_allclose(cs.x, x, atol=1e-4)


def test_daqp_matches_clarabel(setup):
    fam, xi, x, _ = setup
    res = DAQPSession(fam).solve(xi[:50])
    assert res.ok.all() and set(res.status) == {"optimal"}
    np.testing.assert_allclose(res.x, x[:50], atol=1e-4)
    np.testing.assert_allclose(fam.objective(res.x, xi[:50]), fam.objective(x[:50], xi[:50]), rtol=1e-8)


def test_osqp_iterates_converge_and_break_even(setup):
    fam, xi, x, y = setup
    it = enhance.osqp_iterates(fam, xi[0], 400, rho=3.0)
    assert it["x"].shape == (401, fam.n_vars)
    assert it["primal"][-1] < 1e-3 * it["primal"][1] and it["dual"][-1] < 1e-3 * it["dual"][1]
    warm = enhance.osqp_iterates(fam, xi[0], 5, x0=x[0], y0=y[0], rho=3.0)
    assert warm["dual"][0] < 1e-6
    assert enhance.break_even(10.0, 1e-3) == pytest.approx(1e4)
    assert enhance.break_even(10.0, -1e-3) == float("inf")
    with pytest.raises(ValueError, match="offline_seconds"):
        enhance.break_even(float("nan"), 1.0)


def test_region_test_gives_the_kkt_verdict(setup):
    fam, xi, x, y = setup
    laws, ids = enhance.ActiveSetLaws.from_solutions(fam, x)
    xi_new = fam.sample(300, seed=12)
    rng = np.random.default_rng(0)
    # random (ξ, strategy) pairs: mostly rejected, a few accepted
    rand = rng.integers(0, len(laws), len(xi_new))
    # the strategies of the nearest training instances (a predictor): many near region boundaries
    near = ids[np.argsort(((xi_new[:, None] - xi[None]) ** 2).sum(-1), axis=1)[:, :3]]
    verdicts = []
    for s in (rand, *near.T):
        region = laws.certify(xi_new, s)
        kkt = enhance.kkt_certify(fam, *laws.evaluate(xi_new, s), xi_new).ok
        np.testing.assert_array_equal(region, kkt)
        verdicts.append(region)
    # both verdicts occur: the agreement is tested on accepted and rejected pairs
    assert verdicts[0].mean() < 0.2 and 0.3 < verdicts[1].mean() < 1.0
    with pytest.raises(ValueError, match="NaN or inf"):
        laws.certify(np.array([[np.nan, 0.0]]), np.array([0]))


def test_certified_solve_survives_a_wrong_top_strategy(setup):
    fam, xi, x, y = setup
    laws, ids = enhance.ActiveSetLaws.from_solutions(fam, x)
    xi_new = fam.sample(200, seed=13)
    x_ref, _ = fam.solve_duals(xi_new)
    truth = laws.index_of(enhance.active_sets(fam, x_ref))
    known = truth >= 0
    scores = np.zeros((len(xi_new), len(laws)))
    wrong = (np.maximum(truth, 0) + 1) % len(laws)
    scores[np.arange(len(xi_new)), wrong] = 2.0
    # half the known strategies come second (the next candidate certifies), the rest go to DAQP
    second = known & (np.arange(len(xi_new)) % 2 == 0)
    scores[np.flatnonzero(second), truth[second]] = 1.0
    cs = _solver(laws, 2).solve(xi_new, scores=scores)
    assert cs.certified.all() and not np.any(cs.stage == 0)
    assert np.all(cs.stage[second] == 1) and np.all(cs.stage[~known] == 2)
    np.testing.assert_allclose(cs.x, x_ref, atol=1e-6)
    assert enhance.kkt_certify(fam, cs.x, cs.y, xi_new).ok.all()


def test_daqp_session_warm_start_and_duals(setup):
    fam, xi, x, y = setup
    session = DAQPSession(fam)
    cold = session.solve(xi[:60])
    warm = session.solve(xi[:60], active=enhance.active_sets(fam, x[:60]))
    assert cold.ok.all() and warm.ok.all()
    assert np.all(warm.iters <= cold.iters) and warm.iters.sum() < cold.iters.sum()
    np.testing.assert_allclose(warm.x, cold.x, atol=1e-9)
    for r in (cold, warm):
        assert enhance.kkt_certify(fam, r.x, r.y, xi[:60]).ok.all()
    with pytest.raises(ValueError, match="active must have shape"):
        session.solve(xi[:3], active=np.zeros((2, fam.n_vars)))


def test_solve_one_is_the_batch_loop_on_one_row_and_rejects_nan(setup):
    fam, xi, x, y = setup
    laws, ids = enhance.ActiveSetLaws.from_solutions(fam, x)
    W = np.random.default_rng(3).standard_normal((fam.n_params + 1, len(laws)))

    def classifier(z):  # a fixed linear scorer: often the right strategy first, not always
        return np.c_[z, np.ones(len(z))] @ W

    solver = enhance.CertifiedSolver(laws, classifier, top_k=3)
    batch = solver.solve(xi)
    for i in range(len(xi)):
        xs, stage, certified = solver.solve_one(xi[i])
        assert stage == batch.stage[i] and certified and batch.certified[i]
        if stage < 3:
            np.testing.assert_array_equal(xs, batch.x[i])
        else:
            np.testing.assert_allclose(xs, batch.x[i], atol=1e-12)
    assert np.any(batch.stage == 0) and np.any(batch.stage > 0)
    bad = xi[0].copy()
    bad[1] = np.nan
    for call in (lambda: solver.solve(np.array([bad, xi[1]])), lambda: solver.solve_one(bad)):
        with pytest.raises(ValueError, match="NaN or inf"):
            call()
    with pytest.raises(ValueError, match="scores of shape"):
        enhance.CertifiedSolver(laws, lambda z: classifier(z)[:, :-1]).solve_one(xi[0])


def test_certified_solver_rejects_an_unknown_tolerance(setup):
    fam, xi, x, _ = setup
    laws, ids = enhance.ActiveSetLaws.from_solutions(fam, x)
    scores = np.eye(len(laws))[ids]
    with pytest.raises(TypeError, match="tol_primall"):
        enhance.CertifiedSolver(laws, lambda z: scores, tol_primall=1e-9)
    for bad in (float("nan"), -1.0, 0.0):
        with pytest.raises(ValueError, match="tol_primal"):
            enhance.CertifiedSolver(laws, lambda z: scores, tol_primal=bad)
    assert enhance.CertifiedSolver(laws, lambda z: scores, tol_primal=1e-9).solve(xi).certified.all()


@pytest.mark.slow
def test_fallback_on_a_long_horizon_is_polished_into_a_certified_answer():
    """At N = 40 DAQP's answers (condensed QP, powers 1.2^40 in its matrices) miss the 1e-8 stationarity test
    although their active sets are right; the fallback polishes them by those active sets' KKT systems."""
    fam = problems.get("mpc", horizon=40)
    xi = fam.sample(60, seed=5)
    raw = DAQPSession(fam).solve(xi)
    assert raw.ok.all() and not enhance.kkt_certify(fam, raw.x, raw.y, xi).ok.all()  # the case polishing is for
    x, _ = fam.solve_duals(xi[:10])
    laws, _ = enhance.ActiveSetLaws.from_solutions(fam, x)
    cs = _solver(laws, 1).solve(xi, scores=np.zeros((len(xi), len(laws))))
    ref = fam.solve(xi, progress=False)
    assert cs.certified.all()
    np.testing.assert_allclose(fam.objective(cs.x, xi), ref.objective, rtol=1e-8)
    np.testing.assert_allclose(cs.x, raw.x, atol=1e-5)          # the same answer, polished
    # the polish on a law's own strategy is that law
    ids = np.zeros(len(xi), dtype=int)
    px, py = laws.polish(xi, laws.strategies[ids])
    lx, ly = laws.evaluate(xi, ids)
    np.testing.assert_allclose(px, lx, atol=1e-8)
    np.testing.assert_allclose(py, ly, atol=1e-6)
    with pytest.raises(ValueError, match="act must have shape"):
        laws.polish(xi, laws.strategies[:3])
