// Editor suite: drives Debian's chromium with playwright-core against a real
// `whet serve` (WHET_BIN; auth off on loopback).
//
// The node inspector splits params into basic and advanced and starts each
// node at the top; a node's dataset `source` is picked from the uploaded
// datasets by name, or uploaded in place (file input, or a file dropped on
// it); a run is named after the pipeline and the date, editable before
// submitting; in the dark theme the canvas, grid, edges, zoom controls and
// minimap use the theme's colours; at 400 px every palette item shows; axe
// finds no serious or critical violation on the editor. Prints "N passed, N failed".

import fs from 'node:fs';
import path from 'node:path';
import { axeCheck } from './axe.mjs';
import { assert, launch, newDataDir, sharedAssets, shots, startServer, suite } from './harness.mjs';

const assetFile = path.join(sharedAssets, 'datasets/llama-factory/alpaca_en_demo.json');
let page;
const { test, done } = suite('editor', () => page);
const server = await startServer(newDataDir('editor'));
const base = server.base;
const browser = await launch();
const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
context.setDefaultTimeout(15_000);
page = await context.newPage();
const consoleErrors = [];
page.on('pageerror', (e) => consoleErrors.push(`uncaught ${e.message}`));
const api = async (p, init) => {
  const r = await fetch(base + '/api/v1' + p, init);
  const t = await r.text();
  return { status: r.status, body: t ? JSON.parse(t) : null };
};
const node = (id) => page.locator(`.agent-node[data-node-id="${id}"]`);
const inspector = page.locator('aside.inspector');
const addByKeyboard = async (agent) => {
  await page.locator(`.palette-item[data-agent="${agent}"]`).focus();
  await page.keyboard.press('Enter');
  await node(`${agent}-1`).waitFor();
};
// top-level params shown (an object param's fields are not counted)
const visibleParams = () => inspector.locator('.node-inspector > .param-form > [data-param], .node-inspector > .param-form > .advanced-params > .param-form > [data-param]').count();

try {
  await page.goto(base + '/');
  await page.locator('.palette-item').first().waitFor();
  const agents = (await api('/agents')).body;
  const train = (Array.isArray(agents) ? agents : agents.agents).find((a) => a.name === 'train');

  await test('the inspector shows basic params first, the rest behind "advanced"', async () => {
    await addByKeyboard('train');
    await node('train-1').click();
    await inspector.locator('#param-train-1-base_model').waitFor();
    const shown = await visibleParams();
    assert(shown <= 9, `train shows ${shown} of ${train.params.length} params before "advanced"`);
    const toggle = inspector.getByRole('button', { name: /advanced params/ });
    assert(/Show \d+ advanced params/.test(await toggle.innerText()), `toggle says how many: ${await toggle.innerText()}`);
    await toggle.click();
    assert((await visibleParams()) === train.params.length, 'every param after "advanced"');
    await inspector.locator('#param-train-1-gradient_checkpointing').waitFor();
  });

  await test('the params panel starts at the top for each node', async () => {
    await inspector.evaluate((el) => (el.scrollTop = el.scrollHeight));
    assert((await inspector.evaluate((el) => el.scrollTop)) > 100, 'the inspector scrolled down');
    await addByKeyboard('dataset');
    await node('dataset-1').click();
    await inspector.locator('#param-dataset-1-source').waitFor();
    assert((await inspector.evaluate((el) => el.scrollTop)) === 0, 'scroll reset on the next node');
  });

  let uploaded = '';
  await test('a dataset source: upload in place (file input), then pick by name', async () => {
    await inspector.locator('input[type=file][aria-label="Upload a dataset file for source"]').setInputFiles(assetFile);
    await page.waitForFunction(() => /^[A-Za-z0-9_-]+$/.test(document.querySelector('#param-dataset-1-source')?.value ?? '') && document.querySelector('#param-dataset-1-source').value.length > 8);
    uploaded = await page.locator('#param-dataset-1-source').inputValue();
    const ds = (await api(`/datasets/${encodeURIComponent(uploaded)}`)).body;
    assert(ds && ds.dataset_id === uploaded, `the upload is a dataset: ${JSON.stringify(ds).slice(0, 200)}`);
    const pick = page.locator('#param-dataset-1-source-pick');
    await page.waitForFunction((id) => document.querySelector('#param-dataset-1-source-pick')?.value === id, uploaded);
    const label = await pick.locator('option:checked').innerText();
    assert(label.startsWith('alpaca_en_demo.json'), `picked by name: ${label}`);
    // clear, then pick it again from the list
    await page.locator('#param-dataset-1-source').fill('');
    await pick.selectOption(uploaded);
    assert((await page.locator('#param-dataset-1-source').inputValue()) === uploaded, 'picking sets the id');
  });

  await test('a dataset source: drop a file on it', async () => {
    const text = fs.readFileSync(assetFile, 'utf8');
    const dt = await page.evaluateHandle((t) => {
      const d = new DataTransfer();
      d.items.add(new File([t], 'dropped.json', { type: 'application/json' }));
      return d;
    }, text);
    await page.dispatchEvent('.dropzone[data-dropzone="source"]', 'dragover', { dataTransfer: dt });
    await page.dispatchEvent('.dropzone[data-dropzone="source"]', 'drop', { dataTransfer: dt });
    await page.waitForFunction((old) => {
      const v = document.querySelector('#param-dataset-1-source')?.value;
      return v && v !== old;
    }, uploaded);
    const id = await page.locator('#param-dataset-1-source').inputValue();
    const list = (await api('/datasets')).body.datasets;
    const d = list.find((x) => x.dataset_id === id);
    assert(d && d.name === 'dropped.json', `the dropped file is uploaded as ${id}: ${JSON.stringify(list.map((x) => x.name))}`);
    await page.locator('.dataset-picker [role=status]').waitFor();
    await axeCheck(page, 'editor with the inspector');
  });

  await test('a run is named after the pipeline and the date; the name is editable before submit', async () => {
    await page.getByRole('button', { name: 'Clear' }).click();
    await page.getByLabel('Start from a template').selectOption('validate-only');
    await page.waitForFunction(() => document.querySelectorAll('.agent-node').length === 2);
    const name = page.getByLabel('Run name');
    const auto = await name.inputValue();
    assert(/^dataset-check-\d{4}-\d\d-\d\d-\d{4}$/.test(auto), `automatic run name: ${auto}`);
    await name.fill('alpaca check, first try');
    await page.getByRole('button', { name: 'Run pipeline' }).click();
    await page.waitForURL(/\/runs\/[^/]+$/);
    const id = decodeURIComponent(page.url().split('/runs/')[1]);
    const job = (await api(`/jobs/${encodeURIComponent(id)}`)).body;
    assert(job.name === 'alpaca check, first try', `the job is named as typed: ${job.name}`);
    await page.goBack();
    await page.locator('.palette-item').first().waitFor();
    const next = await page.getByLabel('Run name').inputValue();
    assert(/^dataset-check-\d{4}-/.test(next), `the next run gets an automatic name again: ${next}`);
    // a pipeline still under the default name is named after its main step
    await page.getByLabel('Pipeline name').fill('my-pipeline');
    assert(/^validate-/.test(await page.getByLabel('Run name').inputValue()), 'named after the main step');
    await page.screenshot({ path: path.join(shots, 'editor-run-name.png') });
  });

  await test('dark theme: canvas, grid, edges, zoom controls and minimap use the theme colours', async () => {
    const colours = () =>
      page.evaluate(() => {
        const css = (sel, prop) => {
          const el = document.querySelector(sel);
          return el ? getComputedStyle(el)[prop] : null;
        };
        const v = (name) => {
          const probe = document.createElement('div');
          probe.style.color = `var(${name})`;
          document.body.appendChild(probe);
          const c = getComputedStyle(probe).color;
          probe.remove();
          return c;
        };
        return {
          want: { bg: v('--bg'), panel: v('--panel'), edge: v('--edge'), grid: v('--grid'), fg: v('--fg') },
          canvas: css('.canvas .react-flow', 'backgroundColor'),
          grid: css('.canvas .react-flow__background circle', 'fill'),
          edge: css('.canvas .react-flow__edge-path', 'stroke'),
          button: css('.canvas .react-flow__controls-button', 'backgroundColor'),
          buttonIcon: css('.canvas .react-flow__controls-button', 'color'),
          minimap: css('.canvas .react-flow__minimap', 'backgroundColor'),
        };
      });
    for (const theme of ['dark', 'light']) {
      if ((await page.evaluate(() => document.documentElement.dataset.theme)) !== theme) await page.getByRole('button', { name: `Switch to ${theme} theme` }).click();
      await page.waitForTimeout(200);
      const c = await colours();
      const want = c.want;
      assert(c.canvas === want.bg, `${theme}: canvas ${c.canvas}, want ${want.bg}`);
      assert(c.grid === want.grid, `${theme}: grid dots ${c.grid}, want ${want.grid}`);
      assert(c.edge === want.edge, `${theme}: edges ${c.edge}, want ${want.edge}`);
      assert(c.button === want.panel && c.buttonIcon === want.fg, `${theme}: zoom controls ${c.button}/${c.buttonIcon}, want ${want.panel}/${want.fg}`);
      assert(c.minimap === want.panel, `${theme}: minimap ${c.minimap}, want ${want.panel}`);
      if (theme === 'dark') await page.screenshot({ path: path.join(shots, 'editor-dark-canvas.png') });
    }
  });

  await test('at 400 px every palette item shows, the canvas has room, nothing overflows', async () => {
    await page.setViewportSize({ width: 400, height: 800 });
    await page.waitForTimeout(300);
    const r = await page.evaluate(() => {
      const pal = document.querySelector('.palette');
      const items = [...document.querySelectorAll('.palette-item')].map((b) => b.getBoundingClientRect());
      const palBox = pal.getBoundingClientRect();
      const canvas = document.querySelector('.canvas').getBoundingClientRect();
      return {
        n: items.length,
        shown: items.filter((b) => b.width > 40 && b.height > 10 && b.left >= 0 && b.right <= window.innerWidth && b.top >= palBox.top - 1 && b.bottom <= palBox.bottom + 1).length,
        overflow: document.documentElement.scrollWidth - window.innerWidth,
        canvasH: canvas.height,
        canvasW: canvas.width,
        minimap: (() => {
          const m = document.querySelector('.canvas .react-flow__minimap');
          return m ? getComputedStyle(m).display : 'none';
        })(),
      };
    });
    assert(r.shown === r.n, `${r.shown} of ${r.n} palette items show at 400 px`);
    assert(r.overflow <= 1, `horizontal overflow ${r.overflow}px`);
    assert(r.canvasH >= 300 && r.canvasW >= 380, `canvas ${r.canvasW}×${r.canvasH}`);
    assert(r.minimap === 'none', 'no minimap covering the nodes at 400 px');
    await page.screenshot({ path: path.join(shots, 'editor-400.png') });
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  await test('a template chosen before the agents arrive loads once they do', async () => {
    // a slow GET /agents (as on a busy server): the template must not be reported as unknown agents
    await page.route('**/api/v1/agents', async (route) => {
      await new Promise((r) => setTimeout(r, 1500));
      await route.continue();
    });
    await page.goto(base + '/');
    await page.getByLabel('Start from a template').selectOption('validate-only');
    await page.locator('.palette-item').first().waitFor();
    await page.waitForFunction(() => document.querySelectorAll('.agent-node').length === 2);
    await page.locator('.banner.info', { hasText: 'Loaded template' }).waitFor();
    assert(!(await page.locator('.banner.error').count()), `no error banner: ${await page.locator('.banner.error').allInnerTexts()}`);
    assert(!(await page.locator('.agent-node.unknown').count()), 'no unknown agents');
    await page.unroute('**/api/v1/agents');
  });

  await test('no uncaught errors', async () => {
    assert(!consoleErrors.length, consoleErrors.join('\n'));
  });
} finally {
  await browser.close();
  await server.stop();
}
process.exit(done());
