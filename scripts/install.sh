#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine lacks for yatt, idempotently:
# etcd, etcdctl and a C++ compiler from apt, then a virtual environment .venv with the CPU
# build of torch and yatt (editable) with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v etcd >/dev/null 2>&1 || need_apt+=(etcd-server)
# etcdctl (auth set-up in the security tests, the compose health check) is a separate package.
command -v etcdctl >/dev/null 2>&1 || need_apt+=(etcd-client)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== apt: installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# Debian starts etcd as a system service on install; yatt starts its own, so leave that alone.

if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  python3 -m venv .venv
fi
PIP=".venv/bin/pip --disable-pip-version-check -q"
$PIP install --upgrade pip >/dev/null
# torch first and pinned: 2.13.0 is the CPU build that lies on this machine's disk; a bare
# `torch` requirement on an empty venv would pull a multi-GB CUDA build.
if ! .venv/bin/python -c 'import torch' >/dev/null 2>&1; then
  echo "== installing torch (CPU)"
  $PIP install "torch==2.13.0"
fi
echo "== installing yatt and its test extras"
$PIP install -e ".[test]"
echo "== installed: $(.venv/bin/python -c 'import torch, grpc, deepspeed, transformers; print("torch", torch.__version__, "grpcio", grpc.__version__, "deepspeed", deepspeed.__version__, "transformers", transformers.__version__)' 2>/dev/null)"
