"""scripts/env.sh is sourced by book.sh and test.sh: it must leave their `set -e` in force, or a failing
pytest run would still end the test command with exit status 0."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("errexit", [True, False])
def test_env_script_keeps_callers_errexit(errexit):
    venv = ROOT / ".venv"
    if not (venv / ".l2o-installed").is_file():
        pytest.skip("no .venv made by scripts/env.sh here (sourcing it would install the environment)")
    script = ("set -e; " if errexit else "") + ". scripts/env.sh; false; echo reached-after-false"
    out = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600)
    if errexit:
        assert out.returncode != 0 and "reached-after-false" not in out.stdout, out.stdout + out.stderr
    else:
        assert out.returncode == 0 and "reached-after-false" in out.stdout, out.stdout + out.stderr
