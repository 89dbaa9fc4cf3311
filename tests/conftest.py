import os
import subprocess
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")  # this process only: kernels started by nbval or the book keep their inline backend

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def built_book() -> Path:
    """Build the book once per session in quick mode, warnings as errors; returns _build/html.

    ``L2O_BOOK_BUILT=1`` reuses an existing build (for iterating on the browser test)."""
    html = ROOT / "_build" / "html"
    if os.environ.get("L2O_BOOK_BUILT") == "1" and (html / "index.html").is_file():
        return html
    env = dict(os.environ, L2O_QUICK="1")
    proc = subprocess.run(["bash", "scripts/book.sh"], cwd=ROOT, env=env, capture_output=True, text=True)
    log = ROOT / "_build" / "book-build.log"
    log.parent.mkdir(exist_ok=True)
    log.write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-6000:]
        pytest.fail(f"the book build failed (rc={proc.returncode}); full log in {log}\n{tail}")
    return html


def pytest_collection_modifyitems(config, items):
    """Whatever needs the built book (the build itself, the browser checks) is part of the slow tier."""
    for item in items:
        if "built_book" in getattr(item, "fixturenames", ()) or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def fam():
    """The MPC family of chapters 8 and 9 (double integrator, N = 10); a test module about another family defines
    its own ``fam``."""
    from l2o_lib import problems

    return problems.get("mpc")
