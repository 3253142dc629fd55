#!/bin/sh
# Regenerates stories260K.golden.json from the PyTorch reference (torch_llama.py, float64 loss)
# and Debian's sentencepiece. Run from this folder: sh gen.sh
set -e
REF=../../../../../shared/tools/reference
MODEL=../../../../../shared/assets/models/stories260K
/usr/bin/python3 - "$REF" "$MODEL" <<'PY'
import json, subprocess, sys
ref, model = sys.argv[1], sys.argv[2]
import sentencepiece as spm
sp = spm.SentencePieceProcessor(model_file=model + "/tokenizer.model")
text = "Once upon a time, there was a little dog named Max. He liked to run in the park with his friend."
prompt = "Lily wanted to play with the ball."
ids = [1] + sp.encode(text)
pids = [1] + sp.encode(prompt)
def run(*args):
    out = subprocess.run(["/usr/bin/python3", ref + "/torch_llama.py", *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])
lg = run("logits", "--model", model, "--ids", ",".join(map(str, ids)), "--f64")
gen = run("generate", "--model", model, "--ids", ",".join(map(str, pids)), "--max-new", "30", "--eos", "2")
g = gen["generated"]
if g and g[-1] == 2:
    g = g[:-1]
json.dump({"generator": "internal/eval/enginemodel/testdata/gen.sh (torch_llama.py --f64, sentencepiece)",
           "text": text, "ids": ids, "mean_loss": lg["loss"],
           "prompt": prompt, "prompt_ids": pids, "generated": g},
          open("stories260K.golden.json", "w"), indent=1)
print("wrote stories260K.golden.json")
PY
