// Playground end-to-end: a real `whet serve` (WHET_BIN) with --base-models
// holding stories260K (with a chat template), a model fine-tuned through /v1,
// and Debian's chromium driven by playwright-core. Opens the playground from
// the finished run's page, sends one message to the base and the fine-tuned
// model, and checks both answers arrive streamed (text/event-stream) and side
// by side; saves the prompt with the preferred answer as an eval sample; and
// checks the Models page links to the playground. Screenshot:
// $WEB_SCREENSHOTS/playground.png, playground-picker.png (a search in the
// fine-tuned model picker).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { axeCheck } from './axe.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = process.env.REPO_ROOT ?? path.resolve(here, '../..');
const shots = path.resolve(process.env.WEB_SCREENSHOTS ?? path.join(here, 'screenshots'));
fs.mkdirSync(shots, { recursive: true });
const stories = path.resolve(repo, '../shared/assets/models/stories260K');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'whet-pg-'));
const assert = (c, m) => {
  if (!c) throw new Error(`assertion failed: ${m}`);
};

// Base models: stories260K with a chat template.
const mdir = path.join(tmp, 'models', 'stories-chat');
fs.mkdirSync(mdir, { recursive: true });
for (const f of ['config.json', 'model.safetensors', 'tokenizer.model']) fs.symlinkSync(path.join(stories, f), path.join(mdir, f));
const tc = JSON.parse(fs.readFileSync(path.join(stories, 'tokenizer_config.json'), 'utf8'));
tc.chat_template =
  "{% for m in messages %}{% if m['role'] == 'assistant' %}Answer: {{ m['content'] }}{{ eos_token }}\n{% else %}{{ m['content'] }}\n{% endif %}{% endfor %}{% if add_generation_prompt %}Answer:{% endif %}";
fs.writeFileSync(path.join(mdir, 'tokenizer_config.json'), JSON.stringify(tc));

const port = await new Promise((res) => {
  const s = net.createServer();
  s.listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => res(p));
  });
});
const base = `http://127.0.0.1:${port}`;
const logPath = path.join(tmp, 'serve.log');
const proc = spawn(process.env.WHET_BIN, ['serve', '--addr', `127.0.0.1:${port}`, '--data-dir', path.join(tmp, 'data'), '--base-models', path.join(tmp, 'models')], {
  cwd: repo,
  stdio: ['ignore', fs.openSync(logPath, 'w'), fs.openSync(logPath, 'a')],
});
let browser, page;
try {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/health`)).ok) break;
    } catch {}
    if (i > 150) throw new Error('whet serve did not start:\n' + fs.readFileSync(logPath, 'utf8'));
    await new Promise((r) => setTimeout(r, 200));
  }
  // A fine-tuned model through /v1.
  const rows = [];
  for (let i = 0; i < 30; i++) {
    const n = ['Tom', 'Mia', 'Ben'][i % 3];
    rows.push(JSON.stringify({ messages: [{ role: 'user', content: `Who is ${n}?` }, { role: 'assistant', content: `${n} is a kid who likes cake.` }] }));
  }
  const fd = new FormData();
  fd.append('purpose', 'fine-tune');
  fd.append('file', new Blob([rows.join('\n') + '\n']), 'train.jsonl');
  const file = await (await fetch(`${base}/v1/files`, { method: 'POST', body: fd })).json();
  let job = await (
    await fetch(`${base}/v1/fine_tuning/jobs`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'stories-chat', training_file: file.id, suffix: 'kids', method: { type: 'supervised', supervised: { hyperparameters: { n_epochs: 3, learning_rate_multiplier: 5 } } } }),
    })
  ).json();
  for (let i = 0; job.status !== 'succeeded'; i++) {
    assert(!['failed', 'cancelled'].includes(job.status) && i < 600, `fine-tuning job: ${JSON.stringify(job)}`);
    await new Promise((r) => setTimeout(r, 200));
    job = await (await fetch(`${base}/v1/fine_tuning/jobs/${job.id}`)).json();
  }
  const ft = job.fine_tuned_model;
  console.log(`fine-tuned ${ft}`);

  browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  page = await (await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' })).newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const streams = [];
  page.on('response', (r) => {
    if (r.url().endsWith('/v1/chat/completions')) streams.push(`${r.status()} ${r.headers()['content-type']}`);
  });

  // From the finished run's page.
  await page.goto(`${base}/runs/${job.pipeline_jobs[0]}`);
  await page.getByRole('link', { name: 'Open in playground' }).click();
  await page.waitForURL(/\/playground\?run=/);
  await page.getByRole('region', { name: `Answers of ${ft}` }).waitFor();
  await page.getByRole('region', { name: 'Answers of stories-chat' }).waitFor();
  await page.getByLabel('Temperature').fill('0');
  await page.getByLabel('Max tokens').fill('24');
  await page.getByLabel('Message').fill('Who is Mia?');
  await page.getByRole('button', { name: /Send to 2 models/ }).click();
  const answer = (m) => page.getByRole('region', { name: `Answers of ${m}` }).getByTestId('answer');
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=answer]')].every((a) => a.getAttribute('aria-busy') === 'false'), null, { timeout: 30_000 });
  const tunedText = await answer(ft).innerText();
  const baseText = await answer('stories-chat').innerText();
  console.log(`base: ${JSON.stringify(baseText)}\ntuned: ${JSON.stringify(tunedText)}`);
  assert(tunedText.includes('Mia is a kid'), `fine-tuned answer ${tunedText}`);
  assert(baseText.trim().length > 0 && baseText !== tunedText, `base answer ${baseText}`);
  assert(streams.length === 2 && streams.every((s) => s.startsWith('200 text/event-stream')), `responses ${streams}`);
  const [a, b] = [await answer('stories-chat').boundingBox(), await answer(ft).boundingBox()];
  assert(Math.abs(a.y - b.y) < 2 && b.x > a.x + a.width, `side by side: ${JSON.stringify([a, b])}`);
  console.log('ok - playground: two streamed answers side by side');

  await page.getByRole('region', { name: `Answers of ${ft}` }).getByLabel('preferred answer').check();
  await page.getByRole('button', { name: /Save as eval sample \(with the preferred answer\)/ }).click();
  await page.getByRole('status').filter({ hasText: 'now has 1 sample' }).waitFor();
  await page.screenshot({ path: path.join(shots, 'playground.png') });
  console.log('ok - playground: saved as an eval sample');

  await page.goto(`${base}/models`);
  await page.getByRole('link', { name: 'Open the playground' }).click();
  await page.waitForURL(/\/playground$/);
  await page.getByLabel('Base model').waitFor();
  console.log('ok - playground: reachable from the Models page');

  // The picker finds the registered models /v1 serves (trained and exported) through the server
  // (GET /api/v1/models?q=), by run id.
  const run = job.pipeline_jobs[0];
  const exported = (await (await fetch(`${base}/api/v1/models?q=${run}&format=adapter,merged,peft-lora,hf`)).json()).models.filter((m) => m.job_id === run);
  const format = (m) => m.meta?.format || m.output;
  assert(exported.some((m) => ['adapter', 'merged'].includes(format(m))), `the run ${run} exported no adapter or merged model`);
  assert(exported.some((m) => ['peft-lora', 'hf'].includes(format(m))), `the run ${run} registered no trained model`);
  const searched = page.waitForResponse((r) => {
    const u = new URL(r.url());
    return u.pathname === '/api/v1/models' && u.searchParams.get('q') === run && r.ok();
  });
  await page.getByLabel('Search fine-tuned models').fill(run);
  await searched;
  await page.getByRole('status').filter({ hasText: /matching model/ }).waitFor();
  const choice = page.locator(`.pg-choices [data-choice="${exported[0].model_id}"]`);
  await choice.waitFor();
  // the run's models only: the fine-tuning job's own ft: model id does not contain the run id
  const shown = await page.locator('.pg-choices [data-choice]').evaluateAll((els) => els.map((e) => e.getAttribute('data-choice')));
  assert(shown.length === exported.length && exported.every((m) => shown.includes(m.model_id)), `picker shows ${JSON.stringify(shown)}`);
  await choice.getByRole('checkbox').check();
  await page.getByRole('region', { name: `Answers of ${exported[0].model_id}` }).waitFor();
  await page.screenshot({ path: path.join(shots, 'playground-picker.png') });
  await axeCheck(page, 'playground');
  assert(!errors.length, `page errors: ${errors}`);
  console.log('ok - playground: the model picker searches the server (run id) and axe finds no serious violation');
  console.log('playground e2e: 4 passed');
} catch (e) {
  console.error(e);
  await page?.screenshot({ path: path.join(shots, 'FAILED-playground.png') }).catch(() => {});
  process.exitCode = 1;
} finally {
  await browser?.close();
  proc.kill('SIGTERM');
  fs.rmSync(tmp, { recursive: true, force: true });
}
