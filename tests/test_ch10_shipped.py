"""Chapter 10's shipped AC-OPF models, loaded through the registry, on freshly drawn 57-bus instances.

About half of the DC3 protocol's draws have no feasible dispatch; IPOPT reports them and they are left out, as in
the chapter. What the supervised pipeline must show on the rest: the power flow holds, the correction leaves no
violation beyond its card's targets, the mean gap is consistent with its card's target (a sample of a few hundred
instances does not reject it); its multiplier network must make IPOPT's
primal-dual warm start take fewer iterations than the flat start (iterations do not depend on the machine's load).
"""

from __future__ import annotations

import numpy as np
import pytest
from shipped import assert_gap_mean_not_rejected, load_or_skip

torch = pytest.importorskip("torch")

from l2o_lib import metrics, pretrained  # noqa: E402
from l2o_lib.torch.acopf import MultiplierNet  # noqa: E402
from l2o_lib.torch.nets import from_arrays  # noqa: E402

SEED = 4242  # a seed the chapter never draws


@pytest.fixture(scope="module")
def fresh():
    from l2o_lib import problems

    fam = problems.get("acopf")
    xi = fam.sample(500, seed=SEED)  # about 240 feasible: the card's mean gap needs that many to be stable
    ref = fam.solve(xi, progress=False)
    keep = np.flatnonzero(ref.ok)
    assert 150 <= len(keep) <= 350  # the protocol's infeasible share
    return xi[keep], ref.subset(keep)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ch10_supervised_acopf57", "ch10_dc3_acopf57"])
def test_shipped_pipeline_on_fresh_instances(name, fresh):
    model = load_or_skip(name)
    xi, ref = fresh
    x = model.predict(xi)
    row = metrics.evaluate(model.problem, x, xi, ref, method=name)
    assert row.failed == 0 and row.n == len(xi)
    assert row.eq_max < 1e-6  # completed by the power flow: exact whatever the network predicted
    gap_fields = {"gap_mean", "gap_max"}
    pretrained.check({k: v for k, v in row.to_dict().items() if k not in gap_fields}, model.card).require()
    assert "gap_mean" in model.card.targets
    assert_gap_mean_not_rejected(model.problem, x, xi, ref, model.card)  # few instances carry the mean gap
    with pytest.raises(ValueError, match="outside the domain"):
        model.predict(3.0 * model.problem.nominal())


@pytest.mark.slow
def test_shipped_multipliers_make_the_warm_start_shorter(fresh):
    model = load_or_skip("ch10_supervised_acopf57")
    fam = model.problem
    xi, ref = fresh[0][:20], fresh[1].subset(np.arange(20))
    duals = MultiplierNet(fam, **{k: model.card.config["multipliers"][k] for k in ("hidden", "activation")})
    from_arrays(duals.double(), model.tensors(), prefix="multipliers.")
    x_hat = model.predict(xi)
    with torch.no_grad():
        lam_g, lam_x = (a.numpy() for a in duals(torch.as_tensor(xi)))
    flat = fam.ipopt_many(xi)
    warm = fam.ipopt_many(xi, x_hat, lam_g0=lam_g, lam_x0=lam_x)
    assert flat.ok.all() and warm.ok.all()
    assert np.max(np.abs(warm.objective - ref.objective) / ref.objective) < 1e-6
    assert warm.iterations.mean() < flat.iterations.mean()
