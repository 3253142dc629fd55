#!/usr/bin/env bash
# Runs the fuzz targets of the parsers that read untrusted input (pipeline
# specs, every data reader, model config.json loaders, safetensors, GGUF) for
# a bounded time each. FUZZTIME (default 4s) per target; seeds also run in
# the ordinary `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${FUZZTIME:-4s}
targets=(
  "./internal/pipeline FuzzParse"
  "./internal/data/reader FuzzJSONL"
  "./internal/data/reader FuzzJSON"
  "./internal/data/reader FuzzCSV"
  "./internal/data/reader FuzzTSV"
  "./internal/data/reader FuzzText"
  "./internal/data/reader FuzzColumnarJSON"
  "./internal/data/reader FuzzParquet"
  "./internal/engine/model FuzzReadConfig"
  "./internal/export/convert FuzzLoadConfig"
  "./internal/safetensors FuzzParse"
)
for tg in "${targets[@]}"; do
  set -- $tg
  echo "fuzz $1 $2 ($t)"
  go test -run '^$' -fuzz "^$2\$" -fuzztime "$t" "$1" >/tmp/whet-fuzz.log 2>&1 || { tail -40 /tmp/whet-fuzz.log; exit 1; }
done
