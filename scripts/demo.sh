#!/usr/bin/env bash
# The README's main job: installs what is missing, then `yatt demo` (a local cluster trains a
# tiny model on arithmetic with a live progress bar, then writes plots and a summary).
# Extra arguments go to `yatt demo` (e.g. --out runs/mine).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" DS_ACCELERATOR="${DS_ACCELERATOR:-cpu}"
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-$PWD/.torch_extensions}"
exec .venv/bin/yatt demo "$@"
