"""The input-convex network of Chapter 6: convex for any weights, hand-written gradient = autograd, bad input."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from l2o_lib.torch.icnn import ICNN, admm, n_parameters  # noqa: E402


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


def test_admm_with_the_projection_only_is_a_fixed_point_iteration():
    # f = ½‖x‖²: prox(v) = ρ v / (1 + ρ); over the box [ξ − 1, ξ + 1] the solution is clip(0, ξ − 1, ξ + 1)
    xi = torch.tensor([[2.0, -0.5, 3.0]], dtype=torch.float64)
    project = lambda v, c: torch.clamp(v, c - 1, c + 1)  # noqa: E731
    z, y = admm(lambda v: v / 2, project, xi, 1.0, 200)
    torch.testing.assert_close(z, torch.tensor([[1.0, 0.0, 2.0]], dtype=torch.float64), atol=1e-8, rtol=0)
    _, _, zs = admm(lambda v: v / 2, project, xi, 1.0, 5, trace=True)
    assert len(zs) == 6 and np.all(np.isfinite(torch.cat(zs).numpy()))
