#!/usr/bin/env bash
# Builds the Whetstone CUDA emulator (internal/engine/cuda/emu): a shared
# library with the CUDA driver API and cuBLASLt entry points whet loads,
# running the real kernels.cu on the CPU. Prints the library's path; point
# WHET_LIBCUDA and WHET_CUBLASLT at it (docs/gpu.md, "The CUDA emulator").
#
#   scripts/cuda-emu.sh          build (only when a source changed), print the path
#   scripts/cuda-emu.sh test     also build and run the emulator's self-test
#   scripts/cuda-emu.sh gotest   build, then run the GPU tests on it
#
# WHET_CUDA_EMU_DIR: where to build (default ${XDG_CACHE_HOME:-~/.cache}/whet-cuda-emu).
set -euo pipefail
cd "$(dirname "$0")/.."
src=internal/engine/cuda/emu
CXX=${CXX:-g++}
command -v "$CXX" >/dev/null || { echo "cuda-emu: $CXX not found (scripts/install-deps.sh installs g++)" >&2; exit 1; }
out=${WHET_CUDA_EMU_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/whet-cuda-emu}
mkdir -p "$out"
ksum=$(sha256sum internal/engine/cuda/kernels.cu | cut -d' ' -f1)
flags=(-std=c++17 -O2 -g -fPIC -fvisibility=hidden -fno-strict-aliasing -fno-extern-tls-init -ffp-contract=off -Wall -Wno-unknown-pragmas -Wno-sign-compare -I"$src/include")
# The key: every source, the flags and the compiler.
key=$( { cat "$src"/*.cpp "$src"/*.hpp "$src"/include/*.h internal/engine/cuda/kernels.cu; echo "${flags[*]}"; "$CXX" --version | head -1; } | sha256sum | cut -c1-16)
lib="$out/libwhetcudaemu-$key.so"
if [ ! -f "$lib" ]; then
  tmp=$(mktemp -d "$out/build.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  pids=()
  for f in sched driver kernels; do
    "$CXX" "${flags[@]}" -DEMU_KERNELS_SHA256="\"$ksum\"" -c "$src/$f.cpp" -o "$tmp/$f.o" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  "$CXX" -shared -o "$tmp/lib.so" "$tmp"/sched.o "$tmp"/driver.o "$tmp"/kernels.o -lm
  mv "$tmp/lib.so" "$lib"
fi
case "${1:-}" in
  test)
    st="$out/selftest-$key"
    [ -f "$st" ] || "$CXX" "${flags[@]}" -o "$st" "$src/selftest.cpp" "$src/sched.cpp" -lm
    "$st" >&2
    ;;
  gotest)
    WHET_REQUIRE_GPU=1 WHET_LIBCUDA="$lib" WHET_CUBLASLT="$lib" go test -count=1 -timeout 20m ./internal/engine/cuda ./internal/engine/gpu ./internal/eval/enginemodel >&2
    ;;
esac
echo "$lib"
