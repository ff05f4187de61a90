#!/usr/bin/env bash
# Runs a command over the package as it is installed: setup.py maps protos/, services/,
# controller/ and placement/ under yatt.*, which tools that read source folders (lint-imports,
# mypy) cannot follow through the editable install. This lays the package out as symlinks in a
# temporary directory, exports it as PYTHONPATH and MYPYPATH, and runs the command from there.
# Usage: scripts/in_package_view.sh COMMAND [ARG...]   (REPO names the checkout for the command)
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
view="$(mktemp -d)"
trap 'rm -rf "$view"' EXIT
mkdir "$view/yatt"
for entry in "$REPO"/yatt/*; do
  ln -s "$entry" "$view/yatt/"
done
for folder in protos services controller placement; do
  ln -s "$REPO/$folder" "$view/yatt/$folder"
done
cd "$view"
export REPO PYTHONPATH="$view" MYPYPATH="$view"
"$@"
