// End-to-end suite: drives Debian's chromium (/usr/bin/chromium) with
// playwright-core against a real `whet serve` (WHET_BIN, started here on a
// free port with a temp data dir), or against E2E_BASE_URL if set.
//
// It uploads a dataset from ../shared/assets, builds a pipeline by dragging
// agents from the palette and connecting their ports, sets params, sees a
// server validation error on the node and field and fixes it, submits, watches
// node statuses change and the log grow, reloads mid-run and checks the log
// has no gap or duplicate against GET /logs/history, sees the run finish and
// opens its report. Screenshots of every page go to $WEB_SCREENSHOTS
// (default web/e2e/screenshots). Prints "N passed, N failed" at the end.

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
const assetFile = path.resolve(repo, '../shared/assets/datasets/llama-factory/alpaca_en_demo.json');
const timeoutMs = Number(process.env.E2E_TIMEOUT_MS ?? 120_000);
fs.mkdirSync(shots, { recursive: true });

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });

async function startServer() {
  if (process.env.E2E_BASE_URL) return { base: process.env.E2E_BASE_URL.replace(/\/$/, ''), stop: async () => {} };
  const bin = process.env.WHET_BIN;
  if (!bin) throw new Error('set WHET_BIN to a whet binary (or E2E_BASE_URL to a running server)');
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'whet-e2e-'));
  // The server may read the repository and the bundled assets beside it (the templates use them).
  const args = ['serve', '-addr', `127.0.0.1:${port}`, '-data-dir', dataDir, '-log-level', 'debug',
    '-allow-path', repo, '-allow-path', path.join(repo, '..', 'shared')];
  const logPath = path.join(dataDir, 'serve.log');
  const log = fs.openSync(logPath, 'w');
  const proc = spawn(bin, args, { cwd: repo, stdio: ['ignore', log, log], env: { ...process.env } });
  let exited = null;
  proc.on('exit', (code) => (exited = code));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited !== null) throw new Error(`whet serve exited with ${exited}:\n${fs.readFileSync(logPath, 'utf8')}`);
    try {
      const r = await fetch(`${base}/api/v1/health`);
      if (r.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`whet serve did not answer /api/v1/health in 30 s:\n${fs.readFileSync(logPath, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  console.log(`whet serve on ${base}, data ${dataDir}`);
  return {
    base,
    logPath,
    stop: async () => {
      proc.kill('SIGTERM');
      await new Promise((r) => (exited !== null ? r() : proc.on('exit', r)));
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}

const results = [];
async function test(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push({ name, ok: false, err: e });
    await page?.screenshot({ path: path.join(shots, `FAILED-${results.length}.png`) }).catch(() => {});
    console.log(`FAIL ${name} (${Date.now() - t0} ms)\n     ${String(e?.stack ?? e).split('\n').slice(0, 6).join('\n     ')}`);
  }
}

const server = await startServer();
// playwright-core gives chromium a fresh, empty --user-data-dir of its own.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
context.setDefaultTimeout(15_000);
const page = await context.newPage();
const consoleErrors = [];
page.on('console', (m) => {
  if (m.type() === 'error') consoleErrors.push(`${page.url()}: ${m.text()}`);
});
page.on('pageerror', (e) => consoleErrors.push(`${page.url()}: uncaught ${e.message}`));
// Cancel and Re-run ask first; the suite says yes and records that it was asked.
const dialogs = [];
page.on('dialog', (d) => {
  dialogs.push(d.message());
  d.accept();
});
// A 4xx the app expects (the validation error we provoke) is logged by Chromium as
// "Failed to load resource"; those are filtered below by URL and status.
const expected4xx = [];
page.on('response', (r) => {
  if (r.status() >= 400) expected4xx.push(`${r.status()} ${r.url()}`);
});

const base = server.base;
const api = async (p, init) => {
  const r = await fetch(base + '/api/v1' + p, init);
  const t = await r.text();
  return { status: r.status, body: t ? JSON.parse(t) : null };
};
const nav = (name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name });
const edgeCount = (n) => page.waitForFunction((n) => document.querySelectorAll('.react-flow__edge').length === n, n, { timeout: 5000 });
const shot = async (name) => page.screenshot({ path: path.join(shots, `${name}.png`) });

let agents = [];
let datasetID = '';
let jobID = '';

try {
  await test('editor loads the palette from GET /agents', async () => {
    agents = (await api('/agents')).body;
    agents = Array.isArray(agents) ? agents : (agents.agents ?? agents.items);
    assert(agents.length > 0, 'server lists agents');
    await page.goto(base + '/');
    await page.locator('.palette-item').first().waitFor();
    const names = await page.locator('.palette-item').evaluateAll((els) => els.map((e) => e.dataset.agent));
    for (const a of agents) assert(names.includes(a.name), `palette shows ${a.name}`);
    await shot('editor-empty');
  });

  await test('upload a dataset with a progress bar', async () => {
    await nav('Datasets').click();
    await page.getByRole('heading', { name: 'Datasets', level: 1 }).waitFor();
    await page.locator('input[type=file][name=file]').setInputFiles(assetFile);
    await page.getByLabel('Name (optional)').fill('alpaca-demo');
    // Throttle the upload (as a large file on a slow link would be) to watch the bar move.
    const size = fs.statSync(assetFile).size;
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: Math.ceil(size / 3) });
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    const seen = new Set();
    const ok = page.locator('.uploader [role=status]');
    for (let i = 0; i < 200 && !(await ok.count()); i++) {
      const v = await page.locator('progress[aria-label="Upload progress"]').getAttribute('value', { timeout: 100 }).catch(() => null);
      if (v !== null) seen.add(Math.round(Number(v) * 100));
      if (v !== null && Number(v) > 0.2 && Number(v) < 0.8 && !seen.has('shot')) {
        seen.add('shot');
        await shot('datasets-uploading');
      }
      await page.waitForTimeout(50);
    }
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await ok.waitFor();
    seen.delete('shot');
    const partial = [...seen].filter((v) => v > 0 && v < 100);
    assert(partial.length >= 2, `progress bar moved through partial values (saw ${[...seen].sort((a, b) => a - b)})`);
    datasetID = (await ok.locator('a').textContent()).trim();
    assert(datasetID, 'upload returns a dataset id');
    await page.locator(`tr[data-dataset-id="${datasetID}"]`).waitFor();
    await axeCheck(page, 'datasets');
    await shot('datasets');
    await ok.locator('a').click();
    await page.getByRole('heading', { name: 'Sample records' }).waitFor();
    // The profile and sample computed at upload show at once: no job to run.
    await page.locator('table.profile-columns tbody tr').first().waitFor();
    assert((await page.locator('[data-fact="format"]').innerText()) === 'alpaca', `detected format: ${await page.locator('[data-fact="format"]').innerText()}`);
    assert((await page.locator('table.samples-table tbody tr').count()) > 0, 'sample records shown');
    assert((await page.getByRole('button', { name: 'Profile this dataset' }).count()) === 0, 'no profiling run needed');
    await shot('dataset');
  });

  const byName = (n) => agents.find((a) => a.name === n);
  const source = byName('dataset');
  const checker = byName('validate');
  const prep = byName('preprocess');
  const trainer = byName('train');
  const model = '../shared/assets/models/stories260K'; // relative to whet serve's work dir (the repo root)
  const canvas = page.locator('.canvas');
  const node = (id) => page.locator(`.agent-node[data-node-id="${id}"]`);
  const handle = (id, dir, type) => node(id).locator(`.react-flow__handle.${dir === 'out' ? 'source' : 'target'}[data-port-type="${type}"]`).first();
  async function drag(fromLoc, toLoc) {
    const a = await fromLoc.boundingBox();
    const b = await toLoc.boundingBox();
    await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
    await page.mouse.down();
    await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 10 });
    await page.mouse.up();
  }

  await test('build a pipeline by dragging agents and connecting ports', async () => {
    assert(source && checker && prep && trainer, `need dataset, validate, preprocess and train among ${agents.map((a) => a.name)}`);
    await nav('Editor').click();
    if (await page.getByRole('button', { name: 'Clear' }).isEnabled()) await page.getByRole('button', { name: 'Clear' }).click();
    // Drop four agents in two rows, then wire them: dataset → validate → preprocess → train.
    const spots = [
      [source, 130, 90],
      [checker, 470, 90],
      [prep, 130, 330],
      [trainer, 470, 330],
    ];
    for (const [a, x, y] of spots) {
      await page.locator(`.palette-item[data-agent="${a.name}"]`).dragTo(canvas, { targetPosition: { x, y } });
      await node(`${a.name}-1`).waitFor();
    }

    // An incompatible connection is refused while dragging: validate's report output onto train's dataset input.
    await page.mouse.move(0, 0);
    const ro = await handle('validate-1', 'out', 'report').boundingBox();
    const ti = await handle('train-1', 'in', 'dataset').boundingBox();
    await page.mouse.move(ro.x + ro.width / 2, ro.y + ro.height / 2);
    await page.mouse.down();
    await page.mouse.move(ti.x + ti.width / 2, ti.y + ti.height / 2, { steps: 10 });
    await page.locator('.react-flow__handle.connectingto').first().waitFor({ timeout: 3000 });
    const valid = await page.locator('.react-flow__handle.connectingto.valid').count();
    await page.mouse.up();
    assert(valid === 0, 'the report→dataset target is not marked valid while dragging');
    await page.waitForTimeout(200);
    assert((await page.locator('.react-flow__edge').count()) === 0, 'report→dataset connection was refused');

    await drag(handle('dataset-1', 'out', 'dataset'), handle('validate-1', 'in', 'dataset'));
    await edgeCount(1);
    // undo removes the edge, redo brings it back
    await page.getByRole('button', { name: 'Undo' }).click();
    await edgeCount(0);
    await page.getByRole('button', { name: 'Redo' }).click();
    await edgeCount(1);
    await drag(handle('validate-1', 'out', 'dataset'), handle('preprocess-1', 'in', 'dataset'));
    await edgeCount(2);
    await drag(handle('preprocess-1', 'out', 'dataset'), handle('train-1', 'in', 'dataset'));
    await edgeCount(3);
    await page.getByRole('button', { name: 'Auto-layout' }).click();
    await page.waitForTimeout(400);
  });

  async function setParam(nodeID, name, value) {
    await node(nodeID).click();
    const f = page.locator(`#param-${nodeID}-${name}`);
    // a param the inspector keeps under "advanced"
    if (!(await f.count())) await page.locator('aside.inspector').getByRole('button', { name: /^Show \d+ advanced params/ }).click();
    await f.fill(String(value));
    return f;
  }

  await test('a server validation error shows on the node and field, and is fixed', async () => {
    await setParam('dataset-1', 'source', datasetID);
    // the server's checks run as you edit: a misspelt tokenizer folder shows on its field before any run
    await setParam('preprocess-1', 'tokenizer', model.replace('stories260K', 'stories26K'));
    await page.waitForFunction(
      () => /no such file or folder/.test(document.querySelector('#param-preprocess-1-tokenizer-error')?.textContent ?? ''),
      null,
      { timeout: 10_000 },
    );
    assert(await node('preprocess-1').evaluate((n) => n.classList.contains('has-error')), 'preprocess marked before running');
    await page.locator('.check-status[data-problems]:not([data-problems="0"])').waitFor();
    await setParam('preprocess-1', 'tokenizer', model);
    await setParam('preprocess-1', 'max_tokens', 256);
    await setParam('train-1', 'base_model', model);
    await setParam('train-1', 'max_steps', 60);
    await setParam('train-1', 'max_seq_len', 256);
    // The README's editor picture: a clean pipeline, no banner from the refused connection above.
    const dismiss = page.getByRole('button', { name: 'Dismiss message' });
    if (await dismiss.count()) await dismiss.first().click();
    await page.locator('.check-status[data-problems="0"]').waitFor({ timeout: 10_000 });
    await node('train-1').click();
    await page.locator('aside.inspector').evaluate((e) => e.scrollTo(0, 0));
    await shot('editor-pipeline');
    // Break a bounded param of validate: below its minimum.
    const bounded = (checker.params ?? []).find((p) => (p.type === 'integer' || p.type === 'number') && p.minimum !== undefined && p.minimum > 0);
    assert(bounded, `${checker.name} has a bounded numeric param`);
    const target = { node: 'validate-1', p: bounded, bad: String(-bounded.minimum - 1), good: String(bounded.default ?? bounded.minimum) };
    const input = await setParam(target.node, target.p.name, target.bad);
    await axeCheck(page, 'editor');
    const rejected = page.waitForResponse((r) => r.url().endsWith('/api/v1/jobs') && r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Run pipeline' }).click();
    const res = await rejected;
    assert(res.status() === 422, `server rejects the pipeline with 422 (got ${res.status()})`);
    const problem = await res.json();
    const mine = (problem.errors ?? []).find((e) => String(e.location).includes(target.p.name));
    assert(mine, `the problem names ${target.p.name}: ${JSON.stringify(problem)}`);
    const err = page.locator(`#param-${target.node}-${target.p.name}-error`);
    // the field shows the server's message (not only the form's own range check)
    await page.waitForFunction(
      ([sel, msg]) => {
        const t = document.querySelector(sel)?.textContent;
        return !!t && msg.endsWith(t);
      },
      [`#param-${target.node}-${target.p.name}-error`, mine.message],
    );
    assert(await node(target.node).evaluate((n) => n.classList.contains('has-error')), 'node marked with an error');
    await page.locator('.banner.error').waitFor();
    await shot('editor-validation-error');
    await input.fill(target.good);
    await err.waitFor({ state: 'detached' });
    assert(!(await node(target.node).evaluate((n) => n.classList.contains('has-error'))), 'node error cleared');
  });

  await test('YAML export matches the drawn pipeline', async () => {
    await page.getByRole('button', { name: 'Edit as YAML' }).click();
    const yaml = await page.locator('#yaml-text').inputValue();
    for (const want of ['agent: dataset', 'agent: train', 'from: preprocess-1', 'to: train-1', 'max_steps: 60'])
      assert(yaml.includes(want), `YAML has "${want}"`);
    await page.getByRole('button', { name: 'Hide YAML' }).click();
  });

  await test('Plan: the dry run shows what train will need (estimated in an agent process)', async () => {
    await page.getByRole('button', { name: 'Plan', exact: true }).click();
    const row = page.locator('[aria-label="Pipeline plan"] tr[data-node="train-1"]');
    await row.waitFor({ timeout: 60_000 });
    const cells = await row.locator('td').allTextContents();
    // node, agent, cache, device, memory, steps, tokens, time
    assert(cells[3] === 'cpu', `train runs on the cpu: ${cells}`);
    assert(/\d.*[KMG]i?B/.test(cells[4]), `train's memory is estimated: ${cells}`);
    assert(cells[5] === '60', `train's steps (max_steps 60): ${cells}`);
    assert(Number(cells[6].replace(/\D/g, '')) > 0, `train's tokens: ${cells}`);
    await page.getByRole('button', { name: 'Close plan' }).click();
  });

  let sawRunning = false;
  await test('submit; statuses change, the log grows, charts and ETA update; reload mid-training', async () => {
    await page.getByRole('button', { name: 'Run pipeline' }).click();
    await page.waitForURL(/\/runs\/[^/]+$/);
    jobID = decodeURIComponent(page.url().split('/runs/')[1]);
    const run = page.locator('.run-page');
    await run.waitFor();
    const statuses = new Set();
    let maxLines = 0;
    let sawETA = false;
    let lossPointsBefore = 0;
    const deadline = Date.now() + timeoutMs;
    let reloaded = false;
    while (Date.now() < deadline) {
      const st = await run.getAttribute('data-status');
      const nodeSt = await page.locator('.nodes-table tr[data-node]').evaluateAll((rs) => rs.map((r) => `${r.dataset.node}:${r.dataset.status}`));
      nodeSt.forEach((s) => statuses.add(s));
      if (nodeSt.some((s) => s.endsWith(':running'))) sawRunning = true;
      const eta = await page.locator('tr[data-node="train-1"] td:nth-child(4)').innerText().catch(() => '—');
      if (eta.trim() !== '—') sawETA = true;
      const lines = Number(await page.locator('.log').getAttribute('data-lines'));
      maxLines = Math.max(maxLines, lines);
      const loss = await page.locator('figure[data-chart="Loss"] polyline[data-series="loss"]').getAttribute('points', { timeout: 50 }).catch(() => null);
      const lossPoints = loss ? loss.trim().split(/\s+/).length : 0;
      // Reload once while training runs and the loss chart has points: log and charts must resume.
      if (!reloaded && lossPoints >= 3 && nodeSt.includes('train-1:running')) {
        lossPointsBefore = lossPoints;
        await shot('run-live');
        const before = (await api(`/jobs/${encodeURIComponent(jobID)}`)).body.status;
        assert(before === 'running', `job still running on the server when the page reloads (${before})`);
        await page.reload();
        await page.locator('.run-page').waitFor();
        reloaded = true;
        continue;
      }
      if (['succeeded', 'failed', 'cancelled'].includes(st)) break;
      await page.waitForTimeout(150);
    }
    const final = await run.getAttribute('data-status');
    const nodeErr = await page.locator('.nodes-table .error-text').allInnerTexts();
    assert(final === 'succeeded', `run finished with ${final} ${nodeErr.join(' | ')}`);
    await page.locator('.conn-closed').waitFor();
    for (const n of ['dataset-1', 'validate-1', 'preprocess-1', 'train-1']) assert(statuses.has(`${n}:succeeded`), `${n} seen succeeded`);
    assert(sawRunning, `a node was seen running (saw ${[...statuses]})`);
    assert(maxLines > 0, 'log lines arrived');
    assert(reloaded, 'the page was reloaded while training ran');
    assert(sawETA, 'an ETA was shown for the training node');
    // Every metric event of the run is a point on the loss, learning-rate and tokens/s charts.
    const hist = (await api(`/logs/history/${encodeURIComponent(jobID)}?limit=10000`)).body.events;
    const metrics = hist.filter((e) => e.type === 'metric' && e.node === 'train-1');
    for (const [chart, series] of [
      ['Loss', 'loss'],
      ['Learning rate', 'learning_rate'],
      ['Tokens/s', 'tokens_per_s'],
    ]) {
      const want = metrics.filter((e) => typeof e.data.values?.[series] === 'number').length;
      const pts = await page.locator(`figure[data-chart="${chart}"] polyline[data-series="${series}"]`).getAttribute('points');
      const n = pts.trim().split(/\s+/).length;
      assert(want > 0 && n === want, `${chart} chart has ${n} points of ${series}, history has ${want}`);
    }
    const metricSteps = metrics.length;
    console.log(`     reloaded with ${lossPointsBefore} loss points shown; ${metricSteps} metric events; statuses: ${[...statuses].join(', ')}`);
  });

  await test('after a reload the log has every line exactly once (vs /logs/history)', async () => {
    const shown = await page.locator('.log-line').evaluateAll((ls) => ls.map((l) => Number(l.dataset.eventId)));
    const hist = [];
    const lifecycle = [];
    for (let after = 0, i = 0; i < 1000; i++) {
      const r = await api(`/logs/history/${encodeURIComponent(jobID)}?after=${after}&limit=1000`);
      assert(r.status === 200, `history ${r.status}`);
      const items = r.body.events ?? [];
      // the log shows the engine's lines and each node's lifecycle (started, succeeded, failed...)
      hist.push(...items.filter((e) => e.type === 'log' || e.type === 'node').map((e) => Number(e.seq)));
      lifecycle.push(...items.filter((e) => e.type === 'node'));
      const next = r.body.next;
      if (!items.length || next === null || next === undefined || Number(next) <= after) break;
      after = Number(next);
    }
    assert(shown.length === new Set(shown).size, 'no duplicate lines');
    assert(shown.every((v, i) => i === 0 || v > shown[i - 1]), 'lines in event order');
    assert(JSON.stringify(shown) === JSON.stringify([...new Set(hist)]), `shown ${shown.length} lines == history ${new Set(hist).size} lines`);
    console.log(`     ${shown.length} log lines shown, ids equal to the history's`);
    const text = await page.locator('.log').innerText();
    assert(/node train-1 started/.test(text) && /node train-1 succeeded/.test(text), 'node lifecycle lines in the log');
    assert(lifecycle.length >= 8, `node events in the history (${lifecycle.length})`);
    // the engine's own lines (not only the agent's summary) reach the log
    assert(/training/.test(text), 'engine line "training" in the log');
    // preprocess dropping many rows is a warning, not info
    const warn = page.locator('.log-line.lvl-warn', { hasText: 'dropped' });
    if ((await warn.count()) === 0) console.log('     (preprocess dropped few rows: no warning expected)');
    // level filter: errors only hides info lines
    await page.locator('.log-panel select').nth(1).selectOption('error');
    assert((await page.locator('.log-line.lvl-info').count()) === 0, 'level filter hides info');
    await page.locator('.log-panel select').nth(1).selectOption('debug');
  });

  await test('the run page starts with a summary: status, duration, final loss, the dataset version read', async () => {
    const job = (await api(`/jobs/${encodeURIComponent(jobID)}`)).body;
    const sum = page.locator('.run-summary');
    await sum.waitFor();
    // the summary comes before the graph, the nodes, the charts and the log
    const [sumY, gridY] = await Promise.all([sum.boundingBox(), page.locator('.run-grid').boundingBox()]).then((bs) => bs.map((b) => b.y));
    assert(sumY < gridY && sumY < 300, `summary at y=${sumY}, graph at y=${gridY}`);
    const stat = (k) => sum.locator(`[data-stat="${k}"] dd`).innerText();
    assert((await stat('status')) === 'succeeded', `status: ${await stat('status')}`);
    assert(/^\d+(\.\d)? s$|min/.test(await stat('duration')), `duration: ${await stat('duration')}`);
    assert((await stat('nodes')).startsWith('4/4 succeeded'), `nodes: ${await stat('nodes')}`);
    const trained = job.nodes.find((n) => n.id === 'train-1').outputs.find((o) => o.type === 'model').meta.final_loss;
    const shown = Number((await stat('final_loss')).replace(/,/g, ''));
    assert(Math.abs(shown - trained) < 1e-3 * Math.abs(trained), `final train loss shown ${shown}, the node recorded ${trained}`);
    // the dataset version the job read: name, id, shortened hash
    const ds = job.datasets.find((d) => d.dataset_id === datasetID);
    assert(ds && /^sha256:[0-9a-f]{64}$/.test(ds.version), `job datasets: ${JSON.stringify(job.datasets)}`);
    const li = sum.locator(`.run-datasets li[data-dataset-id="${datasetID}"]`);
    const text = await li.innerText();
    assert(text.includes('alpaca-demo') && text.includes(datasetID) && text.includes(ds.version.slice(0, 19)) && !text.includes(ds.version), `dataset line: ${text}`);
  });

  await test('the run report renders as tables, not JSON', async () => {
    const card = page.locator('.report-card').first();
    await card.waitFor();
    // reports start collapsed, so a finished run reads summary first
    assert((await card.locator('table').count()) === 0, 'report collapsed at first');
    const collapsedH = await page.evaluate(() => Math.max(document.documentElement.scrollHeight, document.querySelector("main")?.scrollHeight ?? 0));
    assert(collapsedH < 4000, `run page ${collapsedH} px tall collapsed (< 4000)`);
    const closed = page.locator('.report-card h3 button[aria-expanded="false"]');
    for (let i = 0; i < 50 && (await closed.count()) > 0; i++) await closed.first().click();
    await card.locator('table').first().waitFor();
    await page.waitForTimeout(500);
    const expandedH = await page.evaluate(() => Math.max(document.documentElement.scrollHeight, document.querySelector("main")?.scrollHeight ?? 0));
    assert(expandedH < 12000, `run page ${expandedH} px tall expanded (< 12000)`);
    console.log(`     run page ${collapsedH} px collapsed, ${expandedH} px expanded`);
    // no 17-digit floats anywhere in the reports
    const reportsText = await page.locator('.report-card').allInnerTexts();
    assert(!/\d\.\d{9,}/.test(reportsText.join('\n')), 'numbers are rounded');
    const text = await card.innerText();
    assert(!text.trim().startsWith('{'), 'not raw JSON');
    await card.scrollIntoViewIfNeeded();
    await axeCheck(page, 'run page (reports expanded)');
    await shot('run-finished');
    await page.screenshot({ path: path.join(shots, 'run-report.png'), fullPage: true });
  });

  let cancelledID = '';
  await test('re-run starts the same pipeline; cancel stops it', async () => {
    const submitted = page.waitForResponse((r) => r.url().endsWith('/api/v1/jobs') && r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Re-run' }).click();
    const res = await submitted;
    assert(res.status() === 202, `re-run accepted (${res.status()} ${await res.text()})`);
    await page.waitForURL((u) => /\/runs\/[^/]+$/.test(u.pathname) && !u.pathname.endsWith(encodeURIComponent(jobID)));
    cancelledID = decodeURIComponent(page.url().split('/runs/')[1]);
    const run = page.locator(`.run-page[data-job-id="${cancelledID}"]`);
    await run.waitFor();
    // the DAG is drawn with its edges (a straight edge has no height, so count rather than wait for visibility)
    await page.waitForFunction(() => document.querySelectorAll('.run-graph .react-flow__edge').length >= 3).catch(async (e) => {
      const n = await page.locator('.run-graph .react-flow__node').count();
      const ed = await page.locator('.run-graph .react-flow__edge').count();
      throw new Error(`${e.message}\n     url ${page.url()}, ${n} nodes and ${ed} edges in the run graph`);
    });
    assert((await page.locator('.run-graph .agent-node').count()) >= 2, 'DAG nodes drawn');
    await page.getByRole('button', { name: 'Cancel run' }).click();
    await page.waitForFunction((id) => document.querySelector(`.run-page[data-job-id="${id}"]`)?.dataset.status === 'cancelled', cancelledID, { timeout: 30_000 });
    assert((await api(`/jobs/${encodeURIComponent(cancelledID)}`)).body.status === 'cancelled', 'server says cancelled');
    await page.getByRole('button', { name: 'Cancel run' }).waitFor({ state: 'detached' });
    assert(dialogs.some((d) => /Run this pipeline again/.test(d)) && dialogs.some((d) => /Cancel this run/.test(d)), `Re-run and Cancel asked first (${dialogs.join(' | ')})`);
    // after a reload every node is in a final state: none left running with an ETA
    await page.reload();
    await run.waitFor();
    await page.waitForFunction(() => document.querySelectorAll('.run-graph .agent-node').length >= 2);
    await page.waitForTimeout(800);
    const states = await page.locator('.run-graph .agent-node').evaluateAll((ns) => ns.map((n) => n.dataset.status));
    assert(states.every((s) => ['succeeded', 'failed', 'cancelled', 'skipped'].includes(s)), `nodes after reload: ${states.join(', ')}`);
    const rows = await page.locator('.nodes-table tr[data-status]').evaluateAll((ns) => ns.map((n) => n.dataset.status));
    assert(rows.every((s) => ['succeeded', 'failed', 'cancelled', 'skipped'].includes(s)), `node table after reload: ${rows.join(', ')}`);
  });

  await test('runs list shows the run with status and duration, filters by status', async () => {
    await nav('Runs').click();
    const row = page.locator(`tr[data-job-id="${jobID}"]`);
    await row.waitFor();
    assert((await row.innerText()).includes('succeeded'), 'status shown');
    const rowText = await row.innerText();
    assert(rowText.includes('stories260K') && rowText.includes('lora'), `base model and method columns (${rowText})`);
    await page.getByLabel('Status').selectOption('cancelled');
    await row.waitFor({ state: 'detached' });
    if (cancelledID) await page.locator(`tr[data-job-id="${cancelledID}"]`).waitFor();
    await page.getByLabel('Status').selectOption('');
    await row.waitFor();
    await shot('runs');
  });

  await test('models page lists the trained adapter with metadata and a working download', async () => {
    await nav('Models').click();
    await page.getByRole('heading', { name: 'Models', level: 1 }).waitFor();
    // the run's models are grouped under it; the trained adapter is its `model` output
    const row = page.locator(`.model-group[data-job-id="${jobID}"] .models-table tr[data-model-id][data-output="model"]`).first();
    await row.waitFor();
    const text = await row.innerText();
    assert(/peft-lora/.test(text) && /final loss/.test(text), `row shows format and metadata: ${text.slice(0, 200)}`);
    const href = await row.getByRole('link', { name: /^Download/ }).first().getAttribute('href');
    const r = await fetch(base + href);
    const body = new Uint8Array(await r.arrayBuffer());
    assert(r.ok && body.length > 1000, `download ${href}: ${r.status}, ${body.length} bytes`);
    await row.getByRole('button', { name: 'Show training curve' }).click();
    const curve = page.locator('.expanded-row figure[data-chart="Loss"] polyline[data-series="loss"]');
    await curve.waitFor();
    const n = (await curve.getAttribute('points')).trim().split(/\s+/).length;
    assert(n === 60, `history.json curve has ${n} points, want 60 steps`);
    await axeCheck(page, 'models');
    await shot('models');
  });

  await test('cached nodes are marked on the run page', async () => {
    // the same pipeline again: every node's outputs come from the first run
    const spec = (await api(`/jobs/${encodeURIComponent(jobID)}`)).body.spec;
    const r = await api('/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(spec) });
    assert(r.status === 202, `POST /jobs ${r.status} ${JSON.stringify(r.body)}`);
    const id = r.body.job_id;
    await page.goto(`${base}/runs/${encodeURIComponent(id)}`);
    await page.waitForFunction(() => document.querySelector('.run-page')?.dataset.status === 'succeeded', null, { timeout: 30_000 });
    const job = (await api(`/jobs/${encodeURIComponent(id)}`)).body;
    const cached = job.nodes.filter((n) => n.cached).map((n) => n.id);
    assert(cached.includes('train-1'), `the server reused the train node's outputs (cached: ${cached})`);
    await page.locator(`.run-summary [data-stat="nodes"] .badge.cached`).filter({ hasText: `${cached.length} cached` }).waitFor();
    for (const n of cached) assert((await page.locator(`.nodes-table tr[data-node="${n}"] .badge.cached`).count()) === 1, `${n} marked cached in the nodes table`);
  });

  await test('a failed node and its error are at the top of the run page', async () => {
    // validate fails the run on any warning; the demo data has some (near duplicates, short answers...)
    const spec = {
      name: 'fails-on-warnings',
      nodes: [
        { id: 'data', agent: 'dataset', params: { source: datasetID } },
        { id: 'strict', agent: 'validate', params: { fail_on: ['warning', 'error'] } },
      ],
      edges: [{ from: 'data', to: 'strict' }],
    };
    const r = await api('/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(spec) });
    assert(r.status === 202, `POST /jobs ${r.status} ${JSON.stringify(r.body)}`);
    const id = r.body.job_id;
    await page.goto(`${base}/runs/${encodeURIComponent(id)}`);
    await page.waitForFunction(() => ['failed', 'succeeded'].includes(document.querySelector('.run-page')?.dataset.status), null, { timeout: 60_000 });
    const job = (await api(`/jobs/${encodeURIComponent(id)}`)).body;
    const strict = job.nodes.find((n) => n.id === 'strict');
    assert(job.status === 'failed' && strict.status === 'failed' && strict.error, `the strict validation failed: ${job.status} ${strict.status} ${strict.error}`);
    const alert = page.locator('.run-summary [role=alert][data-failed-node="strict"]');
    await alert.waitFor();
    const text = await alert.innerText();
    assert(text.includes('Node strict (validate) failed') && text.includes(strict.error.slice(0, 60)), `failure banner: ${text}`);
    const [alertY, gridY] = await Promise.all([alert.boundingBox(), page.locator('.run-grid').boundingBox()]).then((bs) => bs.map((b) => b.y));
    assert(alertY < gridY && alertY < 300, `failure at y=${alertY}, above the graph at y=${gridY}`);
    await axeCheck(page, 'run page, failed node');
    await shot('run-failed');
    // "Show its log" filters the log to the failed node
    await alert.getByRole('button', { name: 'Show its log' }).click();
    assert((await page.locator('.log-panel select').first().inputValue()) === 'strict', 'log filtered to the failed node');
    await page.locator('.log-line.lvl-error', { hasText: 'node strict failed' }).waitFor();
  });

  await test('a template loads; nodes connect from the keyboard', async () => {
    await nav('Editor').click();
    await page.getByLabel('Start from a template').selectOption('lora-gguf');
    await page.waitForFunction(() => document.querySelectorAll('.agent-node').length === 6);
    await edgeCount(6);
    await page.locator('.banner.info').waitFor();
    assert(!(await page.locator('.banner.error').count()), 'every template agent exists on the server');
    assert(!(await page.locator('.agent-node.unknown').count()), 'no unknown agents');
    await shot('editor-template');
    // Export the pipeline as YAML (a download), clear the canvas, import the file: the same graph comes back.
    const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export YAML' }).click()]);
    const file = path.join(os.tmpdir(), `whet-e2e-${process.pid}.yaml`);
    await dl.saveAs(file);
    const text = fs.readFileSync(file, 'utf8');
    assert(/^name: lora-finetune$/m.test(text) && text.includes('agent: train') && text.includes('- from: prep'), `exported YAML:\n${text}`);
    await page.getByRole('button', { name: 'Clear' }).click();
    await page.waitForFunction(() => document.querySelectorAll('.agent-node').length === 0);
    await page.locator('input[type=file][aria-label="Import pipeline file"]').setInputFiles(file);
    await page.waitForFunction(() => document.querySelectorAll('.agent-node').length === 6);
    await edgeCount(6);
    fs.rmSync(file, { force: true });
    await page.getByRole('button', { name: 'Clear' }).click();
    for (const a of ['dataset', 'validate']) {
      await page.locator(`.palette-item[data-agent="${a}"]`).focus();
      await page.keyboard.press('Enter');
      await node(`${a}-1`).waitFor();
    }
    // validate-1 was just added and is selected: connect its input from the inspector's select.
    await page.getByLabel('Add input from').selectOption('dataset-1');
    await edgeCount(1);
    await page.getByRole('button', { name: 'Clear' }).click();
  });

  await test('keyboard: palette item adds a node with Enter; focus is visible', async () => {
    await nav('Editor').click();
    await page.locator('.palette-item').first().waitFor();
    const before = await page.locator('.agent-node').count();
    await page.locator('.palette-item').first().focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction((n) => document.querySelectorAll('.agent-node').length === n + 1, before);
    await page.locator('.palette-item').first().focus();
    await page.keyboard.press('Tab');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert(outline !== 'none', `focused control has a visible outline (${outline})`);
    // every form control has an accessible name
    const unlabeled = await page.evaluate(() =>
      [...document.querySelectorAll('input, select, textarea, button')]
        .filter((e) => e.type !== 'hidden' && !e.hidden && e.offsetParent !== null)
        .filter((e) => !(e.labels?.length || e.getAttribute('aria-label') || e.getAttribute('aria-labelledby') || (e.tagName === 'BUTTON' && e.textContent.trim()) || e.title))
        .map((e) => e.outerHTML.slice(0, 80)),
    );
    assert(!unlabeled.length, `unlabeled controls: ${unlabeled.join(' | ')}`);
  });

  await test('dark theme and a narrow window', async () => {
    await page.getByRole('button', { name: /Switch to dark theme/ }).click();
    assert((await page.evaluate(() => document.documentElement.dataset.theme)) === 'dark', 'dark theme applied');
    await shot('editor-dark');
    await page.goto(`${base}/runs/${encodeURIComponent(jobID)}`);
    await page.locator('.run-page').waitFor();
    await page.locator('.conn-closed').waitFor();
    const conn = await page.locator('.log-panel .conn').innerText();
    assert(!conn.includes('reconnect'), `a finished job's stream closes without reconnecting (${conn})`);
    await axeCheck(page, 'run page, dark theme');
    await shot('run-dark');
    await page.setViewportSize({ width: 420, height: 860 });
    await page.goto(base + '/');
    await page.locator('.palette-item').first().waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert(overflow <= 1, `no horizontal overflow at 420px (${overflow}px)`);
    await shot('editor-narrow');
    await page.getByRole('button', { name: /Switch to light theme/ }).click();
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  await test('no console errors', async () => {
    const real = consoleErrors.filter((e) => !/Failed to load resource: the server responded with a status of (422|400)/.test(e));
    assert(!real.length, `console errors:\n${real.join('\n')}`);
  });
} finally {
  await browser.close();
  await server.stop();
}

const failed = results.filter((r) => !r.ok).length;
console.log(`screenshots in ${shots}`);
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
