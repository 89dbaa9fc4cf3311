"""CompiledMLP and the torch exporters: the shipped networks as arrays equal their torch modules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from shipped import load_or_skip

from l2o_lib.compiled import CompiledMLP
from l2o_lib.torch.control import load_approx_mpc, load_dpc, policy_function
from l2o_lib.torch.export import check_export, export_dpc_policy, export_plan_net, export_score_net
from l2o_lib.torch.nets import from_arrays
from l2o_lib.torch.warmstart import ScoreNet


def _arrays(name: str) -> tuple[dict, dict]:
    model = load_or_skip(name)
    return model.tensors(), model.card.config


@pytest.fixture(scope="module")
def states(fam):
    return fam.sample(200, seed=4242)


def test_ch9_networks_compiled_equal_torch(fam, states):
    arrays, config = _arrays("ch9_approx_mpc")
    net = load_approx_mpc(fam, arrays, config).module
    assert check_export(policy_function(net), export_plan_net(net), states) < 1e-5
    assert check_export(policy_function(net, first_only=True), export_plan_net(net, first_only=True), states) < 1e-5
    arrays, config = _arrays("ch9_dpc")
    policy = load_dpc(fam, arrays, config).module
    assert check_export(policy_function(policy), export_dpc_policy(policy, fam), states) < 1e-5


def test_ch8_classifier_compiled_equals_torch(fam, states):
    arrays, config = _arrays("ch8_active_set")
    net = from_arrays(ScoreNet(fam, len(arrays["strategies"]), config["hidden"]),
                      {k: v for k, v in arrays.items() if k != "strategies"}).float().eval()
    compiled = export_score_net(net)

    def torch_scores(x):
        return net(torch.as_tensor(x, dtype=torch.float32)).detach().numpy()

    scale = np.abs(torch_scores(states)).max()           # logits of tens to hundreds: float32 rounding
    assert check_export(torch_scores, compiled, states) < 1e-5 * scale
    assert np.array_equal(compiled(states).argmax(1), torch_scores(states).argmax(1))


def test_bad_input_shape_and_layers():
    net = CompiledMLP([np.ones((3, 2)), np.ones((1, 3))], [np.zeros(3), np.zeros(1)])
    assert net(np.ones((4, 2))).shape == (4, 1) and net.one(np.ones(2)).shape == (1,)
    np.testing.assert_allclose(net.one(np.ones(2)), net(np.ones((1, 2)))[0])
    with pytest.raises(ValueError, match=r"\(5, 3\)"):
        net(np.ones((5, 3)))
    with pytest.raises(ValueError, match=r"\(3,\)"):
        net.one(np.ones(3))
    with pytest.raises(ValueError, match="do not chain"):
        CompiledMLP([np.ones((3, 2)), np.ones((1, 4))], [np.zeros(3), np.zeros(1)])


def test_into_writes_rows_and_guards_its_buffers():
    rng = np.random.default_rng(0)
    net = CompiledMLP([rng.standard_normal((8, 2)), rng.standard_normal((8, 8)), rng.standard_normal((3, 8))],
                      [rng.standard_normal(8), rng.standard_normal(8), rng.standard_normal(3)],
                      out_activation="tanh", out_scale=[1.0, 2.0, 3.0], out_shift=0.5)
    x = rng.standard_normal((5, 2))
    out = np.empty((5, 3))
    net.into(x, out)
    np.testing.assert_allclose(out, net(x), rtol=1e-5, atol=1e-6)
    assert np.all(np.abs(out - 0.5) <= np.array([1.0, 2.0, 3.0]) + 1e-6)  # tanh, scaled and shifted
    with pytest.raises(ValueError, match=r"\(5, 4\)"):
        net.into(np.ones((5, 4)), out)      # too wide for the buffers
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        net.into(x, np.empty((2, 3)))
