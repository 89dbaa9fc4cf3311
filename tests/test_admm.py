import numpy as np
import pytest

torch = pytest.importorskip("torch")

from l2o_lib import problems  # noqa: E402
from l2o_lib.torch.admm import admm, iterations_to_reach  # noqa: E402


def _box_qp(n=6, seed=0):
    """min ½ x'Qx + q'x s.t. |x − ξ| ≤ 0.5: exact x-update is a linear solve."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n))
    Q = torch.tensor(A @ A.T / n + 0.5 * np.eye(n))
    q = torch.tensor(rng.standard_normal(n))
    return Q, q


def test_admm_matches_closed_form_box_qp_and_residuals_vanish():
    Q, q = _box_qp()
    rho = 1.0
    M = torch.linalg.inv(Q + rho * torch.eye(6, dtype=Q.dtype))
    xi = torch.tensor(np.random.default_rng(1).uniform(-1, 1, (5, 6)))
    res = admm(lambda v, xi: (rho * v - q) @ M, lambda v, xi: torch.clamp(v, xi - 0.5, xi + 0.5), xi, rho, 500)
    # KKT of the box QP: z is a fixed point of projected gradient
    g = res.z @ Q + q
    fixed = torch.clamp(res.z - 0.1 * g, xi - 0.5, xi + 0.5)
    assert float((fixed - res.z).abs().max()) < 1e-8
    assert res.primal.shape == (500, 5) and float(res.primal[-1].max()) < 1e-8 and float(res.dual[-1].max()) < 1e-8
    assert float(((res.z - xi).abs() - 0.5).max()) <= 1e-12  # z in C(xi) exactly


def test_admm_on_l1qp_box_matches_reference_solver():
    fam = problems.get("l1qp_box")
    xi = fam.sample(4, seed=3)
    ref = fam.solve(xi)
    rho = 1.0
    xi_t = torch.tensor(xi)
    res = admm(lambda v, xi: fam.prox(v, rho), fam.project, xi_t, rho, 300, n_vars=fam.n_vars)
    assert np.abs(res.z.numpy() - ref.x).max() < 1e-4


def test_trace_learned_z_step_and_iteration_count():
    xi = torch.zeros(3, 2, dtype=torch.float64)
    proj = lambda v, xi: torch.clamp(v, xi - 1, xi + 1)  # noqa: E731
    res = admm(lambda v, xi: v + 5.0, proj, xi, 1.0, 4, trace=True, z_update=lambda v, xi: v)
    assert len(res.zs) == 5
    assert float(res.z.max()) <= 1.0  # final projection keeps z feasible even with an unconstrained z-step
    hist = torch.tensor([[1.0, 1.0], [0.1, 1.0], [0.01, 1.0]])
    assert iterations_to_reach(hist, 0.1).tolist() == [2, 4]


def test_admm_gradients_flow_through_the_unrolled_loop():
    xi = torch.zeros(2, 3, dtype=torch.float64)
    w = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    res = admm(lambda v, xi: w * v + 1.0, lambda v, xi: torch.clamp(v, -0.9, 0.9), xi, 1.0, 5)
    res.x.sum().backward()
    assert w.grad is not None and torch.isfinite(w.grad)


@pytest.mark.parametrize("kw,msg", [({"rho": 0.0}, "rho"), ({"K": -1}, "K"), ({"xi": torch.ones(3)}, "xi"),
                                    ({"xi": torch.full((2, 2), float("nan"))}, "NaN"),
                                    ({"z0": torch.zeros(2, 3)}, "z0")])
def test_bad_input(kw, msg):
    args = {"xi": torch.zeros(2, 2), "rho": 1.0, "K": 3}
    args.update(kw)
    z0 = args.pop("z0", None)
    with pytest.raises(ValueError, match=msg):
        admm(lambda v, xi: v, lambda v, xi: v, args["xi"], args["rho"], args["K"], z0=z0)


def test_untrained_learned_admm_is_the_truncated_classical_iteration():
    from l2o_lib.torch.admm import LearnedADMM

    fam = problems.get("l1qp_box")
    xi = torch.tensor(fam.sample(6, seed=4))
    for learn_z in (False, True):
        model = LearnedADMM(fam, 1.0, 4, learn_z=learn_z, hidden=8).double()
        with torch.no_grad():
            got = model(xi).z
        want = admm(lambda v, x: fam.prox(v, 1.0, max_iter=1), fam.project, xi, 1.0, 4, n_vars=fam.n_vars).z
        torch.testing.assert_close(got, want, rtol=0, atol=1e-14)


def test_learned_z_step_keeps_z_in_the_box_for_any_weights_and_gradients_reach_both_nets():
    from l2o_lib.torch.admm import LearnedADMM

    fam = problems.get("l1qp_box")
    xi = torch.tensor(fam.sample(8, seed=5))
    torch.manual_seed(1)
    model = LearnedADMM(fam, 1.0, 3, learn_z=True, hidden=8).double()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 3.0)  # wild weights: the corrections are large
    with torch.no_grad():
        res = model(xi, trace=True)
    for z in res.zs[1:]:
        assert float(((z - xi).abs() - fam.radius).max()) <= 1e-12
    assert float((res.x - res.z).abs().max()) > 1e-3  # the x-update really is off the box
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.1)  # moderate weights: gradients reach both corrections through the unrolled loop
    fam.objective(model(xi).z, xi).sum().backward()
    assert model.learn_x_net[0].weight.grad.abs().sum() > 0 and model.learn_z_net[0].weight.grad.abs().sum() > 0


def test_learned_admm_round_trips_through_arrays_and_the_loader_names_missing_config():
    from l2o_lib.torch.admm import LearnedADMM, learned_admm_from_arrays, load_learned_admm

    fam = problems.get("l1qp_box")
    torch.manual_seed(2)
    model = LearnedADMM(fam, 1.0, 3, learn_z=True, hidden=8).double()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.1)
    arrays = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    xi = fam.sample(5, seed=6)
    with torch.no_grad():
        want = model(torch.tensor(xi)).z.numpy()
    np.testing.assert_array_equal(load_learned_admm(fam, arrays, model.config)(xi), want)
    assert learned_admm_from_arrays(fam, arrays, model.config).config == model.config
    with pytest.raises(KeyError, match="inner_steps"):
        load_learned_admm(fam, arrays, {k: v for k, v in model.config.items() if k != "inner_steps"})


def test_warm_started_prox_reaches_the_same_point_and_inexact_admm_converges():
    fam = problems.get("l1qp_box")
    v = torch.tensor(np.random.default_rng(7).normal(size=(4, fam.n_vars)))
    exact = fam.prox(v, 1.0)
    torch.testing.assert_close(fam.prox(v, 1.0, x0=exact + 0.3), exact, rtol=0, atol=1e-8)
    torch.testing.assert_close(fam.prox(v, 1.0, max_iter=1, x0=v), fam.prox(v, 1.0, max_iter=1), rtol=0, atol=0)
    xi = fam.sample(5, seed=8)
    ref = fam.solve(xi)
    prev = {}

    def warm(v, xi):  # inexact ADMM: two proximal-gradient steps from the previous x-iterate
        prev["x"] = fam.prox(v, 1.0, max_iter=2, x0=prev.get("x", v))
        return prev["x"]

    res = admm(warm, fam.project, torch.tensor(xi), 1.0, 400, n_vars=fam.n_vars)
    assert np.abs(res.z.numpy() - ref.x).max() < 1e-4


def test_warm_started_learned_admm_untrained_is_inexact_admm_and_fixed_point_correction_keeps_the_solution():
    from l2o_lib.torch.admm import LearnedADMM

    fam = problems.get("l1qp_box")
    xi = fam.sample(6, seed=9)
    ref = fam.solve(xi)
    xi_t = torch.tensor(xi)
    prev = {}

    def warm(v, x):
        prev["x"] = fam.prox(v, 1.0, max_iter=2, x0=prev.get("x", v))
        return prev["x"]

    want = admm(warm, fam.project, xi_t, 1.0, 7, n_vars=fam.n_vars).z
    untrained = LearnedADMM(fam, 1.0, 7, hidden=8, inner_steps=2, warm_start=True).double()
    with torch.no_grad():
        torch.testing.assert_close(untrained(xi_t).z, want, rtol=0, atol=1e-14)
        model = LearnedADMM(fam, 1.0, 5, hidden=8, inner_steps=2, warm_start=True, fixed_point=True).double()
        for p in model.parameters():
            p.normal_(0.0, 0.05)  # a nonzero correction, scaled by the inner steps' move: x* stays a fixed point
        z = model(xi_t, 600).z.numpy()
        z_again = model(xi_t, 600).z.numpy()  # forward resets the warm start: same answer twice
    assert np.abs(z - ref.x).max() < 1e-4
    np.testing.assert_array_equal(z, z_again)
    with pytest.raises(ValueError, match="warm_start"):
        LearnedADMM(fam, 1.0, 3, fixed_point=True)
