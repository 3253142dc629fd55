#!/usr/bin/env python3
"""PyTorch + PEFT side of the GPU training benchmark, the same config as
`whet bench train --device cuda`: LoRA (r, alpha) on all linear layers of a
Hugging Face Llama loaded in bf16 with SDPA attention, bf16 autocast, AdamW
(lr 1e-4, weight decay 0.01), gradient-norm clipping at 1, whet's synthetic
token pattern tok = (1 + 7t + 13b + 3·step + (t² mod 11)) mod V. The first
step is an untimed warm-up; tokens/s = batch·seq / mean timed step.
Prints one RESULT line."""
import argparse, statistics, time
import torch
from transformers import AutoModelForCausalLM
from peft import LoraConfig, get_peft_model

ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True)
ap.add_argument("--seq", type=int, default=2048)
ap.add_argument("--batch", type=int, default=4)
ap.add_argument("--steps", type=int, default=6)
ap.add_argument("--rank", type=int, default=16)
ap.add_argument("--alpha", type=float, default=32)
ap.add_argument("--checkpointing", action="store_true")
a = ap.parse_args()

torch.manual_seed(0)
dev = torch.device("cuda")
model = AutoModelForCausalLM.from_pretrained(a.model, torch_dtype=torch.bfloat16, attn_implementation="sdpa").to(dev)
if a.checkpointing:
    model.gradient_checkpointing_enable()
    model.enable_input_require_grads()
model = get_peft_model(model, LoraConfig(r=a.rank, lora_alpha=a.alpha, lora_dropout=0.0, target_modules="all-linear",
                                         task_type="CAUSAL_LM"))
trainable = [p for p in model.parameters() if p.requires_grad]
ntrain = sum(p.numel() for p in trainable)
opt = torch.optim.AdamW(trainable, lr=1e-4, weight_decay=0.01)
V = model.config.vocab_size
t = torch.arange(a.seq, device=dev)
bb = torch.arange(a.batch, device=dev)[:, None]
print(f"torch {torch.__version__} peft lora r={a.rank} alpha={a.alpha} trainable_params={ntrain} "
      f"adapter_dtype={trainable[0].dtype} seq={a.seq} batch={a.batch} device={torch.cuda.get_device_name()}", flush=True)
times, losses = [], []
for step in range(a.steps):
    ids = ((1 + 7 * t + 13 * bb + 3 * step + (t * t) % 11) % V).long()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(trainable, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    losses.append(out.loss.item())
    print(f"step {step} loss={losses[-1]:.6f} time={dt:.3f}s{' (warm-up, not timed)' if step == 0 else ''}", flush=True)
    if step > 0:
        times.append(dt)
free, total = torch.cuda.mem_get_info()
sps = statistics.mean(times)
print(f"RESULT torch s_per_step={sps:.4f} tokens_per_s={a.batch * a.seq / sps:.1f} loss_first={losses[0]:.6f} "
      f"loss_last={losses[-1]:.6f} peak_alloc_mib={torch.cuda.max_memory_allocated() / 2**20:.0f} "
      f"peak_reserved_mib={torch.cuda.max_memory_reserved() / 2**20:.0f} gpu_used_mib={(total - free) / 2**20:.0f}", flush=True)
