"""The differentiable layers of l2o_lib.torch.layers: values against cvxpy/Clarabel and closed forms,
gradients against finite differences (float64) and cvxpylayers, and bad input."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
import torch

from l2o_lib.torch.layers import QPLayer, project_affine, project_box, project_polytope, qp_solve

DT = torch.float64


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Many tiny batched solves: one torch thread is much faster than two on a shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def random_qp(seed: int, n: int = 8, p: int = 2, m: int = 10, batch: int = 4):
    """A feasible strictly convex QP batch: Q, q batched; A, b, G, h shared; x0 strictly feasible."""
    g = torch.Generator().manual_seed(seed)
    L = torch.randn(batch, n, n, generator=g, dtype=DT)
    Q = L @ L.transpose(1, 2) / n + 0.2 * torch.eye(n, dtype=DT)
    q = torch.randn(batch, n, generator=g, dtype=DT)
    A = torch.randn(p, n, generator=g, dtype=DT)
    x0 = torch.randn(n, generator=g, dtype=DT)
    b = A @ x0
    G = torch.randn(m, n, generator=g, dtype=DT)
    h = G @ x0 + 0.2 + torch.rand(m, generator=g, dtype=DT)
    return Q, q, A, b, G, h


def clarabel(Q, q, A=None, b=None, G=None, h=None) -> np.ndarray:
    n = q.shape[-1]
    x = cp.Variable(n)
    cons = []
    if A is not None:
        cons.append(A.numpy() @ x == b.numpy())
    if G is not None:
        cons.append(G.numpy() @ x <= h.numpy())
    Qn = Q.numpy()
    prob = cp.Problem(cp.Minimize(0.5 * cp.quad_form(x, 0.5 * (Qn + Qn.T)) + q.numpy() @ x), cons)
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    assert prob.status == "optimal"
    return x.value


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


# ---------------------------------------------------------------------------- projections


def test_project_box_values_and_gradient():
    x = torch.tensor([[-2.0, 0.5, 3.0]], dtype=DT, requires_grad=True)
    y = project_box(x, -1.0, torch.tensor([1.0, 1.0, 2.0], dtype=DT))
    assert torch.equal(y.detach(), torch.tensor([[-1.0, 0.5, 2.0]], dtype=DT))
    y.sum().backward()
    assert torch.equal(x.grad, torch.tensor([[0.0, 1.0, 0.0]], dtype=DT))
    with pytest.raises(ValueError, match="empty"):
        project_box(x, 1.0, 0.0)


def test_project_affine_is_the_projection_and_gradchecks():
    g = torch.Generator().manual_seed(1)
    A = torch.randn(3, 7, generator=g, dtype=DT)
    b = torch.randn(5, 3, generator=g, dtype=DT)
    x = torch.randn(5, 7, generator=g, dtype=DT)
    y = project_affine(x, A, b)
    assert torch.allclose(y @ A.T, b, atol=1e-12)
    # the residual x − y is orthogonal to the null space of A (y is the nearest point)
    null = torch.linalg.svd(A).Vh[3:]
    assert torch.allclose((x - y) @ null.T, torch.zeros(5, 4, dtype=DT), atol=1e-12)
    assert torch.allclose(project_affine(y, A, b), y, atol=1e-12)  # idempotent
    # the same as the QP with equalities only
    assert torch.allclose(project_polytope(x, A=A, b=b), y, atol=1e-8)
    args = (x[:2].clone().requires_grad_(), A.clone().requires_grad_(), b[:2].clone().requires_grad_())
    assert torch.autograd.gradcheck(project_affine, args)


# ---------------------------------------------------------------------------- the QP layer: forward


@pytest.mark.parametrize("kind", ["both", "ineq_only", "eq_only", "unconstrained"])
def test_qp_solve_matches_clarabel(kind):
    Q, q, A, b, G, h = random_qp(2)
    if kind in ("ineq_only", "unconstrained"):
        A = b = None
    if kind in ("eq_only", "unconstrained"):
        G = h = None
    x = qp_solve(Q, q, A, b, G, h)
    for i in range(len(q)):
        ref = clarabel(Q[i], q[i], A, b, G, h)
        assert np.abs(x[i].numpy() - ref).max() < 1e-7


def test_qp_solve_float32_and_batched_constraints():
    Q, q, A, b, G, h = random_qp(3, batch=3)
    Gb, hb = G.expand(3, *G.shape).clone(), h.expand(3, -1).clone()
    Gb[1] *= 2.0  # a different polytope per instance
    x64 = qp_solve(Q, q, A, b, Gb, hb)
    x32 = qp_solve(Q.float(), q.float(), A.float(), b.float(), Gb.float(), hb.float())
    assert x32.dtype == torch.float32
    assert (x32.double() - x64).abs().max() < 1e-5  # solved in float64 inside
    x32_native = qp_solve(Q.float(), q.float(), A.float(), b.float(), Gb.float(), hb.float(), solver_dtype=None)
    assert (x32_native.double() - x64).abs().max() < 1e-2  # float32 all the way: round-off shows
    assert np.abs(x64[1].numpy() - clarabel(Q[1], q[1], A, b, Gb[1], hb[1])).max() < 1e-7


def test_project_polytope_on_a_box_is_a_clamp():
    n = 5
    G = torch.cat([torch.eye(n), -torch.eye(n)]).to(DT)
    h = torch.cat([torch.ones(n), 0.5 * torch.ones(n)]).to(DT)  # −0.5 ≤ x ≤ 1
    x = 2 * torch.randn(6, n, generator=torch.Generator().manual_seed(4), dtype=DT)
    assert torch.allclose(project_polytope(x, G, h), project_box(x, -0.5, 1.0), atol=1e-8)


# ---------------------------------------------------------------------------- the QP layer: gradients


def test_qp_gradient_matches_finite_differences():
    Q, q, A, b, G, h = random_qp(5, n=5, p=1, m=6, batch=2)
    _, lam, _ = qp_solve(Q, q, A, b, G, h, return_duals=True)
    active = lam > 1e-6
    assert active.any() and (~active).any()  # both kinds of constraint are exercised
    args = tuple(t.clone().requires_grad_() for t in (Q, q, A, b, G, h))
    assert torch.autograd.gradcheck(lambda *a: qp_solve(*a), args, eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_qp_gradient_matches_cvxpylayers():
    from cvxpylayers.torch import CvxpyLayer

    Q, q, A, b, G, h = random_qp(6, n=6, p=2, m=8, batch=1)
    Q = Q[0]
    n, p, m = 6, 2, 8
    x = cp.Variable(n)
    qv, bv, hv = cp.Parameter(n), cp.Parameter(p), cp.Parameter(m)
    L = torch.linalg.cholesky(Q).numpy()
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(L.T @ x) + qv @ x), [A.numpy() @ x == bv, G.numpy() @ x <= hv])
    layer = CvxpyLayer(prob, parameters=[qv, bv, hv], variables=[x])
    qs = torch.randn(4, n, generator=torch.Generator().manual_seed(7), dtype=DT)
    w = torch.randn(4, n, generator=torch.Generator().manual_seed(8), dtype=DT)
    grads = []
    for solve in ("cvxpylayers", "ours"):
        qq, bb, hh = qs.clone().requires_grad_(), b.expand(4, p).clone().requires_grad_(), h.expand(4, m).clone().requires_grad_()
        if solve == "cvxpylayers":
            (xs,) = layer(qq, bb, hh, solver_args={"eps": 1e-12})
        else:
            xs = qp_solve(Q, qq, A, bb, G, hh)
        (xs * w).sum().backward()
        grads.append((xs.detach(), qq.grad, bb.grad, hh.grad))
    (x_cl, *g_cl), (x_us, *g_us) = grads
    assert (x_cl - x_us).abs().max() < 1e-6
    for a, c in zip(g_us, g_cl):
        assert rel_err(a, c) <= 1e-6


def test_shared_inputs_get_summed_gradients_and_qplayer_learns():
    Q, q, A, b, G, h = random_qp(9, batch=3)
    h_shared = h.clone().requires_grad_()
    qp_solve(Q, q, A, b, G, h_shared).sum().backward()
    h_batched = h.expand(3, -1).clone().requires_grad_()
    qp_solve(Q, q, A, b, G, h_batched).sum().backward()
    assert torch.allclose(h_shared.grad, h_batched.grad.sum(0), atol=1e-10)
    # learn q so that the QP's solution hits a feasible target
    target = qp_solve(Q[0], q[1], A, b, G, h).detach()
    layer = QPLayer(Q=Q[0], A=A, b=b, G=G, h=h, q=torch.nn.Parameter(torch.zeros(8, dtype=DT)))
    opt = torch.optim.Adam(layer.parameters(), lr=0.1)
    first = None
    for _ in range(60):
        loss = ((layer() - target) ** 2).sum()
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05 * first


# ---------------------------------------------------------------------------- bad input


def test_bad_input_is_named():
    Q, q, A, b, G, h = random_qp(10)
    with pytest.raises(ValueError, match="batch size"):
        qp_solve(Q, q[:3], A, b, G, h)
    with pytest.raises(ValueError, match="G .* with h|with h"):
        qp_solve(Q, q, A, b, G, None)
    with pytest.raises(ValueError, match="NaN"):
        qp_solve(Q, q.masked_fill(torch.zeros_like(q, dtype=torch.bool).index_fill(1, torch.tensor([0]), True),
                                  float("nan")), A, b, G, h)
    with pytest.raises(ValueError, match="dtype"):
        qp_solve(Q, q, A.float(), b, G, h)
    with pytest.raises(ValueError, match="do not fit|does not fit"):
        qp_solve(Q, q, A, b[:1], G, h)
    with pytest.raises(ValueError, match="did not converge"):  # infeasible: x ≤ −1 and x ≥ 1
        qp_solve(torch.eye(1, dtype=DT), torch.zeros(1, dtype=DT), G=torch.tensor([[1.0], [-1.0]], dtype=DT),
                 h=torch.tensor([-1.0, -1.0], dtype=DT))
    with pytest.raises(KeyError, match="unknown"):
        QPLayer(R=torch.eye(2))
    with pytest.raises(ValueError, match="shape"):
        project_affine(torch.zeros(3), A, b)


def test_polishing_makes_nearly_degenerate_solutions_exact():
    """Box QPs where some bound is nearly weakly active: the interior point alone is off by ~1e-5 there;
    polished on its active set, x* matches projected gradient iterated to round-off."""
    n = 20
    g = torch.Generator().manual_seed(5)
    M = torch.randn(n, n, generator=g, dtype=DT)
    Q = M.T @ M / n + 0.1 * torch.eye(n, dtype=DT)
    alpha = 1.0 / torch.linalg.eigvalsh(Q).max().item()
    G = torch.cat([torch.eye(n), -torch.eye(n)]).to(DT)
    h = torch.cat([torch.ones(n), torch.zeros(n)]).to(DT)
    xi = 2 * torch.randn(256, n, generator=torch.Generator().manual_seed(7), dtype=DT)
    x = torch.zeros_like(xi)
    for _ in range(5000):
        x = project_box(x - alpha * (x @ Q + xi), 0.0, 1.0)
    assert (qp_solve(Q, xi, G=G, h=h) - x).abs().max() < 1e-10
    assert (qp_solve(Q, xi, G=G, h=h, polish=False) - x).abs().max() < 1e-3


def test_shipped_inverse_qp_meets_its_targets_on_fresh_instances():
    """data/ch3_inverse_qp (chapter 3): the learned-cost QP, scored on new instances against Clarabel."""
    from l2o_lib import metrics, pretrained

    model = pretrained.load("ch3_inverse_qp")
    xi = model.problem.sample(100, seed=4242)  # the chapter trains on seed 1 and tests on seed 2
    reference = model.problem.solve(xi).require_ok()
    row = metrics.evaluate(model.problem, model.predict(xi), xi, reference, method="ch3_inverse_qp")
    assert row.failed == 0
    pretrained.check(row, model.card).require()
    with pytest.raises(ValueError, match="outside the domain"):
        model.predict(np.full((1, model.problem.n_params), 5.0))
