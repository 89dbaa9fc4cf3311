"""The l1qp_box family of Chapter 6: exact prox against cvxpy, the envelope's gradient identity, ADMM vs Clarabel."""

import numpy as np
import pytest

from l2o_lib import metrics, problems


@pytest.fixture(scope="module")
def fam():
    return problems.get("l1qp_box")


def test_prox_matches_cvxpy(fam):
    cp = pytest.importorskip("cvxpy")
    v = np.random.default_rng(0).normal(size=(3, fam.n_vars)) * 2
    rho = 0.7
    got = fam.prox(v, rho)
    for i in range(3):
        x = cp.Variable(fam.n_vars)
        obj = 0.5 * cp.quad_form(x, fam.Q) + fam.p @ x + fam.lam * cp.norm1(x) + rho / 2 * cp.sum_squares(x - v[i])
        cp.Problem(cp.Minimize(obj)).solve(solver="CLARABEL")
        np.testing.assert_allclose(got[i], x.value, atol=1e-5)  # cvxpy's own accuracy


def test_envelope_gradient_is_rho_times_v_minus_prox(fam):
    v = np.random.default_rng(1).normal(size=(4, fam.n_vars))
    rho, h = 1.0, 1e-6
    value, grad, x = fam.envelope(v, rho)
    assert np.all(value <= fam.objective(v, np.zeros_like(v)) + 1e-12)  # M ≤ f
    for j in range(3):
        e = np.zeros(fam.n_vars)
        e[j] = h
        fd = (fam.envelope(v + e, rho)[0] - fam.envelope(v - e, rho)[0]) / (2 * h)
        np.testing.assert_allclose(fd, grad[:, j], atol=1e-5)


def test_torch_prox_and_projection_agree_with_numpy(fam):
    torch = pytest.importorskip("torch")
    v = np.random.default_rng(2).normal(size=(5, fam.n_vars))
    xi = fam.sample(5, seed=0)
    np.testing.assert_allclose(fam.prox(torch.as_tensor(v), 1.0).numpy(), fam.prox(v, 1.0), atol=1e-12)
    proj = fam.project(v, xi)
    assert np.all(fam.ineq_residual(proj, xi) <= 1e-12)
    np.testing.assert_allclose(fam.project(torch.as_tensor(v), torch.as_tensor(xi)).numpy(), proj)


def test_exact_prox_admm_reaches_the_reference(fam):
    torch = pytest.importorskip("torch")
    from l2o_lib.torch.admm import admm

    xi = fam.sample(20, seed=3)
    ref = fam.solve(xi).require_ok()
    z = admm(lambda v, c: fam.prox(v, 1.0), fam.project, torch.as_tensor(xi), 1.0, 300).z
    gap = metrics.gap_percent(fam.objective(z.numpy(), xi), ref.objective)
    assert gap.max() < 1e-4


def test_bad_arguments_are_named(fam):
    with pytest.raises(ValueError, match="rho must be positive"):
        fam.prox(np.zeros((1, fam.n_vars)), 0.0)
    with pytest.raises(ValueError, match="lam must be a positive number"):
        problems.get("l1qp_box", lam=-1.0)
    with pytest.raises(ValueError, match="n_vars must be a positive integer"):
        problems.get("l1qp_box", n_vars=0)
