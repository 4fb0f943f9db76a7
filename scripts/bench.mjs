#!/usr/bin/env node
// npm run bench — a loopback benchmark of the API under `wrangler dev`, against a minimal Hono worker
// (bench/baseline) run the same way. Starts a private, throw-away stack (PostgreSQL, redis-server or the
// in-memory engine, Neon ws proxy, Upstash bridge) on free ports; never touches .data/ or .dev.vars.
// Env: BENCH_DURATION (s per target, default 10), BENCH_CONNECTIONS (default 32), BENCH_PG_AUTH=scram (see
// startStack). Each target gets a 2 s warm-up first. Prints a table, writes bench/results/latest.json; exit 1 if a
// measurement failed.
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { freePort, onShutdown, shutdown, shutdownWithParent, spawnGroup } from './stack/procs.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DURATION = Number(process.env.BENCH_DURATION) || 10;
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS) || 32;
const WARMUP = 2;
const UPSTASH_TOKEN = 'bench-redis-token';
const PG_AUTH = process.env.BENCH_PG_AUTH === 'scram' ? 'scram-sha-256' : 'password';
const say = (m) => console.log(`[bench] ${m}`);

if (Number(process.versions.node.split('.')[0]) < 22) {
  console.error(`[bench] Node ${process.version}: this project needs Node >= 22. Run it as \`npm run bench\`.`);
  process.exit(1);
}
process.chdir(root);
const tmp = mkdtempSync(path.join(tmpdir(), 'fairarena-bench-'));
chmodSync(tmp, 0o755); // PostgreSQL runs as the `postgres` OS user when we are root
onShutdown(() => rmSync(tmp, { recursive: true, force: true })); // registered first, so it runs last
shutdownWithParent();

async function startStack() {
  const { startPostgres } = await import('./stack/postgres.mjs');
  const { findRedisServer, startRedis } = await import('./stack/redis.mjs');
  const { startWsPgProxy } = await import('./stack/ws-pg-proxy.mjs');
  const { startUpstashBridge } = await import('./stack/upstash-bridge.mjs');
  const { migrate } = await import('./lib/migrate.mjs');

  const pg = await startPostgres({ dataDir: path.join(tmp, 'pg'), port: await freePort(), persistent: false });
  onShutdown(pg.stop);
  await pg.createDatabase('fairarena');
  const m = await migrate(pg.url('fairarena'));
  // Neon's driver sends the password in clear (over TLS) and Neon's proxy checks it; against plain PostgreSQL
  // with scram-sha-256 the driver instead runs PBKDF2 (4096 awaited HMACs) in the worker on every request,
  // which would dominate every database row. So this throw-away cluster uses `password` auth on loopback.
  // BENCH_PG_AUTH=scram keeps SCRAM, to see that cost.
  if (PG_AUTH === 'password') {
    const hba = path.join(tmp, 'pg', 'pg_hba.conf');
    writeFileSync(hba, readFileSync(hba, 'utf8').replace(/^(host\s.*\s)scram-sha-256\s*$/gm, '$1password'));
    const c = new (await import('pg')).default.Client({ connectionString: pg.url() });
    await c.connect();
    await c.query('select pg_reload_conf()').finally(() => c.end());
  }
  const proxy = await startWsPgProxy({ pgPort: pg.port });
  onShutdown(proxy.close);
  const bin = findRedisServer();
  const redis = bin ? await startRedis({ bin }) : null;
  if (redis) onShutdown(redis.stop);
  const bridge = await startUpstashBridge({ token: UPSTASH_TOKEN, redisUrl: redis?.url ?? null });
  onShutdown(bridge.close);
  say(`stack: postgres :${pg.port} (fairarena, ${m.total} migrations, ${PG_AUTH} auth), ${redis ? `redis-server :${redis.port}` : 'in-memory redis'}, `
    + `ws proxy :${proxy.port}, upstash :${bridge.port}`);
  return {
    DATABASE_URL: pg.url('fairarena'),
    NEON_LOCAL_WS_PROXY: `127.0.0.1:${proxy.port}`,
    UPSTASH_REDIS_REST_URL: `http://127.0.0.1:${bridge.port}`,
    UPSTASH_REDIS_REST_TOKEN: UPSTASH_TOKEN,
  };
}

const WRANGLER_ENV = { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV: 'true',
  CLOUDFLARE_INCLUDE_PROCESS_ENV: 'false', CLERK_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' };

/** `npx wrangler …` in its own process group (killed as a group on shutdown), output to tmp/<name>.log. */
function wrangler(name, args) {
  const logFile = path.join(tmp, `${name}.log`);
  const fd = openSync(logFile, 'w');
  const proc = spawnGroup('npx', ['wrangler', ...args], { stdio: ['ignore', fd, fd], env: WRANGLER_ENV });
  closeSync(fd);
  onShutdown(() => proc.stop(8000));
  const tail = () => readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-15).join('\n');
  return { ...proc, tail };
}

/**
 * Bundle the API once (`wrangler deploy --dry-run`) and return a copy of wrangler.toml in tmp whose `main` is that
 * bundle: the run measures one snapshot of src/, and `wrangler dev` does not rebuild when src/ changes mid-run.
 */
async function bundleApi() {
  const out = path.join(tmp, 'api-dist');
  const b = wrangler('api-build', ['deploy', '--dry-run', '--outdir', out]);
  if ((await b.exited).code !== 0) throw new Error(`bundling the API failed:\n${b.tail()}`);
  const config = path.join(tmp, 'wrangler.toml');
  writeFileSync(config, readFileSync('wrangler.toml', 'utf8').replace(/^main\s*=.*$/m, `main = ${JSON.stringify(path.join(out, 'index.js'))}`));
  return config;
}

/**
 * `wrangler dev` for one config. Vars come from an env file passed with --env-file: then wrangler does not read
 * .dev.vars at all, and the file's values override [vars] from the config. State goes to tmp (--persist-to).
 */
async function startWrangler(name, config, { vars = {}, extra = [] } = {}) {
  const [port, inspector] = [await freePort(), await freePort()];
  const envFile = path.join(tmp, `${name}.env`);
  writeFileSync(envFile, Object.entries(vars).map(([k, v]) => `${k}=${JSON.stringify(String(v))}\n`).join(''), { mode: 0o600 });
  const proc = wrangler(name, ['dev', '-c', config, '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspector),
    '--log-level', 'warn', '--env-file', envFile, '--persist-to', path.join(tmp, `${name}-state`), ...extra]);
  // Ready = the worker answers HTTP (wrangler opens its port before the worker is loaded).
  for (const end = Date.now() + 120_000; ;) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) throw new Error(`wrangler dev (${name}) exited:\n${proc.tail()}`);
    if (Date.now() > end) throw new Error(`wrangler dev (${name}) not answering after 120 s:\n${proc.tail()}`);
    const ok = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(3000) }).then(() => true, () => false);
    if (ok) return { base: `http://127.0.0.1:${port}`, tail: proc.tail };
    await sleep(250);
  }
}

/** Load one URL: warm-up, then the measured run, in a worker thread (this event loop runs the ws proxy + bridge). */
async function load(target, url) {
  const opts = { url, connections: CONNECTIONS, workers: 1, headers: { 'CF-Connecting-IP': '127.0.0.1' } };
  await autocannon({ ...opts, duration: WARMUP });
  const r = await autocannon({ ...opts, duration: DURATION });
  const total = r['1xx'] + r['2xx'] + r['3xx'] + r['4xx'] + r['5xx'];
  const bad = r.non2xx + r.errors + r.timeouts;
  const statuses = Object.fromEntries(Object.entries(r.statusCodeStats).map(([s, v]) => [s, v.count]));
  return {
    target, url, rps: Math.round(r.requests.mean), p50: r.latency.p50, p99: r.latency.p99, requests: total,
    non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts, statuses,
    failed: total + r.errors + r.timeouts === 0 || bad / (total + r.errors + r.timeouts) > 0.5,
  };
}

function printTable(rows) {
  const head = ['target', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', 'errors', 'vs baseline', ''];
  const body = rows.map((r) => [r.target, r.rps, r.p50, r.p99, r.non2xx, r.errors + r.timeouts,
    r.ratio == null ? '—' : `${r.ratio.toFixed(2)}×`, r.failed ? `FAILED (status ${JSON.stringify(r.statuses)})` : ''].map(String));
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ').trimEnd();
  console.log(['', line(head), line(w.map((n) => '-'.repeat(n))), ...body.map(line), ''].join('\n'));
}

let code = 1;
try {
  const t0 = Date.now();
  const started = await Promise.allSettled([startStack(), bundleApi()]); // both settle: nothing half-started
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  const [stack, apiConfig] = started.map((s) => s.value);
  const [baseline, api] = await Promise.all([
    startWrangler('baseline', 'bench/baseline/wrangler.toml'),
    startWrangler('api', apiConfig, { extra: ['--no-bundle'], vars: {
      ...stack, ENVIRONMENT: 'development', GLOBAL_RATE_LIMIT_PER_MINUTE: '1000000000',
      CORS_ORIGINS: 'http://localhost:5173', PUBLIC_BASE_URL: 'http://127.0.0.1:8787', DATABASE_REPLICA_URLS: '',
    } }),
  ]);
  say(`ready in ${((Date.now() - t0) / 1000).toFixed(1)} s: baseline ${baseline.base}, api ${api.base}; `
    + `${DURATION} s × ${CONNECTIONS} connections per target (+${WARMUP} s warm-up)`);

  const rows = [];
  for (const [target, url] of [['baseline /', `${baseline.base}/`], ['api /healthz', `${api.base}/healthz`],
    ['api /api/v1/plans', `${api.base}/api/v1/plans`]]) {
    rows.push(await load(target, url));
    say(`${target}: ${rows.at(-1).rps} req/s`);
  }
  const base = rows[0].failed ? 0 : rows[0].rps;
  for (const r of rows) r.ratio = base && !r.failed ? r.rps / base : null;
  printTable(rows);
  if (rows.some((r) => r.failed)) console.log(`[bench] api log (tail):\n${api.tail()}\n`);

  mkdirSync(path.join(root, 'bench', 'results'), { recursive: true });
  const out = path.join(root, 'bench', 'results', 'latest.json');
  writeFileSync(out, `${JSON.stringify({
    date: new Date().toISOString(), durationSeconds: DURATION, warmupSeconds: WARMUP, connections: CONNECTIONS,
    pgAuth: PG_AUTH, node: process.version, cpus: cpus().length, rows,
  }, null, 2)}\n`);
  say(`wrote ${path.relative(root, out)}`);
  code = rows.some((r) => r.failed) ? 1 : 0;
} catch (e) {
  console.error(`[bench] ${e?.stack ?? e}`);
}
await shutdown(code);
