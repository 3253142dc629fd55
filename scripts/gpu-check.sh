#!/usr/bin/env bash
# The one device check (issue #12): every GPU test and the side-by-side
# training benchmark, in one go, printing a summary.
#
#   scripts/gpu-check.sh prepare   # where Go is: build whet and the GPU test
#                                  # binaries into .gpu/ (x86-64), with the
#                                  # test models and the benchmark scripts
#   scripts/gpu-check.sh [run]     # on the GPU machine (needs no Go: uses .gpu/;
#                                  # with Go and no .gpu/, prepares first)
#
# Stages continue on failure; the last lines are a summary table. Logs and
# results go to $OUT (default .gpu/out). Environment: BENCH_BATCH (4),
# BENCH_SEQ (2048), BENCH_STEPS (6), BENCH_SHAPE (1b), SKIP_BENCH=1, SKIP_TORCH=1,
# SKIP_CKPT=1, SKIP_STORIES=1, SKIP_ATTN_BF16=1, SKIP_GEN_BENCH=1.
#
# The bf16 tensor-core attention (WHET_CUDA_ATTN=bf16, off by default) gets
# its own stages: attn-bf16 runs its op and training-step tests against the
# CPU engine, bench-whet-attn-bf16 the training benchmark with it, next to
# bench-whet (the default float32 attention); the summary shows both.
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
G=${WHET_GPU_DIR:-$ROOT/.gpu}
mode=${1:-run}

prepare() {
	set -e
	mkdir -p "$G/models"
	(cd "$ROOT" && go build -ldflags="-s -w" -o "$G/whet" ./cmd/whet)
	for p in cuda gpu device; do
		(cd "$ROOT" && go test -c -ldflags="-s -w" -o "$G/$p.test" ./internal/engine/$p)
	done
	(cd "$ROOT" && go test -c -ldflags="-s -w" -o "$G/enginemodel.test" ./internal/eval/enginemodel)
	if [ -d "$ROOT/internal/gpus" ]; then (cd "$ROOT" && go test -c -ldflags="-s -w" -o "$G/gpus.test" ./internal/gpus); fi
	cp -r "$ROOT/../shared/assets/models/stories260K" "$G/models/"
	cp -r "$ROOT/internal/engine/model/testdata/tiny-qwen2" "$G/models/"
	cp "$ROOT"/scripts/gpu/*.py "$ROOT/scripts/gpu-check.sh" "$G/"
	cp "$ROOT/../shared/examples/stories-lora.yaml" "$ROOT/../shared/assets/datasets/llama-factory/alpaca_en_demo.json" "$G/"
	gzip -9f "$G/whet" "$G"/*.test # the device tool carries at most 64 MiB
	du -sh "$G"
	set +e
}

if [ "$mode" = prepare ]; then
	prepare
	exit
fi
if [ ! -e "$G/whet.gz" ] && [ ! -x "$G/whet" ] && command -v go >/dev/null; then prepare; fi
OUT=${OUT:-$G/out}
mkdir -p "$OUT"
BIN=$(mktemp -d)
for f in "$G"/*.gz; do
	[ -e "$f" ] && gunzip -c "$f" >"$BIN/$(basename "$f" .gz)" && chmod +x "$BIN/$(basename "$f" .gz)"
done
for f in whet cuda.test gpu.test device.test gpus.test enginemodel.test; do
	[ -x "$BIN/$f" ] || { [ -x "$G/$f" ] && ln -s "$G/$f" "$BIN/$f"; }
done
SUMMARY=()
stage() { # stage NAME TIMEOUT CMD...: run, log to $OUT/NAME.log, record
	local name=$1 to=$2
	shift 2
	echo "=== $name: $*"
	local t0=$SECONDS
	timeout "$to" "$@" 2>&1 | tee "$OUT/$name.log"
	local rc=$?
	SUMMARY+=("$(printf '%-16s %-4s %4ss' "$name" "$([ $rc = 0 ] && echo ok || echo FAIL:$rc)" $((SECONDS - t0)))")
	return $rc
}

env_info() {
	nvidia-smi
	nvidia-smi --query-gpu=index,name,uuid,memory.total,memory.used,utilization.gpu,temperature.gpu,driver_version,clocks.sm,clocks.max.sm --format=csv
	uname -m
	ldd --version | head -1
	nvcc --version 2>/dev/null | tail -2
	python3 -c 'import torch, transformers, peft; print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__, "peft", peft.__version__)'
	ldconfig -p | grep -E 'libcuda\.so|libcublasLt|libnvidia-ml' || true
	ls -d /usr/local/cuda*/lib64 /usr/local/nvidia/lib64 2>/dev/null
	python3 - <<'PY'
import glob, site
for d in site.getsitepackages():
    print(d, glob.glob(d + "/nvidia/cublas/lib/*"))
PY
}

export -f env_info
stage env 60 bash -c env_info || true
export WHET_REQUIRE_GPU=1 WHET_TEST_MODEL_DIR=$G/models
stage whet-gpus 30 "$BIN/whet" gpus
stage cuda-ops 150 bash -c "cd '$ROOT/internal/engine/cuda' && '$BIN/cuda.test' -test.v -test.timeout 170s"
stage gpu-step 180 bash -c "cd '$ROOT/internal/engine/gpu' && '$BIN/gpu.test' -test.v -test.timeout 170s"
# GPU generation with the KV cache against recomputing the sequence (tok/s).
[ "${SKIP_GEN_BENCH:-0}" = 1 ] || stage bench-generate 150 bash -c "cd '$ROOT/internal/engine/gpu' && '$BIN/gpu.test' -test.run '^$' -test.bench Generate -test.benchtime 3x -test.timeout 140s"
stage device-select 60 bash -c "cd '$ROOT' && '$BIN/device.test' -test.v"
attn_bf16_tests() { # the bf16 attention against the CPU engine: ops, then whole LoRA steps
	local rc=0
	(cd "$ROOT/internal/engine/cuda" && "$BIN/cuda.test" -test.v -test.run 'TestAttentionBF16|TestAttentionMatchesCPU' -test.timeout 100s) || rc=1
	(cd "$ROOT/internal/engine/gpu" && "$BIN/gpu.test" -test.v -test.run 'TestStepBF16AttentionMatchesCPU' -test.timeout 100s) || rc=1
	return $rc
}
export -f attn_bf16_tests
[ "${SKIP_ATTN_BF16:-0}" = 1 ] || stage attn-bf16 150 bash -c attn_bf16_tests
[ -x "$BIN/gpus.test" ] && stage gpus 120 bash -c "cd '$ROOT/internal/gpus' && '$BIN/gpus.test' -test.v"
stage infer 90 bash -c "cd '$ROOT/internal/eval/enginemodel' && '$BIN/enginemodel.test' -test.v -test.run 'TestLoadOnDevice'"
infer_cli() { # generate, score and evaluate --compare with --device cuda against --device cpu
	set -u
	local m=$G/models/stories260K ad=$ROOT/internal/engine/model/testdata/stories260K.adapter d=/tmp/whet-infer rc=0
	rm -rf "$d" && mkdir -p "$d"
	for dev in cpu cuda; do
		"$BIN/whet" generate --device $dev --model "$m" --adapter "$ad" --prompt "Once upon a time" --max-new-tokens 48 >"$d/gen-$dev.txt" 2>"$d/gen-$dev.err" || rc=1
		"$BIN/whet" generate --device $dev --model "$m" --prompt "Once upon a time" --max-new-tokens 32 --temperature 0.8 --top-k 40 --seed 5 >"$d/sample-$dev.txt" 2>>"$d/gen-$dev.err" || rc=1
		grep -h 'device: ' "$d/gen-$dev.err" | head -2
	done
	cmp -s "$d/gen-cpu.txt" "$d/gen-cuda.txt" && echo "generate greedy: GPU text = CPU text" || { echo "generate greedy differs:"; cat "$d/gen-cpu.txt" "$d/gen-cuda.txt"; rc=1; }
	cmp -s "$d/sample-cpu.txt" "$d/sample-cuda.txt" && echo "generate sampled: GPU text = CPU text" || { echo "generate sampled differs:"; cat "$d/sample-cpu.txt" "$d/sample-cuda.txt"; rc=1; }
	head -c 4000 "$d/gen-cpu.txt" >"$d/text.txt"
	for dev in cpu cuda; do "$BIN/whet" score --device $dev --model "$m" --adapter "$ad" --text-file "$d/text.txt" >"$d/score-$dev.json" 2>/dev/null || rc=1; done
	python3 - "$d" <<'PY' || rc=1
import json, sys
d = sys.argv[1]
c, g = (json.load(open(f"{d}/score-{x}.json")) for x in ("cpu", "cuda"))
print("score cpu", c, "cuda", g)
assert c["tokens"] == g["tokens"] and abs(c["mean_loss"] - g["mean_loss"]) <= 1e-5 * abs(c["mean_loss"]), "score differs"
PY
	for i in 1 2 3 4 5 6; do echo '{"prompt":"Once upon a time,","text":"Once upon a time, there was a little girl named Lily. She liked to play."}'; done >"$d/validation.jsonl"
	for dev in cpu cuda; do
		"$BIN/whet" evaluate --device $dev --model "$ad" --base "$m" --data "$d" --out "$d/eval-$dev" --samples 6 --max-new-tokens 24 \
			--metrics loss,perplexity,rouge_l --compare --bootstrap 100 2>&1 | grep -E 'device: |evaluated|rouge_l|loss' | head -8 || rc=1
	done
	python3 - "$d" <<'PY' || rc=1
import json, sys
d = sys.argv[1]
e = {x: json.load(open(f"{d}/eval-{x}/evaluation.json")) for x in ("cpu", "cuda")}
c = {x: json.load(open(f"{d}/eval-{x}/comparison.json")) for x in ("cpu", "cuda")}
print("devices: evaluation", e["cpu"]["device"], e["cuda"]["device"], "comparison base", c["cpu"]["base"]["device"], c["cuda"]["base"]["device"])
assert e["cpu"]["device"] == "cpu" and e["cuda"]["device"].startswith("cuda:") and c["cuda"]["base"]["device"].startswith("cuda:")
for k in e["cpu"]["results"]:
    a, b = e["cpu"]["results"][k], e["cuda"]["results"][k]
    print(f"  {k}: cpu {a:.6f} cuda {b:.6f}")
    assert abs(a - b) <= 1e-4 * max(1, abs(a)), k
assert [s["output"] for s in e["cpu"]["samples"]] == [s["output"] for s in e["cuda"]["samples"]], "outputs differ"
PY
	return $rc
}
export -f infer_cli
export G BIN ROOT
stage infer-cli 120 bash -c infer_cli
stories_lora() { # the shared example with device: cuda on the tune node
	local sh=$ROOT/../shared/assets
	if [ ! -d "$sh/models/stories260K" ]; then
		mkdir -p "$sh/models" "$sh/datasets/llama-factory"
		cp -r "$G/models/stories260K" "$sh/models/"
		cp "$G/alpaca_en_demo.json" "$sh/datasets/llama-factory/"
	fi
	sed -e 's/^      method: lora .*/      method: lora\n      device: cuda/' -e 's/^      metrics: \[loss, perplexity, rouge_l\]$/&\n      device: cuda/' \
		-e 's/^      report_html: true$/&\n      device: cuda/' "$G/stories-lora.yaml" >/tmp/stories-lora-cuda.yaml
	grep -n 'device' /tmp/stories-lora-cuda.yaml
	rm -rf /tmp/stories-lora-out
	(cd "$ROOT" && "$BIN/whet" run /tmp/stories-lora-cuda.yaml --out /tmp/stories-lora-out --quiet) >/tmp/stories-lora.json
	local rc=$?
	python3 - <<'PY'
import json
j = json.load(open("/tmp/stories-lora.json"))
print("job status:", j.get("status"))
for n in j.get("nodes", []):
    print(" ", n.get("id"), n.get("status"), (n.get("error") or "")[:300])
    for a in n.get("outputs") or n.get("artifacts") or []:
        m = a.get("meta") or {}
        keep = {k: m[k] for k in ("device", "steps", "final_loss", "initial_val_loss", "final_val_loss", "train_seconds", "base", "tuned", "winner", "summary") if k in m}
        if keep:
            print("    meta", json.dumps(keep)[:600])
PY
	find /tmp/stories-lora-out -name '*.json' -path '*versus*' | head -3 | xargs -r head -c 1500
	return $rc
}
export -f stories_lora
export G BIN ROOT
[ "${SKIP_STORIES:-0}" = 1 ] || stage stories-lora 180 bash -c stories_lora
if [ "${SKIP_BENCH:-0}" != 1 ]; then
	B=${BENCH_BATCH:-4} S=${BENCH_SEQ:-2048} N=${BENCH_STEPS:-6} SHAPE=${BENCH_SHAPE:-1b}
	M=/tmp/whet-llama-$SHAPE
	[ -f "$M/model.safetensors" ] || stage make-model 150 python3 "$G/make_random_llama.py" --out "$M" --shape "$SHAPE"
	stage bench-whet 200 env WHET_GPU_PROFILE=1 "$BIN/whet" bench train --device cuda --model "$M" --method lora --rank 16 --alpha 32 \
		--seq "$S" --batch "$B" --steps "$N" --bf16
	[ "${SKIP_ATTN_BF16:-0}" = 1 ] || stage bench-whet-attn-bf16 200 env WHET_CUDA_ATTN=bf16 WHET_GPU_PROFILE=1 "$BIN/whet" bench train --device cuda --model "$M" \
		--method lora --rank 16 --alpha 32 --seq "$S" --batch "$B" --steps "$N" --bf16
	[ "${SKIP_CKPT:-0}" = 1 ] || stage bench-whet-ckpt 150 "$BIN/whet" bench train --device cuda --model "$M" --method lora --rank 16 --alpha 32 \
		--seq "$S" --batch "$B" --steps 3 --bf16 --gradient-checkpointing --peak=false
	[ "${SKIP_TORCH:-0}" = 1 ] || stage bench-torch 200 env PYTHONUNBUFFERED=1 python3 "$G/torch_lora_bench.py" --model "$M" --seq "$S" --batch "$B" --steps "$N" --rank 16 --alpha 32
fi
nvidia-smi --query-gpu=memory.used,temperature.gpu --format=csv,noheader || true
echo
echo "=== summary"
printf '%s\n' "${SUMMARY[@]}"
grep -h -E '^(--- FAIL|FAIL|ok|PASS)' "$OUT"/*.log 2>/dev/null | sort | uniq -c | head -20
grep -H -E 'RESULT|tokens_per_s=|share_of_peak|tok/s' "$OUT"/bench-*.log 2>/dev/null | sed "s|^$OUT/||"
grep -H -E '^ *attn_' "$OUT"/bench-whet.log "$OUT"/bench-whet-attn-bf16.log 2>/dev/null | sed "s|^$OUT/||"
