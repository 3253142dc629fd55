// The list and run pages end to end: a real `whet serve` (WHET_BIN, or
// E2E_BASE_URL) runs the shared example (../shared/examples/stories-lora.yaml)
// and a variant with another learning rate and LoRA rank; Debian's chromium
// (playwright-core) then checks the runs list (columns from the job summary,
// base-model filter, search), the compare page (config diff, final metrics,
// overlaid curves with hover values), the finished run page (under 4,000 px
// collapsed and 12,000 px expanded; charts grouped by node, smoothing, hover),
// the models page (grouped by run, each model's lineage, hashes, copyable
// snippets), a model's page (reached from the list: facts, lineage, metrics,
// training curve, the run's evaluation, files that download, "fine-tune it"
// opening the editor with the run's pipeline trained from it and no problem
// found, and that pipeline run: its model names the merged model as its base;
// an adapter pointing to the merged model; an unknown id not found),
// the datasets list and a dataset's page (rows, detected format,
// columns and sample from the profile computed at upload, versions
// shortened), that no server path (the repository, its parent's shared
// folder, the data folder, /work, /tmp) is anywhere in the text, titles,
// labels or field values of the runs, compare, models and datasets pages
// and of a dataset's page, and every list page at 400 px
// (tables scroll sideways, the page does not). Screenshots at 1280×800 and 400 px, light and dark, go to
// $WEB_SCREENSHOTS (default web/e2e/screenshots). Prints "N passed, N failed".
// E2E_ONLY=REGEXP runs the first step (the two pipelines) and the steps it matches.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = process.env.REPO_ROOT ?? path.resolve(here, '../..');
const shots = path.resolve(process.env.WEB_SCREENSHOTS ?? path.join(here, 'screenshots'));
fs.mkdirSync(shots, { recursive: true });
const { startServer } = await import('./serve.mjs');
const { axeCheck } = await import('./axe.mjs');

const assert = (c, m) => {
  if (!c) throw new Error(`assertion failed: ${m}`);
};
const results = [];
let skipped = 0;
let page;
// E2E_ONLY (a regular expression) runs only the steps it matches, and the first, which runs the pipelines they need.
const only = process.env.E2E_ONLY ? new RegExp(process.env.E2E_ONLY) : null;
async function test(name, fn) {
  if (only && results.length + skipped > 0 && !only.test(name)) {
    skipped++;
    console.log(`skip ${name}`);
    return;
  }
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push({ name, ok: false });
    await page?.screenshot({ path: path.join(shots, `FAILED-pages-${results.length}.png`) }).catch(() => {});
    console.log(`FAIL ${name} (${Date.now() - t0} ms)\n     ${String(e?.stack ?? e).split('\n').slice(0, 6).join('\n     ')}`);
  }
}

const server = await startServer(repo);
const base = server.base;
const api = async (p, init) => {
  const r = await fetch(base + '/api/v1' + p, init);
  const t = await r.text();
  return { status: r.status, body: t ? JSON.parse(t) : null };
};
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
context.setDefaultTimeout(15_000);
page = await context.newPage();
const consoleErrors = [];
page.on('console', (m) => m.type() === 'error' && consoleErrors.push(`${page.url()}: ${m.text()}`));
page.on('pageerror', (e) => consoleErrors.push(`${page.url()}: uncaught ${e.message}`));
const shot = (name) => page.screenshot({ path: path.join(shots, `${name}.png`) });
const height = () => page.evaluate(() => Math.max(document.documentElement.scrollHeight, document.querySelector('main')?.scrollHeight ?? 0));

// Server paths: none may show on a page, in its text or in a title, label or field value.
const serverPaths = [...new Set([repo, path.resolve(repo, '..', 'shared'), server.dataDir, '/work/', '/tmp/', fs.realpathSync(os.tmpdir()) + '/'].filter(Boolean))];
async function assertNoServerPaths(name) {
  // every text node, title, label, alt, placeholder and field value, each with where it is (the nearest element with a class)
  const texts = await page.evaluate(() => {
    const where = (el) => {
      const c = el?.closest('[class]');
      return c ? `${c.tagName.toLowerCase()}.${[...c.classList].join('.')}` : el?.tagName.toLowerCase();
    };
    const out = [];
    const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = w.nextNode(); n; n = w.nextNode()) if (!['SCRIPT', 'STYLE'].includes(n.parentElement?.tagName)) out.push([n.nodeValue, where(n.parentElement)]);
    for (const el of document.body.querySelectorAll('[title], [aria-label], [alt], [placeholder], [data-tip]'))
      for (const a of ['title', 'aria-label', 'alt', 'placeholder', 'data-tip']) if (el.hasAttribute(a)) out.push([el.getAttribute(a), `${where(el)}[${a}]`]);
    for (const el of document.body.querySelectorAll('input, textarea')) out.push([el.value, `${where(el)} value`]);
    return out;
  });
  const found = texts.flatMap(([t, at]) => serverPaths.filter((p) => t.includes(p)).map((p) => `${p} in ${at}: ${t.slice(Math.max(0, t.indexOf(p) - 60), t.indexOf(p) + 100)}`));
  assert(!found.length, `${name}: server paths on the page:\n       ${found.slice(0, 8).join('\n       ')}`);
}

// Blob references (blob:jobs/JOB/NODE/OUTPUT/…, as evaluation and comparison
// reports record the model, history and split they read) show by node and
// output ("tune/model"), never raw, in a page's text (a link's title may
// keep the reference).
async function assertNoRawRefs(name) {
  const raw = await page.evaluate(() => {
    const out = [];
    const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = w.nextNode(); n; n = w.nextNode()) if (n.nodeValue.includes('blob:')) out.push(n.nodeValue.slice(0, 160));
    return out;
  });
  assert(!raw.length, `${name}: raw blob references on the page:\n       ${raw.slice(0, 8).join('\n       ')}`);
}

const example = fs.readFileSync(path.resolve(repo, '../shared/examples/stories-lora.yaml'), 'utf8');
const variant = example.replace('learning_rate: 3.0e-3', 'learning_rate: 1.0e-3').replace('rank: 8', 'rank: 4');
assert(variant !== example, 'the variant changes the example');
let ids = [];

try {
  await test('the shared example and a variant run to the end', async () => {
    for (const spec of [example, variant]) {
      const r = await api('/jobs', { method: 'POST', headers: { 'Content-Type': 'application/yaml' }, body: spec });
      assert(r.status === 202, `POST /jobs ${r.status} ${JSON.stringify(r.body)}`);
      ids.push(r.body.job_id);
    }
    const deadline = Date.now() + Number(process.env.E2E_TIMEOUT_MS ?? 300_000);
    for (const id of ids)
      for (;;) {
        const j = (await api(`/jobs/${id}`)).body;
        if (['succeeded', 'failed', 'cancelled'].includes(j.status)) {
          assert(j.status === 'succeeded', `${id} ${j.status}: ${j.error}`);
          break;
        }
        assert(Date.now() < deadline, `${id} still ${j.status}`);
        await new Promise((r) => setTimeout(r, 500));
      }
  });

  await test('runs list: duration, base model, method, final loss, primary metric, nodes; filters and search', async () => {
    await page.goto(`${base}/runs`);
    const row = page.locator(`tr[data-job-id="${ids[0]}"]`);
    await row.waitFor();
    const cells = await row.locator('td').allInnerTexts();
    const head = await page.locator('.runs-table thead th').allInnerTexts();
    const col = (h) => cells[head.indexOf(h)];
    assert(col('Base model') === 'stories260K' && col('Method') === 'lora', `base and method: ${cells.join(' | ')}`);
    assert(/^\d+\.\d+$/.test(col('Final loss')), `final loss is a number: ${col('Final loss')}`);
    assert(/^rouge_l \d/.test(col('Primary metric')) && /base \d/.test(col('Primary metric')), `primary metric with the base's value: ${col('Primary metric')}`);
    assert(col('Nodes') === '7/7', `nodes: ${col('Nodes')}`);
    assert(/\d s$|min/.test(col('Duration')), `duration: ${col('Duration')}`);
    await page.getByLabel('Base model').selectOption('stories260K');
    await page.locator(`tr[data-job-id="${ids[1]}"]`).waitFor();
    await page.getByLabel('Search').fill('no-such-run');
    await row.waitFor({ state: 'detached' });
    await page.getByLabel('Search').fill('stories');
    await row.waitFor();
    assert(/base=stories260K/.test(page.url()) && /q=stories/.test(page.url()), `filters kept in the URL: ${page.url()}`);
    await assertNoServerPaths('runs');
    await shot('runs');
  });

  await test('select two runs and compare configs, final metrics and curves', async () => {
    const compare = page.getByRole('button', { name: /^Compare/ });
    assert(await compare.isDisabled(), 'Compare needs two runs');
    for (const id of ids) await page.locator(`tr[data-job-id="${id}"] input[type=checkbox]`).check();
    await compare.click();
    await page.waitForURL(/\/runs\/compare\?ids=/);
    await page.getByRole('heading', { name: 'Compare runs' }).waitFor();
    const lr = page.locator('.config-diff tr[data-key="tune.learning_rate"]');
    await lr.waitFor();
    const lrText = await lr.innerText();
    assert(lrText.includes('0.003') && lrText.includes('0.001'), `learning rates side by side: ${lrText}`);
    assert((await page.locator('.config-diff tr[data-key="tune.lora.rank"]').count()) === 1, 'the LoRA rank differs');
    assert((await page.locator('.config-diff tbody tr').count()) === 2, 'only the differences are shown');
    const loss = await page.locator('.metric-diff tr[data-key="tune.final_loss"] td').allInnerTexts();
    assert(loss.length === 3 && loss.slice(1).every((v) => /^\d+\.\d+$/.test(v)), `final losses: ${loss}`);
    const curves = page.locator('figure[data-chart="Loss"] polyline[data-series]');
    await curves.first().waitFor();
    assert((await curves.count()) === 2, `two loss curves overlaid (${await curves.count()})`);
    const svg = page.locator('figure[data-chart="Loss"] svg');
    await svg.scrollIntoViewIfNeeded();
    const box = await svg.boundingBox();
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
    const tip = page.locator('figure[data-chart="Loss"] .chart-tip');
    await tip.waitFor();
    assert((await tip.locator('.tip-row').count()) === 2, `hover shows both runs: ${await tip.innerText()}`);
    await assertNoServerPaths('compare');
    await assertNoRawRefs('compare');
    await shot('compare');
  });

  await test('the shared example’s run page: short when collapsed, charts grouped by node with smoothing and hover values', async () => {
    await page.goto(`${base}/runs/${ids[0]}`);
    await page.locator('.conn-closed').waitFor();
    await page.locator('.report-card').first().waitFor();
    const collapsed = await height();
    assert(collapsed < 4000, `run page ${collapsed} px tall collapsed (< 4000)`);
    const groups = await page.locator('.chart-group').evaluateAll((gs) => gs.map((g) => g.dataset.node));
    assert(groups[0] === 'tune' && groups.includes('score'), `charts grouped by node: ${groups}`);
    // no chart of a single dot: an evaluation's results are a table
    const dots = await page.locator('.chart polyline[data-series]').evaluateAll((ls) => ls.map((l) => l.getAttribute('points').trim().split(/\s+/).length));
    assert(dots.every((n) => n > 1), `every curve has more than one point (${dots})`);
    assert((await page.locator('.chart-group[data-node="score"] table.final-values').count()) === 1, 'score values in a table');
    assert((await page.locator('figure[data-chart="eta_s"], figure[data-chart="epoch"]').count()) === 0, 'no eta_s or epoch charts');
    const loss = page.locator('.chart-group[data-node="tune"] figure[data-chart="Loss"]');
    assert((await loss.locator('[data-axis="x"]').textContent()) === 'step', 'x axis labelled');
    const before = await loss.locator('polyline[data-series="loss"]').getAttribute('points');
    await page.getByLabel('Smoothing').fill('0.8');
    await loss.locator('polyline[data-raw="loss"]').waitFor();
    const after = await loss.locator('polyline[data-series="loss"]').getAttribute('points');
    assert(after !== before && after.split(' ').length === before.split(' ').length, 'smoothing redraws the curve, same points');
    await loss.locator('svg').scrollIntoViewIfNeeded();
    const box = await loss.locator('svg').boundingBox();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.4);
    const tip = await loss.locator('.chart-tip').innerText();
    assert(/step \d+/.test(tip) && /smoothed/.test(tip), `hover value: ${tip}`);
    await page.mouse.move(0, 0);
    await page.getByLabel('Smoothing').fill('0');
    await shot('run-finished');
    const closed = page.locator('.report-card h3 button[aria-expanded="false"]');
    for (let i = 0; i < 50 && (await closed.count()) > 0; i++) await closed.first().click();
    await page.locator('.report-card table').first().waitFor();
    await page.waitForTimeout(800);
    const expanded = await height();
    const tall = await page.locator('.report-card').evaluateAll((cs) => cs.map((c) => `${c.dataset.reportNode}/${c.dataset.reportName} ${Math.round(c.getBoundingClientRect().height)}`));
    console.log(`     report heights: ${tall.join(', ')}`);
    assert(expanded < 12000, `run page ${expanded} px tall expanded (< 12000)`);
    // sections of many records (samples, examples) stay folded inside an open report; open them all too
    await page.evaluate(() => document.querySelectorAll('details.report-section').forEach((d) => (d.open = true)));
    await page.waitForTimeout(800);
    // every log line and report open: the server names its folders by node/output or name (internal/api/redact.go)
    await assertNoServerPaths('run page, every report and section open');
    await assertNoRawRefs('run page, every report and section open');
    // the evaluation names the model it read by node and output, linked to this run
    const evalRefs = await page.locator('.report-card[data-report-name="evaluation"] a[data-ref]').evaluateAll((as) => as.map((a) => `${a.textContent} ${a.getAttribute('href')}`));
    assert(evalRefs.includes(`tune/model /runs/${ids[0]}`), `the evaluation report links tune/model to its run: ${evalRefs.join(', ')}`);
    const all = await height();
    console.log(`     shared example run page: ${collapsed} px collapsed, ${expanded} px with every report open, ${all} px with every folded section open too`);
  });

  await test('the shared example’s run page: base-vs-tuned headline and key metrics first; the compare report’s contamination check', async () => {
    await page.goto(`${base}/runs/${ids[0]}`);
    await page.locator('.conn-closed').waitFor();
    const job = (await api(`/jobs/${ids[0]}`)).body;
    const meta = job.nodes.find((n) => n.id === 'versus').outputs.find((o) => o.name === 'comparison').meta;
    const name = meta.primary_metric;
    const h = page.locator('.run-summary [data-headline]');
    await h.waitFor();
    const text = await h.innerText();
    const lead = meta.improved ? 'tuned beats base' : 'tuned is worse than base';
    assert(text.startsWith(`${lead}: ${name} `) && / → /.test(text) && /\([+−]\d+(\.\d+)? %\)/.test(text), `headline: ${text}`);
    assert((await h.getAttribute('data-headline')) === (meta.improved ? 'better' : 'worse'), 'headline verdict from the compare node');
    const stats = await page.locator('.run-summary [data-stat]').evaluateAll((ds) => ds.map((d) => d.dataset.stat));
    for (const k of ['status', 'duration', 'final_loss', 'eval_loss', 'eval_perplexity', 'primary'])
      assert(stats.includes(k), `summary shows ${k} (has ${stats})`);
    const { top } = await page.locator('.run-summary').boundingBox().then((b) => ({ top: b.y }));
    assert(top < 300, `summary at the top (y=${top})`);
    const ds = await page.locator('.run-summary .run-datasets li').allInnerTexts();
    assert(ds.some((t) => t.includes('alpaca_en_demo.json') && /sha256:[0-9a-f]{12}$/.test(t.trim())), `dataset versions: ${ds}`);
    await shot('run-summary');
    // the comparison report (JSON) writes out its contamination check
    const card = page.locator('.report-card[data-report-name="comparison"]');
    await card.locator('h3 button').click();
    const contam = card.locator('.contamination');
    await contam.waitFor();
    const ct = await contam.innerText();
    assert(/training rows/.test(ct) && !/\/(tmp|var|home|root|work)\//.test(ct), `contamination section: ${ct}`);
    // and so does the HTML report
    const href = await page.locator('.report-card[data-report-name="comparison_html"] a[data-html-report]').getAttribute('href');
    const html = await (await fetch(new URL(href, base))).text();
    assert(html.includes('<h2>Contamination</h2>'), 'the HTML report has a contamination section');
    await contam.screenshot({ path: path.join(shots, 'run-contamination.png') });
  });

  await test('models: grouped by run, each with its lineage (base model by name, dataset versions, node, parent), sizes, hashes and copyable snippets; no server paths', async () => {
    await page.goto(`${base}/models`);
    const group = page.locator(`.model-group[data-job-id="${ids[0]}"]`);
    await group.waitFor();
    const outputs = await group.locator('tr[data-output]').evaluateAll((rs) => rs.map((r) => r.dataset.output));
    assert(JSON.stringify(outputs) === JSON.stringify(['adapter', 'merged', 'gguf', 'model']), `one group, adapter/merged/GGUF together: ${outputs}`);
    const lineage = await group.locator('.lineage').innerText();
    assert(/stories260K/.test(lineage) && /alpaca_en_demo\.json/.test(lineage) && lineage.includes(ids[0]), `lineage: ${lineage}`);
    const models = (await api('/models?limit=100')).body.models.filter((m) => m.job_id === ids[0]);
    const trained = models.find((m) => m.output === 'model');
    assert(trained && models.every((m) => m.lineage?.datasets?.length), `every model of the run has a recorded lineage: ${JSON.stringify(models.map((m) => m.lineage))}`);
    for (const m of models) {
      const h = await group.locator(`tr[data-model-id="${m.model_id}"] .hash[data-sha256]`).getAttribute('data-sha256');
      assert(h === m.meta.sha256 && /^[0-9a-f]{64}$/.test(h), `sha256 of ${m.output}`);
      const cell = (k) => group.locator(`tr[data-model-id="${m.model_id}"] [data-lineage="${k}"]`);
      assert((await cell('base').innerText()) === 'stories260K', `${m.output}: base model by its folder name: ${await cell('base').innerText()}`);
      const v = m.lineage.datasets[0].version;
      const shown = await cell('datasets').locator('li').first().innerText();
      assert(shown === `alpaca_en_demo.json @${v.slice(7, 19)}` && (await cell('datasets').locator(`li[data-version="${v}"]`).count()) === 1, `${m.output}: dataset version ${v}: ${shown}`);
      assert((await cell('node').innerText()) === m.node_id, `${m.output}: node ${m.node_id}`);
      const parent = await cell('parent').getAttribute('data-parent-id');
      assert(m === trained ? parent === null : parent === trained.model_id, `${m.output}: parent ${parent}, want ${m === trained ? 'none' : trained.model_id}`);
    }
    await assertNoServerPaths('models');
    await assertNoRawRefs('models');
    for (const [tab, want] of [
      ['Ollama', 'ollama create'],
      ['llama.cpp', 'llama-cli -m'],
      ['whet generate', 'whet generate --model'],
      ['Python (PEFT)', 'PeftModel.from_pretrained'],
    ]) {
      await group.getByRole('tab', { name: tab }).click();
      await group.getByRole('button', { name: `Copy the ${tab} snippet` }).click();
      const copied = await page.evaluate(() => navigator.clipboard.readText());
      assert(copied.includes(want), `${tab} snippet copied: ${copied}`);
      if (tab !== 'Python (PEFT)') {
        const url = /'?(http:\/\/[^ ']+)'?/.exec(copied)?.[1];
        assert(url, `${tab} snippet downloads from the server: ${copied}`);
        const r = await fetch(url);
        assert(r.ok && (await r.arrayBuffer()).byteLength > 1000, `${url} answers ${r.status}`);
      }
    }
    await group.getByRole('tab', { name: 'Ollama' }).click();
    await shot('models');
  });

  await test('models: format filter and search filter on the server (kept in the URL), with a count of what matches', async () => {
    const all = (await api('/models?limit=1000')).body;
    const ggufs = all.models.filter((m) => (m.meta?.format || m.output) === 'gguf');
    assert(ggufs.length >= 2, `each run exported a GGUF: ${ggufs.length}`);
    await page.goto(`${base}/models`);
    const count = page.locator('.models-page [data-models-total]');
    await count.waitFor();
    assert((await count.getAttribute('data-models-total')) === String(all.total), `the count names every model: ${await count.innerText()}`);
    await page.getByLabel('Format').selectOption({ label: 'GGUF' });
    await page.waitForURL(/[?&]format=gguf/);
    await page.waitForFunction((n) => document.querySelector('.models-page [data-models-total]')?.getAttribute('data-models-total') === String(n), ggufs.length);
    const shown = await page.locator('.models-page tr[data-model-id]').evaluateAll((rs) => rs.map((r) => r.dataset.modelId).sort());
    assert(JSON.stringify(shown) === JSON.stringify(ggufs.map((m) => m.model_id).sort()), `only the GGUF models: ${shown}`);
    await page.getByLabel('Search').fill(ids[1]);
    await page.locator(`.model-group[data-job-id="${ids[0]}"]`).waitFor({ state: 'detached' });
    const rows = await page.locator('.models-page tr[data-model-id]').evaluateAll((rs) => rs.map((r) => r.dataset.modelId));
    const want = ggufs.filter((m) => m.job_id === ids[1]).map((m) => m.model_id);
    assert(JSON.stringify(rows) === JSON.stringify(want) && (await count.innerText()) === '1 of 1 matching model', `the variant run's GGUF alone: ${rows} (${await count.innerText()})`);
    await page.getByLabel('Search').fill('no-such-model');
    await page.getByText('No models in format GGUF matching “no-such-model”.').waitFor();
    await page.goto(`${base}/models?q=${encodeURIComponent(ids[0])}`);
    await page.locator(`.model-group[data-job-id="${ids[0]}"]`).waitFor();
    assert((await page.locator('.model-group').count()) === 1 && (await page.getByLabel('Search').inputValue()) === ids[0], 'a search in the URL filters on load');
  });

  let modelURL = '';
  await test('a model’s page: facts, lineage, metrics and curve, evaluation, files that download, fine-tune it in the editor; not found; no server paths', async () => {
    const models = (await api('/models?limit=1000')).body.models.filter((m) => m.job_id === ids[0]);
    const merged = models.find((m) => m.output === 'merged');
    const trained = models.find((m) => m.output === 'model');
    const adapter = models.find((m) => m.output === 'adapter');
    assert(merged && trained && adapter, `the run made merged, adapter and trained models: ${models.map((m) => m.output)}`);
    const m = (await api(`/models/${merged.model_id}`)).body;
    // from the Models list, by the model's link
    await page.goto(`${base}/models`);
    await page.locator(`.model-group[data-job-id="${ids[0]}"] tr[data-model-id="${m.model_id}"] td strong a`).click();
    await page.waitForURL(`${base}/models/${m.model_id}`);
    modelURL = page.url();
    await page.locator(`.model-page[data-model-id="${m.model_id}"]`).waitFor();
    assert((await page.locator('main h1').innerText()) === m.name, `title: ${await page.locator('main h1').innerText()}`);
    const fact = (k) => page.locator(`[data-fact="${k}"]`);
    assert((await fact('id').innerText()).includes(m.model_id), 'the id');
    assert((await fact('format').getAttribute('data-format')) === 'merged' && (await fact('format').innerText()).startsWith('merged safetensors'), `format: ${await fact('format').innerText()}`);
    const size = await fact('size').innerText();
    assert(/^\d+(\.\d)? (B|KiB|MiB) in \d+ files$/.test(size) && size.endsWith(`in ${m.files.length} files`), `size: ${size}`);
    assert((await fact('created').innerText()).includes('ago'), `created: ${await fact('created').innerText()}`);
    await page.locator('[data-fact="run"] .badge').waitFor();
    const run = await fact('run').innerText();
    assert(run.startsWith('output merged of node ship (export) in run stories-lora'), `made by: ${run}`);
    assert((await fact('run').locator('a').getAttribute('href')) === `/runs/${ids[0]}`, 'links its run');
    // lineage: base model and version by name, the dataset version, the trained model it was exported from
    const lin = (k) => page.locator(`[data-lineage="${k}"]`);
    const baseText = await lin('base').innerText();
    const bv = m.lineage.base_model_version;
    assert(baseText === (bv ? `stories260K @${bv.slice(7, 19)}` : 'stories260K'), `base model: ${baseText} (version ${bv})`);
    const v = m.lineage.datasets[0].version;
    assert((await lin('datasets').innerText()).trim() === `alpaca_en_demo.json @${v.slice(7, 19)}`, `datasets: ${await lin('datasets').innerText()}`);
    await lin('parent').waitFor();
    assert((await lin('parent').locator('a').getAttribute('href')) === `/models/${trained.model_id}`, 'made from the trained model, linked');
    // the chain of ancestor models, when the API gives one with a model of this server in it (a base folder alone is the base model above)
    const chain = Array.isArray(m.lineage?.chain) ? m.lineage.chain : Array.isArray(m.chain) ? m.chain : [];
    const links = await page.locator('.model-chain li').count();
    assert(chain.some((c) => c.model_id) ? links === chain.length + 1 : links === 0, `chain shown only when the API has one with a model (API ${JSON.stringify(chain)}, page ${links})`);
    // metrics: the training facts copied into the export, the trained model's curve, the run's evaluation and headline
    const metric = (k) => page.locator(`.model-metrics [data-metric="${k}"] dd`).innerText();
    assert(/^\d+(\.\d+)?$/.test(await metric('final_loss')) && (await metric('steps')) === String(m.meta.metrics.steps), `metrics: ${await page.locator('.model-metrics').innerText()}`);
    const curve = page.locator('.model-history figure[data-chart="Loss"] polyline[data-series="loss"]');
    await curve.waitFor();
    assert((await curve.getAttribute('points')).trim().split(/\s+/).length > 10, 'the training curve has the run’s steps');
    const ev = page.locator('[data-eval-node="score"]');
    assert((await ev.innerText()).includes('evaluated tune/model, the model this one was exported from'), `evaluation: ${await ev.innerText()}`);
    assert(/^\d/.test(await ev.locator('[data-metric="rouge_l"] dd').innerText()), 'rouge_l measured');
    assert((await page.locator('.model-page [data-headline]').count()) === 1, 'the run’s base-vs-tuned headline');
    // files: every file, with its size, each a download that answers the recorded bytes; the folder as tar
    const rows = await page.locator('.model-files tbody tr').evaluateAll((rs) => rs.map((r) => r.dataset.file));
    assert(JSON.stringify([...rows].sort()) === JSON.stringify([...m.files].sort()), `files: ${rows} vs ${m.files}`);
    const cfg = m.meta.files.find((f) => f.path === 'config.json');
    const href = await page.locator('.model-files tr[data-file="config.json"] a').getAttribute('href');
    const got = await fetch(new URL(href, base));
    assert(got.ok && (await got.arrayBuffer()).byteLength === cfg.size, `config.json downloads its ${cfg.size} bytes (${got.status})`);
    const tar = await fetch(new URL(await page.locator('.model-files-panel a.download-all').getAttribute('href'), base));
    assert(tar.ok && tar.headers.get('content-type') === 'application/x-tar' && (await tar.arrayBuffer()).byteLength > m.size, `the folder as tar (${tar.status})`);
    await assertNoServerPaths('model page');
    await assertNoRawRefs('model page');
    await axeCheck(page, 'model page');
    await shot('model');
    // the whole page (main scrolls inside the window): a window as tall as the page
    const tall = await height();
    await page.setViewportSize({ width: 1280, height: Math.min(tall + 100, 6000) });
    await page.waitForTimeout(300);
    await shot('model-full');
    await page.setViewportSize({ width: 1280, height: 800 });
    // the YAML of a train node that starts from it, copied
    await page.getByRole('button', { name: "Copy the train node's YAML" }).click();
    const yaml = await page.evaluate(() => navigator.clipboard.readText());
    assert(yaml.includes(`base_model: ${m.model_id}`), `train node YAML: ${yaml}`);
    // fine-tune it: the editor opens with the run's pipeline, its train node starting from this model, and the server finds no problem
    page.once('dialog', (d) => d.accept());
    await page.getByRole('button', { name: 'Fine-tune this model in the editor' }).click();
    await page.waitForURL(`${base}/`);
    const tune = page.locator('.agent-node[data-node-id="tune"]');
    await tune.waitFor();
    assert((await page.locator('.agent-node').count()) === 7, 'the run’s seven nodes');
    await page.locator('.check-status[data-problems="0"]').waitFor({ timeout: 20_000 });
    await tune.click();
    assert((await page.locator('#param-tune-base_model').inputValue()) === m.model_id, `tune.base_model: ${await page.locator('#param-tune-base_model').inputValue()}`);
    assert((await page.getByLabel('Pipeline name').inputValue()) === `stories-lora-from-${m.model_id.slice(-6).toLowerCase()}`, 'named after the run and the model');
    await shot('model-as-base');
    // run it: the new run trains from this model, and its model's page names this one as its base (and in its chain, when the API gives one)
    await page.getByRole('button', { name: 'Run pipeline' }).click();
    await page.waitForURL(/\/runs\/job_/);
    const again = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
    const deadline = Date.now() + Number(process.env.E2E_TIMEOUT_MS ?? 300_000);
    for (;;) {
      const j = (await api(`/jobs/${again}`)).body;
      if (['succeeded', 'failed', 'cancelled'].includes(j.status)) {
        assert(j.status === 'succeeded', `the run from ${m.model_id}: ${j.status}: ${j.error}`);
        break;
      }
      assert(Date.now() < deadline, `${again} still ${j.status}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const child = (await api('/models?limit=1000')).body.models.find((x) => x.job_id === again && x.output === 'model');
    assert(child?.lineage?.base_model === m.model_id, `the new run's model has ${m.model_id} as its base: ${JSON.stringify(child?.lineage)}`);
    // while the base model's own GET /models/{id} is slow, its link shows a placeholder (or the name its chain gives), never the raw id
    let releaseBase = () => {};
    const baseHeld = new Promise((r) => (releaseBase = r));
    let baseServed = () => {};
    const baseDone = new Promise((r) => (baseServed = r));
    await page.route(
      `**/api/v1/models/${m.model_id}`,
      async (route) => {
        await baseHeld;
        await route.continue();
        baseServed();
      },
      { times: 1 },
    );
    await page.goto(`${base}/models/${child.model_id}`);
    await lin('base').locator('a').waitFor();
    const early = await lin('base').locator('a').innerText();
    assert(early !== m.model_id && [m.name, 'loading name…'].includes(early), `while its name loads, the base model shows no raw id: ${early}`);
    releaseBase();
    await baseDone;
    // the base model's name comes with its own GET /models/{id}, after the link
    await lin('base').getByRole('link', { name: m.name, exact: true }).waitFor({ timeout: 10_000 }).catch(() => {});
    const baseLink = lin('base').locator('a');
    assert((await baseLink.getAttribute('href')) === `/models/${m.model_id}` && (await baseLink.innerText()) === m.name, `its base model is this one, by name and linked: ${await baseLink.innerText()}`);
    const childChain = Array.isArray(child.lineage.chain) ? child.lineage.chain : [];
    const childLinks = await page.locator('.model-chain li').count();
    assert(childChain.some((c) => c.model_id) ? childLinks === childChain.length + 1 : childLinks === 0, `chain of the model trained from it (API ${JSON.stringify(childChain)}, page ${childLinks})`);
    if (childLinks) assert((await page.locator(`.model-chain li[data-chain-id="${m.model_id}"] a[href^="/models/"]`).getAttribute('href')) === `/models/${m.model_id}`, 'the chain links the model it was trained from');
    await assertNoServerPaths('the page of a model trained from a model');
    await shot('model-child');
    // an adapter is no base: its page points to the merged model
    await page.goto(`${base}/models/${adapter.model_id}`);
    const not = page.locator('[data-not-base]');
    await not.waitFor();
    assert((await not.locator('a').getAttribute('href')) === `/models/${m.model_id}`, `the adapter points to the merged model: ${await not.innerText()}`);
    // an unknown id: not found, clearly (the browser logs the 404)
    const before = consoleErrors.length;
    await page.goto(`${base}/models/mdl_doesnotexist`);
    const nf = page.locator('[data-not-found]');
    await nf.waitFor();
    assert((await page.locator('main h1').innerText()) === 'Model not found' && (await nf.innerText()).includes('There is no model mdl_doesnotexist'), `not found: ${await nf.innerText()}`);
    consoleErrors.splice(before).filter((e) => !/\b404\b/.test(e)).forEach((e) => consoleErrors.push(e));
  });

  await test('datasets: rows, detected format and columns in the list; the profile and sample at once on a dataset’s page; versions shortened; no server paths', async () => {
    const up = async (file, type) => {
      const form = new FormData();
      form.append('file', new Blob([fs.readFileSync(file)], { type }), path.basename(file));
      const r = await fetch(`${base}/api/v1/datasets/upload`, { method: 'POST', body: form });
      const body = await r.json();
      assert(r.status === 201, `upload ${file}: ${r.status} ${JSON.stringify(body)}`);
      return body;
    };
    const assets = path.resolve(repo, '../shared/assets/datasets/llama-factory');
    // a JSONL chat file (messages with content parts): detected as messages, not "json"
    const CHAT_WANT = { rows: '500', format: 'messages · jsonl', columns: 'messages' };
    const chat = await up(path.join(assets, 'v1_sft_demo.jsonl'), 'application/jsonl');
    const alpaca = await up(path.join(assets, 'alpaca_en_demo.json'), 'application/json');
    await page.goto(`${base}/datasets`);
    await page.locator(`tr[data-dataset-id="${alpaca.dataset_id}"]`).waitFor();
    const head = await page.locator('.datasets-table thead th').allInnerTexts();
    for (const [d, want] of [
      [chat, CHAT_WANT],
      // columns in a fixed order: the usual dataset fields first (a JSON row is a map)
      [alpaca, { rows: '999', format: 'alpaca · json', columns: 'instruction, input, output' }],
    ]) {
      const row = page.locator(`tr[data-dataset-id="${d.dataset_id}"]`);
      await row.waitFor();
      const cells = await row.locator('td').allInnerTexts();
      const col = (h) => cells[head.indexOf(h)];
      assert(col('Rows') === want.rows && col('Format') === want.format && col('Columns') === want.columns, `${d.name}: ${cells.join(' | ')}; want ${JSON.stringify(want)}`);
      assert(col('Version') === d.sha256.slice(0, 12), `${d.name}: version shortened: ${col('Version')}`);
    }
    assert(!(await page.locator('main').innerText()).includes(chat.sha256), 'no whole sha256 in the list');
    await assertNoServerPaths('datasets');
    await shot('datasets-profiled');
    // the filters: the detected format and a search, kept in the URL; nothing matching says so and clears them
    const shown = () => page.locator('tr[data-dataset-id]').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-dataset-id')));
    await page.locator('.datasets-page select').selectOption('messages,sharegpt');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('format') === 'messages,sharegpt');
    await page.locator(`tr[data-dataset-id="${alpaca.dataset_id}"]`).waitFor({ state: 'detached' });
    assert((await shown()).includes(chat.dataset_id), `chat filter keeps the chat upload: ${await shown()}`);
    await page.locator('.datasets-page input[type="search"]').fill('ALPACA_en');
    await page.locator('.datasets-empty').waitFor();
    const empty = await page.locator('.datasets-empty').innerText();
    assert(empty.includes('No datasets of chat (messages, sharegpt) records matching “ALPACA_en”'), `empty state: ${empty}`);
    await shot('datasets-filtered-empty');
    await page.locator('.datasets-page select').selectOption('alpaca');
    await page.locator(`tr[data-dataset-id="${alpaca.dataset_id}"]`).waitFor();
    assert(new URL(page.url()).search === '?format=alpaca&q=ALPACA_en', `filters in the URL: ${page.url()}`);
    await page.locator('.datasets-page input[type="search"]').fill('no such dataset');
    await page.getByRole('button', { name: 'Clear the filters' }).click();
    await page.locator(`tr[data-dataset-id="${chat.dataset_id}"]`).waitFor();
    assert(new URL(page.url()).search === '' && (await shown()).includes(alpaca.dataset_id), `cleared: ${page.url()} ${await shown()}`);
    await page.locator(`tr[data-dataset-id="${chat.dataset_id}"] a`).first().click();
    await page.locator('.dataset-page h1').waitFor();
    const fact = (k) => page.locator(`[data-fact="${k}"]`).innerText();
    assert((await fact('rows')) === CHAT_WANT.rows && (await fact('format')).startsWith(CHAT_WANT.format.split(' · ')[0]), `facts: ${await fact('rows')}, ${await fact('format')}`);
    assert((await page.locator('[data-fact="version"] .hash').innerText()) === chat.sha256.slice(0, 12), 'version shortened on the page');
    assert((await page.locator('table.profile-columns tbody tr').count()) >= 1, 'the profile’s columns are shown');
    assert((await page.locator('table.profile-lengths tbody tr').count()) >= 2, 'the profile’s lengths are shown');
    const samples = await page.locator('table.samples-table tbody tr').count();
    assert(samples >= 3, `sample records shown at once (${samples})`);
    assert((await page.getByRole('button', { name: 'Profile this dataset' }).count()) === 0, 'no job needed to profile an upload');
    assert(!(await page.locator('main').innerText()).includes(chat.sha256), 'no whole sha256 on the page');
    await assertNoServerPaths('dataset page');
    await axeCheck(page, 'dataset page');
    await shot('dataset-profiled');
  });

  const lists = () => [
    ['runs', `${base}/runs`],
    ['compare', `${base}/runs/compare?ids=${ids.join(',')}`],
    ['models', `${base}/models`],
    ['datasets', `${base}/datasets`],
    ['run', `${base}/runs/${ids[0]}`],
    ...(modelURL ? [['model', modelURL]] : []),
  ];
  await test('at 400 px tables scroll sideways and the page does not', async () => {
    await page.setViewportSize({ width: 400, height: 860 });
    for (const [name, url] of lists()) {
      await page.goto(url);
      await page.locator('main h1').first().waitFor();
      await page.waitForTimeout(1200);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert(overflow <= 1, `${name}: no page overflow at 400 px (${overflow} px)`);
      const wraps = await page.locator('.table-wrap').evaluateAll((ws) =>
        ws.map((w) => ({ scroll: w.scrollWidth > w.clientWidth + 1, auto: ['auto', 'scroll'].includes(getComputedStyle(w).overflowX), inside: w.getBoundingClientRect().right <= window.innerWidth + 1 })),
      );
      assert(wraps.every((w) => w.inside && (!w.scroll || w.auto)), `${name}: every table fits or scrolls inside its card ${JSON.stringify(wraps)}`);
      if (name === 'runs') {
        assert(wraps.some((w) => w.scroll), 'the runs table is wider than 400 px and scrolls');
        // the last column is reachable by scrolling
        const last = page.locator('.runs-table thead th').last();
        await last.scrollIntoViewIfNeeded();
        assert(await last.isVisible(), 'the Nodes column scrolls into view');
        await page.locator('.table-wrap').first().evaluate((w) => (w.scrollLeft = 0));
      }
      await shot(`${name}-narrow`);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  await test('dark theme screenshots at 1280×800 and 400 px', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    for (const [w, h, suffix] of [
      [1280, 800, 'dark'],
      [400, 860, 'narrow-dark'],
    ]) {
      await page.setViewportSize({ width: w, height: h });
      for (const [name, url] of lists().filter(([n]) => n !== 'datasets')) {
        await page.goto(url);
        await page.locator('main h1').first().waitFor();
        assert((await page.evaluate(() => document.documentElement.dataset.theme)) === 'dark', 'dark theme follows the system');
        await page.waitForTimeout(1200);
        await shot(`${name}-${suffix}`);
      }
    }
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  await test('axe-core: no serious or critical violations on the runs, compare, run, models, model and datasets pages (light; run and models dark too)', async () => {
    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      // dark: the pages with the most colour (charts, badges, code) only, to keep the suite's time down
      for (const [name, url] of lists().filter(([n]) => scheme === 'light' || ['run', 'models'].includes(n))) {
        await page.goto(url);
        await page.locator('main h1').first().waitFor();
        await page.waitForTimeout(1500);
        await axeCheck(page, `${name} (${scheme})`);
      }
    }
    await page.emulateMedia({ colorScheme: 'light' });
  });

  // Last: it deletes one of the variant run's models and a dataset the other steps do not read.
  await test('delete: a model from its page (a refusal shown in the dialog; then back to the list, gone) and a dataset from the list', async () => {
    const victim = (await api('/models?limit=1000')).body.models.find((x) => x.job_id === ids[1] && x.output === 'gguf');
    assert(victim, `the variant run has a GGUF model`);
    await page.goto(`${base}/models/${victim.model_id}`);
    await page.locator(`.model-page[data-model-id="${victim.model_id}"]`).waitFor();
    const title = await page.locator('main h1').innerText();
    const open = page.getByRole('button', { name: `Delete model ${title}`, exact: true });
    await open.click();
    const dlg = page.getByRole('alertdialog');
    await dlg.waitFor();
    assert((await dlg.locator('h2').innerText()) === `Delete model “${title}”?`, `the dialog names the model: ${await dlg.locator('h2').innerText()}`);
    await axeCheck(page, 'delete dialog');
    await shot('delete-dialog');
    // the server refuses (as while a queued job uses it): the dialog says why and deletes nothing
    const why = `model ${victim.model_id} is in use by queued or running job job_e2e: cancel it or wait for it to end, then delete it`;
    await page.route(
      `**/api/v1/models/${victim.model_id}`,
      (route) =>
        route.request().method() === 'DELETE'
          ? route.fulfill({ status: 409, contentType: 'application/problem+json', body: JSON.stringify({ title: 'Conflict', status: 409, detail: why }) })
          : route.continue(),
      { times: 1 },
    );
    const before = consoleErrors.length;
    await dlg.getByRole('button', { name: 'Delete', exact: true }).click();
    await dlg.getByRole('alert').waitFor();
    assert((await dlg.getByRole('alert').innerText()) === `Not deleted: ${why}`, `the refusal: ${await dlg.getByRole('alert').innerText()}`);
    consoleErrors.splice(before).filter((e) => !/\b409\b/.test(e)).forEach((e) => consoleErrors.push(e));
    assert((await api(`/models/${victim.model_id}`)).status === 200, 'still there after the refusal');
    await dlg.getByRole('button', { name: 'Cancel' }).click();
    await dlg.waitFor({ state: 'detached' });
    // deleted for real: back to the list, where it is gone, and its files with it
    await open.click();
    await dlg.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.waitForURL(`${base}/models`);
    await page.locator('.model-group').first().waitFor();
    assert((await page.locator(`tr[data-model-id="${victim.model_id}"]`).count()) === 0, 'the list no longer has it');
    assert((await api(`/models/${victim.model_id}`)).status === 404, 'GET after deleting: 404');
    assert((await fetch(`${base}/api/v1/models/${victim.model_id}/download`)).status === 404, 'its files: 404');
    // a dataset, from the list
    const form = new FormData();
    form.append('file', new Blob(['{"instruction":"a","output":"b"}\n'], { type: 'application/jsonl' }), 'to-delete.jsonl');
    const ds = await (await fetch(`${base}/api/v1/datasets/upload`, { method: 'POST', body: form })).json();
    await page.goto(`${base}/datasets`);
    const row = page.locator(`tr[data-dataset-id="${ds.dataset_id}"]`);
    await row.getByRole('button', { name: 'Delete dataset to-delete.jsonl' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Delete', exact: true }).click();
    await row.waitFor({ state: 'detached' });
    assert((await api(`/datasets/${ds.dataset_id}`)).status === 404, 'the dataset after deleting: 404');
  });

  await test('no console errors', async () => {
    assert(!consoleErrors.length, `console errors:\n${consoleErrors.join('\n')}`);
  });
} finally {
  await browser.close();
  await server.stop();
}
const failed = results.filter((r) => !r.ok).length;
console.log(`screenshots in ${shots}`);
console.log(`${results.length - failed} passed, ${failed} failed${skipped ? `, ${skipped} skipped (E2E_ONLY)` : ''}`);
process.exit(failed ? 1 : 0);
