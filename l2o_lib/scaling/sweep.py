"""The three sweeps: time and memory against problem size, time against batch size, accuracy against size.

Every cell is measured in the same run, one thread per method. A cell whose predicted cost (extrapolated on
log-log axes from the method's two previous cells) is over the budget is skipped and recorded with the
prediction, so the JSON says where each curve stops and why.
"""

from __future__ import annotations

import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from l2o_lib.scaling.measure import PeakRSS, time_calls
from l2o_lib.scaling.methods import Method, family_at, methods_for
from l2o_lib.scaling.record import SCHEMA


@dataclass(frozen=True)
class Config:
    """What a sweep measures and the budgets that stop it."""

    families: tuple[str, ...] = ("dc3_qp", "param_qp", "l1qp_box", "entropy", "mpc")
    sizes: tuple[int, ...] = (10, 30, 100, 300, 1000)
    # the MPC QP's size knob is its horizon N (n = 3N, N = 5 … 300, the family's longest)
    family_sizes: dict[str, tuple[int, ...]] = field(default_factory=lambda: {"mpc": (15, 30, 90, 300, 900)})
    cell_seconds: float = 1.0            # timing budget of one (method, size) cell after warm-up
    max_instance_seconds: float = 2.0    # skip a size whose predicted time per instance is above this
    max_batch: int = 1000                # batch of the size sweep (fewer above 100 variables, see batch_at,
    #                                      and fewer where one call would take over max_call_seconds)
    solver_instances: int = 10           # at most this many timed solves per cell (at least 2)
    batch_family: dict[str, int] = field(default_factory=lambda: {"dc3_qp": 100, "l1qp_box": 10,
                                                                  "param_qp": 10, "entropy": 10, "mpc": 30})
    batches: tuple[int, ...] = (1, 10, 100, 1000, 10_000, 100_000)
    max_call_seconds: float = 3.0        # batch sweep: skip a batch whose predicted call time is above this
    max_memory_mb: float = 4000.0        # ... or whose predicted peak memory is above this
    accuracy_sizes: tuple[int, ...] = (10, 30, 100, 300)
    accuracy_steps: int = 300            # fixed training budget: Adam steps of batch 200, at every size
    accuracy_test: int = 100
    seed: int = 0

    def sizes_for(self, family: str) -> tuple[int, ...]:
        """The sizes n of ``family`` in the size sweep: its own in ``family_sizes``, else ``sizes``."""
        return tuple(self.family_sizes.get(family, self.sizes))

    def batch_at(self, n: int) -> int:
        """Batch of the size sweep at n variables: max_batch up to 100 variables, then ∝ 1/n (at least 10)."""
        return int(max(10, min(self.max_batch, 100_000 // n)))


QUICK = Config(families=("dc3_qp", "param_qp", "l1qp_box", "mpc"), sizes=(10, 20), family_sizes={"mpc": (15, 30)},
               cell_seconds=0.05,
               max_instance_seconds=0.5, solver_instances=2, batch_family={"dc3_qp": 20, "param_qp": 10},
               batches=(1, 32), max_call_seconds=0.5, accuracy_sizes=(10, 20), accuracy_steps=20,
               accuracy_test=10, max_batch=100)
FULL = Config()


def extrapolate(xs: list[float], ys: list[float], x: float) -> float | None:
    """y at x on the log-log line through the last two points (None with fewer than two positive points)."""
    pts = [(a, b) for a, b in zip(xs, ys) if a > 0 and b > 0][-2:]
    if len(pts) < 2 or pts[0][0] == pts[1][0]:
        return None
    (x0, y0), (x1, y1) = pts
    slope = max(0.0, math.log(y1 / y0) / math.log(x1 / x0))
    return y1 * (x / x1) ** slope


# ---------------------------------------------------------------------------- one cell
def measure_solver(family: Any, method: Method, xi: np.ndarray, cfg: Config) -> dict[str, Any]:
    """Solve instances one at a time: the first (canonicalization, setup) apart, then up to ``solver_instances``."""
    if method.options.get("session"):
        return measure_session(family, method, xi, cfg)
    opts = {"check_domain": False, "progress": False, **method.options}
    if method.solver is not None:  # None: the family's own reference solver, which takes no options
        opts["solver"] = method.solver
    t0 = time.perf_counter()
    first = family.solve(xi[:1], **opts)
    first_wall = time.perf_counter() - t0
    solve, wall, ok = [], [], []
    start = time.perf_counter()
    with PeakRSS() as mem:
        for i in range(1, len(xi)):
            s = family.solve(xi[i:i + 1], **opts)
            solve.append(float(s.solve_time[0]))
            wall.append(float(s.wall_time[0]))
            ok.append(bool(s.ok[0]))
            # two timed instances at least, one only when a single solve is already over the size budget
            enough = 1 if first_wall > cfg.max_instance_seconds else 2
            if len(wall) >= cfg.solver_instances or (len(wall) >= enough and time.perf_counter() - start > cfg.cell_seconds):
                break
    return {"time_per_instance": float(np.median(wall)), "solver_time_per_instance": float(np.median(solve)),
            "first_call_seconds": first_wall, "first_solver_seconds": float(first.solve_time[0]),
            "instances": len(wall), "solved": int(sum(ok)), "peak_mb": mem.peak_mb, "batch": 1}


def measure_session(family: Any, method: Method, xi: np.ndarray, cfg: Config) -> dict[str, Any]:
    """OSQP as MPC code runs it: one :class:`~l2o_lib.solvers.OSQPSession` (setup and factorization once), then
    per instance only the bounds, the start point and the solve. The first instance (with the setup) apart.

    ``warm``: each instance starts from the previous instance's primal-dual solution (cold: x = 0, y = 0). The
    instances are the same for both, in the same order; ``iterations`` is OSQP's median count.
    """
    from l2o_lib.solvers import OSQPSession

    warm = bool(method.options.get("warm"))
    t0 = time.perf_counter()
    session = OSQPSession(family)
    prev = session.solve(xi[:1], check_domain=False)
    first_wall = time.perf_counter() - t0
    first_solver = float(prev.solve_time[0])
    solve, wall, ok, iters = [], [], [], []
    start = time.perf_counter()
    with PeakRSS() as mem:
        for i in range(1, len(xi)):
            start_at = {"x0": prev.x, "y0": prev.y} if warm and bool(prev.ok[0]) else {}
            r = session.solve(xi[i:i + 1], check_domain=False, **start_at)
            solve.append(float(r.solve_time[0]))
            wall.append(float(r.wall_time[0]))
            ok.append(bool(r.ok[0]))
            iters.append(int(r.iters[0]))
            prev = r
            enough = 1 if first_wall > cfg.max_instance_seconds else 2
            if len(wall) >= cfg.solver_instances or (len(wall) >= enough and time.perf_counter() - start > cfg.cell_seconds):
                break
    return {"time_per_instance": float(np.median(wall)), "solver_time_per_instance": float(np.median(solve)),
            "first_call_seconds": first_wall, "first_solver_seconds": first_solver,
            "setup_seconds": session.setup_time, "iterations": float(np.median(iters)),
            "eps": session.eps, "warm_start": warm, "instances": len(wall), "solved": int(sum(ok)),
            "peak_mb": mem.peak_mb, "batch": 1}


def measure_batched(predict: Any, xi: np.ndarray, cfg: Config) -> dict[str, Any]:
    """Time ``predict`` on the whole batch ``xi``: the fastest of the timed calls (the same work each time, so the
    slower ones measure other processes on a shared machine), after one warm-up call (compilation, reported apart)."""
    t = time_calls(lambda: predict(xi), budget=cfg.cell_seconds, min_repeat=1, max_repeat=7)
    b = len(xi)
    return {"time_per_instance": t["seconds"] / b, "call_seconds": t["seconds"], "median_call_seconds": t["median"],
            "first_call_seconds": t["first"],
            "repeat": t["repeat"], "peak_mb": t["peak_mb"], "batch": b}


# ---------------------------------------------------------------------------- sweeps
def size_sweep(cfg: Config, log: Any = print) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every method at every size of every family; returns (rows, skipped)."""
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    history: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
    for fname in cfg.families:
        for n in cfg.sizes_for(fname):
            family = family_at(fname, n)
            sizes = {"n": n, "n_vars": family.n_vars, "n_eq": family.n_eq, "n_ineq": family.n_ineq}
            for method in methods_for(family):
                key = (fname, method.name)
                past = history.get(key, [])
                predicted = extrapolate([p[0] for p in past], [p[1] for p in past], n)
                base = {"family": fname, "method": method.name, "kind": method.kind, **sizes}
                reason = None
                if past and past[-1][1] > cfg.max_instance_seconds:
                    reason = (f"already {past[-1][1]:.3g} s per instance at n = {past[-1][0]} "
                              f"(budget {cfg.max_instance_seconds} s)")
                elif predicted is not None and predicted > cfg.max_instance_seconds:
                    reason = f"predicted {predicted:.3g} s per instance (budget {cfg.max_instance_seconds} s)"
                if reason:
                    skipped.append({**base, "reason": reason})
                    log(f"  skip {fname} n={n} {method.name}: {reason}")
                    continue
                if method.kind == "solver":
                    xi = family.sample(cfg.solver_instances + 1, seed=cfg.seed + 1)
                    row = measure_solver(family, method, xi, cfg)
                else:
                    predict, config = method.build(family)
                    batch = cfg.batch_at(n)
                    if predicted is not None:  # keep one call within max_call_seconds
                        batch = int(max(1, min(batch, cfg.max_call_seconds // predicted)))
                    xi = family.sample(batch, seed=cfg.seed + 1)
                    row = {**measure_batched(predict, xi, cfg), "config": config}
                rows.append({**base, **row})
                history.setdefault(key, []).append((n, row["time_per_instance"], row["peak_mb"]))
                log(f"  {fname:9s} n={n:5d} {method.name:18s} {row['time_per_instance'] * 1e3:10.4f} ms/instance "
                    f"(batch {row['batch']}, {row['peak_mb']:.0f} MB)")
    return rows, skipped


def batch_sweep(cfg: Config, log: Any = print) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every batched method at one size per family, batch 1 → ``max(batches)``; returns (rows, skipped)."""
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for fname, n in cfg.batch_family.items():
        if fname not in cfg.families:
            continue
        family = family_at(fname, n)
        xi_all = family.sample(max(cfg.batches), seed=cfg.seed + 2)
        for method in methods_for(family):
            if method.kind == "solver":
                continue
            predict, config = method.build(family)
            done: list[dict[str, Any]] = []
            for b in cfg.batches:
                base = {"family": fname, "method": method.name, "kind": method.kind, "n": n, "batch": b}
                if done:
                    last = done[-1]
                    t_pred = last["call_seconds"] * b / last["batch"]
                    m_pred = max(last["peak_mb"], 1.0) * b / last["batch"]
                    if t_pred > cfg.max_call_seconds or m_pred > cfg.max_memory_mb:
                        why = (f"predicted call {t_pred:.3g} s > {cfg.max_call_seconds} s" if t_pred > cfg.max_call_seconds
                               else f"predicted memory {m_pred:.0f} MB > {cfg.max_memory_mb:.0f} MB")
                        skipped.append({**base, "reason": why})
                        log(f"  skip {fname} {method.name} batch {b}: {why}")
                        continue
                row = measure_batched(predict, xi_all[:b], cfg)
                done.append(row)
                rows.append({**base, **row, "config": config})
                log(f"  {fname:9s} n={n:4d} {method.name:18s} batch {b:6d} {row['time_per_instance'] * 1e6:10.2f} us/instance")
    return rows, skipped


def accuracy_sweep(cfg: Config, log: Any = print) -> list[dict[str, Any]]:
    """DC3 (null-space completion) trained at each size on the DC3 QP with the same budget; gap and violations.

    The budget is fixed in Adam steps (``accuracy_steps`` of batch 200, chapter 4's loss f + 10 ‖g₊‖², ten
    correction steps in training, fifty at test); the training seconds are recorded, as is the reference
    solver's time on the test instances, so the page can say after how many instances training pays off.
    """
    import torch

    from l2o_lib import metrics
    from l2o_lib.scaling.methods import width
    from l2o_lib.torch.restoration import DC3Net

    out = []
    for n in cfg.accuracy_sizes:
        family = family_at("dc3_qp", n)
        torch.manual_seed(cfg.seed)
        w = width(n, 100, 200)
        net = DC3Net(family, "dc3", (w, w), steps=10, step_size=0.3 / n, completion="nullspace").double()
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        xi_train = torch.as_tensor(family.sample(200 * 20, seed=cfg.seed + 3))
        gen = torch.Generator().manual_seed(cfg.seed)
        t0 = time.perf_counter()
        for _ in range(cfg.accuracy_steps):
            batch = xi_train[torch.randint(len(xi_train), (200,), generator=gen)]
            y = net(batch)
            penalty = (torch.relu(family.ineq_residual(y, batch)) ** 2).sum(1)
            loss = (family.objective(y, batch) + 10.0 * penalty).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        train_seconds = time.perf_counter() - t0
        net.eval()
        xi = family.sample(cfg.accuracy_test, seed=cfg.seed + 4)
        ref = family.solve(xi, progress=False).require_ok()
        with torch.no_grad():
            t0 = time.perf_counter()
            x = net(torch.as_tensor(xi), steps=50).cpu().numpy()
            infer = (time.perf_counter() - t0) / len(xi)
        gap = metrics.gap_percent(family.objective(x, xi), ref.objective)
        eq, ineq = metrics.violations(family, x, xi)
        out.append({"family": "dc3_qp", "method": "DC3", "n": n, "hidden": [w, w], "train_steps": cfg.accuracy_steps,
                    "train_seconds": train_seconds, "gap_mean": float(np.mean(gap)), "gap_max": float(np.max(gap)),
                    "eq_max": float(np.max(eq)), "ineq_mean": float(np.mean(ineq)), "ineq_max": float(np.max(ineq)),
                    "n_test": len(xi), "time_per_instance": infer,
                    "ref_time_per_instance": float(np.median(ref.wall_time)),
                    "ref_solver_time_per_instance": float(np.median(ref.solve_time))})
        log(f"  accuracy n={n:4d}: gap {out[-1]['gap_mean']:.3g} % mean, ineq max {out[-1]['ineq_max']:.2g}, "
            f"trained {train_seconds:.1f} s")
    return out


def environment() -> dict[str, Any]:
    """Versions, processor, threads and the load average (the machine may be shared)."""
    from importlib import metadata

    versions = {}
    for pkg in ("numpy", "torch", "jax", "cvxpy", "clarabel", "osqp", "scs"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {"python": sys.version.split()[0], **versions, "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None, "gpu": None}


def run(cfg: Config, *, mode: str, log: Any = print) -> dict[str, Any]:
    """All three sweeps, one thread per method, as the JSON document the page reads.

    ``seconds`` is the wall time of the run and ``cpu_seconds`` the processor time it used: on a shared machine
    the second is what the run would take alone (each method uses one thread).
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    t0, cpu0 = time.perf_counter(), time.process_time()
    env_before = environment()
    try:
        log("size sweep")
        size_rows, size_skipped = size_sweep(cfg, log)
        sections = {"size": time.perf_counter() - t0}
        log(f"batch sweep ({sections['size']:.0f} s so far)")
        batch_rows, batch_skipped = batch_sweep(cfg, log)
        sections["batch"] = time.perf_counter() - t0 - sections["size"]
        log(f"accuracy sweep ({time.perf_counter() - t0:.0f} s so far)")
        accuracy = accuracy_sweep(cfg, log)
        sections["accuracy"] = time.perf_counter() - t0 - sections["size"] - sections["batch"]
    finally:
        torch.set_num_threads(threads)
    env = {**env_before, "load_average_after": environment()["load_average"], "torch_threads": 1}
    return {"schema": SCHEMA, "mode": mode, "config": _plain(asdict(cfg)), "environment": env,
            "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - cpu0,
            "section_seconds": sections, "size": size_rows, "size_skipped": size_skipped,
            "batch": batch_rows, "batch_skipped": batch_skipped, "accuracy": accuracy}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
