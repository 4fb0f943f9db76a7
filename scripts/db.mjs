#!/usr/bin/env node
// Local database tools (the dev database of `npm run dev`, settings from .dev.vars):
//   npm run db:studio            drizzle-kit studio on 127.0.0.1:4983 against it. Uses the running dev
//                                stack's PostgreSQL, or starts .data/pg itself and stops it on exit.
//   npm run db:reset -- --yes    delete .data/pg (refused while its PostgreSQL runs); the next
//                                `npm run dev` creates, migrates and seeds a fresh one.
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_DATABASE_URL, isLocalUrl, parseVars, portOf } from './lib/dev-vars.mjs';
import { isPortOpen, onShutdown, shutdown, shutdownWithParent, spawnGroup } from './stack/procs.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const rel = (p) => { const r = path.relative(root, p); return r.startsWith('..') ? p : r || '.'; };
const dataDir = path.join(root, '.data', 'pg');
const say = (m) => console.log(`[db] ${m}`);
const die = (m) => { console.error(`[db] ${m}`); process.exit(1); };

if (Number(process.versions.node.split('.')[0]) < 22) die(`Node ${process.version}: this project needs Node >= 22. Run it through npm (npm run db:…).`);
process.chdir(root);

const varsFile = path.join(root, '.dev.vars');
const vars = existsSync(varsFile) ? parseVars(readFileSync(varsFile, 'utf8')) : {};
const dbUrl = vars.DATABASE_URL || DEFAULT_DATABASE_URL;
const [command, ...args] = process.argv.slice(2);
const { removeDataDir, runningServer, startPostgres } = await import('./stack/postgres.mjs');

if (command === 'reset') {
  const server = runningServer(dataDir);
  if (server) {
    die(`PostgreSQL is running on ${rel(dataDir)} (pid ${server.pid}, port ${server.port}): stop \`npm run dev\` `
      + '(or `npm run db:studio`) first. Nothing was deleted.');
  }
  if (!present(dataDir)) { say(`${rel(dataDir)} does not exist: nothing to reset`); process.exit(0); }
  if (!args.includes('--yes')) {
    die(`this deletes every local database in ${rel(dataDir)}. Run \`npm run db:reset -- --yes\` to confirm.`);
  }
  const removed = removeDataDir(dataDir);
  say(`deleted ${removed.map(rel).join(' and ')}; the next \`npm run dev\` creates, migrates and seeds a fresh database`);
} else if (command === 'studio') {
  if (!isLocalUrl(dbUrl)) {
    die(`DATABASE_URL in .dev.vars points at ${new URL(dbUrl).host}: db:studio is for the local dev database `
      + '(for another one run `DATABASE_URL=… npx drizzle-kit studio`).');
  }
  const port = portOf(dbUrl, 54329);
  shutdownWithParent();
  const running = runningServer(dataDir);
  if (await isPortOpen(port)) {
    if (running?.port !== port) die(`port ${port} is in use, but not by the PostgreSQL of ${rel(dataDir)}; stop whatever listens there`);
    say(`using the running PostgreSQL on port ${port}`);
  } else {
    if (!existsSync(path.join(dataDir, 'PG_VERSION'))) die(`no local database yet: run \`npm run dev\` once (it creates ${rel(dataDir)})`);
    const pg = await startPostgres({ dataDir, port, persistent: true });
    onShutdown(pg.stop); // started here, so stopped here
    say(`started PostgreSQL on port ${port} (stops when studio exits)`);
  }
  const studio = spawnGroup('npx', ['drizzle-kit', 'studio', '--host', '127.0.0.1', ...args], {
    stdio: 'inherit',
    env: { ...process.env, DATABASE_URL: dbUrl },
  });
  onShutdown(() => studio.stop(5000));
  const { code } = await studio.exited;
  await shutdown(code ?? 0);
} else {
  die('usage: node scripts/db.mjs studio [drizzle-kit studio options] | reset --yes');
}

/** Exists, even as a dangling symlink. */
function present(p) {
  try { lstatSync(p); return true; } catch { return false; }
}
