"""The training loop every torch chapter uses: minibatches, Adam, a progress bar and a loss history."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

LossFn = Callable[[nn.Module, torch.Tensor], "torch.Tensor | dict[str, torch.Tensor]"]


@dataclass
class History:
    """Per-epoch mean of each loss term (``"loss"`` is the one minimized), plus validation and time."""

    terms: dict[str, list[float]] = field(default_factory=dict)
    val: list[float] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0

    @property
    def loss(self) -> list[float]:
        return self.terms.get("loss", [])

    def plot(self, ax: Any = None, *, logy: bool = True, title: str = "training loss"):
        """Loss terms (and validation loss) per epoch."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5.5, 3.2))
        for name, values in self.terms.items():
            ax.plot(np.arange(1, len(values) + 1), values, label=name, lw=2 if name == "loss" else 1)
        if self.val:
            ax.plot(np.arange(1, len(self.val) + 1), self.val, "--", label="validation loss")
        if logy and all(v > 0 for vals in self.terms.values() for v in vals):
            ax.set_yscale("log")
        ax.set(xlabel="epoch", title=title)
        ax.legend(fontsize=8)
        return ax


def _as_terms(out: torch.Tensor | dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if isinstance(out, dict):
        if "loss" not in out:
            raise KeyError(f"the loss function returned terms {sorted(out)} without 'loss'")
        return out
    return {"loss": out}


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    data: torch.Tensor | tuple[torch.Tensor, ...],
    *,
    epochs: int,
    batch_size: int = 256,
    lr: float = 1e-3,
    val_data: torch.Tensor | tuple[torch.Tensor, ...] | None = None,
    weight_decay: float = 0.0,
    lr_decay: float | None = None,
    seed: int = 0,
    desc: str = "training",
    progress: bool = True,
    grad_clip: float | None = None,
) -> History:
    """Minimize ``loss_fn(model, batch)`` with Adam over shuffled minibatches of ``data``.

    ``data`` is a tensor of ξ (self-supervised) or a tuple of tensors such as (ξ, x*) (supervised);
    ``loss_fn`` receives the batch in the same form. It returns the loss or a dict of terms with key
    ``"loss"``; every term is logged per epoch. ``lr_decay`` multiplies the rate at each epoch.
    """
    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ValueError(f"fit: need epochs ≥ 1, batch_size ≥ 1, lr > 0; got {epochs}, {batch_size}, {lr}")
    tensors = data if isinstance(data, tuple) else (data,)
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError(f"fit: data tensors have different lengths {[len(t) for t in tensors]}")
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, lr_decay) if lr_decay else None
    gen = torch.Generator().manual_seed(seed)
    hist = History()
    from tqdm.auto import tqdm

    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False)
    t0 = time.perf_counter()
    for _ in bar:
        model.train()
        sums: dict[str, float] = {}
        perm = torch.randperm(n, generator=gen).to(tensors[0].device)
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            batch = tuple(t[idx] for t in tensors)
            terms = _as_terms(loss_fn(model, batch if isinstance(data, tuple) else batch[0]))
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            if grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            opt.step()
            hist.steps += 1
            w = len(idx) / n
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * w
        if sched:
            sched.step()
        for k, v in sums.items():
            hist.terms.setdefault(k, []).append(v)
        if not np.isfinite(sums["loss"]):
            raise FloatingPointError(f"fit: the loss became {sums['loss']} at epoch {len(hist.loss)}; "
                                     "lower the learning rate or the penalty weights")
        post = {"loss": f"{sums['loss']:.3g}"}
        if val_data is not None:
            model.eval()
            with torch.no_grad():
                vt = _as_terms(loss_fn(model, val_data))
            hist.val.append(float(vt["loss"]))
            post["val"] = f"{hist.val[-1]:.3g}"
        bar.set_postfix(post)
    hist.seconds = time.perf_counter() - t0
    model.eval()
    return hist
