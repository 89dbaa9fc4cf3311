"""The solver-enhancement toolkit (chapter 8): exact active-set laws, the KKT certificate, DAQP, break-even."""

import numpy as np
import pytest

from l2o_lib import enhance, problems


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


def test_certified_solve_falls_back_to_daqp(setup):
    fam, xi, x, y = setup
    laws, ids = enhance.ActiveSetLaws.from_solutions(fam, x[:20])   # few strategies: many fallbacks
    scores = np.zeros((len(xi), len(laws)))
    cs = enhance.certified_solve(laws, scores, xi, top_k=1)
    assert cs.certified.all() and np.any(cs.stage == 1)
    # certified KKT points are optimal: never worse than Clarabel's answer, and close to it
    f_cert, f_ref = fam.objective(cs.x, xi), fam.objective(x, xi)
    assert np.all(f_cert <= f_ref + 1e-9 * np.abs(f_ref))
    np.testing.assert_allclose(cs.x, x, atol=1e-4)


def test_daqp_matches_clarabel(setup):
    fam, xi, x, _ = setup
    res = enhance.daqp_solve(fam, xi[:50])
    assert (res["flag"] == 1).all()
    np.testing.assert_allclose(res["x"], x[:50], atol=1e-4)
    np.testing.assert_allclose(fam.objective(res["x"], xi[:50]), fam.objective(x[:50], xi[:50]), rtol=1e-8)


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
