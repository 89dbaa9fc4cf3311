"""Property tests (hypothesis): random shapes, NaN/inf placements and tolerances into the solver sessions, the
certified solver, the safety filter and CompiledMLP. Each input ends in a clear error or in a right answer; none
crashes the interpreter, hangs, or returns a plausible wrong answer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from l2o_lib import control, enhance
from l2o_lib.compiled import CompiledMLP
from l2o_lib.solvers import DAQPSession, OSQPSession

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                            HealthCheck.too_slow])
# values that break naive code: NaN, ±inf, huge, tiny, negative zero, and ordinary states
SPECIAL = st.sampled_from([np.nan, np.inf, -np.inf, 1e300, -1e300, 1e-300, -0.0])
ORDINARY = st.floats(-12, 12, allow_nan=False)
ENTRY = st.one_of(ORDINARY, ORDINARY, ORDINARY, SPECIAL)


def states(min_rows: int = 0, max_rows: int = 3, min_cols: int = 0, max_cols: int = 4):
    shape = st.tuples(st.integers(min_rows, max_rows), st.integers(min_cols, max_cols))
    return shape.flatmap(lambda s: arrays(np.float64, s, elements=ENTRY))


@pytest.fixture(scope="module")
def parts(fam):
    xi = fam.sample(150, seed=21)
    x, _ = fam.solve_duals(xi)
    laws, _ = enhance.ActiveSetLaws.from_solutions(fam, x)
    safe = control.control_invariant_set(fam.A, fam.B, fam.x_min, fam.x_max, fam.u_min, fam.u_max)[0]
    return laws, DAQPSession(fam), OSQPSession(fam, eps=1e-6), safe


def _reference(fam, xi):
    return fam.solve(xi, check_domain=False)


def _assert_same_solution(fam, x, x_ref, xi) -> None:
    # The active-set answer is exact; the interior-point reference (gap 1e-10) can sit a few 1e-6 off a weakly
    # active bound at a degenerate state, where the objective still agrees to 1e-9.
    np.testing.assert_allclose(fam.objective(x, xi), fam.objective(x_ref, xi), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(x, x_ref, atol=2e-5)


def _well_formed(fam, xi) -> bool:
    return xi.ndim == 2 and xi.shape[1] == fam.nx and np.isfinite(xi).all()


@SETTINGS
@given(xi=states())
def test_daqp_session_answers_right_or_refuses(fam, parts, xi):
    _, daqp, _, _ = parts
    if not _well_formed(fam, xi):
        with pytest.raises((ValueError, TypeError)):
            daqp.solve(xi)
        return
    res = daqp.solve(xi)
    assert res.x.shape == (len(xi), fam.n_vars)
    if len(xi) == 0:
        return
    ref = _reference(fam, xi)
    np.testing.assert_array_equal(res.ok, ref.ok)               # infeasible states are reported, never "solved"
    _assert_same_solution(fam, res.x[res.ok], ref.x[ref.ok], xi[ref.ok])


@SETTINGS
@given(xi=states(), tol=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(1e-9)))
def test_sessions_validate_tolerances_and_states(fam, parts, xi, tol):
    good_tol = np.isfinite(tol) and tol > 0
    if not good_tol:
        for make in (lambda: DAQPSession(fam, primal_tol=tol), lambda: OSQPSession(fam, eps=tol)):
            with pytest.raises(ValueError):
                make()
        return
    _, _, osqp, _ = parts
    if not _well_formed(fam, xi) or np.abs(xi).max(initial=0) > fam.xi_bound:
        with pytest.raises((ValueError, TypeError)):
            osqp.solve(xi)
        return
    res = osqp.solve(xi, check_domain=False)
    assert res.x.shape == (len(xi), fam.n_vars) and np.isfinite(res.x[res.ok]).all()
    assert not np.isfinite(res.x[~res.ok]).any()                 # no number where the solver reported none


@SETTINGS
@given(xi=states(), top_k=st.integers(-1, 5))
def test_certified_solver_certifies_or_refuses(fam, parts, xi, top_k):
    laws, _, _, _ = parts
    W = np.random.default_rng(0).standard_normal((fam.nx + 1, len(laws)))

    def scores(z):
        return np.c_[z, np.ones(len(z))] @ W

    if top_k < 1:
        with pytest.raises(ValueError, match="top_k"):
            enhance.CertifiedSolver(laws, scores, top_k=top_k)
        return
    solver = enhance.CertifiedSolver(laws, scores, top_k=top_k)
    if not _well_formed(fam, xi):
        with pytest.raises((ValueError, TypeError)):
            solver.solve(xi)
        rows = np.atleast_2d(xi)
        bad = rows if rows.shape[-1] != fam.nx else rows[~np.isfinite(rows).all(axis=1)]
        for row in bad[:1]:                                             # a row that is itself ill-formed
            with pytest.raises((ValueError, TypeError)):
                solver.solve_one(row)
        return
    res = solver.solve(xi)
    assert res.x.shape == (len(xi), fam.n_vars)
    if len(xi) == 0:
        return
    ref = _reference(fam, xi)
    assert res.certified[ref.ok].all() and not res.certified[~ref.ok].any()
    _assert_same_solution(fam, res.x[ref.ok], ref.x[ref.ok], xi[ref.ok])
    for i in range(len(xi)):
        one = solver.solve_one(xi[i])
        assert one.certified == bool(ref.ok[i]) and one.stage == res.stage[i]


@SETTINGS
@given(x=states(1, 3, 0, 4), u=arrays(np.float64, st.integers(1, 3).map(lambda n: (n, 1)), elements=ENTRY))
def test_safety_filter_is_safe_whatever_the_proposal(fam, parts, x, u):
    _, _, _, safe = parts
    f = control.SafetyFilter("f", None, safe, fam)
    n = min(len(x), len(u))
    x, u = x[:n], u[:n]
    if not _well_formed(fam, x):
        with pytest.raises((ValueError, TypeError)):
            f.filter(x, u)
        bad = x if x.shape[-1] != fam.nx else x[~np.isfinite(x).all(axis=1)]
        with pytest.raises((ValueError, TypeError)):
            f.filter_one(bad[0], float(u[0, 0]))                       # a row that is itself ill-formed
        return
    out, flagged = f.filter(x, u)
    assert np.isfinite(out).all() and np.all(np.abs(out) <= fam.u_max[0])
    assert np.all(flagged[~np.isfinite(u[:, 0])])                  # a non-finite proposal is always flagged
    inside = safe.contains(x, tol=-1e-6)
    nxt = fam.next_state(x, out)
    assert safe.contains(nxt[inside & ~flagged], tol=1e-7).all()   # the next state stays in the safe set
    for i in range(n):
        ui, fi = f.filter_one(x[i], float(u[i, 0]))
        assert ui == pytest.approx(out[i, 0], abs=1e-9) and fi == bool(flagged[i])


@SETTINGS
@given(dtype=st.sampled_from([np.float32, np.float64, np.float16, np.int32, np.int64]),
       x=states(0, 3, 0, 4), out_dtype=st.sampled_from([np.float64, np.float32, np.int64]),
       scale=st.one_of(st.floats(-3, 3, allow_nan=False), SPECIAL))
def test_compiled_mlp_computes_its_network_or_refuses(dtype, x, out_dtype, scale):
    rng = np.random.default_rng(1)
    W = [rng.normal(size=(5, 3)), rng.normal(size=(2, 5))]
    b = [rng.normal(size=5), rng.normal(size=2)]
    representable = np.isfinite(scale) and (scale == 0 or np.isfinite(np.float32(scale)) and np.float32(scale) != 0
                                            or dtype == np.float64)
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)) or not representable:
        with pytest.raises(ValueError):
            CompiledMLP(W, b, dtype=dtype, out_scale=scale)
        return
    net = CompiledMLP(W, b, dtype=dtype, out_scale=scale)
    if x.ndim != 2 or x.shape[1] != 3:
        with pytest.raises(ValueError):
            net(x)
        return
    h = np.maximum(x @ W[0].T + b[0], 0) @ W[1].T + b[1]
    expect = scale * h
    tol = 1e-3 if dtype == np.float32 else 1e-9
    with np.errstate(all="ignore"):
        got = net(x).astype(float)
    finite = np.isfinite(expect).all(axis=1) & (np.abs(x) < 1e30).all(axis=1)
    np.testing.assert_allclose(got[finite], expect[finite], rtol=tol, atol=tol)
    out = np.zeros((len(x), 2), dtype=out_dtype)
    if out_dtype != np.float64:
        with pytest.raises(ValueError, match="out float64"):
            net.into(x, out)
        return
    with np.errstate(all="ignore"):
        net.into(x, out)
    np.testing.assert_allclose(out[finite], expect[finite], rtol=tol, atol=tol)
