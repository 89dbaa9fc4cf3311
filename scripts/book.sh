#!/usr/bin/env bash
# Build the book: execute every chapter and write _build/html (creates .venv first if it is missing).
#   bash scripts/book.sh            full mode: chapters train for real (the published book)
#   L2O_QUICK=1 bash scripts/book.sh  quick mode: fewer samples and epochs (about a minute per chapter)
# Rebuilds re-execute only notebooks that changed (jupyter-cache; one cache per mode).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
# No MPLBACKEND here: kernels must keep their inline backend, or plt.show() puts no figure in the page.
export PYDEVD_DISABLE_FILE_VALIDATION=1
config=_config.yml
if [ "${L2O_QUICK:-0}" = "1" ]; then
  mkdir -p _build
  python - <<'PY'
# The quick-mode config: _config.yml with its own execution cache. It lives in _build/, so paths that
# Jupyter Book resolves against the config file's folder are made absolute.
from pathlib import Path
import yaml
cfg = yaml.safe_load(open("_config.yml"))
cfg["execute"]["cache"] = str(Path("_build/.jupyter_cache_quick").resolve())
ext = cfg.get("sphinx", {}).get("local_extensions", {})
cfg["sphinx"]["local_extensions"] = {k: str(Path(v).resolve()) for k, v in ext.items()}
yaml.safe_dump(cfg, open("_build/_config_quick.yml", "w"), sort_keys=False, allow_unicode=True)
PY
  config=_build/_config_quick.yml
fi
python scripts/prepare_static.py
jupyter-book build . --config "$config" --builder html -W -n --keep-going "$@"
echo "book written to $(pwd)/_build/html/index.html (offline copy: _build/html/downloads/l2o-book-html.zip)"
