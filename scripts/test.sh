#!/usr/bin/env bash
# Run the test suite (creates .venv first if it is missing).
#   bash scripts/test.sh [extra pytest args]         the full tier: lint, l2o_lib unit tests, notebook hygiene,
#                                                    every chapter and student notebook under nbval (quick
#                                                    mode), the book build with warnings as errors, the
#                                                    browser test, the shipped-model checks
#   bash scripts/test.sh --fast [extra pytest args]  the fast tier (pull requests): lint and
#                                                    `pytest tests -m "not slow and not browser"`; no notebook runs,
#                                                    no book build
set -euo pipefail
cd "$(dirname "$0")/.."
tier=full
if [ "${1:-}" = "--fast" ]; then tier=fast; shift; fi
. scripts/env.sh
# No MPLBACKEND here: nbval's kernels keep their inline backend, as in the book; headless matplotlib picks Agg.
export PYDEVD_DISABLE_FILE_VALIDATION=1 L2O_QUICK=1
start=$(date +%s)
echo "[test] ruff"
lint=0
ruff check l2o_lib tests scripts chapters || lint=$?   # reported, and fails the run, after the tests have run too
status=0
if [ "$tier" = fast ]; then
  echo "[test] fast tier: pytest tests -m 'not slow and not browser'"
  python -m pytest tests -m "not slow and not browser" -p no:cacheprovider -ra --durations=10 "$@" || status=$?
else
  if [ -f scripts/install_browser.sh ]; then
    bash scripts/install_browser.sh
  fi
  echo "[test] pytest: unit tests, hygiene, shipped models, nbval (quick mode), book build, browser"
  python -m pytest tests chapters students --nbval-lax --nbval-cell-timeout=600 -p no:cacheprovider -ra --durations=15 "$@" || status=$?
fi
echo "[test] $tier tier finished in $(( $(date +%s) - start )) s (pytest exit $status, ruff exit $lint)"
[ "$status" = 0 ] && [ "$lint" = 0 ]
