#!/usr/bin/env bash
# Installs the system packages Whetstone's build and tests use, when missing:
# OpenBLAS and oneDNN (the engine's cgo kernels), Chromium (the UI's browser
# tests), PostgreSQL and Redis servers (backend suites), Node for the UI build, g++ (the CUDA emulator,
# scripts/cuda-emu.sh).
set -euo pipefail
need=()
for p in libopenblas-dev libdnnl-dev chromium postgresql redis-server nodejs npm g++; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
# npm may come from outside Debian on some machines; don't reinstall it over a working one.
if command -v npm >/dev/null 2>&1; then
  need=("${need[@]/npm}"); need=("${need[@]/nodejs}")
fi
pkgs=()
for p in "${need[@]}"; do [ -n "$p" ] && pkgs+=("$p"); done
if [ ${#pkgs[@]} -gt 0 ]; then
  echo "installing: ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

# Node packages for the reference checks the Go tests drive: llama.cpp
# (@fugood/llama.node, prebuilt) loads our exported GGUF files.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -d "$root/tools/llamacpp/node_modules/@fugood/llama.node" ]; then
  echo "installing llama.cpp runner (npm ci in tools/llamacpp)"
  npm ci --prefix "$root/tools/llamacpp" --no-audit --no-fund --loglevel=error
fi
