"""The input-convex network of Chapter 6: convex for any weights, hand-written gradient = autograd, MEL-ADMM, bad input."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from l2o_lib.torch.admm import admm  # noqa: E402
from l2o_lib.torch.icnn import (  # noqa: E402
    ICNN,
    admm_predictor,
    from_config,
    init_l1_quadratic,
    load_leaf,
    mel_update,
    n_parameters,
    schedule_predictor,
)


def _randomized(convex: bool, seed: int, first: str = "softplus") -> ICNN:
    torch.manual_seed(seed)
    net = ICNN(6, (16, 16, 8), convex=convex, first=first).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(2 * torch.randn_like(p))
    return net


def _jensen_min(net: ICNN, seed: int = 0) -> float:
    g = torch.Generator().manual_seed(seed)
    a = 3 * torch.randn(3000, 6, generator=g, dtype=torch.float64)
    b = 3 * torch.randn(3000, 6, generator=g, dtype=torch.float64)
    with torch.no_grad():
        return float((0.5 * net(a) + 0.5 * net(b) - net(0.5 * (a + b))).min())


@pytest.mark.parametrize("first", ["softplus", "softplus2", "ramp"])
@pytest.mark.parametrize("seed", range(4))
def test_convex_for_any_weights(seed, first):
    assert _jensen_min(_randomized(True, seed, first)) >= -1e-9


def test_unconstrained_ablation_is_not_convex():
    assert min(_jensen_min(_randomized(False, s)) for s in range(4)) < -1e-3


@pytest.mark.parametrize("first", ["softplus", "softplus2", "ramp"])
def test_hand_written_gradient_matches_autograd_and_hessian_is_psd(first):
    net = _randomized(True, 7, first)
    z = torch.randn(9, 6, dtype=torch.float64, requires_grad=True)
    value, grad = net.value_and_grad(z)
    auto = torch.autograd.grad(net(z).sum(), z)[0]
    torch.testing.assert_close(grad, auto, rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(value, net(z))
    hess = torch.autograd.functional.jacobian(lambda q: net.grad(q[None])[0], z[0].detach())
    torch.testing.assert_close(hess, hess.T, rtol=1e-8, atol=1e-8)
    assert float(torch.linalg.eigvalsh(hess).min()) >= -1e-8


def test_gradient_is_differentiable_for_training():
    net = ICNN(4, (8,)).double()
    z = torch.randn(5, 4, dtype=torch.float64)
    loss = (net.grad(z) ** 2).sum()
    loss.backward()
    # every parameter but the constant c shapes the gradient, so every one but c gets a training signal
    assert [n for n, p in net.named_parameters() if p.grad is None] == ["c"]
    assert all(torch.isfinite(p.grad).all() for n, p in net.named_parameters() if n != "c")
    assert n_parameters(net) == sum(p.numel() for p in net.parameters())


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="positive hidden sizes"):
        ICNN(3, ())
    with pytest.raises(KeyError, match="unknown first-layer activation 'relu'"):
        ICNN(3, (4,), first="relu")
    net = ICNN(3, (4,))
    with pytest.raises(ValueError, match=r"shape \(batch, 3\)"):
        net(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"shape \(batch, 3\)"):
        net.grad(torch.zeros(3))


def _quadratic_envelope_net(rho: float) -> ICNN:
    # f = ½‖x‖² has M_{1/ρ}f(v) = ½ ρ/(1+ρ) ‖v‖²; with the input weights W zeroed the hidden layers are constant
    # in z, so M_θ(z) = const + ½‖Az‖² + wᵀz is exactly that envelope for A = √(ρ/(1+ρ)) I, w = 0
    net = ICNN(3, (4, 4)).double()
    with torch.no_grad():
        for lin in net.W:
            lin.weight.zero_()
        net.A.copy_(np.sqrt(rho / (1 + rho)) * torch.eye(3, dtype=torch.float64))
        net.w.zero_()
    return net


def test_mel_admm_with_the_exact_envelope_is_classical_admm():
    # prox of ½‖x‖² is ρv/(1+ρ); over the box [ξ − 1, ξ + 1] the solution is clip(0, ξ − 1, ξ + 1)
    rho = 1.5
    xi = torch.tensor([[2.0, -0.5, 3.0], [0.2, -3.0, 1.1]], dtype=torch.float64)
    project = lambda v, c: torch.clamp(v, c - 1, c + 1)  # noqa: E731
    update = mel_update(_quadratic_envelope_net(rho), rho)
    v = torch.randn(5, 3, dtype=torch.float64)
    torch.testing.assert_close(update(v, None), rho * v / (1 + rho))
    with torch.no_grad():
        learned = admm(update, project, xi, rho, 200, trace=True)
        exact = admm(lambda v, c: rho * v / (1 + rho), project, xi, rho, 200)
    torch.testing.assert_close(learned.z, exact.z, atol=1e-12, rtol=0)
    torch.testing.assert_close(learned.z, torch.clamp(torch.zeros_like(xi), xi - 1, xi + 1), atol=1e-8, rtol=0)
    assert len(learned.zs) == 201 and learned.primal.shape == (200, 2)
    with pytest.raises(ValueError, match="rho must be positive"):
        mel_update(_quadratic_envelope_net(rho), 0.0)


def test_from_config_rebuilds_the_same_function():
    net = _randomized(True, 3, "softplus2")
    arrays = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    again = from_config(net.config, arrays)
    z = torch.randn(7, 6, dtype=torch.float64)
    torch.testing.assert_close(again.grad(z), net.grad(z), rtol=0, atol=0)
    assert not again.training and again.config == net.config
    with pytest.raises(KeyError, match="lacks 'hidden'"):
        from_config({"n_in": 6})


def _diagonal_l1_quadratic(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return np.diag(rng.uniform(0.1, 3.0, n)), rng.normal(size=n), 0.4


def test_separable_start_is_the_exact_envelope_for_a_diagonal_quadratic():
    # f = ½xᵀQx + pᵀx + λ‖x‖₁ with Q diagonal: prox is a scaled soft threshold, so ∇M = ρ(v − prox(v)) is known
    Q, p, lam = _diagonal_l1_quadratic()
    rho, n = 1.3, len(p)
    net = init_l1_quadratic(ICNN(n, (n + 3,), first="ramp").double(), Q, p, lam, rho, rest=1e-14)
    v = 2 * np.random.default_rng(1).normal(size=(2000, n))
    u = rho * v - p
    prox = np.sign(u) * np.maximum(np.abs(u) - lam, 0) / (np.diag(Q) + rho)
    with torch.no_grad():
        got = net.grad(torch.as_tensor(v)).numpy()
    np.testing.assert_allclose(got, rho * (v - prox), atol=1e-10)
    assert (prox == 0).mean() > 0.1  # the dead zones are exercised, not just the smooth pieces
    a, b = torch.as_tensor(v[:1000]), torch.as_tensor(v[1000:])
    with torch.no_grad():
        assert float((0.5 * net(a) + 0.5 * net(b) - net(0.5 * (a + b))).min()) >= -1e-9
    with pytest.raises(ValueError, match="one hidden layer"):
        init_l1_quadratic(ICNN(n, (8, 8), first="ramp"), Q, p, lam, rho)
    with pytest.raises(ValueError, match="'ramp' units"):
        init_l1_quadratic(ICNN(n, (8,), first="softplus2"), Q, p, lam, rho)


class _Box:
    """A 3-variable family for the predictors: f = ½‖x‖² (prox ρv/(1+ρ)), C(ξ) = [ξ − 1, ξ + 1]."""

    n_vars = 3

    def project(self, v, xi):
        return torch.clamp(v, xi - 1, xi + 1) if torch.is_tensor(v) else np.clip(v, xi - 1, xi + 1)

    def prox(self, v, rho):
        return rho * v / (1 + rho)


def test_schedule_predictor_continues_from_the_previous_stage():
    fam = _Box()
    xi = np.array([[2.0, -0.5, 3.0], [0.2, -3.0, 1.1]])
    xi_t = torch.as_tensor(xi)
    half = lambda v, c: 0.5 * v  # noqa: E731  (some x-update, not the exact one)
    with torch.no_grad():
        first = admm(half, fam.project, xi_t, 1.0, 3)
        second = admm(lambda v, c: fam.prox(v, 4.0), fam.project, xi_t, 4.0, 5, z0=first.z, y0=first.y)
    got = schedule_predictor([(half, 1.0, 3), (lambda v, c: fam.prox(v, 4.0), 4.0, 5)], fam)(xi)
    np.testing.assert_allclose(got, second.z.numpy(), rtol=0, atol=1e-14)
    np.testing.assert_allclose(admm_predictor(half, fam, 1.0, 3)(xi), first.z.numpy(), rtol=0, atol=1e-14)
    # admm_predictor's polish is a second stage with the exact prox at the same ρ
    polished = admm_predictor(half, fam, 1.0, 3, polish=4)(xi)
    np.testing.assert_allclose(polished, schedule_predictor([(half, 1.0, 3), (lambda v, c: fam.prox(v, 1.0), 1.0, 4)], fam)(xi))
    with pytest.raises(ValueError, match="at least one stage"):
        schedule_predictor([], fam)


def test_load_leaf_rebuilds_every_stage():
    fam = _Box()
    nets = [ICNN(3, (5,), first="ramp").double(), ICNN(3, (4, 4)).double()]
    arrays = {f"stage{i}.{k}": v.detach().numpy() for i, net in enumerate(nets) for k, v in net.state_dict().items()}
    arrays["generic.extra"] = np.zeros(2)  # other prefixes are left alone
    stages = [{**nets[0].config, "rho": 1.0, "iters": 3}, {**nets[1].config, "rho": 4.0, "iters": 2}]
    xi = np.array([[0.5, -0.2, 0.1]])
    got = load_leaf(fam, arrays, {"stages": stages, "dtype": "float64"})(xi)
    want = schedule_predictor([(mel_update(nets[0], 1.0), 1.0, 3), (mel_update(nets[1], 4.0), 4.0, 2)], fam)(xi)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-14)
    with pytest.raises(KeyError, match="stage 1 of the model card's config lacks 'iters'"):
        load_leaf(fam, arrays, {"stages": [stages[0], {"hidden": [4, 4], "rho": 4.0}]})
