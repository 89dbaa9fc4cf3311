"""The one numpy-in, numpy-out wrapper and the one weight-loading path, on real models."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from l2o_lib.predict import module_device, numpy_predictor, torch_threads  # noqa: E402
from l2o_lib.torch.nets import MLP, from_arrays, to_arrays, with_prefix  # noqa: E402


def test_torch_predictor_matches_the_module_and_leaves_threads_alone():
    torch.manual_seed(0)
    net = MLP(3, 2, (8,)).double()
    xi = np.random.default_rng(0).standard_normal((5, 3))
    before = torch.get_num_threads()
    predict = numpy_predictor(net, threads=1)
    out = predict(xi)
    assert torch.get_num_threads() == before                      # set for the call only
    assert out.dtype == np.float64 and out.shape == (5, 2)
    with torch.no_grad():
        assert np.array_equal(out, net(torch.as_tensor(xi)).numpy())
    assert not net.training                                       # eval mode
    f32 = numpy_predictor(net.float(), dtype="float32")(xi)       # float32 in, float64 numpy out
    assert f32.dtype == np.float64 and np.abs(f32 - out).max() < 1e-5


def test_outputs_come_back_as_float64_host_arrays_tuples_included():
    """Half-precision and tuple outputs (a primal-dual pair) come back as float64 numpy, detached, on the host."""
    xi = np.linspace(-1, 1, 6).reshape(3, 2)
    x, y = numpy_predictor(lambda t: (t * 2, t[:, :1].half()))(xi)
    assert x.dtype == y.dtype == np.float64 and x.shape == (3, 2) and y.shape == (3, 1)
    assert np.array_equal(x, 2 * xi) and np.abs(y[:, 0] - xi[:, 0]).max() < 1e-3


def test_xi_goes_to_the_device_of_the_module():
    """A module on the meta device (no CUDA needed) receives ξ there; its result cannot come back to the host."""
    net = MLP(3, 2, (4,)).double().to("meta")
    seen = []
    net.register_forward_pre_hook(lambda module, args: seen.append(args[0].device))
    assert module_device(net) == torch.device("meta") and module_device(lambda t: t) is None
    with pytest.raises(NotImplementedError, match="meta"):
        numpy_predictor(net)(np.zeros((2, 3)))
    assert seen == [torch.device("meta")]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_model_on_the_gpu_predicts_numpy_on_the_host():
    torch.manual_seed(0)
    net = MLP(3, 2, (8,)).double()
    xi = np.random.default_rng(0).standard_normal((5, 3))
    on_cpu = numpy_predictor(net)(xi)
    on_gpu = numpy_predictor(net.cuda())(xi)
    assert isinstance(on_gpu, np.ndarray) and np.abs(on_gpu - on_cpu).max() < 1e-10


def test_threads_context_restores_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="boom"), torch_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_jax_predictor_runs_in_float64_without_switching_the_process():
    jax = pytest.importorskip("jax")
    before = jax.config.jax_enable_x64
    out = numpy_predictor(lambda xi: xi * 1e-300 * 1e300, backend="jax")(np.full((2, 2), 1.0 + 1e-12))
    assert out.dtype == np.float64 and np.all(out > 1.0)         # float32 would round 1 + 1e-12 to 1
    assert jax.config.jax_enable_x64 == before


def test_bad_input_names_the_problem():
    net = MLP(3, 2, (4,))
    with pytest.raises(ValueError, match="backend"):
        numpy_predictor(net, backend="tf")
    with pytest.raises(ValueError, match="dtype"):
        numpy_predictor(net, dtype="float16")
    with pytest.raises(ValueError, match="shape"):
        numpy_predictor(net, dtype="float32")(np.zeros(3))
    with pytest.raises(ValueError, match="threads"):
        numpy_predictor(net, dtype="float32", threads=0)(np.zeros((1, 3)))


def test_from_arrays_with_a_prefix_loads_one_of_several_models():
    torch.manual_seed(1)
    a, b = MLP(3, 2, (4,)).double(), MLP(3, 2, (4,)).double()
    arrays = {**{f"first.{k}": v for k, v in to_arrays(a).items()}, **{f"second.{k}": v for k, v in to_arrays(b).items()}}
    assert set(with_prefix(arrays, "second.")) == set(to_arrays(b))
    c = from_arrays(MLP(3, 2, (4,)).double(), arrays, prefix="second.")
    assert all(np.array_equal(v, to_arrays(b)[k]) for k, v in to_arrays(c).items())
    with pytest.raises(KeyError, match="no arrays under the prefix 'third.'"):
        from_arrays(MLP(3, 2, (4,)).double(), arrays, prefix="third.")
    with pytest.raises(RuntimeError, match="Unexpected key"):
        from_arrays(MLP(3, 2, (4,)).double(), arrays)              # strict: names must match


def test_learned_admm_keeps_no_state_between_runs():
    from l2o_lib import problems
    from l2o_lib.torch.admm import LearnedADMM

    fam = problems.get("l1qp_box")
    torch.manual_seed(2)
    model = LearnedADMM(fam, 1.0, 4, warm_start=True, fixed_point=True).double()
    with torch.no_grad():
        for prm in model.parameters():
            prm.add_(0.1 * torch.randn_like(prm))
    xi = torch.as_tensor(fam.sample(6, seed=0))
    with torch.no_grad():
        first, again = model(xi).z, model(xi).z
        model(torch.as_tensor(fam.sample(6, seed=1)))               # another run in between
        third = model(xi).z
    assert torch.equal(first, again) and torch.equal(first, third)
    assert not any(isinstance(v, torch.Tensor) for v in vars(model).values() if not isinstance(v, torch.nn.Module))
    with pytest.raises(TypeError, match="LearnedADMM needs a family that is Proximable"):
        LearnedADMM(problems.get("param_qp"), 1.0, 4)
