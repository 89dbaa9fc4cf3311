"""Chapter 9's shipped controllers, loaded through the registry, re-simulated in closed loop from fresh initial states.

Each model's ``predict`` returns a rolled-out MPC plan; a controller applies its first input. The safety claims
(no violation with the filter or the hybrid, the hybrid's cost equal to exact MPC's) must hold for any weights;
the pure policies' closed-loop cost must reproduce the card's headline (same order of magnitude). Timings are not
asserted (the card records the full-mode run's ratios).
"""

from __future__ import annotations

import numpy as np
import pytest
from shipped import load_or_skip

from l2o_lib import control

SEED, N, STEPS = 90210, 30, 40


@pytest.fixture(scope="module")
def models():
    return load_or_skip("ch9_approx_mpc"), load_or_skip("ch9_dpc")


@pytest.fixture(scope="module")
def setting(models):
    fam = models[0].problem
    safe, _ = control.control_invariant_set(fam.A, fam.B, fam.x_min, fam.x_max, fam.u_min, fam.u_max)
    x0 = safe.sample(N, seed=SEED)
    exact = control.simulate(control.OSQPController(fam), x0, STEPS, fam)
    assert not exact.failed.any()
    return fam, safe, x0, exact


def _plan(model, fam):
    return lambda x: model.predict(x, check_domain=False)[:, :fam.horizon * fam.nu]


def _first(model, fam):
    return lambda x: fam.first_input(model.predict(x, check_domain=False))


def test_plans_are_rollouts_of_the_model(models, setting):
    fam, _, x0, _ = setting
    for model in models:
        x = model.predict(x0)
        assert x.shape == (N, fam.n_vars)
        assert np.abs(fam.eq_residual(x, x0)).max() < 1e-4   # float32 rollout: dynamics hold


def test_hybrid_is_exact_mpc_and_safe_from_fresh_states(setting):
    fam, safe, x0, exact = setting
    hybrid = control.CertifiedHybrid("hybrid", load_or_skip("ch8_active_set").parts["solver"], safe, fam)
    run = control.simulate(hybrid, x0, STEPS, fam)
    assert run.state_violation(fam).max() == 0 and run.input_violation(fam).max() == 0
    np.testing.assert_allclose(run.cost(fam), exact.cost(fam), rtol=1e-4)
    stages = np.stack(hybrid.stages, axis=1)          # (runs, steps)
    cert = stages < hybrid.top_k
    assert cert.mean() > 0.9
    states = run.x[:, :-1][cert]
    clarabel = fam.first_input(fam.solve(states, check_domain=False).require_ok().x)
    np.testing.assert_allclose(run.u[cert], np.asarray(clarabel).reshape(-1, fam.nu), atol=1e-6)


@pytest.mark.parametrize("which", [0, 1], ids=["approx_mpc", "dpc"])
def test_filtered_policies_are_safe_and_pure_ones_match_their_card(models, setting, which):
    fam, safe, x0, exact = setting
    model = models[which]
    filtered = control.simulate(control.SafetyFilter("f", _first(model, fam), safe, fam), x0, STEPS, fam)
    assert filtered.state_violation(fam).max() == 0 and filtered.input_violation(fam).max() == 0
    pure = control.simulate(control.PolicyController("p", _first(model, fam)), x0, STEPS, fam)
    rel = 100 * (pure.cost(fam) - exact.cost(fam)) / exact.cost(fam)
    head = model.card.headline_extra
    assert np.mean(pure.reached(0.1)) >= 0.8 * head["reached"]
    assert abs(np.mean(rel)) <= 3 * abs(head["cost_mean"]) + 1.0
