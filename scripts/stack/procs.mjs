// Process helpers for the local stack: free ports, waiting for a port, child process groups,
// and one shutdown path (SIGINT/SIGTERM/SIGHUP/exit) so nothing is left running.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A free TCP port on 127.0.0.1 (bound and released; tiny race window, fine for local tooling). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** True if something accepts TCP connections on host:port. */
export function isPortOpen(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    const done = (ok) => { s.destroy(); resolve(ok); };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(1000, () => done(false));
  });
}

/** Wait until host:port accepts connections; throws after timeoutMs. `child` (optional) fails fast if it exits. */
export async function waitForPort(port, { host = '127.0.0.1', timeoutMs = 15000, child, name = `${host}:${port}` } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`${name} exited (code ${child.exitCode ?? child.signalCode}) before listening on port ${port}`);
    }
    if (await isPortOpen(port, host)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${name} on port ${port}`);
    await sleep(50);
  }
}

// ---- process groups --------------------------------------------------------------------------

const liveGroups = new Set();

/** Processes of group `pgid` that are still running (zombies don't count). Linux: /proc; elsewhere: kill(-pgid, 0). */
function groupAlive(pgid) {
  if (process.platform === 'linux') {
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // state ppid pgrp …
        if (Number(f[2]) === pgid && f[0] !== 'Z') return true;
      } catch { /* process vanished */ }
    }
    return false;
  }
  try { process.kill(-pgid, 0); return true; } catch { return false; }
}

function killGroup(pgid, signal) {
  try { process.kill(-pgid, signal); } catch { /* already gone */ }
}

/**
 * Spawn `cmd args` as the leader of a new process group (detached), so the whole tree
 * (e.g. npx → wrangler → workerd) can be stopped together. Returns { child, pid, exited, stop(timeoutMs) }.
 */
export function spawnGroup(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: 'inherit', ...opts, detached: true });
  const pgid = child.pid;
  if (pgid === undefined) throw new Error(`failed to spawn ${cmd}`);
  liveGroups.add(pgid);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let stopping;
  const stop = (timeoutMs = 5000) => (stopping ??= (async () => {
    killGroup(pgid, 'SIGTERM');
    const deadline = Date.now() + timeoutMs;
    while (groupAlive(pgid) && Date.now() < deadline) await sleep(50);
    if (groupAlive(pgid)) killGroup(pgid, 'SIGKILL');
    liveGroups.delete(pgid);
    await Promise.race([exited, sleep(1000)]);
  })());
  return { child, pid: pgid, exited, stop };
}

// ---- shutdown --------------------------------------------------------------------------------

const cleanups = [];
let shuttingDown = null;
let handlersInstalled = false;

/** Register an async cleanup; cleanups run once, last registered first. Returns an unregister function. */
export function onShutdown(fn) {
  installHandlers();
  cleanups.push(fn);
  return () => { const i = cleanups.indexOf(fn); if (i >= 0) cleanups.splice(i, 1); };
}

export const isShuttingDown = () => shuttingDown !== null;

/** Run every cleanup (LIFO, each bounded by timeoutMs), then exit with `code` unless exit === false. */
export function shutdown(code = 0, { exit = true, timeoutMs = 10000 } = {}) {
  shuttingDown ??= (async () => {
    while (cleanups.length) {
      const fn = cleanups.pop();
      try {
        await Promise.race([fn(), sleep(timeoutMs).then(() => { throw new Error('cleanup timed out'); })]);
      } catch (e) { console.error(`[stack] cleanup: ${e?.message ?? e}`); }
    }
  })();
  return shuttingDown.then(() => { if (exit) process.exit(code); });
}

/**
 * Shut down when our parent goes away. `npm run x` runs `sh -c node …`; a SIGTERM to npm kills npm and sh
 * but not node, which would be orphaned with everything it started.
 */
export function shutdownWithParent(code = 143) {
  const ppid = process.ppid;
  const t = setInterval(() => { if (process.ppid !== ppid) { clearInterval(t); void shutdown(code); } }, 500);
  t.unref();
}

function installHandlers() {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const signals = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };
  for (const [sig, n] of Object.entries(signals)) {
    process.on(sig, () => {
      if (shuttingDown) { // second signal: stop waiting
        for (const g of liveGroups) killGroup(g, 'SIGKILL');
        process.exit(128 + n);
      }
      void shutdown(128 + n);
    });
  }
  // Last resort (uncaught error, plain process.exit): take the child groups down with us.
  process.on('exit', () => { for (const g of liveGroups) killGroup(g, 'SIGKILL'); });
}
