"""DC3 completion and correction, and the NeuroMANCER DC3 model of chapter 4, on real values."""

import numpy as np
import pytest
import torch

from l2o_lib import pretrained, problems
from l2o_lib.torch.nets import to_arrays
from l2o_lib.torch.restoration import (
    DC3Net,
    EqualityCompletion,
    ImplicitCompletion,
    NullSpaceCompletion,
    dc3_correct,
    nm_dc3_nonconvex_2d,
    nm_predict,
)

QP = problems.get("dc3_qp", n_vars=20, n_eq=8, n_ineq=8, seed=3)


@pytest.mark.parametrize("kind", ["split", "nullspace"])
def test_completion_satisfies_the_equalities_and_pullback_is_the_chain_rule(kind):
    comp = EqualityCompletion(QP.A, QP.split_indices()[0]) if kind == "split" else NullSpaceCompletion(QP.A)
    gen = torch.Generator().manual_seed(0)
    xi = torch.as_tensor(QP.sample(5, seed=1))
    z = torch.randn(5, comp.n_partial, dtype=torch.float64, generator=gen, requires_grad=True)
    y = comp(z, xi)
    assert y.shape == (5, QP.n_vars)
    np.testing.assert_allclose(QP.eq_residual(y.detach().numpy(), xi.numpy()), 0, atol=1e-10)
    w = torch.randn(5, QP.n_vars, dtype=torch.float64, generator=gen)
    (grad_auto,) = torch.autograd.grad((y * w).sum(), z)
    torch.testing.assert_close(comp.pullback(w), grad_auto)
    if kind == "split":  # the predicted coordinates are copied through unchanged
        torch.testing.assert_close(y[:, comp.partial], z)
    else:  # an isometry
        torch.testing.assert_close(comp.N.T @ comp.N, torch.eye(comp.n_partial, dtype=torch.float64))


def test_implicit_completion_is_the_split_completion_on_linear_equalities():
    """The Newton completion of an EqualityCompletable family with linear equalities is DC3's split completion,
    in value and gradient (it converges in one step, and the implicit-function gradient is the chain rule)."""
    split, implicit = EqualityCompletion(QP.A, QP.split_indices()[0]), ImplicitCompletion(QP)
    xi = torch.as_tensor(QP.sample(4, seed=3))
    z = torch.randn(4, split.n_partial, dtype=torch.float64, generator=torch.Generator().manual_seed(2), requires_grad=True)
    y_split, y_implicit = split(z, xi), implicit(z, xi)
    torch.testing.assert_close(y_implicit, y_split)
    w = torch.randn(4, QP.n_vars, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(torch.autograd.grad((y_implicit * w).sum(), z)[0], split.pullback(w))
    torch.testing.assert_close(implicit.pullback(w, y_implicit.detach(), xi), split.pullback(w))
    torch.testing.assert_close(implicit.sensitivity(y_split.detach(), xi), split.sensitivity(y_split, xi))
    with pytest.raises(TypeError, match="EqualityCompletable"):
        ImplicitCompletion(problems.get("nonconvex_2d"))


def test_correction_reduces_inequality_violation_and_keeps_equalities():
    comp = NullSpaceCompletion(QP.A)
    G, h = torch.as_tensor(QP.G), torch.as_tensor(QP.h)
    xi = torch.as_tensor(QP.sample(50, seed=2))
    z = 3 * torch.randn(50, comp.n_partial, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    step = 1 / float(torch.linalg.matrix_norm(G @ comp.N, ord=2) ** 2)
    trace: list[torch.Tensor] = []
    y = dc3_correct(z, xi, comp, G, h, steps=200, step_size=step, trace=trace)
    before = torch.relu(QP.ineq_residual(trace[0], xi)).max()
    after = torch.relu(QP.ineq_residual(y, xi)).max()
    assert len(trace) == 201 and before > 1.0 and after < 1e-3 * before
    assert float(QP.eq_residual(y, xi).abs().max()) < 1e-10
    with pytest.raises(ValueError, match="steps"):
        dc3_correct(z, xi, comp, G, h, steps=-1, step_size=step)


def test_completion_rejects_a_wrong_split_and_dc3net_bad_names():
    with pytest.raises(ValueError, match="must match"):
        EqualityCompletion(QP.A, np.arange(5))
    with pytest.raises(KeyError, match="unknown DC3Net mode"):
        DC3Net(QP, mode="magic")
    with pytest.raises(KeyError, match="unknown completion"):
        DC3Net(QP, completion="qr")
    with pytest.raises(TypeError, match="needs a family that is LinearlyConstrained"):
        DC3Net(problems.get("nonconvex_2d"))


@pytest.mark.parametrize("mode", DC3Net.MODES)
def test_dc3net_modes_shapes_and_equalities(mode):
    torch.manual_seed(0)
    net = DC3Net(QP, mode=mode, hidden=(16,), steps=3, step_size=1e-3).double()
    xi = torch.as_tensor(QP.sample(4, seed=3))
    with torch.no_grad():
        y = net(xi)
    assert y.shape == (4, QP.n_vars)
    eq = float(QP.eq_residual(y, xi).abs().max())
    assert (eq < 1e-10) if mode != "penalty" else (eq > 1e-3)


def test_dc3_qp_registry_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv(pretrained.DATA_ENV, str(tmp_path))
    torch.manual_seed(0)
    net = DC3Net(QP, mode="dc3", hidden=(16,), steps=4, step_size=1e-3, completion="nullspace").double()
    pretrained.save("t_dc3", to_arrays(net), family=QP, family_kwargs={"n_vars": 20, "n_eq": 8, "n_ineq": 8, "seed": 3},
                    loader="l2o_lib.torch.restoration:load_dc3_qp", description="t", chapter="tests",
                    config={**net.config, "test_steps": 4})
    xi = QP.sample(6, seed=4)
    with torch.no_grad():
        expected = net(torch.as_tensor(xi)).numpy()
    np.testing.assert_allclose(pretrained.load("t_dc3").predict(xi), expected, rtol=1e-10, atol=1e-12)


def test_neuromancer_dc3_trace_and_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv(pretrained.DATA_ENV, str(tmp_path))
    fam = problems.get("nonconvex_2d")
    torch.manual_seed(0)
    cfg = {"hidden": [8, 8], "steps": 3, "step_size": 0.05, "decay": 0.1, "penalty": 10.0}
    prob = nm_dc3_nonconvex_2d(**cfg)
    xi = fam.sample(7, seed=5)
    path = nm_predict(prob, xi, steps=4, trace=True)
    assert path.shape == (5, 7, 2)
    np.testing.assert_allclose(path[-1], nm_predict(prob, xi, steps=4), atol=1e-6)
    np.testing.assert_allclose(path[2], nm_predict(prob, xi, steps=2), atol=1e-6)  # a prefix of the K-step run
    energy = lambda x: np.maximum(fam.ineq_residual(x, xi), 0).sum(axis=1)  # noqa: E731  (total violation)
    assert energy(path[-1]).mean() < energy(path[0]).mean()
    assert prob.nodes[1].num_steps == 3  # restored after the call
    with pytest.raises(ValueError, match="shape"):
        nm_predict(prob, xi[:, :1])
    pretrained.save("t_nm", to_arrays(prob), family=fam, loader="l2o_lib.torch.restoration:load_dc3_nonconvex_2d",
                    description="t", chapter="tests", config={**cfg, "test_steps": 4})
    np.testing.assert_allclose(pretrained.load("t_nm").predict(xi), path[-1], atol=1e-6)
