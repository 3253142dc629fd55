#!/usr/bin/env bash
# Regenerates the PEFT example adapter and the base+adapter goldens with the reference
# tools (development only; /usr/bin/python3 with torch and numpy):
#   internal/export/peft/testdata/gen.sh
# stories260K-lora/: torch_llama.py lora-grad --save-adapter (PEFT layout: tensor names,
# shapes, adapter_config.json keys), rank 4, alpha 64 so the adapter visibly moves logits.
# stories260K-lora.golden.json: PyTorch logits of base + adapter (y = Wx + alpha/r·B(Ax)).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
ref=$root/../shared/tools/reference
base=$root/../shared/assets/models/stories260K
ids=1,403,407,261,378
rm -rf "$here/stories260K-lora"
/usr/bin/python3 "$ref/torch_llama.py" lora-grad --model "$base" --ids $ids --rank 4 --alpha 64 --seed 3 \
  --save-adapter "$here/stories260K-lora" >/dev/null
# a relative base path keeps the committed file machine-independent
/usr/bin/python3 - "$here/stories260K-lora/adapter_config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p)); c["base_model_name_or_path"] = "stories260K"
json.dump(c, open(p, "w"), indent=1)
PY
/usr/bin/python3 - "$ref" "$base" "$here/stories260K-lora" "$ids" "$here/stories260K-lora.golden.json" <<'PY'
import json, sys
ref, base, adir, ids, out = sys.argv[1:6]
sys.path.insert(0, ref)
import torch, torch_llama as tl
from safetensors_np import load_f32
cfg = json.load(open(adir + "/adapter_config.json"))
m = tl.Model(base)
short = {v + "_proj": v for v in tl.ATTN + tl.MLP}
m.add_lora([short[t] for t in cfg["target_modules"]], cfg["r"], cfg["lora_alpha"], "normal")
from safetensors_np import read
w = {k: v.astype("float32") for k, v in read(adir + "/adapter_model.safetensors")[0].items()}
with torch.no_grad():
    for name, p in m.lora_named():
        p.copy_(torch.from_numpy(w[name]))
    ids = [int(x) for x in ids.split(",")]
    seq, gen = list(ids), []
    for _ in range(20):
        nxt = int(m(torch.tensor([seq]))[0, -1].argmax()); seq.append(nxt); gen.append(nxt)
    last = m(torch.tensor([ids]))[0, -1]
    lp = torch.log_softmax(last, -1)
    top = torch.topk(last, 5)
    base_m = tl.Model(base)
    base_last = base_m(torch.tensor([ids]))[0, -1]
json.dump({"ids": ids, "greedy": gen, "logits_last": [float(x) for x in last],
           "top_ids": top.indices.tolist(), "top_logprobs": lp[top.indices].tolist(),
           "max_abs_logit_change_from_base": float((last - base_last).abs().max())}, open(out, "w"))
print("wrote", out)
PY
