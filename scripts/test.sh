#!/usr/bin/env bash
# The README's test command: installs what is missing, lints, type-checks, runs every test tier.
# Fails when no test ran. Extra arguments go to pytest (e.g. `-m unit`).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install.sh
if [ -f scripts/setup_vllm_env.sh ] && [ "${YATT_SKIP_VLLM:-0}" != "1" ]; then
  bash scripts/setup_vllm_env.sh
fi

export OMP_NUM_THREADS=1 DS_ACCELERATOR=cpu
# DeepSpeed JIT-builds its CPU ops once; keep them between runs.
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-$PWD/.torch_extensions}"

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== import contracts (layers)"
bash scripts/lint_imports.sh
echo "== mypy"
bash scripts/typecheck.sh

echo "== pytest"
report=$(mktemp)
status=0
.venv/bin/pytest -p no:cacheprovider --junitxml="$report" "$@" || status=$?
ran=$(.venv/bin/python - "$report" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
print(sum(int(s.get("tests", 0)) - int(s.get("skipped", 0)) for s in suites))
PY
)
rm -f "$report"
echo "== tests executed (not skipped): $ran"
if [ "$status" -ne 0 ]; then exit "$status"; fi
if [ "$ran" -eq 0 ]; then echo "no test ran: failing" >&2; exit 1; fi
