// Drives a real `whet serve` through its /v1 API with the official openai
// npm client, unmodified (only baseURL changed), as a new user would:
// upload a chat JSONL, fine-tune stories260K (with a chat template added),
// follow the events to succeeded, list checkpoints, chat with the fine-tuned
// model plain and streamed, run a DPO job the same way, pause/resume and
// cancel jobs, and check that error cases come back in OpenAI's shape and
// status codes.
//
// Usage: WHET_BIN=/path/to/whet REPO_ROOT=/path/to/repo node check.mjs
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import OpenAI from "openai";

const root = process.env.REPO_ROOT ?? path.resolve(import.meta.dirname, "../..");
const whet = process.env.WHET_BIN ?? path.join(root, "whet");
const stories = path.resolve(root, "../shared/assets/models/stories260K");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "whet-openai-"));
let passed = 0;
const step = async (name, fn) => {
  const t0 = Date.now();
  await fn();
  passed++;
  console.log(`ok - ${name} (${Date.now() - t0} ms)`);
};

// A base-models folder: stories260K with a small chat template (EOS ends
// the assistant's turn), so chat rows train and chat requests render.
const base = path.join(tmp, "models", "stories-chat");
fs.mkdirSync(base, { recursive: true });
for (const f of ["config.json", "model.safetensors", "tokenizer.model"]) fs.symlinkSync(path.join(stories, f), path.join(base, f));
const tc = JSON.parse(fs.readFileSync(path.join(stories, "tokenizer_config.json"), "utf8"));
tc.chat_template =
  "{% for m in messages %}{% if m['role'] == 'assistant' %}Answer: {{ m['content'] }}{{ eos_token }}\n{% else %}{{ m['content'] }}\n{% endif %}{% endfor %}{% if add_generation_prompt %}Answer:{% endif %}";
fs.writeFileSync(path.join(base, "tokenizer_config.json"), JSON.stringify(tc));

const names = ["Tom", "Mia", "Ben", "Sue", "Max", "Zoe"];
const animals = ["cat", "dog", "frog", "bird", "fish"];
const ask = (n, a) => `Tell me about ${n} and the ${a}.`;
const answer = (n, a) => `${n} saw a ${a}. The ${a} was happy.`;
const lines = (rows) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
const chatRows = [];
const dpoRows = [];
for (let i = 0; i < 60; i++) {
  const n = names[i % 6], a = animals[i % 5];
  chatRows.push({ messages: [{ role: "user", content: ask(n, a) }, { role: "assistant", content: answer(n, a) }] });
  dpoRows.push({
    input: { messages: [{ role: "user", content: ask(n, a) }] },
    preferred_output: [{ role: "assistant", content: answer(n, a) }],
    non_preferred_output: [{ role: "assistant", content: "I do not know." }],
  });
}
fs.writeFileSync(path.join(tmp, "chat.jsonl"), lines(chatRows));
fs.writeFileSync(path.join(tmp, "dpo.jsonl"), lines(dpoRows));
fs.writeFileSync(
  path.join(tmp, "bad.jsonl"),
  lines([chatRows[0]]) + "this is not json\n" + lines([{ messages: [{ role: "bot", content: "hi" }] }]),
);

// A real server.
const port = 18000 + Math.floor(Math.random() * 2000);
const srv = spawn(whet, ["serve", "--data-dir", path.join(tmp, "data"), "--addr", `127.0.0.1:${port}`,
  "--base-models", path.join(tmp, "models"), "--log-level", "warn"], { stdio: ["ignore", "inherit", "inherit"] });
const stop = () => { try { srv.kill("SIGTERM"); } catch {} };
process.on("exit", stop);
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) break;
  } catch {}
  if (i > 100) throw new Error("whet serve did not start");
  await new Promise((r) => setTimeout(r, 100));
}

const client = new OpenAI({ apiKey: "sk-whetstone-test", baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });

// expectError runs fn and checks the OpenAI error it raises.
async function expectError(fn, cls, status, want) {
  let err;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err, "expected an error");
  assert.ok(err instanceof cls, `expected ${cls.name}, got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.status, status);
  assert.deepEqual(Object.keys(err.error).sort(), ["code", "message", "param", "type"]);
  for (const [k, v] of Object.entries(want)) {
    if (v instanceof RegExp) assert.match(err.error[k], v, k);
    else assert.equal(err.error[k], v, k);
  }
  return err;
}

const terminal = new Set(["succeeded", "failed", "cancelled"]);
async function follow(id, { timeoutMs = 240_000 } = {}) {
  const t0 = Date.now();
  const statuses = new Set();
  for (;;) {
    const job = await client.fineTuning.jobs.retrieve(id);
    statuses.add(job.status);
    if (terminal.has(job.status)) return { job, statuses };
    if (Date.now() - t0 > timeoutMs) throw new Error(`job ${id} still ${job.status}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

async function allEvents(id) {
  const out = [];
  for await (const e of client.fineTuning.jobs.listEvents(id, { limit: 7 })) out.push(e); // pages through `after`
  return out;
}

try {
  let trainFile, job, ftModel;
  await step("files: upload, list, retrieve, content", async () => {
    trainFile = await client.files.create({ file: fs.createReadStream(path.join(tmp, "chat.jsonl")), purpose: "fine-tune" });
    assert.equal(trainFile.object, "file");
    assert.equal(trainFile.purpose, "fine-tune");
    assert.equal(trainFile.filename, "chat.jsonl");
    assert.equal(trainFile.bytes, fs.statSync(path.join(tmp, "chat.jsonl")).size);
    const list = [];
    for await (const f of client.files.list()) list.push(f.id);
    assert.ok(list.includes(trainFile.id));
    assert.equal((await client.files.retrieve(trainFile.id)).id, trainFile.id);
    const body = await (await client.files.content(trainFile.id)).text();
    assert.equal(body, fs.readFileSync(path.join(tmp, "chat.jsonl"), "utf8"));
  });

  await step("files: bad rows are rejected with line numbers (400)", async () => {
    await expectError(
      () => client.files.create({ file: fs.createReadStream(path.join(tmp, "bad.jsonl")), purpose: "fine-tune" }),
      OpenAI.BadRequestError, 400,
      { type: "invalid_request_error", param: "file", code: "invalid_file_format", message: /line 2: not a JSON object.*line 3: messages\[0\]: unrecognized role "bot"/ },
    );
  });

  await step("jobs: unknown model and file are OpenAI errors", async () => {
    await expectError(() => client.fineTuning.jobs.create({ model: "gpt-nope", training_file: trainFile.id }),
      OpenAI.BadRequestError, 400, { param: "model", code: "model_not_available", type: "invalid_request_error" });
    await expectError(() => client.fineTuning.jobs.create({ model: "stories-chat", training_file: "file-000000000000deadbeef" }),
      OpenAI.BadRequestError, 400, { param: "training_file", code: "invalid_training_file" });
    await expectError(() => client.fineTuning.jobs.retrieve("ftjob-000000000000deadbeef"), OpenAI.NotFoundError, 404,
      { type: "invalid_request_error" });
  });

  await step("jobs: supervised fine-tune of stories260K follows its events to succeeded", async () => {
    job = await client.fineTuning.jobs.create({
      model: "stories-chat", training_file: trainFile.id, suffix: "tiny", seed: 7, metadata: { purpose: "check" },
      method: { type: "supervised", supervised: { hyperparameters: { n_epochs: 4, batch_size: "auto", learning_rate_multiplier: 5 } } },
    });
    assert.equal(job.object, "fine_tuning.job");
    assert.ok(["validating_files", "queued", "running"].includes(job.status), job.status);
    assert.equal(job.method.type, "supervised");
    assert.equal(job.method.supervised.hyperparameters.n_epochs, 4);
    assert.equal(typeof job.method.supervised.hyperparameters.batch_size, "number"); // "auto" resolved and recorded
    assert.equal(job.hyperparameters.learning_rate_multiplier, 5);
    assert.equal(job.seed, 7);
    assert.deepEqual(job.metadata, { purpose: "check" });
    const listed = await client.fineTuning.jobs.list({ limit: 10 });
    assert.ok(listed.data.some((j) => j.id === job.id));
    const { job: done, statuses } = await follow(job.id);
    assert.equal(done.status, "succeeded", JSON.stringify(done.error));
    console.log(`   statuses seen: ${[...statuses].join(" → ")}`);
    ftModel = done.fine_tuned_model;
    assert.match(ftModel, /^ft:stories-chat:default:tiny:[0-9a-f]+$/);
    assert.ok(done.trained_tokens > 0);
    assert.ok(done.finished_at >= done.created_at);
    assert.equal(done.result_files.length, 1);
    const csv = await (await client.files.content(done.result_files[0])).text();
    assert.match(csv, /^step,train_loss,valid_loss,learning_rate\n1,/);
    const events = await allEvents(job.id);
    const metrics = events.filter((e) => e.type === "metrics");
    assert.ok(metrics.length >= 10, `${metrics.length} metrics events`);
    assert.ok(events.some((e) => e.type === "message" && /successfully completed/.test(e.message)));
    const byStep = metrics.map((e) => e.data).sort((a, b) => a.step - b.step);
    const first = byStep.slice(0, 5).reduce((s, d) => s + d.train_loss, 0) / 5;
    const last = byStep.slice(-5).reduce((s, d) => s + d.train_loss, 0) / 5;
    console.log(`   train loss: first 5 steps ${first.toFixed(3)}, last 5 ${last.toFixed(3)}`);
    assert.ok(last < first, "training loss fell");
    // The pipeline behind the job is an ordinary Whetstone run.
    const pj = await (await fetch(`http://127.0.0.1:${port}/api/v1/jobs/${done.pipeline_jobs[0]}`)).json();
    assert.deepEqual(pj.nodes.map((n) => n.agent), ["dataset", "validate", "preprocess", "train", "evaluate", "export"]);
  });

  await step("jobs: checkpoints", async () => {
    const cps = await client.fineTuning.jobs.checkpoints.list(job.id);
    assert.ok(cps.data.length >= 1);
    const cp = cps.data[0];
    assert.equal(cp.object, "fine_tuning.job.checkpoint");
    assert.equal(cp.fine_tuning_job_id, job.id);
    assert.ok(cp.step_number > 0);
    assert.equal(typeof cp.metrics.train_loss, "number");
    assert.ok(cp.fine_tuned_model_checkpoint.startsWith(ftModel));
  });

  let greedy;
  await step("inference: models list and a chat with the fine-tuned model", async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.ok(ids.includes("stories-chat") && ids.includes(ftModel), ids.join(","));
    const messages = [{ role: "user", content: ask("Ben", "frog") }];
    const r = await client.chat.completions.create({ model: ftModel, messages, temperature: 0, max_tokens: 40, logprobs: true, top_logprobs: 2 });
    assert.equal(r.object, "chat.completion");
    greedy = r.choices[0].message.content;
    console.log(`   fine-tuned: ${JSON.stringify(greedy)} (${r.choices[0].finish_reason})`);
    assert.ok(greedy.includes("Ben saw a frog"), greedy);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
    const lp = r.choices[0].logprobs.content;
    assert.equal(lp.length, r.usage.completion_tokens);
    assert.ok(lp.every((t) => t.logprob <= 0 && t.top_logprobs.length === 2 && t.top_logprobs[0].logprob >= t.top_logprobs[1].logprob));
    const b = await client.chat.completions.create({ model: "stories-chat", messages, temperature: 0, max_tokens: 40 });
    console.log(`   base:       ${JSON.stringify(b.choices[0].message.content)}`);
    assert.notEqual(b.choices[0].message.content, greedy);
  });

  await step("inference: streamed chat gives the same greedy answer", async () => {
    const stream = await client.chat.completions.create({
      model: ftModel, messages: [{ role: "user", content: ask("Ben", "frog") }], temperature: 0, max_tokens: 40, stream: true,
      stream_options: { include_usage: true },
    });
    let text = "", chunks = 0, finish = null, usage = null;
    for await (const c of stream) {
      if (c.usage) usage = c.usage;
      for (const ch of c.choices) {
        text += ch.delta?.content ?? "";
        if (ch.finish_reason) finish = ch.finish_reason;
      }
      chunks++;
    }
    assert.equal(text, greedy);
    assert.ok(chunks > 3, `${chunks} chunks`);
    assert.ok(finish === "stop" || finish === "length");
    assert.ok(usage && usage.completion_tokens > 0);
  });

  await step("inference: completions, n, seed, stop", async () => {
    const r = await client.completions.create({ model: "stories-chat", prompt: "Once upon a time", max_tokens: 30, temperature: 0, stop: ["."] });
    assert.equal(r.object, "text_completion");
    assert.ok(!r.choices[0].text.includes("."), r.choices[0].text);
    assert.equal(r.choices[0].finish_reason, "stop");
    const a = await client.chat.completions.create({ model: ftModel, messages: [{ role: "user", content: "Hi" }], n: 3, seed: 11, temperature: 1, max_tokens: 12 });
    const b2 = await client.chat.completions.create({ model: ftModel, messages: [{ role: "user", content: "Hi" }], n: 3, seed: 11, temperature: 1, max_tokens: 12 });
    assert.equal(a.choices.length, 3);
    assert.deepEqual(a.choices.map((c) => c.message.content), b2.choices.map((c) => c.message.content)); // seeded
  });

  await step("inference: unknown model is a 404 in OpenAI's shape", async () => {
    await expectError(() => client.chat.completions.create({ model: "ft:nope:x::y", messages: [{ role: "user", content: "hi" }] }),
      OpenAI.NotFoundError, 404, { code: "model_not_found", type: "invalid_request_error", param: "model" });
    await expectError(() => client.chat.completions.create({ model: ftModel, messages: [{ role: "user", content: "hi" }], temperature: 7 }),
      OpenAI.BadRequestError, 400, { param: "temperature" });
  });

  await step("jobs: pause, resume and cancel", async () => {
    const j = await client.fineTuning.jobs.create({ model: "stories-chat", training_file: trainFile.id,
      method: { type: "supervised", supervised: { hyperparameters: { n_epochs: 40 } } } });
    const p = await client.fineTuning.jobs.pause(j.id);
    assert.equal(p.status, "paused");
    await expectError(() => client.fineTuning.jobs.pause(j.id), OpenAI.BadRequestError, 400, { code: "invalid_state" });
    const r = await client.fineTuning.jobs.resume(j.id);
    assert.ok(["validating_files", "queued", "running"].includes(r.status), r.status);
    assert.equal(r.pipeline_jobs.length, 2);
    const c = await client.fineTuning.jobs.cancel(j.id);
    assert.ok(["cancelled"].includes(c.status), c.status);
    const { job: after } = await follow(j.id);
    assert.equal(after.status, "cancelled");
    assert.equal(after.fine_tuned_model, null);
    await expectError(() => client.fineTuning.jobs.cancel(j.id), OpenAI.BadRequestError, 400, { code: "invalid_state" });
  });

  await step("jobs: DPO on preference rows, beta auto resolved, to succeeded, then chat", async () => {
    const f = await client.files.create({ file: fs.createReadStream(path.join(tmp, "dpo.jsonl")), purpose: "fine-tune" });
    await expectError(() => client.fineTuning.jobs.create({ model: "stories-chat", training_file: f.id }),
      OpenAI.BadRequestError, 400, { param: "training_file", code: "invalid_training_file" }); // dpo rows, supervised method
    const j = await client.fineTuning.jobs.create({ model: "stories-chat", training_file: f.id, suffix: "pref",
      method: { type: "dpo", dpo: { hyperparameters: { beta: "auto", n_epochs: 2, learning_rate_multiplier: 2 } } } });
    assert.equal(j.method.type, "dpo");
    assert.equal(j.method.dpo.hyperparameters.beta, 0.1);
    const { job: done } = await follow(j.id);
    assert.equal(done.status, "succeeded", JSON.stringify(done.error));
    assert.match(done.fine_tuned_model, /^ft:stories-chat:default:pref:/);
    const metrics = (await allEvents(j.id)).filter((e) => e.type === "metrics").map((e) => e.data).sort((a, b) => a.step - b.step);
    assert.ok(metrics.length > 0 && metrics.every((d) => typeof d.reward_accuracy === "number" && typeof d.reward_margin === "number"));
    const tail = metrics.slice(-5);
    const acc = tail.reduce((s, d) => s + d.reward_accuracy, 0) / tail.length;
    console.log(`   DPO: reward accuracy of the last ${tail.length} steps ${acc.toFixed(2)}, loss ${metrics[0].train_loss.toFixed(3)} → ${metrics.at(-1).train_loss.toFixed(3)}`);
    assert.ok(acc > 0.5);
    const cps = await client.fineTuning.jobs.checkpoints.list(j.id);
    assert.ok(cps.data.length >= 1 && typeof cps.data[0].metrics.reward_accuracy === "number");
    const r = await client.chat.completions.create({ model: done.fine_tuned_model, messages: [{ role: "user", content: ask("Sue", "cat") }], max_tokens: 20, temperature: 0 });
    assert.ok(r.choices[0].message.content.length > 0);
    console.log(`   DPO model: ${JSON.stringify(r.choices[0].message.content)}`);
  });

  await step("files: delete", async () => {
    const d = await client.files.delete(trainFile.id);
    assert.equal(d.deleted, true);
    await expectError(() => client.files.retrieve(trainFile.id), OpenAI.NotFoundError, 404, { code: "file_not_found" });
  });
  console.log(`openai client check: ${passed} steps passed`);
} finally {
  stop();
  fs.rmSync(tmp, { recursive: true, force: true });
}
