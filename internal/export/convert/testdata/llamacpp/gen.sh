#!/usr/bin/env bash
# Regenerates the llama.cpp comparison goldens from the reference tools (PyTorch,
# SentencePiece, Hugging Face tokenizers). Development only:
#   internal/export/convert/testdata/llamacpp/gen.sh
# Needs /usr/bin/python3 with torch, numpy, sentencepiece, and `npm install` in a copy of
# ../shared/tools/reference/tok (TOKREF, default .tmp/tokref at the repo root).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../../.." && pwd)
ref=$root/../shared/tools/reference
tokref=${TOKREF:-$root/.tmp/tokref}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3

# golden MODEL_DIR NAME ENCODE_CMD...: texts -> ids with the reference tokenizer (special
# tokens added as the model's tokenizer does), then PyTorch greedy ids and top-5 log-probs
# for each text used as a prompt.
golden() {
  local dir=$1 name=$2; shift 2
  "$@" "$tmp/ids.jsonl"
  $py - "$dir" "$tmp/ids.jsonl" "$here/$name.json" "$ref/torch_llama.py" "$tmp" <<'PY'
import hashlib, json, subprocess, sys
import numpy as np
d, idsf, out, torch_llama, tmpd = sys.argv[1:6]
rows = [json.loads(l) for l in open(idsf)]
prompts = []
for r in rows[:3]:
    ids = ",".join(map(str, r["ids"]))
    g = json.loads(subprocess.check_output(["/usr/bin/python3", torch_llama, "generate", "--model", d, "--ids", ids, "--max-new", "20"]))
    l = json.loads(subprocess.check_output(["/usr/bin/python3", torch_llama, "logits", "--model", d, "--ids", ids]))
    # logit gap between the best and second-best token at each greedy step: where it is
    # tiny, a quantized model may fairly pick the other token
    full = ",".join(map(str, r["ids"] + g["generated"][:-1]))
    subprocess.check_call(["/usr/bin/python3", torch_llama, "logits", "--model", d, "--ids", full, "--out", tmpd + "/lg.npy"],
                          stdout=subprocess.DEVNULL)
    lg = np.load(tmpd + "/lg.npy")[len(r["ids"]) - 1:]
    top2 = np.sort(lg, axis=-1)[:, -2:]
    prompts.append({"text": r["text"], "ids": r["ids"], "greedy": g["generated"],
                    "greedy_gaps": [round(float(x), 6) for x in top2[:, 1] - top2[:, 0]],
                    "top_ids": l["top5_last"]["ids"], "top_logprobs": l["top5_last"]["logprobs"]})
sha = hashlib.sha256(open(d + "/model.safetensors", "rb").read()).hexdigest()
json.dump({"model_sha256": sha, "texts": [{"text": r["text"], "ids": r["ids"]} for r in rows], "prompts": prompts},
          open(out, "w"), indent=1, ensure_ascii=False)
print("wrote", out)
PY
}

stories=$root/../shared/assets/models/stories260K
golden "$stories" stories260K \
  $py "$ref/tok/spm_encode.py" --model "$stories/tokenizer.model" --in "$here/texts.jsonl" --add-special --out

# Small random models (exporttest.Qwen2Tiny, exporttest.LlamaK256) that the integration test rebuilds in Go.
gomodel() { (cd "$root" && WHET_WRITE_MODEL="$1=$2" go test -tags "integration gen" -count=1 -run TestWriteModel ./internal/export/convert/ >/dev/null); }
gomodel qwen2-tiny "$tmp/qwen2"
golden "$tmp/qwen2" qwen2-tiny \
  node "$tokref/encode.mjs" --tokenizer "$tmp/qwen2/tokenizer.json" --in "$here/texts.jsonl" --add-special --out

gomodel llama-k256 "$tmp/k256"
golden "$tmp/k256" llama-k256 \
  $py "$ref/tok/spm_encode.py" --model "$tmp/k256/tokenizer.model" --in "$here/texts.jsonl" --add-special --out
