"""Closed-loop simulation and controllers of chapter 9 on the MPC family (double integrator, N = 10)."""

import numpy as np
import pytest

from l2o_lib import control, problems, scorecard


@pytest.fixture(scope="module")
def safe(fam):
    return control.control_invariant_set(fam.A, fam.B, fam.x_min, fam.x_max, fam.u_min, fam.u_max)[0]


def test_invariant_set_is_invariant_and_inside_the_mpc_feasible_set(fam, safe):
    x = safe.sample(300, seed=1)
    assert safe.contains(x).all() and np.all(np.abs(x) <= 10)
    lo, hi = control.safe_input_interval(x, safe, fam.A, fam.B, -1.0, 1.0)
    assert np.all(lo <= hi + 1e-12)                      # some admissible input keeps every state inside
    nxt = x @ fam.A.T + (0.5 * (lo + hi))[:, None] @ fam.B.T
    assert safe.contains(nxt, tol=1e-7).all()
    assert fam.feasible(x[:60]).all()                    # MPC is feasible on the invariant set
    outside = np.array([[10.0, 5.0], [-9.9, -6.0]])      # in the box, not in the set
    assert not safe.contains(outside).any()


def test_exact_mpc_controllers_agree_and_keep_the_constraints(fam, safe):
    x0 = safe.sample(6, seed=2)
    osqp_run = control.simulate(control.OSQPController(fam), x0, 25, fam)
    clarabel_run = control.simulate(control.ClarabelController(fam), x0, 25, fam)
    assert not osqp_run.failed.any() and not clarabel_run.failed.any()
    np.testing.assert_allclose(osqp_run.u, clarabel_run.u, atol=1e-3)
    assert osqp_run.state_violation(fam).max() == 0 and osqp_run.input_violation(fam).max() < 1e-6
    np.testing.assert_allclose(osqp_run.cost(fam), clarabel_run.cost(fam), rtol=1e-4)


def test_safety_filter_keeps_any_policy_safe(fam, safe):
    x0 = safe.sample(200, seed=3)
    bang = control.SafetyFilter("push right", lambda x: np.full((len(x), 1), 5.0), safe, fam)
    run = control.simulate(bang, x0, 30, fam)
    raw = control.simulate(control.PolicyController("push right", lambda x: np.full((len(x), 1), 5.0)), x0, 30, fam)
    assert run.state_violation(fam).max() == 0 and run.input_violation(fam).max() == 0
    assert raw.state_violation(fam).max() > 1 and raw.input_violation(fam).max() == 4.0


def test_certified_hybrid_is_exact_mpc_and_safe_batched_and_one_system(fam, safe):
    from shipped import load_or_skip

    solver = load_or_skip("ch8_active_set").parts["solver"]
    x0 = safe.sample(12, seed=4)
    exact = control.simulate(control.DAQPController(fam), x0, 20, fam)
    hybrid = control.CertifiedHybrid("hybrid", solver, safe, fam)
    run = control.simulate(hybrid, x0, 20, fam)
    assert run.state_violation(fam).max() == 0 and run.input_violation(fam).max() == 0
    np.testing.assert_allclose(run.u, exact.u, atol=1e-6)
    one = np.stack([control.simulate(hybrid, x[None, :], 20, fam).u[0] for x in x0[:4]])
    np.testing.assert_allclose(one, run.u[:4], atol=1e-9)   # the compiled one-system path: same inputs
    assert 0 < hybrid.certified_share <= 1 and hybrid.fallbacks >= 0
    with pytest.raises(ValueError, match="not to the family given"):
        control.CertifiedHybrid("h", solver, safe, problems.get("mpc", u_bound=0.5))


def test_compiled_one_system_paths_equal_the_batched_ones(fam, safe):
    from l2o_lib.compiled import CompiledMLP

    rng = np.random.default_rng(0)
    net = CompiledMLP([rng.normal(size=(8, 2)), rng.normal(size=(1, 8))], [rng.normal(size=8), rng.normal(size=1)],
                      out_activation="tanh", dtype=np.float64)
    x0 = safe.sample(5, seed=7)
    for make in (lambda: control.PolicyController("p", net), lambda: control.SafetyFilter("f", net, safe, fam)):
        batched = control.simulate(make(), x0, 15, fam)
        one = np.stack([control.simulate(make(), x[None, :], 15, fam).u[0] for x in x0])
        np.testing.assert_allclose(one, batched.u, atol=1e-12)
    x = safe.sample(50, seed=8)
    f = control.SafetyFilter("f", net, safe, fam)
    u = rng.uniform(-3, 3, size=(50, 1))
    batch, _ = f.filter(x, u)
    np.testing.assert_allclose([f.filter_one(xi, ui[0])[0] for xi, ui in zip(x, u)], batch[:, 0], atol=1e-12)


def test_daqp_controller_equals_osqp(fam, safe):
    x0 = safe.sample(6, seed=9)
    a = control.simulate(control.DAQPController(fam), x0, 20, fam)
    b = control.simulate(control.OSQPController(fam), x0, 20, fam)
    assert not a.failed.any()
    np.testing.assert_allclose(a.u, b.u, atol=1e-4)


def test_table_and_bad_input(fam, safe):
    x0 = safe.sample(5, seed=5)
    a = control.simulate(control.OSQPController(fam), x0, 10, fam)
    b = control.simulate(control.PolicyController("zero", lambda x: np.zeros((len(x), 1))), x0, 10, fam)
    table = control.closed_loop_table([a, b], fam, reference=a.name, timing_reference=a.name)
    assert table[a.name].cost_mean == 0 and table["zero"].cost_mean > 0
    assert "speed-up" in table.to_markdown()
    with pytest.raises(ValueError, match="x0 must have shape"):
        control.simulate(control.OSQPController(fam), np.zeros(2), 5, fam)
    with pytest.raises(ValueError, match="steps"):
        control.simulate(control.OSQPController(fam), x0, 0, fam)
    with pytest.raises(KeyError, match="no run named"):
        control.closed_loop_table([a], fam, reference="nope", timing_reference=a.name)
    with pytest.raises(ValueError, match="two states and one input"):
        control.control_invariant_set(np.eye(3), np.ones((3, 1)), -np.ones(3), np.ones(3), -1, 1)


def test_closed_loop_scorecard_rows_for_the_shipped_controllers():
    from l2o_lib import pretrained

    names = [n for n in ("ch9_approx_mpc", "ch9_dpc") if n in pretrained.available()]
    if not names:
        pytest.skip("chapter 9's controllers are not shipped")
    (table,) = scorecard.closed_loop_scorecard(names, n=8, steps=15)
    assert [r.controller for r in table.rows][1:] == [x for n in names for x in (n, f"{n} + safety filter")]
    for n in names:
        assert table[f"{n} + safety filter"].violation_share == 0
    with pytest.raises(ValueError, match="not a linear MPC problem"):
        scorecard.closed_loop_scorecard(["ch1_direct_mlp"], n=2, steps=2)


def test_filter_with_the_plants_own_set_is_safe_on_that_plant(fam):
    plant = (np.array([[1.22, 1.0], [0.0, 1.0]]), 0.9 * fam.B)
    safe_p, _ = control.control_invariant_set(*plant, fam.x_min, fam.x_max, fam.u_min, fam.u_max)
    x0 = safe_p.sample(40, seed=6)
    push = lambda x: np.full((len(x), 1), -3.0)  # noqa: E731
    run = control.simulate(control.SafetyFilter("f", push, safe_p, fam, model=plant), x0, 30, fam, plant=plant)
    assert run.state_violation(fam).max() == 0 and run.input_violation(fam).max() == 0
    with pytest.raises(ValueError, match="model matrices"):
        control.SafetyFilter("f", push, safe_p, fam, model=(np.eye(3), np.ones((3, 1))))
