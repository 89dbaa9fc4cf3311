"""Chapter 8's shipped models, loaded through the registry, on freshly sampled held-out MPC instances.

Each predict returns the *solver's* answer (warm-started OSQP, or the KKT-certified active set with its DAQP
fallback), so accuracy is the solver's; what the networks must show is that they make it arrive sooner (counted
in OSQP iterations, which do not depend on the machine's load) and that the certified share holds.
"""

from __future__ import annotations

import numpy as np
import pytest
from shipped import load_or_skip, shipped_fixtures

torch = pytest.importorskip("torch")

from l2o_lib import enhance, metrics, pretrained  # noqa: E402
from l2o_lib.solvers import OSQPSession, tune_rho  # noqa: E402
from l2o_lib.torch.nets import from_arrays  # noqa: E402
from l2o_lib.torch.warmstart import ScoreNet  # noqa: E402

model, fresh = shipped_fixtures("ch8_active_set", 400, 8080)


def test_certified_active_set_is_optimal_on_fresh_instances(model, fresh):
    xi, ref = fresh
    r = metrics.evaluate(model.problem, model.predict(xi), xi, ref, method="ch8_active_set")
    assert r.failed == 0 and r.n == len(xi)
    pretrained.check(r, model.card).require()  # the card's targets, on fresh instances
    with pytest.raises(ValueError, match="outside the domain"):
        model.predict(np.array([[11.0, 0.0]]))


def test_first_kkt_solve_certifies_most_fresh_instances(model, fresh):
    xi, _ = fresh
    arrays = model.tensors()
    laws = enhance.ActiveSetLaws(model.problem, arrays["strategies"])
    net = from_arrays(ScoreNet(model.problem, len(laws), model.card.config["hidden"]),
                      {k: v for k, v in arrays.items() if k != "strategies"})
    with torch.no_grad():
        scores = net(torch.as_tensor(xi, dtype=torch.float32)).double().numpy()
    cs = enhance.CertifiedSolver(laws, model.parts["scores"], top_k=3).solve(xi, scores=scores)
    assert cs.certified.all()
    assert np.mean(cs.stage == 0) >= 0.85
    assert np.mean(cs.stage == 0) >= model.card.headline_extra["certified_first"] - 0.05


@pytest.mark.parametrize("name", ["ch8_warm_start_regression", "ch8_warm_start_e2e"])
def test_warm_start_is_solved_by_osqp_to_its_tolerance(name, fresh):
    m = load_or_skip(name)
    xi, ref = fresh
    x = m.predict(xi)
    r = metrics.evaluate(m.problem, x, xi, ref, method=name)
    assert r.failed == 0
    pretrained.check(r, m.card).require()   # OSQP at eps 1e-3 (scaled residuals): the card's targets


def test_learned_rho_needs_fewer_iterations_than_adaptive_from_a_tuned_start(fresh):
    m = load_or_skip("ch8_rho")
    xi, _ = fresh
    net = from_arrays(ScoreNet(m.problem, 1, m.card.config["hidden"]),
                      m.tensors())
    with torch.no_grad():
        rho = 10.0 ** net(torch.as_tensor(xi, dtype=torch.float32))[:, 0].double().numpy()
    learned = OSQPSession(m.problem, eps=1e-3, adaptive_rho=False).solve(xi, rho=rho)
    rho0, _ = tune_rho(m.problem, m.problem.sample(150, seed=1), eps=1e-3)   # as chapters 8 and 9 tune it
    tuned = OSQPSession(m.problem, eps=1e-3, rho=rho0).solve(xi)
    default = OSQPSession(m.problem, eps=1e-3).solve(xi)
    assert tuned.ok.all() and default.ok.all() and learned.ok.mean() >= 0.95
    assert np.median(learned.iters) < np.median(tuned.iters)
    assert 1.5 * np.median(learned.iters) <= np.median(default.iters)
