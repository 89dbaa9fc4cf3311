"""Import times that matter to a reader: l2o_lib itself, and neuromancer raw versus through the book's shim.

    python benchmarks/import_times.py

Each import runs in a fresh interpreter. Raw neuromancer needs wandb, which it does not declare: without it
the raw import fails, and the figure printed is the time until that failure plus what the shim avoids.
"""

from __future__ import annotations

import subprocess
import sys
import time

CASES = {
    "import l2o_lib": "import l2o_lib",
    "import torch (for scale)": "import torch",
    "neuromancer raw (wandb stubbed so it can finish)": (
        "import sys, types; sys.modules.setdefault('wandb', types.ModuleType('wandb')); import neuromancer"
    ),
    "neuromancer raw, as installed": "import neuromancer",
    "neuromancer via l2o_lib.torch.nm": "from l2o_lib.torch.nm import neuromancer",
}


def measure(code: str, repeat: int = 2) -> tuple[float, str]:
    best, status = float("inf"), "ok"
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        best = min(best, time.perf_counter() - t0)
        if proc.returncode != 0:
            status = proc.stderr.strip().splitlines()[-1][:80]
    return best, status


def main() -> None:
    print("| import | seconds (best of 2, fresh interpreter) | result |\n|---|---|---|")
    for label, code in CASES.items():
        seconds, status = measure(code)
        print(f"| {label} | {seconds:.2f} | {status} |")


if __name__ == "__main__":
    main()
