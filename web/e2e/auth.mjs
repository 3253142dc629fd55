// Sign-in suite: drives Debian's chromium with playwright-core against a real
// `whet serve --auth required` (WHET_BIN, started here on a free port with a
// temp data dir). API keys are made with `whet keys create` on the server's
// database, as an admin would.
//
// A bad key is refused with a clear message; a member signs in, sees the team
// and role in the header, uploads a dataset (XHR with the key) and runs a
// pipeline whose log streams over SSE (?access_token=); a viewer of the same
// team sees no Run, Cancel, Re-run, upload or Profile; a revoked key returns
// to the sign-in page on the next request. axe-core finds no serious or
// critical violation on the sign-in page. Prints "N passed, N failed".

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { axeCheck } from './axe.mjs';
import { assert, launch, newDataDir, repo, sharedAssets, shots, startServer, suite, whetBin } from './harness.mjs';

const assetFile = path.join(sharedAssets, 'datasets/llama-factory/alpaca_en_demo.json');
const dataDir = newDataDir('auth');
const whet = (...args) => execFileSync(whetBin(), args, { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const createKey = (team, role) => JSON.parse(whet('keys', 'create', '--data-dir', dataDir, '--team', team, '--role', role, '--name', `e2e-${role}`));

let page;
const { test, done } = suite('auth', () => page);

const member = createKey('lab', 'member');
const viewer = createKey('lab', 'viewer');
// auth required on a loopback address (auto would turn it off there)
const server = await startServer(dataDir, ['-auth', 'required']);
const base = server.base;
const browser = await launch();
const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
context.setDefaultTimeout(15_000);
page = await context.newPage();
page.on('dialog', (d) => d.accept());
// every request the app sends to the API, with the credential it carried
const sent = [];
page.on('request', (r) => {
  const u = new URL(r.url());
  if (u.pathname.startsWith('/api/')) sent.push({ path: u.pathname, method: r.method(), auth: r.headers().authorization ?? '', token: u.searchParams.get('access_token') ?? '' });
});
const nav = (name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name });
const signIn = async (key) => {
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
};

let jobID = '';
try {
  await test('the API answers 401; the app shows the sign-in page; a bad key gets a clear error', async () => {
    const r = await fetch(`${base}/api/v1/jobs`);
    assert(r.status === 401, `GET /jobs without a key: ${r.status}`);
    await page.goto(base + '/');
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
    assert((await page.locator('.palette-item').count()) === 0, 'no editor before signing in');
    await axeCheck(page, 'sign-in');
    await signIn('whet_thisisnotakey0000000000000000');
    const err = page.getByRole('alert');
    await err.waitFor();
    const text = await err.innerText();
    assert(/not accepted/.test(text) && /unknown API key/.test(text), `error names the problem: ${text}`);
    await page.screenshot({ path: path.join(shots, 'sign-in-error.png') });
  });

  await test('a member signs in: team and role in the header; the key goes on every request', async () => {
    await signIn(member.key);
    await page.locator('.palette-item').first().waitFor();
    const who = page.locator('.who');
    assert((await who.getAttribute('data-team')) === 'lab' && (await who.getAttribute('data-role')) === 'member', `header: ${await who.innerText()}`);
    assert(/lab/.test(await who.innerText()) && /member/.test(await who.innerText()), 'team and role shown');
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    const stored = await page.evaluate(() => [sessionStorage.getItem('whet.apiKey'), localStorage.getItem('whet.apiKey')]);
    assert(stored[0] === member.key && stored[1] === null, 'key kept in sessionStorage only');
    const bare = sent.filter((s) => s.path !== '/api/v1/whoami' && s.auth !== `Bearer ${member.key}`);
    assert(!bare.length, `requests without the key: ${bare.map((s) => s.path).join(', ')}`);
  });

  await test('the member uploads a dataset and runs a pipeline; the log streams (SSE with access_token)', async () => {
    await nav('Datasets').click();
    await page.locator('input[type=file][name=file]').setInputFiles(assetFile);
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    await page.locator('.uploader [role=status] a').waitFor();
    const up = sent.find((s) => s.path === '/api/v1/datasets/upload');
    assert(up && up.auth === `Bearer ${member.key}`, 'upload carried the key');
    await nav('Editor').click();
    await page.getByLabel('Start from a template').selectOption('validate-only');
    await page.waitForFunction(() => document.querySelectorAll('.agent-node').length === 2);
    await page.getByRole('button', { name: 'Run pipeline' }).click();
    await page.waitForURL(/\/runs\/[^/]+$/);
    jobID = decodeURIComponent(page.url().split('/runs/')[1]);
    await page.waitForFunction(() => document.querySelector('.run-page')?.dataset.status === 'succeeded', null, { timeout: 60_000 });
    await page.locator('.conn-closed').waitFor();
    assert(Number(await page.locator('.log').getAttribute('data-lines')) > 0, 'log lines arrived over SSE');
    const streams = sent.filter((s) => s.path.startsWith('/api/v1/logs/stream/'));
    assert(streams.length && streams.every((s) => s.token === member.key), `the stream carried access_token (${streams.length} opened)`);
    await page.screenshot({ path: path.join(shots, 'signed-in-member.png') });
  });

  await test('sign out returns to the sign-in page and forgets the key', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
    assert((await page.evaluate(() => sessionStorage.getItem('whet.apiKey'))) === null, 'key forgotten');
  });

  await test('a viewer sees no Run, Cancel, Re-run, upload or Profile', async () => {
    await signIn(viewer.key);
    const who = page.locator('.who');
    await who.waitFor();
    assert((await who.getAttribute('data-role')) === 'viewer', 'viewer shown');
    await nav('Editor').click();
    await page.locator('.palette-item').first().waitFor();
    await page.getByLabel('Start from a template').selectOption('validate-only');
    await page.waitForFunction(() => document.querySelectorAll('.agent-node').length === 2);
    assert((await page.getByRole('button', { name: 'Run pipeline' }).count()) === 0, 'no Run pipeline button');
    assert((await page.getByRole('button', { name: /^Plan/ }).count()) === 0, 'no Plan (a dry run is a POST)');
    await page.locator('.run-denied').waitFor();
    assert((await nav('Playground').count()) === 0, 'no Playground (it only posts)');
    await page.screenshot({ path: path.join(shots, 'signed-in-viewer.png') });
    await page.goto(`${base}/runs/${encodeURIComponent(jobID)}`);
    await page.locator('.run-page[data-status="succeeded"]').waitFor();
    assert((await page.getByRole('button', { name: 'Re-run' }).count()) === 0, 'no Re-run');
    assert((await page.getByRole('button', { name: 'Cancel run' }).count()) === 0, 'no Cancel');
    await nav('Datasets').click();
    await page.locator('.datasets-table tr[data-dataset-id]').first().waitFor();
    assert((await page.getByRole('button', { name: 'Upload', exact: true }).count()) === 0, 'no Upload');
    assert((await page.locator('input[type=file]').count()) === 0, 'no file input');
    await page.locator('.datasets-table tr[data-dataset-id] a').first().click();
    await page.getByRole('heading', { name: 'Sample records' }).waitFor();
    assert((await page.getByRole('button', { name: 'Profile this dataset' }).count()) === 0, 'no Profile');
    // the API agrees: a viewer's write is refused
    const r = await fetch(`${base}/api/v1/jobs/${encodeURIComponent(jobID)}`, { method: 'DELETE', headers: { Authorization: `Bearer ${viewer.key}` } });
    assert(r.status === 403, `viewer DELETE /jobs/{id}: ${r.status}`);
  });

  await test('a revoked key returns to the sign-in page on the next request', async () => {
    whet('keys', 'revoke', '--data-dir', dataDir, viewer.id);
    await nav('Runs').click();
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
    const text = await page.locator('.sign-in').innerText();
    assert(/signed out/i.test(text) && /revoked/.test(text), `the page says why: ${text}`);
  });
} finally {
  await browser.close();
  await server.stop();
}

process.exit(done());
