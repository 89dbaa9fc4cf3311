"""One size of the sweep: train the strategy classifier, build the explicit partition, time every method.

For a LinearMPC (a system and a horizon N): training states labelled by DAQP (an exact active-set solver;
the strategies are :func:`~l2o_lib.enhance.active_sets` of its solutions, as chapter 8 takes them from
Clarabel's), chapter 8's classifier recipe, the certified pipeline as chapter 8 runs it
(:class:`~l2o_lib.enhance.CertifiedSolver`: compiled classifier, region tests of the top three strategies, DAQP
warm-started from the best one as the fallback), the nearest-neighbour lookup through the same certificate, DAQP
alone (one workspace set up once, a cold start per state), and explicit MPC (the full partition, sequential search
by region frequency and the binary search tree).

Every method answers the same held-out states. Batched: one call on all of them, the fastest of a few calls
(:func:`~l2o_lib.scaling.measure.time_calls`). One state at a time: one Python call per state
(``CertifiedSolver.solve_one`` as chapter 9's hybrid calls it, the locators' ``one``), each state's fastest of
``passes`` passes, then the mean over the states (DAQP: its own reported time and the call's wall time, likewise).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: the systems of :data:`l2o_lib.problems.mpc.SYSTEMS` and the horizons N the full sweep measures
SYSTEM_HORIZONS = {"double_integrator": (5, 10, 20, 40), "quadruple_tank": (3, 5, 10)}


@dataclass(frozen=True)
class Config:
    """What the sweep measures; every figure is seeded from ``seed``."""

    horizons: dict[str, tuple[int, ...]] = field(default_factory=lambda: dict(SYSTEM_HORIZONS))
    n_train: int = 12000
    n_test: int = 1000
    epochs: int = 600
    top_k: int = 3
    partition_seconds: float = 120.0     # time limit of one explicit partition
    check_samples: int = 20000           # its completeness check
    tree_max_leaf: int = 1               # Tøndel et al.'s tree: one region per leaf
    tree_max_nodes: int = 50_000         # beyond it the leaves left hold several regions (searched in turn)
    max_tree_regions: int = 5000         # no tree is built for a larger partition
    passes: int = 3                      # one-state timing: each state's fastest of this many calls
    batch_budget: float = 0.5            # seconds of batched calls per method after warm-up
    seed: int = 0


QUICK = Config(horizons={"double_integrator": (5, 10), "quadruple_tank": (2,)}, n_train=2000, n_test=100, epochs=20,
               partition_seconds=20.0, check_samples=2000, passes=1, batch_budget=0.05)
FULL = Config()


def one_state_times(fn: Any, xi: np.ndarray, passes: int) -> np.ndarray:
    """Per state, the fastest of ``passes`` calls ``fn(xi[i])`` (wall seconds; one warm-up call first)."""
    fn(xi[0])
    best = np.full(len(xi), np.inf)
    for _ in range(passes):
        for i, x in enumerate(xi):
            t0 = time.perf_counter()
            fn(x)
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def _summary(t: np.ndarray) -> dict[str, float]:
    return {"mean": float(np.mean(t)), "median": float(np.median(t)), "p99": float(np.percentile(t, 99)),
            "max": float(np.max(t))}


def measure_size(system: str, horizon: int, cfg: Config, log: Any = print) -> dict[str, Any]:
    """Every figure of one (system, horizon) cell of the sweep."""
    from l2o_lib import enhance, problems
    from l2o_lib.explicit_mpc import NearestStrategy, SequentialLocator, TreeLocator, build_partition, locate_sequential
    from l2o_lib.scaling.measure import time_calls
    from l2o_lib.solvers import DAQPSession
    from l2o_lib.torch.export import export_score_net
    from l2o_lib.torch.warmstart import CLASSIFIER_RECIPE, fit_strategy_classifier

    load = list(os.getloadavg())
    fam = problems.get("mpc", system=system, horizon=horizon)
    nu, seed = fam.nu, cfg.seed
    row: dict[str, Any] = {"system": system, "horizon": horizon, "nx": fam.nx, "nu": nu, "n_vars": fam.n_vars,
                           "n_constraints": 2 * fam.n_vars, "n_train": cfg.n_train, "n_test": cfg.n_test,
                           "load_average": load}
    t0 = time.perf_counter()
    xi_train = fam.sample(cfg.n_train, seed=seed + 1)
    xi_test = fam.sample(cfg.n_test, seed=seed + 2)
    daqp = DAQPSession(fam)
    lab = daqp.solve(xi_train)
    if not lab.ok.all():
        raise RuntimeError(f"mpc_sizes: DAQP did not solve {int((~lab.ok).sum())} training states of {fam.name}")
    laws, strategy = enhance.ActiveSetLaws.from_solutions(fam, lab.x)
    row["label_seconds"] = time.perf_counter() - t0
    row["strategies"] = len(laws)

    # ---- the reference on the test states: DAQP, one workspace, cold start per state
    ref = daqp.solve(xi_test)
    if not ref.ok.all():
        raise RuntimeError(f"mpc_sizes: DAQP did not solve {int((~ref.ok).sum())} test states of {fam.name}")
    u_ref = ref.x[:, :nu]
    test_strategy = laws.index_of(enhance.active_sets(fam, ref.x))
    row["test_strategies_seen"] = float(np.mean(test_strategy >= 0))

    # ---- chapter 8's classifier, compiled
    t0 = time.perf_counter()
    net, _ = fit_strategy_classifier(fam, xi_train, strategy, len(laws), epochs=cfg.epochs, seed=seed, progress=False)
    train_seconds = time.perf_counter() - t0
    clf = export_score_net(net.float().eval())
    clf.warm_up()
    scores = clf(xi_test)
    solver = enhance.CertifiedSolver(laws, clf, top_k=cfg.top_k)
    solver.warm_up(xi_test)
    cs = solver.solve(xi_test, scores=scores, duals=False)
    reg = laws.region(**solver.tol)
    row["classifier"] = {"hidden": list(CLASSIFIER_RECIPE["hidden"]), "epochs": cfg.epochs, "train_seconds": train_seconds,
                         "multiply_adds": clf.multiply_adds,
                         "top1": float(np.mean(np.argmax(scores, axis=1) == test_strategy)),
                         "first_certified": float(np.mean(cs.stage == 0)),
                         "top_k_certified": float(np.mean(cs.stage < cfg.top_k)),
                         "certified": float(np.mean(cs.certified)),
                         "u0_max_error": float(np.abs(cs.x[:, :nu] - u_ref).max())}
    log(f"  {fam.name}: {len(laws)} strategies, classifier top-1 {row['classifier']['top1']:.1%}, first certified "
        f"{row['classifier']['first_certified']:.1%}, trained in {train_seconds:.0f} s")

    nearest = NearestStrategy(xi_train, strategy, len(laws), k=cfg.top_k)
    nn_solver = enhance.CertifiedSolver(laws, nearest, top_k=cfg.top_k)
    nn_solver.warm_up(xi_test)
    ns = nn_solver.solve(xi_test, duals=False)
    row["nearest"] = {"first_certified": float(np.mean(ns.stage == 0)), "certified": float(np.mean(ns.certified)),
                      "u0_max_error": float(np.abs(ns.x[:, :nu] - u_ref).max())}

    times: dict[str, dict[str, Any]] = {}

    def batched(fn: Any) -> float:
        return time_calls(lambda: fn(xi_test), budget=cfg.batch_budget, max_repeat=7)["seconds"] / len(xi_test)

    # one state per call as chapter 9's hybrid runs it: the fallback's answer taken on DAQP's own status
    for name, session in (("certified active set", solver), ("nearest neighbour + certificate", nn_solver)):
        times[name] = {"batched": batched(lambda xi, s=session: s.solve(xi, duals=False)),
                       "one": _summary(one_state_times(lambda x, s=session: s.solve_one(x, check=False), xi_test,
                                                       cfg.passes))}
    own = np.full(len(xi_test), np.inf)
    wall = np.full(len(xi_test), np.inf)
    for _ in range(cfg.passes):
        r = daqp.solve(xi_test)
        own, wall = np.minimum(own, r.solve_time), np.minimum(wall, r.wall_time)
    row["daqp_iterations"] = float(np.mean(r.iters))
    times["DAQP, own time"] = {"batched": None, "one": _summary(own)}
    times["DAQP, wall"] = {"batched": None, "one": _summary(wall)}
    region_bytes = reg.G.nbytes + reg.radius.nbytes + reg.rows.nbytes
    u0_law_bytes = len(laws) * nu * (fam.nx + 1) * 8
    clf_bytes = sum(w.nbytes + b.nbytes for w, b in zip(clf.weights, clf.biases))
    fallback_bytes = daqp.H.nbytes + daqp.Gamma.nbytes + daqp.Phi.nbytes + daqp.F.nbytes
    storage = {"certified active set": clf_bytes + region_bytes + u0_law_bytes + fallback_bytes,
               "nearest neighbour + certificate": nearest.storage_bytes() + region_bytes + u0_law_bytes + fallback_bytes,
               "DAQP": fallback_bytes}

    # ---- explicit MPC
    part = build_partition(fam, time_limit=cfg.partition_seconds, check_samples=cfg.check_samples, seed=seed + 3)
    region_strategies = {s.tobytes() for s in part.strategies}
    row["partition"] = {"regions": len(part), "complete": part.complete, "coverage": part.coverage,
                        "checked": part.checked, "build_seconds": part.build_seconds, "time_limit": cfg.partition_seconds,
                        "thin_skipped": part.thin_skipped, "rows_per_region": len(part.rows) / len(part),
                        "growth": [list(h) for h in part.history],
                        "training_strategies_that_are_regions": float(np.mean([s.tobytes() in region_strategies
                                                                                for s in laws.strategies]))}
    log(f"  {fam.name}: partition {len(part)} regions in {part.build_seconds:.0f} s "
        f"({'complete' if part.complete else f'incomplete, {part.coverage:.1%} of sampled states covered'})")
    row["tree"] = None
    if part.complete:
        seq = SequentialLocator.by_frequency(part, xi_train)
        u_seq, reg = seq(xi_test)
        row["partition"]["test_outside"] = int(np.sum(reg < 0))
        row["partition"]["u0_max_error"] = float(np.nanmax(np.abs(u_seq - u_ref)))
        row["partition"]["located_test"] = float(np.mean(locate_sequential(part, xi_test) >= 0))
        times["explicit MPC, sequential"] = {"batched": batched(seq), "one": _summary(one_state_times(seq.one, xi_test,
                                                                                                        cfg.passes))}
        storage["explicit MPC, sequential"] = seq.storage_bytes()
        if len(part) <= cfg.max_tree_regions:
            tree = TreeLocator(part, max_leaf=cfg.tree_max_leaf, max_nodes=cfg.tree_max_nodes, seed=seed)
            u_tree, _ = tree(xi_test)
            row["tree"] = {"nodes": tree.n_nodes, "leaves": tree.n_leaves, "depth": tree.depth,
                           "build_seconds": tree.build_seconds, "truncated": tree.truncated,
                           "max_leaf": cfg.tree_max_leaf, "u0_max_error": float(np.nanmax(np.abs(u_tree - u_ref)))}
            times["explicit MPC, tree"] = {"batched": batched(tree), "one": _summary(one_state_times(tree.one, xi_test,
                                                                                                      cfg.passes))}
            storage["explicit MPC, tree"] = tree.storage_bytes()
    row["storage_bytes"] = {k: int(v) for k, v in storage.items()}
    row["time"] = times
    row["load_average_after"] = list(os.getloadavg())
    return row


def _one_blas_thread() -> Any:
    """Limit numpy's BLAS to one thread while the sweep runs (threadpoolctl, where it is installed)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with the book's environment
        from contextlib import nullcontext

        return nullcontext()
    return threadpool_limits(1, user_api="blas")


def run(cfg: Config, *, mode: str, log: Any = print) -> dict[str, Any]:
    """Every (system, horizon) of ``cfg``, one thread, as the JSON document :func:`l2o_lib.mpc_sizes.load` reads."""
    import platform
    import sys
    from dataclasses import asdict

    import torch

    from l2o_lib.mpc_sizes import SCHEMA

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    t0, cpu0 = time.perf_counter(), time.process_time()
    load = list(os.getloadavg())
    rows = []
    try:
        # one BLAS thread too: the batched classifier is a numpy product, and a second thread spinning on a
        # busy machine costs more than it saves on products this small
        with _one_blas_thread():
            for system, horizons in cfg.horizons.items():
                for N in horizons:
                    log(f"{system} N = {N} ({time.perf_counter() - t0:.0f} s so far)")
                    rows.append(measure_size(system, N, cfg, log))
    finally:
        torch.set_num_threads(threads)
    from importlib import metadata

    versions = {p: metadata.version(p) for p in ("numpy", "scipy", "torch", "numba", "daqp")}
    return {"schema": SCHEMA, "mode": mode, "config": {k: (dict(v) if isinstance(v, dict) else v)
                                                        for k, v in asdict(cfg).items()},
            "environment": {"python": sys.version.split()[0], **versions,
                            "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                            "torch_threads": 1, "blas_threads": 1, "load_average": load,
                            "load_average_after": list(os.getloadavg())},
            "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - cpu0, "sizes": rows}
