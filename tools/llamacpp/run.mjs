#!/usr/bin/env node
// Runs real llama.cpp (npm @fugood/llama.node, CPU) on a GGUF file for
// Whetstone's export tests and benchmarks. Test data only, never used at run time.
//
//   node run.mjs --model f.gguf --request req.json [--out res.json]
//
// req.json: {"tokenize": ["text", ...],
//            "prompts": [{"text": "...", "n_gen": 20, "top": 5, "ignore_eos": true, "speed_only": false}],
//            "kv": "f32", "threads": 2, "n_ctx": 512, "lora": "adapter.gguf", "lora_scale": 1}
// Result: {"tokenize": [[ids without BOS], ...],
//          "prompts": [{"prompt_ids": [...], "generated": ["piece", ...], "text": "...",
//                       "top": [{"piece": "...", "prob": p}, ...], "gen_tokens_per_s": x}]}
// Pieces are llama.node's strings (token text, or "byte: \xNN" for lone high bytes); the Go
// test maps them back to ids with the GGUF vocabulary.
import { loadModel } from '@fugood/llama.node';
import { readFileSync, writeFileSync } from 'node:fs';

const args = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) args[argv[i].replace(/^--/, '')] = argv[i + 1];
if (!args.model || !args.request) {
  console.error('usage: node run.mjs --model f.gguf --request req.json [--out res.json]');
  process.exit(2);
}
const req = JSON.parse(readFileSync(args.request, 'utf8'));
const kv = req.kv || 'f32';
const opts = {
  model: args.model, n_ctx: req.n_ctx || 512, n_threads: req.threads || 2, n_gpu_layers: 0,
  cache_type_k: kv, cache_type_v: kv, flash_attn_type: 'off',
};
if (req.lora) opts.lora_list = [{ path: req.lora, scaled: req.lora_scale ?? 1 }];
const opts0 = opts;
let ctx = await loadModel(opts0);

const out = { tokenize: [], prompts: [] };
for (const text of req.tokenize || []) out.tokenize.push(Array.from((await ctx.tokenize(text)).tokens));

// Sampling off: no penalties or truncation other than what each call sets.
const plain = { top_p: 1, min_p: 0, typical_p: 1, dry_multiplier: 0, xtc_probability: 0,
  penalty_repeat: 1, penalty_freq: 0, penalty_present: 0, seed: 0 };
// llama.node 1.7.15 can still be finishing the previous completion when its
// promise resolves ("Another completion is in progress"), and now and then its
// context stays stuck in that state. Wait briefly, then ask it to stop, then
// continue on a freshly loaded context (the old one is left alone: releasing
// it can crash).
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function complete(opts) {
  for (let i = 0; ; i++) {
    try {
      return await ctx.completion(opts);
    } catch (e) {
      if (!String(e?.message).includes('Another completion is in progress') || i >= 300) throw e;
      if (i === 40) ctx.stopCompletion();
      if (i === 80 || i === 200) { ctx = await loadModel(opts0); seen = 0; }
      await sleep(25);
    }
  }
}
let seen = 0; // llama.node accumulates completion_probabilities across calls on one context
const fresh = (r) => { const p = r.completion_probabilities || []; const n = p.slice(seen); seen = p.length; return n; };
for (const p of req.prompts || []) {
  if (p.speed_only) { // decoding speed: greedy without probability output
    const r = await complete({ ...plain, prompt: p.text, n_predict: p.n_gen ?? 64, temperature: 0, top_k: 1,
      n_probs: 0, ignore_eos: true });
    out.prompts.push({ prompt_ids: [], generated: [], text: r.text, top: [], gen_tokens_per_s: r.timings?.predicted_per_second ?? 0 });
    continue;
  }
  const ids = Array.from((await ctx.tokenize(p.text)).tokens);
  // Greedy: temperature 0 is argmax; top_k 0 keeps the vocabulary order for ties.
  const g = await complete({ ...plain, prompt: p.text, n_predict: p.n_gen ?? 20, temperature: 0, top_k: 0,
    n_probs: 1, ignore_eos: !!p.ignore_eos });
  const gen = fresh(g).map((x) => x.probs[0].tok_str);
  // Next-token distribution: temperature 1 over the whole vocabulary.
  const t = await complete({ ...plain, prompt: p.text, n_predict: 1, temperature: 1, top_k: 0,
    n_probs: p.top ?? 5 });
  const top = (fresh(t).at(-1)?.probs || []).map((x) => ({ piece: x.tok_str, prob: x.prob }));
  out.prompts.push({ prompt_ids: ids, generated: gen, text: g.text, top,
    gen_tokens_per_s: g.timings?.predicted_per_second ?? 0 });
}
const s = JSON.stringify(out);
if (args.out) writeFileSync(args.out, s + '\n');
else console.log('\n' + s);
// Results are written before release: llama.node 1.7.15 sometimes crashes in
// ~llama_context on release; exiting without it is clean.
process.exit(0);
