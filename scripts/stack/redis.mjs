// A private, throw-away redis-server (no persistence, loopback only).
import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, spawnGroup, waitForPort } from './procs.mjs';

/** Absolute path of redis-server if it is on PATH, else null. */
export function findRedisServer() {
  for (const d of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!d) continue;
    const p = path.join(d, 'redis-server');
    try { accessSync(p, constants.X_OK); return p; } catch { /* next */ }
  }
  return null;
}

/** Path of redis-server; installs it with apt when missing, `install` is set and we are root. Throws otherwise. */
export function ensureRedisServer({ install = false } = {}) {
  const found = findRedisServer();
  if (found) return found;
  const isRoot = process.getuid?.() === 0;
  const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
  if (install && isRoot && hasApt) {
    console.error('[stack] redis-server not found; installing it with apt-get …');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('sh', ['-c', 'apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server'],
      { stdio: ['ignore', 'ignore', 'inherit'], env });
    const p = findRedisServer();
    if (p) return p;
  }
  throw new Error('redis-server is not installed. Install it (Debian/Ubuntu: `sudo apt-get install redis-server`, '
    + 'macOS: `brew install redis`) or point REDIS_URL at a running Redis.');
}

/** Start redis-server on 127.0.0.1:<port> (a free one if omitted). Returns { url, port, stop() }. */
export async function startRedis({ port, bin = ensureRedisServer() } = {}) {
  port ||= await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'fairarena-redis-'));
  const proc = spawnGroup(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', dir, '--loglevel', 'warning'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const stop = async () => { await proc.stop(3000); rmSync(dir, { recursive: true, force: true }); };
  try {
    await waitForPort(port, { child: proc.child, name: 'redis-server', timeoutMs: 10000 });
  } catch (e) { await stop(); throw e; }
  return { url: `redis://127.0.0.1:${port}`, port, stop };
}
