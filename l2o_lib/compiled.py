"""Networks as plain arrays, for deployment: a batched numpy forward and a compiled one-vector forward.

A controller runs one small network per sampling instant; a torch forward pass spends tens of microseconds in
framework overhead on a 2-element input, which hides what the network costs. :class:`CompiledMLP` holds the
layers of a fully connected network (the input normalization folded into the first layer) and evaluates

    y = out_scale · act_out(W_L … relu(W_1 x + b_1) … + b_L) + out_shift

either for a batch (numpy matrix products, in the arrays' dtype) or for one vector through a loop compiled
by numba (:meth:`one`, about a microsecond for a few thousand multiply-adds). No framework is needed at run
time; :mod:`l2o_lib.torch.export` builds these from the book's torch modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

from l2o_lib.predict import as_float64

OUT_ACTIVATIONS = ("none", "tanh")


class CompiledMLP:
    """A ReLU network as arrays: ``weights[k]`` (n_out_k, n_in_k), ``biases[k]`` (n_out_k,).

    ``out_activation`` ("none" or "tanh") and ``out_scale``, ``out_shift`` (scalars or vectors) apply to the
    last layer's output, then ``saturate = (lo, hi)`` clips it (a deployed policy saturates at the actuator's
    limits). Weights must be finite; inputs are checked for shape (a NaN input gives NaN out).
    """

    def __init__(self, weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], *, out_activation: str = "none",
                 out_scale: Any = 1.0, out_shift: Any = 0.0, saturate: tuple[Any, Any] | None = None,
                 dtype: Any = np.float32):
        if out_activation not in OUT_ACTIVATIONS:
            raise ValueError(f"CompiledMLP: out_activation must be one of {OUT_ACTIVATIONS}, got {out_activation!r}")
        if not weights or len(weights) != len(biases):
            raise ValueError(f"CompiledMLP: need as many biases as weights (≥ 1), got {len(weights)} and {len(biases)}")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"CompiledMLP: dtype must be float32 or float64, got {self.dtype} (an integer or "
                             "half-precision network would round its weights)")
        self.weights = tuple(np.ascontiguousarray(w, dtype=self.dtype) for w in weights)
        self.biases = tuple(np.ascontiguousarray(b, dtype=self.dtype).reshape(-1) for b in biases)
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            if w.ndim != 2 or b.shape != (w.shape[0],) or (k and w.shape[1] != self.weights[k - 1].shape[0]):
                raise ValueError(f"CompiledMLP: layer {k} has weight {w.shape} and bias {b.shape}, which do not chain")
            if not (np.isfinite(w).all() and np.isfinite(b).all()):
                raise ValueError(f"CompiledMLP: layer {k} has non-finite weights")
        self.n_in, self.n_out = self.weights[0].shape[1], self.weights[-1].shape[0]
        self.out_activation = out_activation
        for name, v in (("out_scale", out_scale), ("out_shift", out_shift)):
            v = np.asarray(v, dtype=float)
            if v.shape not in ((), (1,), (self.n_out,)) or not np.all(np.isfinite(v)):
                raise ValueError(f"CompiledMLP: {name} must be finite, a scalar or {self.n_out} values, got {v!r:.80}")
            cast = v.astype(self.dtype)
            if not np.all(np.isfinite(cast)) or np.any((cast == 0) & (v != 0)):
                raise ValueError(f"CompiledMLP: {name} {v!r:.80} is not representable in {self.dtype} "
                                 f"(it would become {cast!r:.80})")
        self.out_scale = np.broadcast_to(np.asarray(out_scale, dtype=self.dtype), (self.n_out,)).copy()
        self.out_shift = np.broadcast_to(np.asarray(out_shift, dtype=self.dtype), (self.n_out,)).copy()
        self.saturate = None
        if saturate is not None:
            lo, hi = (np.broadcast_to(np.asarray(v, dtype=float), (self.n_out,)).astype(self.dtype) for v in saturate)
            if np.isnan(lo).any() or np.isnan(hi).any() or np.any(lo > hi):
                raise ValueError(f"CompiledMLP: saturate must be (lo, hi) with lo ≤ hi and no NaN, got {saturate!r}")
            self.saturate = (lo, hi)
        self._wt = tuple(np.ascontiguousarray(w.T) for w in self.weights)  # (in, out) for x @ W
        # the compiled loop's layout, few arguments to unbox per call: every layer in one zero-padded array
        # P (L + 1, width, width + 1), layer k's weights in P[k, :, :width] and bias in P[k, :, width], the output
        # scale and shift in P[L, 0] and P[L, 1], the saturation bounds in P[L, 2] and P[L, 3]; shapes (L + 1, 2)
        # with the output activation and whether to saturate in its last row
        width = max(max(w.shape) for w in self.weights)
        L = len(self.weights)
        self._P = np.zeros((L + 1, max(width, 4), width + 1), dtype=self.dtype)
        for k, (w, bias) in enumerate(zip(self.weights, self.biases)):
            self._P[k, :w.shape[0], :w.shape[1]] = w
            self._P[k, :w.shape[0], width] = bias
        self._P[L, 0, :self.n_out] = self.out_scale
        self._P[L, 1, :self.n_out] = self.out_shift
        if self.saturate is not None:
            self._P[L, 2, :self.n_out], self._P[L, 3, :self.n_out] = self.saturate
        self._shapes = np.array([*(w.shape for w in self.weights),
                                 (int(out_activation == "tanh"), int(self.saturate is not None))], dtype=np.int64)
        self._row = (self.n_in,)
        self._kernel = _kernel()

    @property
    def multiply_adds(self) -> int:
        """Multiply-adds of one forward pass."""
        return int(sum(w.size for w in self.weights))

    def _check(self, x: Any, ndim: int) -> np.ndarray:
        if hasattr(x, "detach") and hasattr(x, "is_floating_point"):  # a torch tensor (bfloat16 included)
            x = as_float64(x, "CompiledMLP: input")
        x = np.asarray(x)
        if x.ndim != ndim or x.shape[-1] != self.n_in or x.dtype.kind not in "fiu":
            want = f"(batch, {self.n_in})" if ndim == 2 else f"({self.n_in},)"
            raise ValueError(f"CompiledMLP: input must be a real array of shape {want}, got {x.shape} {x.dtype}")
        return x

    def __call__(self, x: Any) -> np.ndarray:
        """Batched forward pass: (batch, n_in) → (batch, n_out), in the network's dtype."""
        h = self._check(x, 2).astype(self.dtype, copy=False)
        last = len(self._wt) - 1
        for k, (w, b) in enumerate(zip(self._wt, self.biases)):
            h = h @ w
            h += b
            if k < last:
                np.maximum(h, 0, out=h)
        if self.out_activation == "tanh":
            np.tanh(h, out=h)
        out = h * self.out_scale + self.out_shift
        return out if self.saturate is None else np.clip(out, *self.saturate)

    def one(self, x: Any) -> np.ndarray:
        """One vector (n_in,) → (n_out,) float64, through the numba-compiled loop."""
        x = np.ascontiguousarray(self._check(x, 1), dtype=float)
        out = np.empty((1, self.n_out))
        self.into(x[None, :], out)
        return out[0]

    def into(self, x: np.ndarray, out: np.ndarray) -> None:
        """Rows of ``x`` (batch, n_in) into ``out`` (batch, n_out), numpy arrays, compiled.

        The allocation-free path of a controller that calls the network once per sampling instant.
        """
        # the compiled loop indexes without bounds checks: shapes and types are checked here, every call
        if (type(x) is not np.ndarray or type(out) is not np.ndarray or x.ndim != 2 or x.shape[1:] != self._row
                or out.shape != (x.shape[0], self.n_out)):
            raise ValueError(f"CompiledMLP.into: need numpy x (batch, {self.n_in}) and out (batch, {self.n_out}), "
                             f"got {np.shape(x)} and {np.shape(out)}")
        if x.dtype.kind != "f" or out.dtype != np.float64:
            raise ValueError(f"CompiledMLP.into: x must be floating and out float64, got {x.dtype} and {out.dtype} "
                             "(an integer buffer would truncate the outputs)")
        self._kernel(x, self._P, self._shapes, out)

    def warm_up(self) -> None:
        """Compile the one-vector kernel now (numba compiles on first call; cached on disk afterwards)."""
        self.one(np.zeros(self.n_in, dtype=self.dtype))


@cache
def _kernel() -> Any:
    """The compiled row loop (numba, a base dependency, compiled on first use and cached on disk)."""
    import numba

    @numba.njit(cache=True, fastmath=True)
    def forward(X, P, shapes, out):  # pragma: no cover - compiled
        L = shapes.shape[0] - 1
        width = P.shape[2] - 1
        h = np.zeros(width, dtype=P.dtype)
        z = np.zeros(width, dtype=P.dtype)
        for row in range(X.shape[0]):
            for c in range(X.shape[1]):
                h[c] = X[row, c]
            for k in range(L):
                n_out, n_in = shapes[k, 0], shapes[k, 1]
                i = 0
                while i + 4 <= n_out:  # four output rows per pass over h: fewer loads of h
                    a0, a1 = P[k, i, width], P[k, i + 1, width]
                    a2, a3 = P[k, i + 2, width], P[k, i + 3, width]
                    for j in range(n_in):
                        hj = h[j]
                        a0 += P[k, i, j] * hj
                        a1 += P[k, i + 1, j] * hj
                        a2 += P[k, i + 2, j] * hj
                        a3 += P[k, i + 3, j] * hj
                    z[i], z[i + 1], z[i + 2], z[i + 3] = a0, a1, a2, a3
                    i += 4
                while i < n_out:
                    acc = P[k, i, width]
                    for j in range(n_in):
                        acc += P[k, i, j] * h[j]
                    z[i] = acc
                    i += 1
                if k < L - 1:
                    for i in range(n_out):
                        h[i] = z[i] if z[i] > 0 else 0
            for i in range(out.shape[1]):
                v = np.tanh(z[i]) if shapes[L, 0] == 1 else z[i]
                v = v * P[L, 0, i] + P[L, 1, i]
                if shapes[L, 1] == 1:
                    v = min(max(v, P[L, 2, i]), P[L, 3, i])
                out[row, i] = v

    return forward
