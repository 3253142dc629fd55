// Starts `whet serve` for an e2e suite: WHET_BIN on a free port with a temp
// data dir, run from the repository root and allowed to read it and the
// shared assets beside it; or E2E_BASE_URL when set.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });

export async function startServer(repo) {
  if (process.env.E2E_BASE_URL) return { base: process.env.E2E_BASE_URL.replace(/\/$/, ''), stop: async () => {} };
  const bin = process.env.WHET_BIN;
  if (!bin) throw new Error('set WHET_BIN to a whet binary (or E2E_BASE_URL to a running server)');
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'whet-e2e-'));
  const args = ['serve', '-addr', `127.0.0.1:${port}`, '-data-dir', dataDir, '-allow-path', repo, '-allow-path', path.join(repo, '..', 'shared')];
  const logPath = path.join(dataDir, 'serve.log');
  const proc = spawn(bin, args, { cwd: repo, stdio: ['ignore', fs.openSync(logPath, 'w'), fs.openSync(logPath, 'a')] });
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
  console.log(`whet serve on ${base}, data ${dataDir}`);
  return {
    base,
    dataDir,
    stop: async () => {
      proc.kill('SIGTERM');
      await new Promise((r) => (exited !== null ? r() : proc.on('exit', r)));
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
