"""Online point location in a critical-region partition, compiled with numba: which region holds x₀, and its u₀.

* :class:`SequentialLocator`: test the regions one after the other (most frequent first, counted on training
  states), each test stopping at its first violated row; the first region that holds x₀ answers.
* :class:`TreeLocator`: the binary search tree of Tøndel, Johansen and Bemporad (2003) over the regions'
  facet hyperplanes: each node asks on which side of one hyperplane x₀ lies, a leaf holds the few regions
  left (usually one), which are then tested as above, so that a state outside the partition is reported.

Both answer a batch (one compiled loop) or one state (:meth:`one`, one compiled call), return u₀ by the
region's affine law and the region's index, and −1 with u₀ = NaN where x₀ lies in no region: outside the
partition (an infeasible x₀, or one outside the box the partition covers). A point on a shared facet belongs to
both regions; the first found answers (the laws agree there).
"""

from __future__ import annotations

from collections import deque
from functools import cache
from typing import Any

import numpy as np

from l2o_lib.explicit_mpc.regions import Partition

#: a state this far (relative to the box) outside a region's halfspace still counts as inside
TOL = 1e-9


def _states(xi: Any, d: int, where: str) -> np.ndarray:
    xi = np.ascontiguousarray(xi, dtype=float)
    if xi.ndim != 2 or xi.shape[1] != d:
        raise ValueError(f"{where}: states must have shape (batch, {d}), got {xi.shape}")
    return xi


def locate_sequential(part: Partition, xi: Any, order: np.ndarray | None = None) -> np.ndarray:
    """Region index of each state (−1: in none), testing the regions in ``order`` (default: as stored)."""
    xi = _states(xi, part.n_params, "locate_sequential")
    order = np.arange(len(part), dtype=np.int64) if order is None else np.asarray(order, dtype=np.int64)
    out = np.empty(len(xi), dtype=np.int64)
    _kernels()["sequential"](xi, order, part.rows, part.offsets, TOL * part.xi_bound, out)
    return out


def containing(part: Partition, xi: Any) -> np.ndarray:
    """How many regions hold each state (numpy, every region tested): 1 inside a region, 2 or more only on facets
    shared within the tolerance, 0 outside the partition."""
    xi = _states(xi, part.n_params, "containing")
    d = part.n_params
    viol = xi @ part.rows[:, :d].T - part.rows[:, d] - TOL * part.xi_bound   # (batch, rows) > 0: violated
    bad = ~(viol <= 0)
    # a region holds a state when none of its rows is violated: count the violated rows per region
    per_region = np.add.reduceat(bad.astype(np.int64), part.offsets[:-1], axis=1)
    return np.sum(per_region == 0, axis=1)


def region_frequency(part: Partition, xi: Any) -> np.ndarray:
    """How many of the states ``xi`` (e.g. the training states) lie in each region."""
    found = locate_sequential(part, xi)
    return np.bincount(found[found >= 0], minlength=len(part))


class _Locator:
    """Shared: the batched call and the one-state call, both through one compiled kernel of four arguments.

    Every array a search reads is packed into one float array and one integer array (:meth:`_pack`), so
    that a call unboxes four arguments (numba's dispatch cost grows with their number).
    """

    def __init__(self, part: Partition):
        self.part = part
        self.d, self.nu = part.n_params, part.nu
        self.tol = TOL * part.xi_bound
        self._out1 = np.empty((1, self.nu + 1))

    def __call__(self, xi: Any) -> tuple[np.ndarray, np.ndarray]:
        """(u₀ (batch, nu), region (batch,)) of a batch of states; NaN and −1 outside the partition."""
        xi = _states(xi, self.d, type(self).__name__)
        out = np.empty((len(xi), self.nu + 1))
        self._kernel(xi, self._F, self._I, out)
        return out[:, :self.nu], out[:, self.nu].astype(np.int64)

    def one(self, xi: np.ndarray) -> tuple[np.ndarray, int]:
        """(u₀ (nu,), region) of one state (n_ξ,), one compiled call; the returned u₀ is a fresh array."""
        x = np.ascontiguousarray(xi, dtype=float).reshape(1, -1)
        if x.shape[1] != self.d:
            raise ValueError(f"{type(self).__name__}.one: the state must have {self.d} entries, got {np.shape(xi)}")
        self._kernel(x, self._F, self._I, self._out1)
        return self._out1[0, :self.nu].copy(), int(self._out1[0, self.nu])

    def into(self, x: np.ndarray, out: np.ndarray) -> None:
        """u₀ of the rows of ``x`` (batch, n_ξ) into ``out`` (batch, nu), NaN outside the partition: the
        allocation-free path :class:`~l2o_lib.control.PolicyController` calls for one system."""
        if x.shape[1:] != (self.d,) or out.shape != (x.shape[0], self.nu):
            raise ValueError(f"{type(self).__name__}.into: need x (batch, {self.d}) and out (batch, {self.nu}), "
                             f"got {x.shape} and {out.shape}")
        buf = self._out1 if len(x) == 1 else np.empty((len(x), self.nu + 1))
        self._kernel(np.ascontiguousarray(x, dtype=float), self._F, self._I, buf)
        out[:] = buf[:, :self.nu]

    def policy(self) -> LocatorPolicy:
        """This locator as an explicit policy x ↦ u₀ (NaN outside the partition), for a closed loop."""
        return LocatorPolicy(self)

    def _pack(self, floats: list[np.ndarray], ints: list[np.ndarray]) -> None:
        part = self.part
        self._F = np.concatenate([[self.tol], part.rows.ravel(), part.u0_law.ravel()] + [f.ravel() for f in floats])
        header = [len(part), self.d, self.nu, len(part.rows)]
        self._I = np.concatenate([np.array(header, dtype=np.int64), part.offsets]
                                 + [np.asarray(i, dtype=np.int64).ravel() for i in ints])


class LocatorPolicy:
    """u = u₀(x) by point location: batched ``policy(x)`` and the one-system ``into(x, out)``."""

    def __init__(self, locator: _Locator):
        self.locator = locator
        self.into = locator.into

    def __call__(self, x: Any) -> np.ndarray:
        return self.locator(x)[0]


class SequentialLocator(_Locator):
    """Sequential search over the regions in ``order`` (e.g. by decreasing frequency on training states)."""

    def __init__(self, part: Partition, order: np.ndarray | None = None):
        super().__init__(part)
        self.order = np.arange(len(part), dtype=np.int64) if order is None else np.asarray(order, dtype=np.int64)
        if sorted(self.order.tolist()) != list(range(len(part))):
            raise ValueError("SequentialLocator: order must be a permutation of the region indices")
        self._pack([], [self.order])
        self._kernel = _kernels()["sequential_packed"]

    @classmethod
    def by_frequency(cls, part: Partition, xi_train: Any) -> SequentialLocator:
        """Regions ordered by how many training states they hold, most first (ties: as stored)."""
        return cls(part, np.argsort(-region_frequency(part, xi_train), kind="stable"))

    def storage_bytes(self) -> int:
        """Halfspaces, row offsets, u₀ laws and the search order."""
        return self.part.storage_bytes() + int(self.order.nbytes)



class TreeLocator(_Locator):
    """Binary search tree over the facet hyperplanes (Tøndel, Johansen and Bemporad 2003).

    Built top-down: at each node, of the facet hyperplanes of the regions left, the one that splits them most
    evenly (smallest larger side; a region crossing the hyperplane goes to both sides, decided on its vertices)
    is chosen, among at most ``max_candidates`` of them (a seeded random subset where there are more). A node
    becomes a leaf holding its regions when they are at most ``max_leaf``, when its best hyperplane splits
    nothing, or once the tree has ``max_nodes`` nodes (``truncated`` then: the leaves left are searched
    sequentially, still exactly). ``max_leaf = 1`` is Tøndel et al.'s tree.
    """

    def __init__(self, part: Partition, *, max_leaf: int = 1, max_candidates: int = 64, max_nodes: int = 50_000,
                 seed: int = 0):
        import time

        super().__init__(part)
        for name, v in (("max_leaf", max_leaf), ("max_candidates", max_candidates), ("max_nodes", max_nodes)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"TreeLocator: {name} must be a positive integer, got {v!r}")
        self.max_leaf, self.max_nodes = int(max_leaf), int(max_nodes)
        t0 = time.perf_counter()
        self._build(int(max_candidates), np.random.default_rng(seed))
        self.build_seconds = time.perf_counter() - t0
        self._pack([self.node_plane], [[self.root, self.n_nodes, self.n_leaves], self.children, self.leaf_offsets,
                                       self.leaf_regions])
        self._kernel = _kernels()["tree_packed"]

    def _build(self, max_candidates: int, rng: np.random.Generator) -> None:
        part, d = self.part, self.d
        # the facet hyperplanes (box rows left out: every region lies inside the box), one sign, deduplicated
        rows = part.rows
        owner_all = np.repeat(np.arange(len(part)), np.diff(part.offsets))
        a = np.abs(rows[:, :d])
        box = (np.abs(a.sum(axis=1) - 1) < 1e-12) & (np.abs(a.max(axis=1) - 1) < 1e-12) & \
            (np.abs(rows[:, d] - part.xi_bound) < 1e-12 * part.xi_bound)
        lead = rows[np.arange(len(rows)), np.argmax(a > 1e-12, axis=1)]
        planes = (rows * np.where(lead > 0, 1.0, -1.0)[:, None])[~box]
        owner = owner_all[~box]
        key = np.round(planes / (1e-9 * np.maximum(1.0, np.abs(planes).max(axis=1, keepdims=True))))
        uniq, inverse = np.unique(key, axis=0, return_index=False, return_inverse=True)
        inverse = np.ravel(inverse)
        first = np.zeros(len(uniq), dtype=np.int64)
        first[inverse[::-1]] = np.arange(len(inverse))[::-1]
        self.planes = np.ascontiguousarray(planes[first])
        # region -> its planes, as offsets and indices (regions come in order in `owner`)
        rp_index = inverse.astype(np.int64)
        rp_offsets = np.searchsorted(np.asarray(owner), np.arange(len(part) + 1)).astype(np.int64)
        mark = np.zeros(len(self.planes), dtype=np.bool_)
        kern, used, sides = _kernels()["split"], _kernels()["used_planes"], _kernels()["sides"]
        tol = self.tol
        node_plane: list[np.ndarray] = []
        children: list[list[int]] = []
        leaves: list[np.ndarray] = []
        # breadth first, so that a tree stopped at max_nodes has leaves of even size: queue of (regions, parent, child)
        queue = deque([(np.arange(len(part), dtype=np.int64), -1, 0)])
        root = 0
        while queue:
            regs, parent, side = queue.popleft()
            code = None
            if len(regs) > self.max_leaf and len(node_plane) < self.max_nodes:
                cand = used(regs, rp_offsets, rp_index, mark)
                if len(cand) > max_candidates:
                    cand = np.sort(rng.choice(cand, max_candidates, replace=False))
                counts = np.empty((len(cand), 2), dtype=np.int64)
                kern(self.planes, cand, regs, part.vertices, part.vertex_offsets, tol, counts)
                worst = counts.max(axis=1)
                best = int(np.lexsort((counts.sum(axis=1), worst))[0])
                if worst[best] < len(regs):
                    plane = self.planes[cand[best]]
                    left, right = sides(plane, regs, part.vertices, part.vertex_offsets, tol)
                    code = len(node_plane)
                    node_plane.append(plane)
                    children.append([0, 0])
                    queue.append((left, code, 0))
                    queue.append((right, code, 1))
            if code is None:
                code = -(len(leaves) + 1)
                leaves.append(regs)
            if parent < 0:
                root = code
            else:
                children[parent][side] = code
        self.root = int(root)
        self.node_plane = np.ascontiguousarray(np.array(node_plane).reshape(-1, d + 1))
        self.children = np.array(children, dtype=np.int64).reshape(-1, 2)
        self.leaf_offsets = np.concatenate([[0], np.cumsum([len(v) for v in leaves])]).astype(np.int64)
        self.leaf_regions = np.concatenate(leaves).astype(np.int64)
        self.depth = self._depth()
        self.truncated = len(node_plane) >= self.max_nodes

    def _depth(self) -> int:
        deepest, stack = 0, [(self.root, 0)]
        while stack:
            code, k = stack.pop()
            if code < 0:
                deepest = max(deepest, k)
            else:
                stack += [(int(c), k + 1) for c in self.children[code]]
        return deepest

    @property
    def n_nodes(self) -> int:
        return len(self.node_plane)

    @property
    def n_leaves(self) -> int:
        return len(self.leaf_offsets) - 1

    def storage_bytes(self) -> int:
        """The tree (hyperplanes, children, leaves) plus what the leaf tests and laws need (halfspaces, u₀ laws)."""
        tree = self.node_plane.nbytes + self.children.nbytes + self.leaf_offsets.nbytes + self.leaf_regions.nbytes
        return int(tree + self.part.storage_bytes())



@cache
def _kernels() -> dict[str, Any]:
    import numba

    @numba.njit(cache=True)
    def inside(x, r, rows, offsets, tol):  # pragma: no cover - compiled
        d = x.shape[0]
        for j in range(offsets[r], offsets[r + 1]):
            acc = 0.0
            for k in range(d):
                acc += rows[j, k] * x[k]
            if not acc <= rows[j, d] + tol:  # NaN fails
                return False
        return True

    @numba.njit(cache=True)
    def sequential(X, order, rows, offsets, tol, out):  # pragma: no cover - compiled
        for i in range(X.shape[0]):
            out[i] = -1
            for r in order:
                if inside(X[i], r, rows, offsets, tol):
                    out[i] = r
                    break

    @numba.njit(cache=True)
    def unpack(F, I):  # pragma: no cover - compiled
        R, d, nu, T = I[0], I[1], I[2], I[3]
        offsets = I[4:4 + R + 1]
        rows = F[1:1 + T * (d + 1)].reshape((T, d + 1))
        L = F[1 + T * (d + 1):1 + T * (d + 1) + R * nu * (d + 1)].reshape((R, nu, d + 1))
        return R, d, nu, F[0], offsets, rows, L, 4 + R + 1, 1 + T * (d + 1) + R * nu * (d + 1)

    @numba.njit(cache=True)
    def answer(X, i, r, L, nu, out):  # pragma: no cover - compiled
        # out[i] = (u₀ by region r's law L[r] [x; 1], r), NaN and −1 outside
        out[i, nu] = r
        d = X.shape[1]
        for p in range(nu):
            if r < 0:
                out[i, p] = np.nan
                continue
            acc = L[r, p, d]
            for k in range(d):
                acc += L[r, p, k] * X[i, k]
            out[i, p] = acc

    @numba.njit(cache=True)
    def sequential_packed(X, F, I, out):  # pragma: no cover - compiled
        R, d, nu, tol, offsets, rows, L, i0, f0 = unpack(F, I)
        order = I[i0:i0 + R]
        for i in range(X.shape[0]):
            found = -1
            for r in order:
                if inside(X[i], r, rows, offsets, tol):
                    found = r
                    break
            answer(X, i, found, L, nu, out)

    @numba.njit(cache=True)
    def tree_packed(X, F, I, out):  # pragma: no cover - compiled
        R, d, nu, tol, offsets, rows, L, i0, f0 = unpack(F, I)
        root, n_nodes, n_leaves = I[i0], I[i0 + 1], I[i0 + 2]
        children = I[i0 + 3:i0 + 3 + 2 * n_nodes].reshape((n_nodes, 2))
        j0 = i0 + 3 + 2 * n_nodes
        leaf_offsets = I[j0:j0 + n_leaves + 1]
        leaf_regions = I[j0 + n_leaves + 1:]
        planes = F[f0:f0 + n_nodes * (d + 1)].reshape((n_nodes, d + 1))
        for i in range(X.shape[0]):
            code = root
            while code >= 0:
                acc = 0.0
                for k in range(d):
                    acc += planes[code, k] * X[i, k]
                code = children[code, 0] if acc <= planes[code, d] else children[code, 1]
            leaf = -code - 1
            found = -1
            for j in range(leaf_offsets[leaf], leaf_offsets[leaf + 1]):
                if inside(X[i], leaf_regions[j], rows, offsets, tol):
                    found = leaf_regions[j]
                    break
            answer(X, i, found, L, nu, out)

    @numba.njit(cache=True)
    def split(planes, cand, regs, vertices, voff, tol, counts):  # pragma: no cover - compiled
        d = vertices.shape[1]
        for c in range(cand.shape[0]):
            p = cand[c]
            n_left, n_right = 0, 0
            for r in regs:
                lo, hi = np.inf, -np.inf
                for v in range(voff[r], voff[r + 1]):
                    s = -planes[p, d]
                    for k in range(d):
                        s += planes[p, k] * vertices[v, k]
                    lo = min(lo, s)
                    hi = max(hi, s)
                if hi <= tol:
                    n_left += 1
                elif lo >= -tol:
                    n_right += 1
                else:
                    n_left += 1
                    n_right += 1
            counts[c, 0], counts[c, 1] = n_left, n_right

    @numba.njit(cache=True)
    def used_planes(regs, rp_offsets, rp_index, mark):  # pragma: no cover - compiled
        n = 0
        for r in regs:
            for j in range(rp_offsets[r], rp_offsets[r + 1]):
                if not mark[rp_index[j]]:
                    mark[rp_index[j]] = True
                    n += 1
        out = np.empty(n, dtype=np.int64)
        k = 0
        for p in range(mark.shape[0]):
            if mark[p]:
                out[k] = p
                k += 1
                mark[p] = False
        return out

    @numba.njit(cache=True)
    def sides(plane, regs, vertices, voff, tol):  # pragma: no cover - compiled
        d = vertices.shape[1]
        left = np.empty(regs.shape[0], dtype=np.int64)
        right = np.empty(regs.shape[0], dtype=np.int64)
        nl, nr = 0, 0
        for r in regs:
            lo, hi = np.inf, -np.inf
            for v in range(voff[r], voff[r + 1]):
                s = -plane[d]
                for k in range(d):
                    s += plane[k] * vertices[v, k]
                lo = min(lo, s)
                hi = max(hi, s)
            if hi <= tol or lo < -tol:
                left[nl] = r
                nl += 1
            if hi > tol:
                right[nr] = r
                nr += 1
        return left[:nl], right[:nr]

    return {"used_planes": used_planes, "sides": sides, "sequential": sequential, "sequential_packed": sequential_packed,
            "tree_packed": tree_packed, "split": split}
