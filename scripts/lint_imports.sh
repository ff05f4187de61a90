#!/usr/bin/env bash
# Checks the import contracts of pyproject.toml ([tool.importlinter]) with lint-imports, over
# the package as installed (see in_package_view.sh), so every layer is seen.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
exec bash "$repo/scripts/in_package_view.sh" \
  "$repo/.venv/bin/lint-imports" "$repo/pyproject.toml" --no-cache "$@"
