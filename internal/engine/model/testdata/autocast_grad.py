#!/usr/bin/env python3
"""LoRA loss and gradients under torch.autocast("cpu", dtype=torch.bfloat16).

The same computation as torch_llama.py's `lora-grad` (same model code, same
LoRA init from --seed, same ids), with the forward pass inside bf16 autocast
and the backward pass outside it, as PyTorch recommends. Master weights, the
LoRA parameters and their gradients stay float32; autocast runs every
linear/matmul (frozen projections, the LoRA products, q·kᵀ, p·v, the output
head) with bfloat16 operands and float32 accumulation, rounding each product's
output to bfloat16.

It checks the LoRA init equals --adapter (the f32 golden's adapter), so both
goldens start from the same weights, and reports autocast's own error against
the f32 gradients (--f32-grads) as relative L2 norms.

Run with /usr/bin/python3 (Debian python3-torch 1.13); gen.sh calls it.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # must precede `import torch`
import argparse
import json
import sys

import numpy as np
import torch

REF = os.environ.get("REF", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         "../../../../../shared/tools/reference"))
sys.path.insert(0, REF)
from safetensors_np import read, write  # noqa: E402
from torch_llama import Model, lm_loss, parse_ids  # noqa: E402


def rel_l2(got, want):
    return float(np.linalg.norm((got - want).ravel()) / np.linalg.norm(want.ravel()))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--ids", required=True)
    ap.add_argument("--rank", type=int, default=4)
    ap.add_argument("--alpha", type=float, default=None, help="default: 2*rank (as lora-grad)")
    ap.add_argument("--targets", default="q,k,v,o,gate,up,down")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--adapter", required=True, help="the f32 golden's adapter dir: the init must equal it")
    ap.add_argument("--f32-grads", required=True, help="the f32 golden's grads, for the error figures")
    ap.add_argument("--save-grads", required=True)
    a = ap.parse_args()
    alpha = 2.0 * a.rank if a.alpha is None else a.alpha
    torch.set_num_threads(2)

    m = Model(a.model)
    m.requires_grad_(False)
    targets = a.targets.split(",")
    torch.manual_seed(a.seed)
    m.add_lora(targets, a.rank, alpha, "normal")
    named = list(m.lora_named())

    init, _, _ = read(os.path.join(a.adapter, "adapter_model.safetensors"))
    if sorted(init) != sorted(n for n, _ in named):
        sys.exit(f"{a.adapter}: tensor names differ from the LoRA init")
    for n, p in named:
        if not np.array_equal(init[n], p.detach().numpy()):
            sys.exit(f"{a.adapter}: {n} differs from the LoRA init (seed {a.seed})")

    ids = torch.tensor([parse_ids(a.ids)])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = lm_loss(m(ids), ids)
    loss.backward()

    grads = {n: p.grad.float().numpy() for n, p in named}
    write(a.save_grads, grads)
    ref, _, _ = read(a.f32_grads)
    num = sum(float(np.sum((grads[n] - ref[n]) ** 2)) for n in grads)
    den = sum(float(np.sum(ref[n] ** 2)) for n in grads)
    print(json.dumps({
        "loss": float(loss), "rank": a.rank, "alpha": alpha, "scale": alpha / a.rank,
        "targets": targets, "seed": a.seed, "torch": torch.__version__,
        "autocast": "torch.autocast('cpu', dtype=torch.bfloat16), forward only",
        "rel_l2_vs_f32_all": (num / den) ** 0.5,
        "rel_l2_vs_f32": {n: rel_l2(grads[n], ref[n]) for n in grads},
        "grad_norms": {n: float(np.linalg.norm(grads[n].ravel())) for n in grads},
    }))


if __name__ == "__main__":
    main()
