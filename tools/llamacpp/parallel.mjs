#!/usr/bin/env node
// Aggregate generation speed of real llama.cpp serving N concurrent streams:
// llama.node's parallel decoding (the slot-based continuous batching that
// llama-server runs), CPU, on a GGUF file. Benchmark data only.
//
//   node parallel.mjs --model f.gguf --streams N [--n_gen 64] [--threads 2] [--prompt TEXT]
// Prints {"streams", "tokens", "seconds", "tokens_per_s"}: generated tokens of
// all streams over the wall time from queueing them to the last one ending
// (prompt processing included, as a server's clients see it).
import { loadModel } from '@fugood/llama.node';

const args = { n_gen: '64', threads: '2', prompt: 'Once upon a time, in a small town by the sea,' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) args[argv[i].replace(/^--/, '')] = argv[i + 1];
if (!args.model || !args.streams) {
  console.error('usage: node parallel.mjs --model f.gguf --streams N [--n_gen 64] [--threads 2]');
  process.exit(2);
}
const streams = Number(args.streams), nGen = Number(args.n_gen);
const ctx = await loadModel({ model: args.model, n_ctx: 256 * Math.max(streams, 1), n_threads: Number(args.threads),
  n_gpu_layers: 0, n_parallel: streams, flash_attn_type: 'off' });
if (!(await ctx.parallel.enable({ n_parallel: streams, n_batch: 512 }))) throw new Error('parallel mode not available');
const opts = { prompt: args.prompt, n_predict: nGen, temperature: 0, ignore_eos: true, top_k: 1, seed: 0 };
// Warm-up, not timed.
await (await ctx.parallel.completion({ ...opts, n_predict: 4 })).promise;
const t0 = performance.now();
const reqs = [];
for (let i = 0; i < streams; i++) reqs.push(await ctx.parallel.completion(opts));
const results = await Promise.all(reqs.map((r) => r.promise));
const seconds = (performance.now() - t0) / 1000;
const tokens = results.reduce((s, r) => s + (r.tokens_predicted ?? nGen), 0);
console.log(JSON.stringify({ streams, tokens, seconds, tokens_per_s: tokens / seconds }));
process.exit(0);
