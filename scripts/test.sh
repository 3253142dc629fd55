#!/usr/bin/env bash
# Runs every Whetstone test suite: Go (unit, integration against the real
# services, fuzz seeds, benchmarks once), and the web UI (Vitest, Playwright in
# Debian's Chromium). Installs what is missing first, so a fresh machine needs
# nothing but this script.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
log() { printf '\n== %s\n' "$*"; }

log "dependencies"
scripts/install-deps.sh

log "services"
scripts/services.sh

log "go vet, gofmt, go mod tidy"
go vet -tags integration ./...
unformatted=$(gofmt -l $(git ls-files '*.go'))
[ -z "$unformatted" ] || { echo "gofmt needed:"; echo "$unformatted"; exit 1; }
go mod tidy -diff
log "pure-Go build (CGO_ENABLED=0)"
CGO_ENABLED=0 go build -o /dev/null ./cmd/whet

log "go test (unit + integration)"
# The cgo kernels must really load OpenBLAS and oneDNN here (no silent fallback).
WHET_REQUIRE_SERVICES=1 WHET_BLAS_REQUIRE_NATIVE=1 go test -tags integration -count=1 -timeout 25m ./...

log "orchestrator suite again on PostgreSQL (River on riverpgxv5)"
WHET_REQUIRE_SERVICES=1 WHET_TEST_DATABASE=postgres go test -count=1 -timeout 10m ./internal/orchestrate/

log "engine and kernels in pure Go (CGO_ENABLED=0): same results, only slower"
CGO_ENABLED=0 go test -count=1 -timeout 10m ./internal/engine/...

log "GPU code on the CUDA emulator: kernels.cu and the GPU engine on the CPU (docs/gpu.md; checks, not GPU measurements)"
scripts/cuda-emu.sh test >/dev/null
emu=$(scripts/cuda-emu.sh)
# -short: the PTX checks ran above.
WHET_REQUIRE_GPU=1 WHET_LIBCUDA="$emu" WHET_CUBLASLT="$emu" go test -count=1 -short -timeout 15m \
  ./internal/engine/cuda ./internal/engine/gpu ./internal/eval/enginemodel
# The kernel tests again with each block's threads scheduled in reverse order (missing barriers the other way round).
WHET_CUDA_EMU_REVERSE=1 WHET_REQUIRE_GPU=1 WHET_LIBCUDA="$emu" WHET_CUBLASLT="$emu" go test -count=1 -short -timeout 10m \
  -run 'MatchesCPU' ./internal/engine/cuda

log "fuzz targets of the untrusted-input parsers, a few seconds each"
scripts/fuzz.sh

log "benchmarks, once each so none rot"
go test -tags integration -run '^$' -bench . -benchtime 1x -timeout 10m ./... >/tmp/whet-bench-once.log 2>&1 || { tail -50 /tmp/whet-bench-once.log; exit 1; }

log "deployment: Prometheus rules, dashboard, compose, and the container image built and run with podman"
scripts/container-check.sh

if [ -x scripts/web-check.sh ]; then
  log "web UI"
  scripts/web-check.sh
fi
log "all suites passed"
