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
fuzz() { go test -run '^$' -fuzz "^$2\$" -fuzztime "$t" "$1" >/tmp/whet-fuzz.log 2>&1; }
for tg in "${targets[@]}"; do
  set -- $tg
  echo "fuzz $1 $2 ($t)"
  fuzz "$1" "$2" && continue
  # Go's fuzzer can end a run at -fuzztime with a bare "context deadline
  # exceeded" and no failing input (the deadline met a worker mid-input): run
  # that target again. A real finding names the input it wrote and fails.
  if ! grep -q "Failing input written to" /tmp/whet-fuzz.log && grep -q "context deadline exceeded" /tmp/whet-fuzz.log; then
    echo "fuzz $1 $2: the run ended with a bare deadline error and no failing input; running it again"
    fuzz "$1" "$2" && continue
  fi
  tail -40 /tmp/whet-fuzz.log
  exit 1
done
