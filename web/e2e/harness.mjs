// Shared by the smaller e2e suites (auth.mjs, editor.mjs): start `whet serve`
// on a free port with a temp data dir, launch Debian's chromium, run named
// steps, print "N passed, N failed".

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = process.env.REPO_ROOT ?? path.resolve(here, '../..');
export const shots = path.resolve(process.env.WEB_SCREENSHOTS ?? path.join(here, 'screenshots'));
export const sharedAssets = path.resolve(repo, '../shared/assets');
fs.mkdirSync(shots, { recursive: true });

export function whetBin() {
  const bin = process.env.WHET_BIN;
  if (!bin) throw new Error('set WHET_BIN to a whet binary');
  return bin;
}

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });

export const newDataDir = (tag) => fs.mkdtempSync(path.join(os.tmpdir(), `whet-e2e-${tag}-`));

/** startServer runs whet serve on 127.0.0.1 with dataDir and extra flags; the repo and ../shared are readable. */
export async function startServer(dataDir, extra = []) {
  const port = await freePort();
  const args = ['serve', '-addr', `127.0.0.1:${port}`, '-data-dir', dataDir, '-allow-path', repo, '-allow-path', path.join(repo, '..', 'shared'), ...extra];
  const logPath = path.join(dataDir, 'serve.log');
  const log = fs.openSync(logPath, 'w');
  const proc = spawn(whetBin(), args, { cwd: repo, stdio: ['ignore', log, log], env: { ...process.env } });
  let exited = null;
  proc.on('exit', (code) => (exited = code));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited !== null) throw new Error(`whet serve exited with ${exited}:\n${fs.readFileSync(logPath, 'utf8')}`);
    try {
      if ((await fetch(`${base}/api/v1/health`)).ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`whet serve did not answer /api/v1/health in 30 s:\n${fs.readFileSync(logPath, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  console.log(`whet serve ${extra.join(' ')} on ${base}, data ${dataDir}`);
  return {
    base,
    stop: async () => {
      proc.kill('SIGTERM');
      await new Promise((r) => (exited !== null ? r() : proc.on('exit', r)));
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}

/** suite returns test(name, fn) (a failing step saves FAILED-<tag>-<n>.png) and done() (prints the tally, returns the exit code). */
export function suite(tag, pageOf) {
  const results = [];
  const test = async (name, fn) => {
    const t0 = Date.now();
    try {
      await fn();
      results.push({ name, ok: true });
      console.log(`ok   ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      results.push({ name, ok: false, err: e });
      await pageOf()?.screenshot({ path: path.join(shots, `FAILED-${tag}-${results.length}.png`) }).catch(() => {});
      console.log(`FAIL ${name} (${Date.now() - t0} ms)\n     ${String(e?.stack ?? e).split('\n').slice(0, 8).join('\n     ')}`);
    }
  };
  const done = () => {
    const failed = results.filter((r) => !r.ok).length;
    console.log(`${results.length - failed} passed, ${failed} failed`);
    return failed ? 1 : 0;
  };
  return { test, done };
}
