#!/usr/bin/env python3
"""Write a random-initialised Llama in Hugging Face layout (config.json +
model.safetensors, bf16) with the shape of Llama-3.2-1B (default) or
Llama-3.1-8B (--shape 8b), for speed benchmarks. Weights: N(0, 0.02²),
norms 1, drawn on the GPU when there is one (seeded)."""
import argparse, json, os
import torch
from safetensors.torch import save_file

SHAPES = {
    "1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
               num_key_value_heads=8, head_dim=64, vocab_size=128256, tie_word_embeddings=True),
    "8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
               num_key_value_heads=8, head_dim=128, vocab_size=128256, tie_word_embeddings=False),
}

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--shape", choices=list(SHAPES), default="1b")
a = ap.parse_args()
c = dict(SHAPES[a.shape])
cfg = dict(architectures=["LlamaForCausalLM"], model_type="llama", max_position_embeddings=131072, rms_norm_eps=1e-5,
           rope_theta=500000.0, hidden_act="silu", attention_bias=False, mlp_bias=False, bos_token_id=128000,
           eos_token_id=128001, torch_dtype="bfloat16",
           rope_scaling=dict(rope_type="llama3", factor=32.0, low_freq_factor=1.0, high_freq_factor=4.0,
                             original_max_position_embeddings=8192), **c)
os.makedirs(a.out, exist_ok=True)
with open(os.path.join(a.out, "config.json"), "w") as f:
    json.dump(cfg, f, indent=2)
dev = "cuda" if torch.cuda.is_available() else "cpu"
g = torch.Generator(device=dev).manual_seed(0)
D, I, V, hd = c["hidden_size"], c["intermediate_size"], c["vocab_size"], c["head_dim"]
qd, kd = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
def rnd(*shape):
    return (torch.randn(*shape, generator=g, device=dev, dtype=torch.float32) * 0.02).to(torch.bfloat16).cpu()
sd = {"model.embed_tokens.weight": rnd(V, D), "model.norm.weight": torch.ones(D, dtype=torch.bfloat16)}
if not c["tie_word_embeddings"]:
    sd["lm_head.weight"] = rnd(V, D)
for i in range(c["num_hidden_layers"]):
    p = f"model.layers.{i}."
    sd[p + "input_layernorm.weight"] = torch.ones(D, dtype=torch.bfloat16)
    sd[p + "post_attention_layernorm.weight"] = torch.ones(D, dtype=torch.bfloat16)
    for n, shape in (("self_attn.q_proj", (qd, D)), ("self_attn.k_proj", (kd, D)), ("self_attn.v_proj", (kd, D)),
                     ("self_attn.o_proj", (D, qd)), ("mlp.gate_proj", (I, D)), ("mlp.up_proj", (I, D)),
                     ("mlp.down_proj", (D, I))):
        sd[p + n + ".weight"] = rnd(*shape)
save_file(sd, os.path.join(a.out, "model.safetensors"), metadata={"format": "pt"})
print(f"wrote {a.out}: {sum(t.numel() for t in sd.values())} params, shape {a.shape}")
