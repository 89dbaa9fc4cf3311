"""The shipped learned ADMM (Chapter 5) on fresh held-out instances: feasible, as accurate as its card says, and
more accurate at its trained K than classical ADMM at the same K."""

import numpy as np
import pytest
from shipped import shipped_fixtures

from l2o_lib import metrics, pretrained

torch = pytest.importorskip("torch")
NAME = "ch5_learned_admm"


model, fresh = shipped_fixtures(NAME, 300, seed=20261205)  # a seed the chapter never trains or tests on


def test_card_names_its_loader_config_and_targets(model):
    c = model.card
    assert c.family == "l1qp_box" and c.loader == "learned_admm"
    assert set(c.targets) == {"ineq_max"} and set(c.extra_targets) == {"iteration_ratio", "wall_ratio"}
    assert c.config["K"] >= 1 and c.config["rho"] > 0 and c.config["learn_z"] is True
    assert c.headline_extra["k_classical_same_accuracy"] > c.config["K"]


def test_fresh_instances_are_feasible_and_match_the_headline(model, fresh):
    fam, (xi, ref) = model.problem, fresh
    z = model.predict(xi)
    row = metrics.evaluate(fam, z, xi, ref, method=NAME)
    assert row.failed == 0
    pretrained.check(row, model.card).require()  # ineq_max: the projection puts z in C(ξ)
    err = float(np.linalg.norm(z - ref.x, axis=1).mean())
    assert err <= 1.5 * model.card.headline_extra["mean_error_at_K"], (err, model.card.headline_extra["mean_error_at_K"])
    assert row.gap_mean <= 1.5 * model.card.headline["gap_mean"] + 1e-3


def test_beats_classical_admm_at_the_same_number_of_iterations(model, fresh):
    from l2o_lib.torch.admm import admm

    fam, (xi, ref) = model.problem, fresh
    cfg = model.card.config
    xi_t = torch.tensor(xi)
    z_cl = admm(lambda v, x: fam.prox(v, cfg["rho"]), fam.project, xi_t, cfg["rho"], cfg["K"], n_vars=fam.n_vars).z
    err_cl = float(np.linalg.norm(z_cl.numpy() - ref.x, axis=1).mean())
    err = float(np.linalg.norm(model.predict(xi) - ref.x, axis=1).mean())
    assert err < 0.7 * err_cl, (err, err_cl)


def test_predict_rejects_bad_parameters(model):
    fam = model.problem
    with pytest.raises(ValueError, match="outside the domain"):
        model.predict(np.full((1, fam.n_params), 1.5))
    with pytest.raises(ValueError, match="must have shape"):
        model.predict(np.zeros(fam.n_params))


def test_fixed_point_model_is_feasible_and_keeps_converging_past_its_trained_K():
    from l2o_lib.torch.admm import learned_admm_from_arrays

    name = "ch5_fixed_point_admm"
    if name not in pretrained.available():
        pytest.skip(f"{name} is not shipped in {pretrained.data_dir()}")
    shipped = pretrained.load(name)
    fam, c = shipped.problem, shipped.card
    assert c.config["warm_start"] is True and c.config["fixed_point"] is True
    xi = fam.sample(300, seed=20261206)  # fresh instances
    ref = fam.solve(xi).require_ok()
    z = shipped.predict(xi)
    pretrained.check(metrics.evaluate(fam, z, xi, ref, method=name), c).require()
    err_K = float(np.linalg.norm(z - ref.x, axis=1).mean())
    assert err_K <= 1.5 * c.headline_extra["mean_error_at_K"]
    model = learned_admm_from_arrays(fam, shipped.tensors(), c.config)
    with torch.no_grad():
        z4 = model(torch.tensor(xi), 4 * c.config["K"]).z.numpy()
    err_4K = float(np.linalg.norm(z4 - ref.x, axis=1).mean())
    ratio = "keeps_converging_error_ratio_4K_over_K"
    pretrained.check({}, c, extra={ratio: err_4K / err_K}).require()
    assert err_4K <= 1.5 * c.headline_extra["mean_error_at_4K"]
