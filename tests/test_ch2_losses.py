"""The chapter-2 losses on real values: hand computations, zero at the reference, and bad input."""

import numpy as np
import pytest
import torch

from l2o_lib import problems
from l2o_lib.torch.losses import penalty_loss, supervised_loss


def test_supervised_loss_by_hand():
    x = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    y = torch.tensor([[1.0, 0.0], [3.0, 4.0]])
    assert float(supervised_loss(x, y)["loss"]) == pytest.approx((4.0 + 25.0) / 2)


def test_supervised_loss_rejects_bad_labels():
    with pytest.raises(ValueError, match="shape"):
        supervised_loss(torch.zeros(3, 2), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="NaN"):
        supervised_loss(torch.zeros(1, 2), torch.tensor([[np.nan, 0.0]]))


def test_penalty_loss_on_the_2d_problem_by_hand():
    fam = problems.get("nonconvex_2d")
    xi = torch.tensor([[1.0, 0.5]], dtype=torch.float64)  # p = 1: feasible annulus 0.25 ≤ r² ≤ 1, x1 ≥ x2
    x = torch.tensor([[1.0, 1.0]], dtype=torch.float64)  # f = 0; r² = 2 violates r² ≤ 1 by 1, x2 - x1 = 0
    terms = penalty_loss(fam, x, xi, lam_ineq=10.0)
    assert float(terms["f"]) == pytest.approx(0.0)
    assert float(terms["‖g₊‖²"]) == pytest.approx(1.0)
    assert float(terms["loss"]) == pytest.approx(10.0)
    # a margin δ = 0.5 penalizes g + δ: g = (−1.75, 1, 0) gives (0, 1.5, 0.5), so ‖g₊‖² = 2.25 + 0.25
    tightened = penalty_loss(fam, x, xi, lam_ineq=10.0, ineq_margin=0.5)
    assert float(tightened["‖g₊‖²"]) == pytest.approx(2.5)
    assert float(tightened["loss"]) == pytest.approx(25.0)


def test_penalty_loss_is_the_objective_at_a_reference_solution_of_the_dc3_qp():
    fam = problems.get("dc3_qp", n_vars=10, n_eq=4, n_ineq=4)
    xi = fam.sample(3, seed=5)
    sol = fam.solve(xi).require_ok()
    x = torch.tensor(sol.x)
    terms = penalty_loss(fam, x, torch.tensor(xi), lam_ineq=1e3, lam_eq=1e3)
    assert float(terms["‖h‖²"]) < 1e-12 and float(terms["‖g₊‖²"]) < 1e-12
    assert float(terms["loss"]) == pytest.approx(float(np.mean(sol.objective)), abs=1e-6)
    # gradients flow to the prediction
    x.requires_grad_(True)
    penalty_loss(fam, x, torch.tensor(xi), lam_ineq=1.0, lam_eq=1.0)["loss"].backward()
    assert x.grad is not None and torch.all(torch.isfinite(x.grad))


@pytest.mark.parametrize("lam", [-1.0, float("nan"), float("inf")])
@pytest.mark.parametrize("key", ["lam_ineq", "ineq_margin"])
def test_penalty_loss_rejects_bad_weights(lam, key):
    fam = problems.get("nonconvex_2d")
    with pytest.raises(ValueError, match=key):
        penalty_loss(fam, torch.zeros(1, 2), torch.tensor([[1.0, 0.5]]), **{"lam_ineq": 1.0, key: lam})
