"""AC-OPF (chapter 10): the converted networks against MATPOWER's published optima, the array-API formulation, the
Newton completion and its implicit-function gradient, the corrections, the warm starts, bad input."""

import numpy as np
import pytest

from l2o_lib import problems
from l2o_lib.problems.acopf import ACOPF
from l2o_lib.problems.capabilities import EqualityCompletable

#: MATPOWER's published optima of its runopf on the two cases ($/h, printed to two decimals), with its own cost data
#: (each generator's quadratic polynomial in the case file's gencost table)
MATPOWER_OPTIMUM = {"case57": 41737.79, "case118": 129660.69}


@pytest.fixture(scope="module")
def fam():
    return problems.get("acopf")


@pytest.fixture(scope="module")
def nominal(fam):
    run = fam.ipopt(fam.nominal()[0])
    assert run.ok, run.status
    return run


def test_nominal_case57_matches_matpowers_optimum(fam, nominal):
    assert (fam.n_bus, fam.n_gen, fam.net.n_branch, fam.n_load) == (57, 7, 80, 42)
    assert abs(nominal.objective - MATPOWER_OPTIMUM["case57"]) / MATPOWER_OPTIMUM["case57"] < 1e-6
    xi = fam.nominal()
    assert np.abs(fam.eq_residual(nominal.x[None], xi)).max() < 1e-8
    assert fam.ineq_residual(nominal.x[None], xi).max() < 1e-7  # IPOPT relaxes bounds by 1e-8 relative


@pytest.mark.slow
def test_nominal_case118_matches_matpowers_optimum():
    fam = problems.get("acopf", case="case118")
    run = fam.ipopt(fam.nominal()[0])
    assert run.ok and abs(run.objective - MATPOWER_OPTIMUM["case118"]) / MATPOWER_OPTIMUM["case118"] < 1e-6


def test_jacobian_matches_finite_differences(fam, nominal):
    xi = fam.sample(2, seed=4)
    x = np.repeat(nominal.x[None], 2, axis=0) + 1e-3 * np.random.default_rng(0).standard_normal((2, fam.n_vars))
    J = fam.eq_jacobian(x, xi)
    assert J.shape == (2, fam.n_eq, fam.n_vars)
    eps = 1e-7
    for k in np.random.default_rng(1).choice(fam.n_vars, 25, replace=False):
        d = np.zeros(fam.n_vars)
        d[k] = eps
        fd = (fam.eq_residual(x + d, xi) - fam.eq_residual(x - d, xi)) / (2 * eps)
        np.testing.assert_allclose(J[:, :, k], fd, atol=1e-6)


def test_sampler_follows_the_dc3_protocol(fam):
    xi = fam.sample(4000, seed=0)
    pd, qd = xi[:, :fam.n_load], xi[:, fam.n_load:]
    factor = pd / fam.net.pd
    assert factor.min() > 0.3 and factor.max() < 1.7
    # the truncation keeps draws whose common component is small: the loads stay positively correlated, less than
    # the untruncated 0.5
    corr = np.corrcoef(factor.T)[np.triu_indices(fam.n_load, 1)].mean()
    assert abs(factor.mean() - 1) < 0.02 and 0.05 < corr < 0.5
    pf = np.cos(np.arctan(qd / pd))
    assert pf.min() >= 0.8 - 1e-12 and pf.max() <= 1.0
    assert np.all(np.sign(qd) * np.sign(fam.net.qd) >= 0)


def test_completion_recovers_the_optimum_from_its_set_points(fam, nominal):
    assert isinstance(fam, EqualityCompletable)
    independent, dependent = fam.completion_split()
    assert len(dependent) == fam.n_eq and len(independent) == 2 * fam.n_gen - 1
    assert sorted(np.concatenate([independent, dependent]).tolist()) == list(range(fam.n_vars))
    xi = fam.nominal()
    x = nominal.x[None]
    newton = fam.complete(x[:, independent], xi)
    assert bool(newton.converged[0]) and 1 <= newton.iterations <= 8
    np.testing.assert_allclose(newton.x, x, atol=1e-8)
    chord = fam.complete(x[:, independent], xi, chord=fam.chord_matrix(x, xi))
    np.testing.assert_allclose(chord.x, x, atol=1e-8)


def test_completion_reports_rows_that_do_not_converge(fam, nominal):
    independent, _ = fam.completion_split()
    xi = np.repeat(fam.nominal(), 2, axis=0)
    z = np.repeat(nominal.x[None, independent], 2, axis=0)
    z[1, fam.n_gen - 1:] = 3.0  # generator voltages of 3 p.u.: far outside any power flow's basin
    out = fam.complete(z, xi, max_iter=5)
    assert out.converged.tolist() == [True, False]
    with pytest.raises(ValueError, match="z must have shape"):
        fam.complete(z[:, :3], xi)


def test_implicit_gradient_matches_finite_differences(fam, nominal):
    torch = pytest.importorskip("torch")
    from l2o_lib.torch.restoration import ImplicitCompletion

    comp = ImplicitCompletion(fam, reference=(nominal.x, fam.nominal()[0]))
    independent, _ = fam.completion_split()
    xi = torch.as_tensor(fam.sample(3, seed=5))
    z0 = torch.as_tensor(nominal.x[independent]).repeat(3, 1)
    z = z0.clone().requires_grad_(True)
    xi_ = xi.clone().requires_grad_(True)
    y = comp(z, xi_)
    assert bool(comp.last_converged.all())
    w = torch.randn(y.shape, dtype=y.dtype, generator=torch.Generator().manual_seed(0))
    gz, gxi = torch.autograd.grad((y * w).sum(), (z, xi_))
    eps = 1e-6
    dz, dxi = torch.zeros_like(z0), torch.zeros_like(xi)
    dz[:, 3], dxi[:, 7] = eps, eps
    with torch.no_grad():
        fd_z = ((comp(z0 + dz, xi) - comp(z0 - dz, xi)) * w).sum() / (2 * eps)
        fd_xi = ((comp(z0, xi + dxi) - comp(z0, xi - dxi)) * w).sum() / (2 * eps)
    for grad, fd in ((gz[:, 3], fd_z), (gxi[:, 7], fd_xi)):
        assert abs(float(grad.sum()) - float(fd)) < 1e-5 * (1 + abs(float(fd)))
    torch.testing.assert_close(comp.pullback(w, y.detach(), xi), gz)


def test_corrections_repair_violations_and_keep_the_power_flow(fam, nominal):
    torch = pytest.importorskip("torch")
    from l2o_lib.torch.restoration import ImplicitCompletion, dc3_correct, newton_correct

    ref = (nominal.x, fam.nominal()[0])
    comp = ImplicitCompletion(fam, reference=ref)
    independent, _ = fam.completion_split()
    xi = torch.as_tensor(fam.nominal()).repeat(2, 1)
    z = torch.as_tensor(nominal.x[independent]).repeat(2, 1)
    z[:, fam.n_gen - 1:] += 0.01  # every generator voltage 0.01 p.u. up: some buses go over 1.06
    before = float(torch.relu(fam.ineq_residual(comp(z, xi), xi)).max())
    after = newton_correct(z, xi, comp, fam.ineq_residual, steps=4)
    assert before > 1e-3 and float(torch.relu(fam.ineq_residual(after, xi)).max()) < 1e-6
    every_row = newton_correct(z, xi, comp, fam.ineq_residual, steps=4, max_rows=None)
    assert float(torch.relu(fam.ineq_residual(every_row, xi)).max()) < 1e-6
    one_row = newton_correct(z, xi, comp, fam.ineq_residual, steps=10, max_rows=1)  # one constraint per step
    assert float(torch.relu(fam.ineq_residual(one_row, xi)).max()) < before / 10
    with pytest.raises(ValueError, match="max_rows"):
        newton_correct(z, xi, comp, fam.ineq_residual, max_rows=0)
    assert float(fam.eq_residual(after, xi).abs().max()) < 1e-9
    with torch.no_grad():
        grad = dc3_correct(z, xi, comp, steps=10, step_size=1e-2, ineq=fam.ineq_residual)
    assert float(torch.relu(fam.ineq_residual(grad, xi)).max()) < before
    with pytest.raises(ValueError, match="not both"):
        dc3_correct(z, xi, comp, steps=1, step_size=1e-2)


def test_holding_reactive_limits_switches_the_bus_and_keeps_the_power_flow(fam, nominal):
    """PV-PQ switching: a generator pushed past its reactive limit is held there and its bus voltage is freed; the
    Woodbury-corrected chord iteration solves the same equations as a Newton power flow with that split."""
    torch = pytest.importorskip("torch")
    from l2o_lib.torch.restoration import ImplicitCompletion

    comp = ImplicitCompletion(fam, reference=(nominal.x, fam.nominal()[0]))
    independent, _ = fam.completion_split()
    piv = fam.completion_pivots()
    assert len(piv.dependent) == fam.n_gen and set(piv.independent) <= set(independent)
    xi = torch.as_tensor(fam.sample(6, seed=9))
    z = torch.as_tensor(nominal.x[independent]).repeat(6, 1)
    z[:, fam.n_gen - 1:] += 0.02  # generator voltages up: reactive outputs rise past their limits
    y = comp(z, xi)
    q = y[:, torch.as_tensor(piv.dependent)]
    over = q > torch.as_tensor(piv.high)
    assert bool(over.any())
    held = comp.hold(y, xi, margin=1e-6)
    q_held = held[:, torch.as_tensor(piv.dependent)]
    assert float(fam.eq_residual(held, xi).abs().max()) < 1e-9
    assert bool((q_held <= torch.as_tensor(piv.high) + 1e-12).all())
    assert bool((q_held >= torch.as_tensor(piv.low) - 1e-12).all())
    assert bool(comp.last_held[over].all())
    np.testing.assert_allclose(q_held[over].numpy(), (torch.as_tensor(piv.high)[None] - 1e-6).expand_as(q)[over])
    free = torch.as_tensor(piv.independent)
    moved = (held[:, free] - y[:, free]).abs() > 1e-9
    assert bool(moved[over].all()) and not bool(moved[~comp.last_held].any())  # only switched buses' voltages move
    # the same point is a power flow of the standard split: completing its set points reproduces it
    again = comp(held[:, comp.partial], xi)
    assert float((again - held).abs().max()) < 1e-8
    with pytest.raises(ValueError, match="margin"):
        comp.hold(y, xi, margin=-1.0)


def test_sparse_jacobian_equals_the_dense_formula(fam, nominal):
    torch = pytest.importorskip("torch")
    xi = fam.sample(4, seed=2)
    x = nominal.x[None] + 0.01 * np.random.default_rng(1).standard_normal((4, fam.n_vars))
    J = fam.eq_jacobian(x, xi)
    eps = 1e-7  # central differences of h, column by column
    fd = np.stack([(fam.eq_residual(x + eps * e, xi) - fam.eq_residual(x - eps * e, xi)) / (2 * eps)
                   for e in np.eye(fam.n_vars)], axis=2)
    np.testing.assert_allclose(J, fd, atol=1e-5)
    np.testing.assert_allclose(fam.eq_jacobian(torch.as_tensor(x), torch.as_tensor(xi)).numpy(), J, atol=1e-12)
    jnp = pytest.importorskip("jax.numpy")
    with pytest.raises(TypeError, match="numpy or torch"):
        fam.eq_jacobian(jnp.asarray(x), jnp.asarray(xi))


def test_a_singular_newton_step_is_reported_not_raised(fam, nominal):
    """Newton's fallback hits a singular Jacobian on a row (all voltages zero): that row is reported unconverged and
    the others still converge."""
    independent, _ = fam.completion_split()
    xi = fam.nominal().repeat(2, axis=0)
    z = nominal.x[independent][None].repeat(2, axis=0)
    guess = np.repeat(nominal.x[None], 2, axis=0)
    guess[1, fam.vm], guess[1, fam.va] = 0.0, 0.0
    z[1, fam.n_gen - 1:] = 0.0
    out = fam.complete(z, xi, guess=guess, max_iter=5)
    assert bool(out.converged[0]) and not bool(out.converged[1])


def test_multiplier_net_predicts_in_a_signed_log_space(fam, nominal):
    torch = pytest.importorskip("torch")
    from l2o_lib.torch.acopf import MultiplierNet

    net = MultiplierNet(fam, hidden=(8,)).double()
    lam_g = torch.as_tensor(nominal.lam_g[None].repeat(5, 0))
    lam_x = torch.as_tensor(nominal.lam_x[None].repeat(5, 0)) * torch.linspace(0.5, 1.5, 5, dtype=torch.float64)[:, None]
    net.fit_scaling(lam_g, lam_x)
    t = net.targets(lam_g, lam_x)
    assert float(t.mean(0).abs().max()) < 1e-6 and float(t[:, net.n_g:].std(0).max()) > 0.5
    with torch.no_grad():  # an MLP that outputs the standardized labels returns the labels
        for p in net.mlp.parameters():
            p.zero_()
        g0, x0 = net(torch.as_tensor(fam.nominal()))
    o = net.mean
    expect = torch.sign(o) * torch.expm1(o.abs())
    torch.testing.assert_close(torch.cat([g0, x0], 1)[0], expect)
    assert float(expect.abs().max()) > 1e3  # the labels do span orders of magnitude


def test_warm_start_from_the_optimum_takes_few_iterations(fam, nominal):
    xi = fam.nominal()[0]
    warm = fam.ipopt(xi, nominal.x, lam_g0=nominal.lam_g, lam_x0=nominal.lam_x)
    assert warm.ok and warm.iterations <= 3 < nominal.iterations
    assert abs(warm.objective - nominal.objective) <= 1e-6 * nominal.objective
    dc = fam.dc_opf(xi)
    assert np.isfinite(dc).all() and fam.objective(dc[None], xi[None])[0] < nominal.objective  # lossless: cheaper


def test_a_line_rating_binds_and_costs_more(fam, nominal):
    flows = fam.loading(nominal.x[None])[0]
    k = int(np.argmax(flows))
    rated = problems.get("acopf", line_ratings=((k, 0.8 * flows[k]),))
    assert rated.n_ineq == fam.n_ineq + 2 and rated.identity_key != fam.identity_key
    run = rated.ipopt(rated.nominal()[0])
    assert run.ok and run.objective > nominal.objective
    assert rated.loading(run.x[None])[0, k] <= 0.8 * flows[k] * (1 + 1e-6)


def test_bad_input_is_named():
    with pytest.raises(KeyError, match="unknown power network"):
        ACOPF("case9999")
    with pytest.raises(ValueError, match="load_spread"):
        ACOPF(load_spread=1.5)
    with pytest.raises(ValueError, match="correlation"):
        ACOPF(correlation=1.0)
    with pytest.raises(ValueError, match="line_ratings"):
        ACOPF(line_ratings=((999, 100.0),))
    with pytest.raises(ValueError, match="rating of branch"):
        ACOPF(line_ratings=((3, -1.0),))
    fam = problems.get("acopf")
    with pytest.raises(ValueError, match="shape"):
        fam.ipopt(np.ones(3))
    with pytest.raises(ValueError, match="outside the domain"):
        fam.check_params(3.0 * fam.nominal())
