#!/bin/sh
# Regenerates the golden files in this folder with the PyTorch reference
# (/work/shared/tools/reference, Debian python3-torch 1.13). Run from this folder:
#   sh gen.sh
set -eu
REF=${REF:-../../../../../shared/tools/reference}
PY=/usr/bin/python3
STORIES=../../../../../shared/assets/models/stories260K
IDS="1,403,407,261,378,365,372,267,411,271,262,335,275,301,1,17,89,300,44,2,5,9,33,500"
GIDS="1,403,407,261,378,365,372,267,411,271,262,335"

mk() { # name, make_model flags...
  n=$1; shift
  $PY $REF/make_model.py --preset tiny --hidden 32 --heads 4 --kv-heads 2 --inter 64 --vocab 128 --layers 2 --test-init "$@" --out $n >/dev/null
  rm -f $n/tokenizer.json $n/tokenizer_config.json $n/special_tokens_map.json $n/vocab.json $n/merges.txt $n/generation_config.json $n/tokenizer.model
}
mk tiny-llama --tie 0 --seed 1
# llama3 rope scaling, so the scaled-frequency code is checked too
$PY - <<'PY'
import json
p = "tiny-llama/config.json"; c = json.load(open(p))
c["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 16}
c["rope_theta"] = 500000.0
json.dump(c, open(p, "w"), indent=2)
PY
mk tiny-qwen2 --model-type qwen2 --qkv-bias 1 --seed 2
$PY - <<'PY'
import json
p = "tiny-qwen2/config.json"; c = json.load(open(p))
c["rope_scaling"] = {"type": "linear", "factor": 2.0}
json.dump(c, open(p, "w"), indent=2)
PY
mk tiny-bf16 --dtype bf16 --seed 3
TIDS="1,5,77,3,127,0,64,9,12,100,33,2,90,91,92,17,18,40,41,42"

golden() { # model dir, ids, out prefix
  $PY $REF/torch_llama.py logits --model $1 --ids $2 --out /tmp/$3.npy > $3.logits.json
  $PY -c "import sys; sys.path.insert(0, '$REF'); import numpy as np; from safetensors_np import write; write('$3.logits.safetensors', {'logits': np.load('/tmp/$3.npy')})"
  $PY $REF/torch_llama.py lora-grad --model $1 --ids $2 --rank 4 --targets q,k,v,o,gate,up,down --seed 0 \
    --save-adapter $3.adapter --save-grads $3.grads.safetensors > $3.lora.json
}
# The same LoRA loss and gradients under torch's bf16 autocast (same init and
# ids as the f32 goldens above, which autocast_grad.py checks).
autocast() { # model dir, ids, out prefix
  $PY autocast_grad.py --model $1 --ids $2 --rank 4 --targets q,k,v,o,gate,up,down --seed 0 \
    --adapter $3.adapter --f32-grads $3.grads.safetensors --save-grads $3.autocast.grads.safetensors > $3.autocast.json
}
for g in "$STORIES $IDS stories260K" "tiny-llama $TIDS tiny-llama" "tiny-qwen2 $TIDS tiny-qwen2" "tiny-bf16 $TIDS tiny-bf16"; do
  golden $g
  autocast $g
done
$PY $REF/torch_llama.py generate --model $STORIES --ids 1 --max-new 60 > stories260K.generate.json
