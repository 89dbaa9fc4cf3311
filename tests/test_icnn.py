"""The input-convex network of Chapter 6: convex for any weights, hand-written gradient = autograd, MEL-ADMM, bad input."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from l2o_lib.torch.admm import admm  # noqa: E402
from l2o_lib.torch.icnn import ICNN, from_config, mel_update, n_parameters  # noqa: E402


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


@pytest.mark.parametrize("first", ["softplus", "softplus2"])
@pytest.mark.parametrize("seed", range(4))
def test_convex_for_any_weights(seed, first):
    assert _jensen_min(_randomized(True, seed, first)) >= -1e-9


def test_unconstrained_ablation_is_not_convex():
    assert min(_jensen_min(_randomized(False, s)) for s in range(4)) < -1e-3


@pytest.mark.parametrize("first", ["softplus", "softplus2"])
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
