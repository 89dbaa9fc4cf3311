"""HUANet pieces (l2o_lib.jax) and the param_qp family, on real values."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from l2o_lib import metrics, problems  # noqa: E402
from l2o_lib.jax.admm import make_admm, newton_direction, spd_solve, standard_form, start_point  # noqa: E402
from l2o_lib.jax.huanet import init_params, kkt_multipliers, kkt_residuals, load_predict, polish, unroll  # noqa: E402


@pytest.fixture(autouse=True)
def float64():
    """These checks need 64-bit floats: switched on for each test only, as a chapter does with runtime.setup."""
    with jax.enable_x64(True):
        yield


def test_importing_the_jax_modules_leaves_x64_as_it_was():
    import subprocess
    import sys

    code = ("import jax; before = jax.config.jax_enable_x64; import l2o_lib.jax.admm, l2o_lib.jax.huanet; "
            "assert jax.config.jax_enable_x64 == before == False; "
            "from l2o_lib import runtime; runtime.setup(seed=0, jax_x64=True); assert jax.config.jax_enable_x64")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_shipped_loader_runs_in_float64_without_switching_the_process():
    from l2o_lib import pretrained

    with jax.enable_x64(False):
        model = pretrained.load("ch7_huanet_qp")
        x = model.predict(model.problem.sample(4, seed=0))
        assert x.dtype == np.float64 and not jax.config.jax_enable_x64
        assert np.abs(model.problem.eq_residual(x, model.problem.sample(4, seed=0))).max() < 1e-12


def test_param_qp_feasible_by_construction_and_solved():
    f = problems.get("param_qp")
    xi = f.sample(50, seed=3)
    x0 = xi @ np.linalg.pinv(f.A).T  # A⁺ξ
    assert np.abs(f.eq_residual(x0, xi)).max() < 1e-12
    assert f.ineq_residual(x0, xi).max() <= -0.1 + 1e-12
    ref = f.solve(xi[:10], progress=False).require_ok()
    assert np.abs(f.eq_residual(ref.x, xi[:10])).max() < 1e-8
    with pytest.raises(ValueError, match="outside the domain"):
        f.check_params(np.full((1, 5), 1.5))
    with pytest.raises(ValueError, match="n_eq < n_vars"):
        problems.get("param_qp", n_vars=5, n_eq=5)


@pytest.mark.parametrize("name", ["entropy", "param_qp"])
def test_unroll_keeps_equalities_exact(name):
    f = problems.get(name)
    params = init_params(jax.random.PRNGKey(0), f, layers=4, hidden=16)
    params = {k: v + 0.3 * jax.random.normal(jax.random.PRNGKey(1), v.shape) for k, v in params.items()}  # not ADMM
    xi = f.sample(64, seed=1)
    x, xs, ss, vs = unroll(params, jnp.asarray(xi), standard_form(f))
    assert xs.shape == (4, 64, f.n_vars) and ss.shape == vs.shape == (4, 64, f.n_ineq)
    assert np.abs(np.asarray(f.eq_residual(np.asarray(x), xi))).max() < 1e-12
    assert np.all(np.isfinite(np.asarray(f.objective(np.asarray(x), xi))))
    assert bool(jnp.all(vs <= 1e-12))   # μ = −v ≥ 0 (to rounding): ADMM's dual estimate is dual feasible at every layer
    r = kkt_residuals(xs, ss, vs, standard_form(f))
    assert set(r) == {"stationarity", "slack", "complementarity"} and r["slack"].shape == (4, 64)


@pytest.mark.parametrize("name", ["entropy", "param_qp"])
def test_untrained_huanet_is_vanilla_admm(name):
    """With the MLP's output weights at zero, α = 1 and no relaxation, the layers are ADMM with one Newton step."""
    f = problems.get(name)
    xi = jnp.asarray(f.sample(30, seed=4))
    rho = 3.0 if name == "entropy" else 0.1
    x_h = unroll(init_params(jax.random.PRNGKey(0), f, 12, rho=rho), xi, standard_form(f))[0]
    x_a = make_admm(f, 12, rho, newton_steps=1)(xi)[0]
    assert np.abs(np.asarray(x_h - x_a)).max() < 1e-12


@pytest.mark.parametrize("name", ["entropy", "param_qp"])
def test_newton_direction_solves_the_dense_kkt_system(name):
    f = problems.get(name)
    sf = standard_form(f)
    xi = jnp.asarray(f.sample(8, seed=6))
    x = start_point(xi, sf) + (0.02 * jax.random.uniform(jax.random.PRNGKey(2), (8, f.n_vars)) if name == "entropy" else 0.3)
    x = x / x.sum(1, keepdims=True) if name == "entropy" else x
    rho = jnp.linspace(0.2, 5.0, 8)[:, None]                       # one penalty per instance
    g = sf.grad(x) + jnp.sin(jnp.arange(f.n_vars))[None, :]
    b = jnp.asarray(sf.b0 + np.asarray(xi) @ sf.B)
    dx = np.asarray(newton_direction(x, g, b, rho, sf))
    A, C = sf.A, sf.G
    for i in range(8):
        hess = np.diag(1 / np.asarray(x[i])) if name == "entropy" else sf.Q
        H = hess + float(rho[i, 0]) * C.T @ C
        K = np.block([[H, A.T], [A, np.zeros((A.shape[0], A.shape[0]))]])
        want = np.linalg.solve(K, np.concatenate([-np.asarray(g[i]), np.asarray(b[i]) - A @ np.asarray(x[i])]))
        assert np.abs(dx[i] - want[: f.n_vars]).max() < 1e-9 * max(1.0, np.abs(want).max())


def test_spd_solve_matches_numpy():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((50, 5, 5))
    S = M @ np.swapaxes(M, 1, 2) + 0.1 * np.eye(5)
    R = rng.standard_normal((50, 5, 3))
    assert np.abs(np.asarray(spd_solve(jnp.asarray(S), jnp.asarray(R))) - np.linalg.solve(S, R)).max() < 1e-9


@pytest.mark.parametrize("name", ["entropy", "param_qp"])
def test_vanilla_admm_matches_clarabel(name):
    f = problems.get(name)
    xi = f.sample(20, seed=5)
    ref = f.solve(xi, progress=False).require_ok()
    x = np.asarray(make_admm(f, 300)(jnp.asarray(xi))[0])
    r = metrics.evaluate(f, x, xi, ref)
    assert r.gap_mean < 1e-4 and r.ineq_max < 1e-6 and r.eq_max < 1e-12


@pytest.mark.parametrize("name", ["entropy", "param_qp"])
def test_polish_from_start_point_matches_clarabel(name):
    """Eight Newton steps from x⁰ solve these small problems; x⁰ itself satisfies A x = b."""
    f, xi = problems.get(name), problems.get(name).sample(40, seed=11)
    sf = standard_form(f)
    x0 = np.asarray(start_point(jnp.asarray(xi), sf))
    assert np.abs(f.eq_residual(x0, xi)).max() < 1e-12
    ref = f.solve(xi, progress=False).require_ok()
    x, xs = polish(jnp.asarray(x0), jnp.asarray(xi), sf, 8)
    assert xs.shape == (8, 40, f.n_vars)
    r = metrics.evaluate(f, np.asarray(x), xi, ref)
    assert r.failed == 0 and r.gap_mean < 1e-4 and r.ineq_max < 1e-9 and r.eq_max < 1e-12


def test_polish_one_step_exact_for_qp_with_the_right_active_set():
    """From x* and its multipliers the active set is right, and one Newton step on a QP stays at x*."""
    f = problems.get("param_qp")
    xi = f.sample(20, seed=12)
    ref = f.solve(xi, progress=False).require_ok()
    sf = standard_form(f)
    mu = np.asarray(kkt_multipliers(jnp.asarray(ref.x), sf))
    active = f.ineq_residual(ref.x, xi) > -1e-7
    assert np.all(mu[active] > -1e-6) and np.all(np.abs(mu[~active]) < 1e-5)   # μ* ≥ 0, zero where inactive
    x = np.asarray(polish(jnp.asarray(ref.x), jnp.asarray(xi), sf, 1)[0])
    assert np.abs(x - ref.x).max() < 1e-6


def test_admm_trace_shape_and_last_iterate():
    f = problems.get("entropy")
    xi = jnp.asarray(f.sample(3, seed=2))
    x, xs = make_admm(f, 7, trace=True)(xi)
    assert xs.shape == (8, 3, f.n_vars) and np.allclose(np.asarray(xs[-1]), np.asarray(x))
    assert np.allclose(np.asarray(xs[0]), 1.0 / f.n_vars)


def test_bad_input():
    with pytest.raises(TypeError, match="needs a family that is LinearlyConstrained"):
        standard_form(problems.get("l1qp_box"))
    with pytest.raises(ValueError, match="iters"):
        make_admm(problems.get("entropy"), 0)
    with pytest.raises(ValueError, match="newton_steps"):
        make_admm(problems.get("entropy"), 5, newton_steps=0)
    with pytest.raises(ValueError, match="layers"):
        init_params(jax.random.PRNGKey(0), problems.get("entropy"), 0)
    f = problems.get("entropy")
    with pytest.raises(ValueError, match="steps"):
        polish(jnp.ones((1, 10)) / 10, jnp.asarray(f.sample(1, seed=0)), standard_form(f), 0)
    with pytest.raises(KeyError, match="expected arrays"):
        load_predict(problems.get("entropy"), {"W1": np.zeros((1, 2, 2))}, {})


def test_admm_penalty_is_an_argument_of_the_compiled_call():
    f = problems.get("entropy")
    xi = jnp.asarray(f.sample(16, seed=8))
    one_compile = make_admm(f, 10)
    assert np.abs(np.asarray(one_compile(xi, 4.0)[0] - make_admm(f, 10, 4.0)(xi)[0])).max() == 0.0
    assert np.abs(np.asarray(one_compile(xi, 4.0)[0] - one_compile(xi, 1.0)[0])).max() > 1e-6
    with pytest.raises(ValueError, match="rho"):
        one_compile(xi, 0.0)


def test_primal_update_keeps_the_simplex_and_damps_instead_of_clipping():
    sf = standard_form(problems.get("entropy"))
    x = jnp.full((2, 10), 0.1)
    small = jnp.asarray(np.tile(np.linspace(-0.01, 0.01, 10), (2, 1)))          # 1ᵀstep = 0, inside
    assert np.abs(np.asarray(sf.primal_update(x, small, jnp.ones((2, 1))) - (x + small))).max() < 1e-15
    huge = small.at[:, 0].set(-50.0)                                              # far past x_0 = 0
    y = np.asarray(sf.primal_update(x, huge, jnp.ones((2, 1))))
    assert np.all(y > 0) and np.all(np.isfinite(y)) and np.abs(y.sum(1) - 1).max() < 1e-15
