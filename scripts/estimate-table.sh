#!/usr/bin/env bash
# Prints the Markdown table of GPU memory estimates in docs/gpu.md
# (#memory-estimate): `whet estimate --json` for the Llama-3.2-1B, 3B and
# Llama-3.1-8B shapes (config.json only, internal/engine/gpu/testdata/shapes)
# × lora / qlora / full × gradient checkpointing off / on, bf16, LoRA r16 on
# every projection, seq 2048 × batch 1. Estimates, not measurements.
# Usage: scripts/estimate-table.sh [WHET] (default: go run ./cmd/whet)
set -euo pipefail
cd "$(dirname "$0")/.."
WHET=${1:-}
if [ -z "$WHET" ]; then
	WHET=$(mktemp -d)/whet
	go build -o "$WHET" ./cmd/whet
fi
S=internal/engine/gpu/testdata/shapes
echo "| shape | method | checkpointing | trainable params | weights | trainable state | activations | scratch | runtime | total GiB |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for m in llama-3.2-1b llama-3.2-3b llama-3.1-8b; do
	for me in lora qlora full; do
		for c in false true; do
			"$WHET" estimate --model "$S/$m.json" --method "$me" --rank 16 --bf16 --seq 2048 --batch 1 --gradient-checkpointing=$c --json
		done
	done
done | jq -r '[(.model | split("/") | last | rtrimstr(".json")), .method, (if .gradient_checkpointing then "on" else "off" end), .trainable_params,
	(.gpu | .weights_bytes, .trainable_bytes, .activations_bytes, .scratch_bytes, .runtime_bytes, .total_bytes)] | @tsv' |
	awk -F'\t' '{ g = 1073741824; printf "| %s | %s | %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f | **%.2f** |\n", $1, $2, $3, $4, $5/g, $6/g, $7/g, $8/g, $9/g, $10/g }'
