"""The book's OSQP controller against a bare loop over osqp's own API, on the same closed-loop trajectories.

    python benchmarks/osqp_harness.py [--runs 60] [--steps 40] [--rho TUNED] [--repeat 3]

Chapter 9 times exact MPC by ``control.OSQPController``. This script checks that the harness adds nothing a
control engineer's own loop would not pay: per system one ``osqp.OSQP`` object, set up once; per step update
l and u from the measured state, warm-start from the shifted previous solution, solve. Both run on the states
of the same closed loop (the controller's), with the same settings, and must take the same iterations. Printed:
time per solve of each (median of ``--repeat`` passes), the ratio (1.1 or less expected), and what the harness
adds per call.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from l2o_lib import control, problems
from l2o_lib.solvers import tune_rho


def bare_loop(fam: problems.LinearMPC, states: np.ndarray, settings: dict, warm: bool = True
              ) -> tuple[np.ndarray, np.ndarray]:
    """Seconds and iterations per (system, step) of plain osqp calls on the recorded states (runs, T, nx), with
    OSQP's ``settings`` (those the controller's sessions set up with)."""
    import osqp

    qp = fam.qp()
    n_eq = qp.n_eq
    runs, T, _ = states.shape
    secs, iters = np.zeros((runs, T)), np.zeros((runs, T), dtype=int)
    opts = dict(settings)
    for r in range(runs):
        solver = osqp.OSQP()
        solver.setup(qp.P, qp.q, qp.A, qp.l[0], qp.u[0], **opts)
        l, u = qp.l[0].copy(), qp.u[0].copy()
        z = np.zeros(fam.n_vars)
        y = np.zeros(qp.A.shape[0])
        have = False
        for t in range(T):
            beq = fam.E_eq @ states[r, t]
            l[:n_eq], u[:n_eq] = beq, beq
            x0 = control.shift_plan(z, fam)[0] if (warm and have) else np.zeros(fam.n_vars)
            y0 = control.shift_duals(y, fam)[0] if (warm and have) else np.zeros(len(y))
            t0 = time.perf_counter()
            solver.update(l=l, u=u)
            solver.warm_start(x=x0, y=y0)
            res = solver.solve(raise_error=False)
            secs[r, t] = time.perf_counter() - t0
            iters[r, t] = res.info.iter
            if str(res.info.status) == "solved":
                z, y, have = res.x, res.y, True
    return secs, iters


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--rho", type=float, default=None, help="starting ρ (default: tuned on 300 training states)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    fam = problems.get("mpc")
    rho = args.rho
    if rho is None:
        rho, _ = tune_rho(fam, fam.sample(300, seed=0), eps=1e-5, polishing=True)
    safe, _ = control.control_invariant_set(fam.A, fam.B, fam.x_min, fam.x_max, fam.u_min, fam.u_max)
    x0 = safe.sample(args.runs, seed=1)
    harness, bare = [], []
    for _ in range(args.repeat):
        ctrl = control.OSQPController(fam, rho=rho)
        run = control.simulate(ctrl, x0, args.steps, fam)
        secs_b, it_b = bare_loop(fam, run.x[:, :-1], ctrl.session.settings)
        harness.append(run.seconds)
        bare.append(secs_b)
    it_h = np.stack(ctrl.iterations, axis=1)
    same = np.mean(it_h == it_b)
    h, b = np.median([s.mean() for s in harness]), np.median([s.mean() for s in bare])
    print(f"starting ρ {rho:g}, {args.runs} runs × {args.steps} steps, {args.repeat} passes")
    print(f"iterations equal on {same:.1%} of the steps (median {np.median(it_h):.0f}, max {it_h.max()})")
    print(f"time per solve: harness {1e6 * h:.1f} µs, bare osqp loop {1e6 * b:.1f} µs, ratio {h / b:.2f}")
    print(f"what the harness adds per call: {1e6 * (h - b):+.1f} µs (a Python method call and its result tuple)")


if __name__ == "__main__":
    main()
