"""Reference labels made on an executor (a local process pool, a Dask cluster) equal the serial ones bit for bit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from l2o_lib import datasets, problems
from l2o_lib.problems import executors


def _same(a, b):
    assert np.array_equal(a.x, b.x, equal_nan=True) and np.array_equal(a.objective, b.objective, equal_nan=True)
    assert a.status.tolist() == b.status.tolist() and a.solver == b.solver and len(a.wall_time) == len(b.wall_time)


CASES = [("dc3_qp", {"n_vars": 12, "n_eq": 4, "n_ineq": 6, "seed": 4}), ("nonconvex_2d", {})]


@pytest.mark.parametrize("name, kwargs", CASES)
def test_process_pool_labels_equal_the_serial_ones(name, kwargs):
    fam = problems.get(name, **kwargs)
    xi = fam.sample(24, seed=3)
    serial = fam.solve(xi, executor="serial", progress=False)
    pooled = fam.solve(xi, executor="processes", chunk_size=5, progress=False)  # 5 uneven blocks on spawned workers
    _same(serial, pooled)
    assert serial.ok.all()


def test_dask_local_cluster_labels_equal_the_serial_ones(tmp_path):
    distributed = pytest.importorskip("distributed")
    fam = problems.get("nonconvex_2d")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        made = datasets.labeled(fam, 30, seed=9, folder=tmp_path, executor=client.get_executor(), progress=False)
        assert client.run(lambda: 1)  # the cluster ran, and is still up: the executor was not shut down by solve
    serial = fam.solve(fam.sample(30, seed=9), executor="serial", progress=False)
    assert np.array_equal(made.xi, fam.sample(30, seed=9))
    _same(made.solution, serial)


def test_thread_pool_and_automatic_choice():
    fam = problems.get("dc3_qp", n_vars=10, n_eq=3, n_ineq=3)
    xi = fam.sample(12, seed=1)
    with ThreadPoolExecutor(max_workers=2) as pool:  # threads: each rebuilds its own family (one solver per thread)
        _same(fam.solve(xi, executor=pool, chunk_size=4), fam.solve(xi, executor="serial"))
    assert executors.POOL_THRESHOLD > 2000  # the chapters' sizes stay serial without an executor


def test_bad_executor_arguments():
    fam = problems.get("dc3_qp", n_vars=10, n_eq=3, n_ineq=3)
    xi = fam.sample(3, seed=1)
    with pytest.raises(ValueError, match="executor must be"):
        fam.solve(xi, executor="cluster")
    with pytest.raises(TypeError, match="client.get_executor"):
        fam.solve(xi, executor=object())
    with pytest.raises(ValueError, match="chunk_size"):
        fam.solve(xi, executor="serial", chunk_size=0)


@pytest.mark.parametrize("name", sorted(problems.FAMILIES))
def test_every_family_is_rebuilt_from_its_identity(name):
    """What a worker receives (class path, parameters as JSON) rebuilds the same family: same identity, same draws."""
    import json

    fam = problems.get(name)
    again = executors._rebuilt(type(fam).__module__, type(fam).__qualname__, fam.identity[1], list(fam.identity))
    assert again.identity == fam.identity and again is not fam
    assert np.array_equal(again.sample(5, seed=2), fam.sample(5, seed=2))
    assert type(fam)(**json.loads(fam.identity[1])).name == fam.name
