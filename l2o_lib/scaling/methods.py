"""The methods the scaling study times, built at any problem size.

Learned methods are the chapters' architectures with untrained weights of the right shape: inference cost
depends on the shapes, not on the weights' values. Widths grow linearly with the problem, anchored at the
size where the chapter trains them, up to a cap (:func:`width`). Each builder returns a batched ``predict(ξ) -> x`` on numpy
arrays; which methods apply to a family is decided by the capabilities the family has (matrices, a prox, a
standard form), never by its name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from l2o_lib import problems
from l2o_lib.problems.base import CvxpyFamily, ProblemFamily
from l2o_lib.problems.capabilities import LinearlyConstrained, OSQPForm, Proximable, QPForm

Predict = Callable[[np.ndarray], Any]

#: the size knob of each family: n variables -> constructor keywords
SIZED: dict[str, Callable[[int], dict[str, int]]] = {
    "dc3_qp": lambda n: {"n_vars": n, "n_eq": n // 2, "n_ineq": n // 2},
    "param_qp": lambda n: {"n_vars": n, "n_eq": n // 2, "n_ineq": n // 2},
    "l1qp_box": lambda n: {"n_vars": n},
    "entropy": lambda n: {"n_vars": n, "n_ineq": 5},
    # the MPC QP grows with its horizon N: n_vars = N·(nx + nu) = 3N for the double integrator (nx = 2, nu = 1)
    "mpc": lambda n: {"horizon": max(1, round(n / 3))},
}


def family_at(name: str, n: int) -> ProblemFamily:
    """The family ``name`` with ``n`` variables (equalities and inequalities scaled as in :data:`SIZED`)."""
    if name not in SIZED:
        raise KeyError(f"scaling: no size rule for family {name!r}; known: {sorted(SIZED)}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"scaling: n must be an integer ≥ 2, got {n!r}")
    return problems.get(name, **SIZED[name](int(n)))


MAX_WIDTH = 1024


def width(n: int, anchor_n: int, anchor_width: int) -> int:
    """Hidden width at size n: the chapter's width at its own size scaled linearly, never below it, at most 1024.

    The cap keeps the largest networks in memory on a laptop (HUANet's fifteen layers at n = 1000 and width
    3200 would hold 250 million weights); above it the networks grow only through their input and output layers.
    """
    return min(MAX_WIDTH, max(int(anchor_width), int(round(anchor_width * n / anchor_n))))


@dataclass(frozen=True)
class Method:
    """One method of the study: a reference solver (``solver`` set) or a batched predictor (``build`` set)."""

    name: str
    kind: str  # "solver", "learned" or "classical" (a batched classical iteration)
    solver: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    build: Callable[[ProblemFamily], tuple[Predict, dict[str, Any]]] | None = None


# ---------------------------------------------------------------------------- capabilities
def _qp_data(family: ProblemFamily) -> dict[str, np.ndarray] | None:
    """½xᵀQx + pᵀx s.t. A x = ξ, G x ≤ h for a :class:`QPForm` family whose b(ξ) is ξ itself and h is fixed
    (what the batched interior point takes); None otherwise."""
    if not isinstance(family, QPForm):
        return None
    sf = family.standard_form()
    m = sf.A.shape[0]
    if family.n_params != m or not np.array_equal(sf.B, np.eye(m)) or np.any(sf.b0) or np.any(sf.H):
        return None
    return {"Q": sf.Q, "p": sf.p, "A": sf.A, "G": sf.G, "h": sf.h0}


def _has_standard_form(family: ProblemFamily) -> bool:
    return isinstance(family, LinearlyConstrained)


def _proximable(family: ProblemFamily) -> bool:
    return isinstance(family, Proximable)


def _osqp_form(family: ProblemFamily) -> bool:
    return isinstance(family, OSQPForm)


def _any_qp(family: ProblemFamily) -> bool:
    """A QP in either form: the standard form with b(ξ) = ξ, or OSQP's form."""
    return _qp_data(family) is not None or _osqp_form(family)


# ---------------------------------------------------------------------------- builders
def _torch_predict(module: Any, dtype: Any, call: Callable[[Any, Any], Any] | None = None) -> Predict:
    from l2o_lib.predict import module_device, numpy_predictor

    fn = module if call is None else (lambda t: call(module, t))
    return numpy_predictor(fn, dtype=str(dtype).removeprefix("torch."), device=module_device(module))


def build_mlp(family: ProblemFamily) -> tuple[Predict, dict[str, Any]]:
    """Chapter 2's direct map π_θ: two hidden layers, width 256 at 100 variables, float32."""
    import torch

    from l2o_lib.torch.nets import SolutionMap

    torch.manual_seed(0)
    w = width(family.n_vars, 100, 256)
    return _torch_predict(SolutionMap(family, (w, w)).eval(), torch.float32), {"hidden": [w, w]}


def build_warm_start_net(family: ProblemFamily) -> tuple[Predict, dict[str, Any]]:
    """Chapter 8's primal-dual warm start ξ ↦ (x, y) for OSQP: an MLP of width 128 at 30 variables, float32.

    Its inference is what a learned warm start adds to each OSQP solve.
    """
    import torch

    from l2o_lib.torch.warmstart import PrimalDualNet

    torch.manual_seed(0)
    w = width(family.n_vars, 30, 128)
    net = PrimalDualNet(family, (w, w)).eval()
    return _torch_predict(net, torch.float32, lambda m, t: torch.cat(m(t), dim=1)), {"hidden": [w, w]}


def build_dc3(family: ProblemFamily) -> tuple[Predict, dict[str, Any]]:
    """Chapter 4's DC3: MLP (width 200 at 100 variables), null-space completion, 50 correction steps, float64."""
    import torch

    from l2o_lib.torch.restoration import DC3Net

    torch.manual_seed(0)
    w = width(family.n_vars, 100, 200)
    step = 0.3 / family.n_vars  # the chapter's 0.003 at n = 100, shrunk as ‖G‖² grows with n
    net = DC3Net(family, "dc3", (w, w), steps=10, step_size=step, completion="nullspace").double().eval()
    return _torch_predict(net, torch.float64, lambda m, t: m(t, steps=50)), {"hidden": [w, w], "steps": 50}


def build_qp_ipm(family: ProblemFamily) -> tuple[Predict, dict[str, Any]]:
    """Chapter 3's batched interior point (``layers.qp_solve``): one dense KKT factorization per instance and step."""
    import torch

    from l2o_lib.torch.layers import qp_solve

    d = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in _qp_data(family).items()}

    def predict(xi: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            b = torch.as_tensor(xi, dtype=torch.float64)
            return qp_solve(d["Q"], d["p"].expand(len(b), -1), d["A"], b, d["G"], d["h"], check=False).cpu().numpy()

    return predict, {"tol": 1e-10, "max_iter": 60}


def build_learned_admm(family: ProblemFamily) -> tuple[Predict, dict[str, Any]]:
    """Chapter 5's unrolled ADMM: K = 5, one inner prox step, learned x- and z-corrections (width 32 at n = 10)."""
    import torch

    from l2o_lib.torch.admm import LearnedADMM

    torch.manual_seed(0)
    w = width(family.n_vars, 10, 32)
    model = LearnedADMM(family, 1.0, 5, learn_z=True, hidden=w, inner_steps=1).double().eval()
    return _torch_predict(model, torch.float64, lambda m, t: m(t).z), {"K": 5, "hidden": w}


def build_leaf(family: ProblemFamily) -> tuple[Predict, dict[str, Any]]:
    """Chapter 6's LEAF: two ICNN envelope stages (ρ = 1, 16), 20 MEL-ADMM iterations each (width 64 at n = 10)."""
    import torch

    from l2o_lib.torch.icnn import ICNN, mel_update, schedule_predictor

    torch.manual_seed(0)
    w = width(family.n_vars, 10, 64)
    stages = []
    for rho in (1.0, 16.0):
        net = ICNN(family.n_vars, [w], rank=family.n_vars, first="ramp").double().eval()
        stages.append((mel_update(net, rho), rho, 20))
    return schedule_predictor(stages, family), {"hidden": [w], "iters": 40}


def build_admm(family: ProblemFamily) -> tuple[Predict, dict[str, Any]]:
    """Chapter 5's classical batched ADMM: 50 iterations, exact prox (accelerated proximal gradient to 1e-8)."""
    import torch

    from l2o_lib.torch.admm import admm

    def x_update(v: Any, xi: Any) -> Any:
        return family.prox(v, 1.0, tol=1e-8)

    def predict(xi: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return admm(x_update, family.project, torch.as_tensor(xi, dtype=torch.float64), 1.0, 50,
                        n_vars=family.n_vars).z.cpu().numpy()

    return predict, {"K": 50, "prox_tol": 1e-8}


def _jax_predict(fn: Callable[[Any], Any]) -> Predict:
    import jax
    import jax.numpy as jnp

    compiled = jax.jit(fn)
    return lambda xi: np.asarray(compiled(jnp.asarray(xi, dtype=jnp.float64)))


def build_huanet(family: ProblemFamily) -> tuple[Predict, dict[str, Any]]:
    """Chapter 7's HUANet: 15 layers, each a Newton step on ADMM's subproblem plus an MLP (width 32 at n = 10)."""
    import jax

    from l2o_lib.jax import huanet

    w = width(family.n_vars, 10, 32)
    params = huanet.init_params(jax.random.PRNGKey(0), family, 15, hidden=w)
    sf = huanet.standard_form(family)
    return _jax_predict(lambda xi: huanet.unroll(params, xi, sf)[0]), {"layers": 15, "hidden": w}


def build_admm_jax(family: ProblemFamily) -> tuple[Predict, dict[str, Any]]:
    """Chapter 7's vanilla slack ADMM: 30 iterations, the same Newton primal step as HUANet."""
    from l2o_lib.jax.admm import make_admm

    run = make_admm(family, 30)
    return lambda xi: np.asarray(run(xi)[0]), {"iters": 30}


def build_newton(family: ProblemFamily) -> tuple[Predict, dict[str, Any]]:
    """Chapter 7's batched semismooth Newton on the KKT system: 3 steps from the start point (dense solve each)."""
    from l2o_lib.jax import huanet

    sf = huanet.standard_form(family)
    return _jax_predict(lambda xi: huanet.polish(huanet.start_point(xi, sf), xi, sf, 3)[0]), {"steps": 3}


LEARNED: dict[str, tuple[str, Callable[[ProblemFamily], tuple[Predict, dict[str, Any]]], Callable[[ProblemFamily], bool]]] = {
    "direct MLP": ("learned", build_mlp, _any_qp),
    "warm-start net": ("learned", build_warm_start_net, _osqp_form),
    "DC3": ("learned", build_dc3, lambda f: _qp_data(f) is not None),
    "batched IPM": ("classical", build_qp_ipm, lambda f: _qp_data(f) is not None),
    "unrolled ADMM": ("learned", build_learned_admm, _proximable),
    "LEAF": ("learned", build_leaf, _proximable),
    "batched ADMM": ("classical", build_admm, _proximable),
    "HUANet": ("learned", build_huanet, _has_standard_form),
    "slack ADMM (JAX)": ("classical", build_admm_jax, _has_standard_form),
    "batched Newton": ("classical", build_newton, _has_standard_form),
}


def solvers_for(family: ProblemFamily) -> list[Method]:
    """Cold Clarabel, OSQP and SCS, and OSQP warm-started from the previous instance (OSQP only for QPs).

    A family with a CVXPY model gets them through CVXPY; any other family gets its own reference solver and,
    where it has OSQP's form, OSQP through one :class:`~l2o_lib.solvers.OSQPSession` (set up once, bounds
    updated per instance), cold (x = 0, y = 0) and warm-started from the previous instance's solution.
    """
    if not isinstance(family, CvxpyFamily):
        out = [Method(family.reference_solver, "solver")]
        if _osqp_form(family):
            out += [Method("OSQP", "solver", "OSQP", {"session": True}),
                    Method("OSQP warm", "solver", "OSQP", {"session": True, "warm": True})]
        return out
    qp = _qp_data(family) is not None or isinstance(family, Proximable)
    out = [Method("Clarabel", "solver", "CLARABEL")]
    if qp:
        out += [Method("OSQP", "solver", "OSQP"), Method("OSQP warm", "solver", "OSQP", {"warm_start": True})]
    out.append(Method("SCS", "solver", "SCS"))
    return out


def methods_for(family: ProblemFamily, only: set[str] | None = None) -> list[Method]:
    """Every method that applies to ``family`` (the solvers first), optionally only the names in ``only``."""
    out = solvers_for(family)
    out += [Method(name, kind, build=build) for name, (kind, build, applies) in LEARNED.items() if applies(family)]
    return [m for m in out if only is None or m.name in only]
