#!/usr/bin/env bash
# mypy over the package as installed (see in_package_view.sh), so calls between yatt.services,
# yatt.controller, yatt.placement and the core are checked with their real types; then the
# benchmarks, which import the package.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
mypy=("$repo/.venv/bin/mypy" --config-file "$repo/pyproject.toml" --no-error-summary)
bash "$repo/scripts/in_package_view.sh" "${mypy[@]}" -p yatt
cd "$repo" && "${mypy[@]}" bench
