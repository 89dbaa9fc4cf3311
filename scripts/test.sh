#!/usr/bin/env bash
# Run the whole test suite (creates .venv first if it is missing):
# lint, l2o_lib unit tests, notebook hygiene, every chapter and student notebook under nbval in quick mode, the book build with
# warnings as errors, the browser test of the built pages, and the shipped-model checks.
#   bash scripts/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
# No MPLBACKEND here: nbval's kernels keep their inline backend, as in the book; headless matplotlib picks Agg.
export PYDEVD_DISABLE_FILE_VALIDATION=1 L2O_QUICK=1
start=$(date +%s)
echo "[test] ruff"
lint=0
ruff check l2o_lib tests scripts chapters || lint=$?   # reported, and fails the run, after the tests have run too
if [ -f scripts/install_browser.sh ]; then
  bash scripts/install_browser.sh
fi
echo "[test] pytest: unit tests, hygiene, shipped models, nbval (quick mode), book build, browser"
status=0
python -m pytest tests chapters students --nbval-lax --nbval-cell-timeout=600 -p no:cacheprovider -ra --durations=15 "$@" || status=$?
echo "[test] finished in $(( $(date +%s) - start )) s (pytest exit $status, ruff exit $lint)"
[ "$status" = 0 ] && [ "$lint" = 0 ]
