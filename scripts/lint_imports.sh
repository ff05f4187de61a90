#!/usr/bin/env bash
# Checks the import contracts of pyproject.toml ([tool.importlinter]) with lint-imports.
#
# lint-imports reads one package directory, but setup.py maps protos/, services/, controller/
# and placement/ under yatt.*: this lays the installed package out as symlinks in a temporary
# directory and checks that, so every layer is seen.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
view="$(mktemp -d)"
trap 'rm -rf "$view"' EXIT
mkdir "$view/yatt"
for entry in "$repo"/yatt/*; do
  ln -s "$entry" "$view/yatt/"
done
for folder in protos services controller placement; do
  ln -s "$repo/$folder" "$view/yatt/$folder"
done
cd "$view"
PYTHONPATH="$view" "$repo/.venv/bin/lint-imports" --config "$repo/pyproject.toml" --no-cache "$@"
