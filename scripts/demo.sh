#!/usr/bin/env bash
# Runs Whetstone with a demo pipeline: builds `whet`, starts the API, UI and a
# worker, and submits ../shared/examples/stories-lora.yaml (a LoRA fine-tune of
# the bundled stories260K model, evaluated, compared and exported) through the
# REST API. Open the printed URL to watch it. Extra flags go to `whet demo`
# (--addr, --data-dir, --pipeline FILE, --exit).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local

# The engine's fast kernels (OpenBLAS, oneDNN) are loaded at run time when
# present; install them where we can, else the pure-Go kernels run.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  missing=()
  for p in libopenblas0 libdnnl2; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} (fast kernels)"
    (DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) ||
      echo "could not install ${missing[*]}: running on the pure-Go kernels"
  fi
fi

mkdir -p bin
go build -o bin/whet ./cmd/whet
exec bin/whet demo "$@"
