// CPU time spent by the processes of a benchmark, read from /proc (Linux only; elsewhere `available` is false).
// Threads of this process are split: its main thread runs the local stand-ins, its other threads the load
// generator (a worker thread) and Node's helpers.
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 10; // USER_HZ is 100 on every Linux the project runs on
export const available = process.platform === 'linux';

function readStat(file, withChildren = true) {
  try {
    const s = readFileSync(file, 'utf8');
    const comm = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // utime + stime, plus cutime + cstime: the time of exited children (PostgreSQL backends that ended) stays counted.
    const children = withChildren ? Number(f[13]) + Number(f[14]) : 0;
    return { comm, pgrp: Number(f[2]), ms: (Number(f[11]) + Number(f[12]) + children) * TICK_MS };
  } catch {
    return null; // exited between listing and reading
  }
}

/** Whether a workerd process is the dev server's proxy: the one serving the worker's public port (the worker's own
 * runtime listens on a port of its own). A process's command line never changes, so it is read once. */
const proxyByPid = new Map();
function isDevProxy(pid, port) {
  if (!port) return false;
  if (!proxyByPid.has(pid)) {
    let cmd = '';
    try { cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { /* exited */ }
    proxyByPid.set(pid, `${cmd}\0`.includes(`\0--socket-addr=entry=127.0.0.1:${port}\0`));
  }
  return proxyByPid.get(pid);
}

/**
 * CPU milliseconds so far, by group: `groups` maps a name to `{ pgid, port }`, the process group of a worker served
 * by wrangler's dev server and the port it serves on. Its workerd processes are split into `<name> proxy` (the dev
 * server's proxy worker, which every request crosses first) and `<name>` (the worker's own runtime); its Node
 * processes are `<name> (node)`. `postgres` and `redis` are found by command name; `stand-ins` and `load` are this
 * process's threads.
 */
export function cpuSnapshot(groups = {}) {
  const out = { 'stand-ins': 0, load: 0, postgres: 0, redis: 0, other: 0 };
  for (const name of Object.keys(groups)) Object.assign(out, { [`${name} proxy`]: 0, [name]: 0, [`${name} (node)`]: 0 });
  const byPgrp = new Map(Object.entries(groups).map(([name, g]) => [g.pgid, { name, port: g.port }]));
  if (!available) return out;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const pid = Number(d);
    if (pid === process.pid) {
      // The process total counts threads that have exited too (each load run is a worker thread that ends).
      const all = readStat(`/proc/${d}/stat`, false)?.ms ?? 0;
      const main = readStat(`/proc/${d}/task/${d}/stat`, false)?.ms ?? 0;
      out['stand-ins'] += main;
      out.load += all - main;
      continue;
    }
    const st = readStat(`/proc/${d}/stat`);
    if (!st) continue;
    const group = byPgrp.get(st.pgrp);
    const name = group
      ? (st.comm === 'workerd' ? (isDevProxy(pid, group.port) ? `${group.name} proxy` : group.name) : `${group.name} (node)`)
      : (st.comm === 'postgres' ? 'postgres' : st.comm.startsWith('redis-server') ? 'redis' : null);
    if (name) out[name] += st.ms;
  }
  return out;
}

/** Per-request CPU ms by group between two snapshots. */
export function cpuPerRequest(before, after, requests) {
  const out = {};
  for (const k of Object.keys(after)) {
    const ms = (after[k] - (before[k] ?? 0)) / Math.max(1, requests);
    if (k !== 'other') out[k] = Math.round(ms * 1000) / 1000;
  }
  return out;
}
