"""Where a chapter runs: Colab or not, which device, quick mode, seeds.

Every chapter's setup cell calls :func:`setup` once. Nothing here imports torch or jax at module
import; they are looked at only if already importable.
"""

from __future__ import annotations

import importlib.util
import os
import random
import sys
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

T = TypeVar("T")

QUICK_ENV = "L2O_QUICK"
SAVE_ENV = "L2O_SAVE_PRETRAINED"


def in_colab() -> bool:
    """True inside a Google Colab kernel."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def _env_flag(name: str) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"environment variable {name}={os.environ[name]!r}: expected 0/1, true/false, yes/no")


_quick_choice: bool | None = None  # the setup cell's QUICK field, recorded by setup()


def quick_mode() -> bool:
    """Quick mode: fewer samples and epochs, same code path.

    ``L2O_QUICK`` decides when it is set (CI, the book build, the test command); otherwise the setup cell's
    ``QUICK`` form field as last passed to :func:`setup`; otherwise full mode.
    """
    if os.environ.get(QUICK_ENV, "").strip():
        return _env_flag(QUICK_ENV)
    return bool(_quick_choice)


def save_pretrained_requested() -> bool:
    """``L2O_SAVE_PRETRAINED=1``: a full-mode run writes its trained weights into ``data/``."""
    return _env_flag(SAVE_ENV)


def _has(module: str) -> bool:
    return module in sys.modules or importlib.util.find_spec(module) is not None


def torch_device() -> str:
    """``"cuda"`` when torch sees a GPU, else ``"cpu"`` (``"cpu"`` also when torch is absent)."""
    if not _has("torch"):
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def device_description(device: str) -> str:
    """``device`` with what it is: the GPU's name, or that no GPU is visible."""
    if device == "cuda":
        import torch

        return f"cuda ({torch.cuda.get_device_name(0)})"
    if device == "cpu":
        return "cpu (torch sees no GPU)" if _has("torch") else "cpu"
    return device


def enable_colab_widgets() -> bool:
    """Turn on Colab's custom widget manager (ipywidgets 8 widgets and tqdm bars render blank without it).

    Returns True when it was enabled; False outside Colab or on a Colab without the call.
    """
    if not in_colab():
        return False
    try:
        from google.colab import output
    except ImportError:
        return False
    enable = getattr(output, "enable_custom_widget_manager", None)
    if enable is None:
        return False
    enable()
    return True


def jax_backend() -> str | None:
    """JAX's default backend (``"gpu"``, ``"cpu"``, ...) or None when jax is absent."""
    if not _has("jax"):
        return None
    import jax

    return jax.default_backend()


def seed_everything(seed: int, *, torch: bool = True) -> None:
    """Seed Python, numpy and (with ``torch=True``, if installed) torch. JAX takes explicit keys."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    if torch and _has("torch"):
        import torch as _torch

        _torch.manual_seed(int(seed))


@dataclass(frozen=True)
class Runtime:
    """What the setup cell found; chapters read sizes from it with :meth:`pick`."""

    quick: bool
    colab: bool
    device: str
    seed: int

    def pick(self, full: T, quick: T) -> T:
        """``quick`` in quick mode, ``full`` otherwise."""
        return quick if self.quick else full

    def __str__(self) -> str:
        mode = "quick" if self.quick else "full"
        where = "Colab" if self.colab else "local"
        return f"l2o_lib runtime: {where}, device={self.device}, mode={mode}, seed={self.seed}"


def setup(seed: int = 0, *, quick: bool | None = None, torch: bool = True, threads: int | None = None,
          jax_x64: bool = False) -> Runtime:
    """Seed everything, choose the device and read quick mode; print what was chosen.

    ``quick`` is the setup cell's form field; ``L2O_QUICK``, when set, wins over it. ``torch=False`` skips
    torch (JAX-only chapters). ``threads`` caps torch's CPU threads and numpy's BLAS threads (through
    threadpoolctl, where installed: on a busy machine a second BLAS thread spinning on a small product can cost
    ten times the product). ``jax_x64=True`` switches JAX to 64-bit
    floats for the whole session (chapter 7's layers and checks need them); importing ``l2o_lib.jax`` never
    does. In Colab, turns on the custom widget manager so that the live widgets and progress bars render.
    """
    global _quick_choice
    if quick is not None and not isinstance(quick, bool):
        raise ValueError(f"quick must be True, False or None, got {quick!r}")
    _quick_choice = quick
    if jax_x64:
        import jax

        jax.config.update("jax_enable_x64", True)
    seed_everything(seed, torch=torch)
    device = torch_device() if torch else (jax_backend() or "cpu")
    if torch and threads is not None and _has("torch"):
        import torch as _torch

        _torch.set_num_threads(int(threads))
    if threads is not None and _has("threadpoolctl"):
        from threadpoolctl import threadpool_limits

        threadpool_limits(int(threads), user_api="blas")
    rt = Runtime(quick=quick_mode(), colab=in_colab(), device=device, seed=int(seed))
    print(rt)
    env = os.environ.get(QUICK_ENV, "").strip()
    if env and quick is not None and rt.quick != quick:
        print(f"  mode: {QUICK_ENV}={env} is set, and wins over the setup cell's QUICK = {quick}")
    print(f"  torch device: {device_description(device)}" if torch else f"  jax backend: {device}")
    if rt.colab and enable_colab_widgets():
        print("  Colab: custom widget manager on (live widgets and progress bars)")
    return rt

