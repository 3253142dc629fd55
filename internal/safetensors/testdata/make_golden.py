#!/usr/bin/env python3
"""Writes stories260K.json: per-tensor dtype, shape, float64 sum and first values,
read with the independent numpy reader in shared/tools/reference/safetensors_np.py,
plus sharded.* fixtures (a BF16/F16 sharded model written by that reader's writer).
Run from this folder: /usr/bin/python3 make_golden.py"""
import json, os, sys
import numpy as np
sys.path.insert(0, "../../../../shared/tools/reference")
from safetensors_np import read, write, f32_to_bf16

tensors, dtypes, meta = read("../../../../shared/assets/models/stories260K/model.safetensors")
out = {}
for name, arr in sorted(tensors.items()):
    a = np.asarray(arr, dtype=np.float64)
    out[name] = {"dtype": dtypes[name], "shape": list(arr.shape), "sum": float(a.sum()),
                 "first": [float(x) for x in a.reshape(-1)[:4]]}
json.dump(out, open("stories260K.json", "w"), indent=1, sort_keys=True)

# A small sharded model: two shards, BF16 and F16 tensors, values chosen to exercise rounding.
rng = np.random.default_rng(7)
x = rng.standard_normal((3, 5)).astype(np.float32)
y = rng.standard_normal((4,)).astype(np.float32)
os.makedirs("sharded", exist_ok=True)
write("sharded/model-00001-of-00002.safetensors", {"a.weight": f32_to_bf16(x)}, dtypes={"a.weight": "BF16"})
write("sharded/model-00002-of-00002.safetensors", {"b.weight": y.astype(np.float16)})
json.dump({"metadata": {}, "weight_map": {"a.weight": "model-00001-of-00002.safetensors",
                                          "b.weight": "model-00002-of-00002.safetensors"}},
          open("sharded/model.safetensors.index.json", "w"), indent=1)
json.dump({"a.weight": [float(v) for v in x.reshape(-1)], "b.weight": [float(v) for v in y]},
          open("sharded/f32.json", "w"))
