#!/usr/bin/env bash
# Side-by-side speed of Whetstone against the reference implementations, on the
# same machine in one run, printed as ratios:
#   train      whet bench train vs PyTorch 1.13 (torch_llama.py train-bench), SmolLM2-135M
#              shape, LoRA r8 on all linear layers, seq 256 x batch 4, f32 and bf16
#   tokenizer  single-thread encode MB/s on a 3 MB English text vs Hugging Face
#              tokenizers (Rust, npm @anush008/tokenizers)
# Python and Node are used here as references only. Usage:
#   scripts/bench-compare.sh [train] [tokenizer]      (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
ref=../shared/tools/reference
what=("$@"); [ ${#what[@]} -gt 0 ] || what=(train tokenizer)
tmp=${BENCH_TMP:-/tmp/whet-bench}; mkdir -p "$tmp"
go build -o "$tmp/whet" ./cmd/whet
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load: $(cut -d' ' -f1-3 /proc/loadavg)"

field() { grep -o "$1=[0-9.e+-]*" | tail -1 | cut -d= -f2; }
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}x')" "$1" "$2"; }

for w in "${what[@]}"; do case $w in
train)
  command -v /usr/bin/python3 >/dev/null && /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null ||
    { apt-get update -qq && apt-get install -y -qq python3-torch python3-numpy >/dev/null; }
  m=$tmp/smollm2-135m-shape
  [ -f "$m/model.safetensors" ] || /usr/bin/python3 $ref/make_model.py --preset smollm2-135m --out "$m" --dtype f32 >/dev/null
  for prec in f32 bf16; do
    flag=""; [ $prec = bf16 ] && flag="--bf16"
    for round in 1 2; do
      t=$(/usr/bin/time -f "maxrss_kb=%M" /usr/bin/python3 $ref/torch_llama.py train-bench --model "$m" --method lora --rank 8 \
          --seq 256 --batch 4 --steps 5 --threads 2 $flag 2>&1)
      g=$(/usr/bin/time -f "maxrss_kb=%M" "$tmp/whet" bench train --model "$m" --method lora --rank 8 --seq 256 --batch 4 \
          --steps 5 $flag --peak=$([ $round = 1 ] && echo true || echo false) 2>&1)
      tt=$(echo "$t" | field tokens_per_s); gt=$(echo "$g" | field tokens_per_s)
      echo "train $prec round $round: pytorch $tt tok/s ($(( $(echo "$t" | field maxrss_kb) / 1024 )) MiB)," \
           "whet $gt tok/s ($(( $(echo "$g" | field maxrss_kb) / 1024 )) MiB): $(ratio "$gt" "$tt")"
      [ $round = 1 ] && echo "$g" | grep -E "share_of_peak|peak" | tail -2 || true
    done
  done ;;
tokenizer)
  if [ ! -d "$tmp/reftok/node_modules/@anush008/tokenizers" ]; then
    mkdir -p "$tmp/reftok" && cp $ref/tok/package.json $ref/tok/encode.mjs "$tmp/reftok/"
    (cd "$tmp/reftok" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
  fi
  WHET_BENCH_TEXT=$tmp/bench.txt go test ./internal/tokenizer -run '^$' -bench 'BenchmarkEncode$/gpt2$' -benchtime 1x >/dev/null
  go_out=$(go test ./internal/tokenizer -run '^$' -bench 'BenchmarkEncode$|BenchmarkEncodeLines$' -benchtime 3x -cpu 1)
  for name in gpt2 smollm2-135m qwen3; do
    hf_out=$(node "$tmp/reftok/encode.mjs" --tokenizer ../shared/assets/tokenizers/$name/tokenizer.json --bench "$tmp/bench.txt" 2>&1)
    for mode in whole lines; do
      if [ $mode = whole ]; then bench=BenchmarkEncode; label=whole-file; else bench=BenchmarkEncodeLines; label=line-by-line; fi
      gw=$(echo "$go_out" | grep "^$bench/$name " | grep -o '[0-9.]* MB/s' | cut -d' ' -f1)
      hf=$(echo "$hf_out" | grep -i "$label" | grep -o '[0-9.]* MB/s' | head -1 | cut -d' ' -f1)
      echo "tokenizer $name, 3 MB text, 1 thread, $label: huggingface ${hf:-?} MB/s, whet $gw MB/s: $( [ -n "$hf" ] && ratio "$gw" "$hf" )"
    done
  done ;;
*) echo "unknown benchmark $w (train, tokenizer)"; exit 2 ;;
esac; done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
