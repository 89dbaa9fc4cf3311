"""Networks that help a QP solver (chapter 8): primal-dual warm starts, strategy classifiers, penalties ρ.

Also the unrolled OSQP iteration in torch (:func:`unrolled_osqp`), through which a warm start is trained end
to end on the residuals that OSQP's termination test uses, and the pretrained-registry loaders, whose
``predict(ξ)`` returns the *solver's* answer (warm-started, or certified), not the network's guess.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from l2o_lib import enhance
from l2o_lib.predict import Loaded, module_device, numpy_predictor
from l2o_lib.problems.capabilities import LinearMPCForm
from l2o_lib.solvers import OSQPSession
from l2o_lib.torch.nets import MLP, Normalize, from_arrays


class PrimalDualNet(nn.Module):
    """ξ ↦ (x, y): an MLP on the normalized ξ whose outputs are de-standardized by the labels' mean and std."""

    def __init__(self, family: LinearMPCForm, hidden: Sequence[int] = (128, 128, 128), n_dual: int | None = None):
        super().__init__()
        self.n = family.n_vars
        self.m = n_dual if n_dual is not None else family.qp().A.shape[0]
        self.normalize = Normalize(family.param_low, family.param_high)
        self.mlp = MLP(family.n_params, self.n + self.m, hidden)
        self.register_buffer("out_mean", torch.zeros(self.n + self.m))
        self.register_buffer("out_std", torch.ones(self.n + self.m))
        self.config = {"hidden": list(map(int, hidden))}

    def set_output_scale(self, labels: np.ndarray) -> None:
        """Standardize the outputs with the labels' mean and std (done once, before training)."""
        labels = torch.as_tensor(labels, dtype=self.out_mean.dtype)
        self.out_mean.copy_(labels.mean(0))
        self.out_std.copy_(labels.std(0) + 1e-6)

    def standardized(self, xi: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.normalize(xi))

    def forward(self, xi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.standardized(xi) * self.out_std + self.out_mean
        return out[:, :self.n], out[:, self.n:]


class ScoreNet(nn.Module):
    """ξ ↦ scores: logits over strategies (classifier) or one log10 ρ (regression)."""

    def __init__(self, family: LinearMPCForm, n_out: int, hidden: Sequence[int] = (64, 64)):
        super().__init__()
        self.normalize = Normalize(family.param_low, family.param_high)
        self.mlp = MLP(family.n_params, n_out, hidden)
        self.config = {"hidden": list(map(int, hidden)), "n_out": int(n_out)}

    def forward(self, xi: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.normalize(xi))


#: chapter 8's recipe for the strategy classifier (Adam on the cross-entropy, learning rate decayed per epoch)
CLASSIFIER_RECIPE: dict[str, Any] = {"hidden": (48, 48), "epochs": 600, "batch_size": 512, "lr": 1e-2, "lr_decay": 0.99}


def fit_strategy_classifier(family: Any, xi: np.ndarray, strategy: np.ndarray, n_strategies: int, *,
                            hidden: Sequence[int] = CLASSIFIER_RECIPE["hidden"], epochs: int = CLASSIFIER_RECIPE["epochs"],
                            batch_size: int = CLASSIFIER_RECIPE["batch_size"], lr: float = CLASSIFIER_RECIPE["lr"],
                            lr_decay: float = CLASSIFIER_RECIPE["lr_decay"], seed: int | None = None, progress: bool = True,
                            desc: str = "strategy classifier") -> tuple[ScoreNet, Any]:
    """Chapter 8's strategy classifier: a :class:`ScoreNet` ξ ↦ one score per strategy, trained on the
    cross-entropy of each training state's strategy index (``strategy``, e.g. from
    :meth:`~l2o_lib.enhance.ActiveSetLaws.from_solutions`). Returns the network (float64) and the
    :class:`~l2o_lib.torch.train.History`. With ``seed`` the initial weights and the minibatch order come from it;
    without, the weights come from torch's global generator (as in a chapter seeded by ``runtime.setup``) and the
    order from :func:`~l2o_lib.torch.train.fit`'s default."""
    from l2o_lib.torch.train import fit

    strategy = np.asarray(strategy)
    if strategy.shape != (len(xi),) or strategy.min(initial=0) < 0 or strategy.max(initial=0) >= n_strategies:
        raise ValueError(f"fit_strategy_classifier: strategy must hold one index in [0, {n_strategies}) per state "
                         f"({len(xi)}), got shape {strategy.shape}")
    if seed is not None:
        torch.manual_seed(seed)
    net = ScoreNet(family, int(n_strategies), hidden).double()
    hist = fit(net, lambda m, b: torch.nn.functional.cross_entropy(m(b[0]), b[1]),
               (torch.as_tensor(xi, dtype=torch.float64), torch.as_tensor(strategy, dtype=torch.long)),
               epochs=epochs, batch_size=batch_size, lr=lr, lr_decay=lr_decay, desc=desc, progress=progress,
               **({} if seed is None else {"seed": seed}))
    return net, hist


class UnrolledOSQP:
    """OSQP's ADMM iteration (no scaling, fixed ρ, ρ·1e3 on equality rows) for a batch, in torch."""

    def __init__(self, family: LinearMPCForm, rho: float = 0.1, sigma: float = 1e-6, alpha: float = 1.6,
                 dtype: torch.dtype = torch.float64):
        qp = family.qp()
        self.family, self.alpha, self.sigma, self.dtype = family, alpha, sigma, dtype
        P, A = qp.P.toarray(), qp.A.toarray()
        r = np.full(A.shape[0], rho)
        r[:qp.n_eq] *= 1e3
        self.P, self.A = torch.as_tensor(P, dtype=dtype), torch.as_tensor(A, dtype=dtype)
        self.q, self.r = torch.as_tensor(qp.q, dtype=dtype), torch.as_tensor(r, dtype=dtype)
        self.M = torch.as_tensor(np.linalg.inv(P + sigma * np.eye(len(P)) + A.T @ (r[:, None] * A)), dtype=dtype)

    def __call__(self, xi: np.ndarray, x: torch.Tensor, y: torch.Tensor, K: int) -> dict[str, torch.Tensor]:
        """K iterations from (x, y) with z = Π(Ax); returns final x, y and OSQP's residuals ‖Ax − z‖, ‖Px + q + Aᵀy‖."""
        qp = self.family.qp(xi, check_domain=False)
        lo, hi = torch.as_tensor(qp.l, dtype=self.dtype), torch.as_tensor(qp.u, dtype=self.dtype)
        z = torch.clamp(x @ self.A.T, lo, hi)
        a = self.alpha
        for _ in range(K):
            xt = (self.sigma * x - self.q + (self.r * z - y) @ self.A) @ self.M.T
            zt = xt @ self.A.T
            x = a * xt + (1 - a) * x
            zr = a * zt + (1 - a) * z
            z_new = torch.clamp(zr + y / self.r, lo, hi)
            y = y + self.r * (zr - z_new)
            z = z_new
        prim = torch.linalg.vector_norm(x @ self.A.T - z, dim=1)
        dual = torch.linalg.vector_norm(x @ self.P + self.q + y @ self.A, dim=1)
        return {"x": x, "y": y, "primal": prim, "dual": dual}


def _numpy(fn: Callable[[torch.Tensor], Any], module: nn.Module) -> Callable[[np.ndarray], Any]:
    """numpy ξ -> float64 numpy (or a tuple of them) from ``fn``, run in ``module``'s dtype and on its device."""
    dtype = str(next(module.parameters()).dtype).removeprefix("torch.")
    # tiny batched ops: a second thread only adds synchronisation
    return numpy_predictor(fn, dtype=dtype, device=module_device(module), threads=1)


def warm_start_predictor(net: PrimalDualNet) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """numpy ξ -> (x̂, ŷ) float64 from a trained :class:`PrimalDualNet` (run in eval mode, in its own dtype)."""
    net.eval()
    return _numpy(net, net)


def load_warm_start(family: LinearMPCForm, arrays: dict, config: dict) -> Callable[[np.ndarray], np.ndarray]:
    """Registry loader: predict(ξ) = OSQP's answer at eps from the network's primal-dual warm start."""
    net = from_arrays(PrimalDualNet(family, config["hidden"]), arrays)
    guess = warm_start_predictor(net)
    session = OSQPSession(family, eps=float(config.get("eps", 1e-3)))

    def predict(xi: np.ndarray) -> np.ndarray:
        x0, y0 = guess(xi)
        return session.solve(xi, x0=x0, y0=y0, check_domain=False).x

    return predict


def active_set_parts(family: LinearMPCForm, arrays: dict, config: dict) -> tuple[enhance.ActiveSetLaws, Any]:
    """The strategies' laws and the classifier (as a :class:`~l2o_lib.compiled.CompiledMLP`: batched numpy and a
    compiled one-vector forward) of an ``active_set`` card's arrays."""
    from l2o_lib.torch.export import export_score_net

    strategies = np.asarray(arrays["strategies"], dtype=np.int8)
    net = from_arrays(ScoreNet(family, len(strategies), config["hidden"]),
                      {k: v for k, v in arrays.items() if k != "strategies"}).float().eval()
    return enhance.ActiveSetLaws(family, strategies), export_score_net(net)


def load_active_set(family: LinearMPCForm, arrays: dict, config: dict) -> Loaded:
    """Registry loader: predict(ξ) = the certified answer (top-k strategies, then DAQP as the fallback); its
    parts are the ``laws``, the compiled classifier ``scores`` and the ``solver`` (a
    :class:`~l2o_lib.enhance.CertifiedSolver`)."""
    laws, scores = active_set_parts(family, arrays, config)
    solver = enhance.CertifiedSolver(laws, scores, top_k=int(config.get("top_k", 3)))

    def predict(xi: np.ndarray) -> np.ndarray:
        return solver.solve(xi).x

    return Loaded(predict=predict, parts={"laws": laws, "scores": scores, "solver": solver})


def load_rho(family: LinearMPCForm, arrays: dict, config: dict) -> Callable[[np.ndarray], np.ndarray]:
    """Registry loader: predict(ξ) = OSQP's answer at eps with the network's ρ (adaptive ρ off), cold start."""
    net = from_arrays(ScoreNet(family, 1, config["hidden"]), arrays).float().eval()
    log_rho = _numpy(lambda xi: net(xi)[:, 0], net)
    session = OSQPSession(family, eps=float(config.get("eps", 1e-3)), adaptive_rho=False)

    def predict(xi: np.ndarray) -> np.ndarray:
        return session.solve(xi, rho=10.0 ** log_rho(xi), check_domain=False).x

    return predict
