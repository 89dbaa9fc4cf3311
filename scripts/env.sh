# Source this file: creates (or updates) the project's virtual environment in .venv and activates it.
#   . scripts/env.sh
# Installs torch first, pinned, so that nothing downloads a CUDA build, then the project with its pinned extras.
# The caller's shell options are restored at the end (scripts that source this keep their own `set -e`).
case $- in *e*) _l2o_errexit=1 ;; *) _l2o_errexit=0 ;; esac  # not via $(set +o): a subshell drops errexit
set -e
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_venv="${L2O_VENV:-$_root/.venv}"
_py="${PYTHON:-python3}"
if [ ! -x "$_venv/bin/python" ]; then
  echo "[env] creating $_venv with $($_py --version)"
  "$_py" -m venv "$_venv"
fi
# shellcheck disable=SC1091
. "$_venv/bin/activate"
_stamp="$_venv/.l2o-installed"
_want="$(cat "$_root/pyproject.toml" "$_root/constraints/ci.txt" | sha256sum | cut -c1-16)"
if [ "$(cat "$_stamp" 2>/dev/null)" != "$_want" ]; then
  echo "[env] installing pinned dependencies (a few minutes the first time)"
  python -m pip install -q --upgrade pip
  python -m pip install -q "$(grep -E '^torch==' "$_root/constraints/ci.txt")"
  python -m pip install -q -c "$_root/constraints/ci.txt" -e "$_root[dev]"
  echo "$_want" > "$_stamp"
fi
unset _root _venv _py _stamp _want
if [ "$_l2o_errexit" = 1 ]; then set -e; else set +e; fi
unset _l2o_errexit
