#!/usr/bin/env python3
"""DPO reference (Rafailov et al. 2023) in plain PyTorch 1.13, on the decoder of
shared/tools/reference/torch_llama.py, for the golden files of dpo_test.go.

Policy = base + LoRA (A, B ~ N(0, std^2), seeded, every projection); reference = the
same model with the adapters off (PEFT disable_adapter). For each pair
(prompt, chosen, rejected), log pi(y|x) = sum over response tokens of
log_softmax(logits[t-1])[ids[t]] (prompt tokens masked), and
  r_c = beta (log pi(y_c) - log ref(y_c)),  r_r likewise,
  loss = mean_pairs -logsigmoid(r_c - r_r).
Writes the adapter (PEFT layout), the LoRA gradients of the mean loss and a JSON
with loss, rewards, accuracy and margin.
Usage: dpo_ref.py --ref DIR --model DIR --pairs pairs.json --out PREFIX
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", required=True, help="shared/tools/reference")
    ap.add_argument("--model", required=True)
    ap.add_argument("--pairs", required=True, help='JSON [{"prompt": [ids], "chosen": [ids], "rejected": [ids]}]')
    ap.add_argument("--beta", type=float, default=0.5)
    ap.add_argument("--rank", type=int, default=4)
    ap.add_argument("--alpha", type=float, default=8)
    ap.add_argument("--std", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    sys.path.insert(0, a.ref)
    from torch_llama import Model, ATTN, MLP  # noqa
    from safetensors_np import write

    m = Model(a.model)
    m.requires_grad_(False)
    targets = list(ATTN + MLP)
    torch.manual_seed(a.seed)
    m.add_lora(targets, a.rank, a.alpha, "normal")
    with torch.no_grad():  # larger than lora-grad's 0.01 so rewards are far from 0
        for _, p in m.lora_named():
            p.mul_(a.std / 0.01)
    lins = [getattr(L, t) for L in m.layers for t in targets]

    def logp(prompt, resp):
        ids = torch.tensor([prompt + resp])
        lp = torch.log_softmax(m(ids)[0, :-1], -1)
        tok = lp.gather(1, ids[0, 1:, None])[:, 0]
        return tok[len(prompt) - 1:].sum()

    def ref_logp(prompt, resp):
        saved = [(l.lora_A, l.lora_B) for l in lins]
        for l in lins:
            l.lora_A = None
        with torch.no_grad():
            v = logp(prompt, resp)
        for l, (A, B) in zip(lins, saved):
            l.lora_A, l.lora_B = A, B
        return v

    pairs = json.load(open(a.pairs))
    losses, rc, rr = [], [], []
    for p in pairs:
        c = a.beta * (logp(p["prompt"], p["chosen"]) - ref_logp(p["prompt"], p["chosen"]))
        r = a.beta * (logp(p["prompt"], p["rejected"]) - ref_logp(p["prompt"], p["rejected"]))
        losses.append(-F.logsigmoid(c - r))
        rc.append(c)
        rr.append(r)
    loss = torch.stack(losses).mean()
    loss.backward()
    named = list(m.lora_named())
    os.makedirs(a.out + ".adapter", exist_ok=True)
    write(os.path.join(a.out + ".adapter", "adapter_model.safetensors"), {n: p.detach().numpy() for n, p in named})
    with open(os.path.join(a.out + ".adapter", "adapter_config.json"), "w") as f:
        json.dump({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": a.rank, "lora_alpha": a.alpha,
                   "lora_dropout": 0.0, "bias": "none", "target_modules": [t + "_proj" for t in targets]}, f, indent=1)
    write(a.out + ".grads.safetensors", {n: p.grad.numpy() for n, p in named})
    rcs, rrs = torch.stack(rc).detach(), torch.stack(rr).detach()
    json.dump({"beta": a.beta, "loss": float(loss), "chosen_rewards": rcs.tolist(), "rejected_rewards": rrs.tolist(),
               "chosen_reward": float(rcs.mean()), "rejected_reward": float(rrs.mean()),
               "reward_accuracy": float((rcs > rrs).float().mean()), "reward_margin": float((rcs - rrs).mean())},
              open(a.out + ".json", "w"), indent=1)


if __name__ == "__main__":
    main()
