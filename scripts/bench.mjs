#!/usr/bin/env node
// npm run bench — a loopback benchmark of the API served as `wrangler dev` serves it, against a minimal Hono worker
// (bench/baseline) served the same way. Starts a private, throw-away stack (PostgreSQL, redis-server or the
// in-memory engine, the local Neon endpoints, the Upstash bridge) on free ports; never touches .data/ or .dev.vars.
//
// One row per kind of request, each with its ratio to the baseline and the work it costs per request, counted by
// the stand-ins themselves (database connections opened, statements sent, Redis commands sent), and a table of CPU
// time per request by process. Floor rows serve the baseline route plus only what an I/O row costs on this
// platform whatever the code (the rate-limit binding and the row's own round trips): an API row can approach its floor's
// ratio, not beat it. A second table repeats the API rows with every database and Redis round trip delayed by
// 20 ms, the distance between an edge location and a database region.
//
// What is not production is left out of both workers: the DevTools inspector `wrangler dev` attaches (every console
// line serialised to it, every fetch reported) and wrangler's local trace collector. Load is spread like real
// traffic: each connection starts at a different user, and each row starts with every user seen once.
//
// Env: BENCH_DURATION (s per row, default 10), BENCH_CONNECTIONS (default 32), BENCH_DB_RTT_MS (delay of each
// database/Redis round trip in the main table, default 0), BENCH_RTT_TABLE_MS (the second table's delay, default
// 20; 0 skips it), BENCH_ONLY=<kind,kind> (only these rows, plus the baseline and their floors), BENCH_PROFILE=<kind>
// (only that row: a CPU profile of the worker while it runs, written to bench/results/<kind>.cpuprofile, top
// functions printed; attaches the inspector), BENCH_INSPECTOR=1 (attach it to both workers, as `wrangler dev`
// does), BENCH_ROUNDS (default 3: the rows take turns, DURATION/ROUNDS s each per round, so the machine's drifts
// fall on every row alike). Prints the tables, writes bench/results/latest.json; exit 1 if a measurement failed.
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import WebSocket from 'ws';
import { freePort, onShutdown, shutdown, shutdownWithParent, spawnGroup } from './stack/procs.mjs';
import { available as cpuAvailable, cpuPerRequest, cpuSnapshot } from './lib/cpu-usage.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DURATION = Number(process.env.BENCH_DURATION) || 10;
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS) || 32;
const RTT_MS = Number(process.env.BENCH_DB_RTT_MS) || 0;
const RTT_TABLE_MS = process.env.BENCH_RTT_TABLE_MS === undefined ? 20 : Number(process.env.BENCH_RTT_TABLE_MS) || 0;
const PROFILE = process.env.BENCH_PROFILE || '';
const INSPECTOR = process.env.BENCH_INSPECTOR === '1';
const ONLY = (process.env.BENCH_ONLY || '').split(',').map((k) => k.trim()).filter(Boolean);
const WARMUP = 2;
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS) || 3);
const SPREAD = path.join(root, 'scripts', 'lib', 'bench-spread.cjs');
const USERS = 64;
const UPSTASH_TOKEN = 'bench-redis-token';
// The global per-client limit is raised for this stack only: one load generator on loopback is one client.
const BENCH_GLOBAL_LIMIT = 1_000_000_000;
// Logging as deployed: wrangler.toml's production values (read below), so the rows measure what production logs.
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

/** A var of wrangler.toml's [env.production.vars], or `fallback`. */
function productionVar(name, fallback) {
  const toml = readFileSync('wrangler.toml', 'utf8');
  const section = toml.slice(toml.indexOf('[env.production.vars]'));
  const m = new RegExp(`^${name}\\s*=\\s*"([^"]*)"`, 'm').exec(section.slice(0, section.indexOf('\n[', 1)));
  return m ? m[1] : fallback;
}
const LOGGING = { LOG_LEVEL: productionVar('LOG_LEVEL', 'info'), LOG_REQUEST_SAMPLE_RATE: productionVar('LOG_REQUEST_SAMPLE_RATE', '1') };

async function startStack() {
  const { startPostgres } = await import('./stack/postgres.mjs');
  const { findRedisServer, startRedis } = await import('./stack/redis.mjs');
  const { startNeonLocal } = await import('./stack/neon-local.mjs');
  const { startUpstashBridge } = await import('./stack/upstash-bridge.mjs');
  const { migrate } = await import('./lib/migrate.mjs');

  const pg = await startPostgres({ dataDir: path.join(tmp, 'pg'), port: await freePort(), persistent: false });
  onShutdown(pg.stop);
  await pg.createDatabase('fairarena');
  const m = await migrate(pg.url('fairarena'));
  const neon = await startNeonLocal({ pgPort: pg.port, rttMs: RTT_MS });
  onShutdown(neon.close);
  const bin = findRedisServer();
  const redis = bin ? await startRedis({ bin }) : null;
  if (redis) onShutdown(redis.stop);
  const bridge = await startUpstashBridge({ token: UPSTASH_TOKEN, redisUrl: redis?.url ?? null, rttMs: RTT_MS });
  onShutdown(bridge.close);
  say(`stack: postgres :${pg.port} (fairarena, ${m.total} migrations), ${redis ? `redis-server :${redis.port}` : 'in-memory redis'}, `
    + `neon endpoints :${neon.port}, upstash :${bridge.port}`);
  /**
   * After a write row: vacuum and checkpoint now, so PostgreSQL's clean-up of that row's writes (autovacuum, the
   * checkpointer) is not charged to the rows after it. On Neon it runs on the database's servers, not at the edge.
   */
  const tidy = async () => {
    const c = new (await import('pg')).default.Client({ connectionString: pg.url('fairarena') });
    await c.connect();
    try {
      await c.query('vacuum');
      await c.query('checkpoint');
    } finally {
      await c.end();
    }
  };
  return {
    tidy,
    pgUrl: pg.url('fairarena'),
    neon,
    bridge,
    vars: {
      DATABASE_URL: pg.url('fairarena'),
      NEON_LOCAL_PROXY: `127.0.0.1:${neon.port}`,
      UPSTASH_REDIS_REST_URL: `http://127.0.0.1:${bridge.port}`,
      UPSTASH_REDIS_REST_TOKEN: UPSTASH_TOKEN,
    },
  };
}

/** Users with settings, profile and a few notifications (as sign-up creates them), and a session token each. */
async function seedUsers(pgUrl, clerk) {
  const c = new (await import('pg')).default.Client({ connectionString: pgUrl });
  await c.connect();
  const users = [];
  try {
    for (let i = 0; i < USERS; i++) {
      const id = `user_bench_${i}`;
      await c.query('insert into users (id, email, first_name, last_name) values ($1, $2, $3, $4)', [id, `${id}@bench.test`, 'Bench', `User ${i}`]);
      await c.query('insert into settings (user_id) values ($1)', [id]);
      await c.query('insert into profiles (user_id) values ($1)', [id]);
      for (let n = 0; n < 5; n++) {
        await c.query(`insert into notifications (user_id, type, title, message) values ($1, 'SYSTEM', $2, 'Welcome to the bench')`, [id, `Notice ${n}`]);
      }
      users.push({ id, token: await clerk.mint(id), ip: `198.51.${100 + (i >> 8)}.${(i % 250) + 1}` });
    }
  } finally {
    await c.end();
  }
  return users;
}

/** A local Clerk instance: the worker verifies tokens offline with the public key; we sign them. */
async function localClerk() {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const issuer = 'https://clerk.bench.test';
  const azp = 'http://localhost:5173';
  return {
    vars: {
      CLERK_SECRET_KEY: 'sk_test_bench',
      CLERK_PUBLISHABLE_KEY: `pk_test_${Buffer.from('clerk.bench.test$').toString('base64')}`,
      CLERK_JWT_KEY: await exportSPKI(publicKey),
      CLERK_AUTHORIZED_PARTIES: azp,
    },
    mint: (userId) => {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ sid: `sess_${userId}`, azp, v: 2, sts: 'active' })
        .setProtectedHeader({ alg: 'RS256', kid: 'ins_bench', typ: 'JWT' }).setSubject(userId).setIssuer(issuer)
        .setIssuedAt(now - 5).setNotBefore(now - 5).setExpirationTime(now + 3600).sign(privateKey);
    },
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
 * bundle (the run measures one snapshot of src/) and whose global per-client limit is raised (BENCH_GLOBAL_LIMIT).
 */
async function bundleApi() {
  const out = path.join(tmp, 'api-dist');
  const b = wrangler('api-build', ['deploy', '--dry-run', '--outdir', out]);
  if ((await b.exited).code !== 0) throw new Error(`bundling the API failed:\n${b.tail()}`);
  const config = path.join(tmp, 'wrangler.toml');
  const toml = readFileSync('wrangler.toml', 'utf8')
    // The bundle imports its text assets (the docs UI) as separate, content-hashed modules next to index.js.
    .replace(/^main\s*=.*$/m, `main = ${JSON.stringify(path.join(out, 'index.js'))}\nfind_additional_modules = true`)
    .replace(/^globs = \[[^\]]*\]/m, 'globs = ["*-swagger-ui-bundle.js", "*-swagger-ui.css"]')
    .replace(/simple = \{ limit = \d+/g, `simple = { limit = ${BENCH_GLOBAL_LIMIT}`);
  writeFileSync(config, toml);
  return config;
}

/**
 * One worker served as `wrangler dev` serves it (wrangler's dev server, ProxyWorker, workerd; scripts/lib/serve-worker.mjs),
 * with the DevTools inspector detached unless BENCH_INSPECTOR=1 or this worker is profiled. Vars come from an env file
 * (then .dev.vars is not read, and the file overrides [vars]); state goes to tmp.
 */
async function startWorker(name, config, { vars = {}, noBundle = false, inspect = false } = {}) {
  const [port, inspector] = [await freePort(), inspect ? await freePort() : 0];
  const envFile = path.join(tmp, `${name}.env`);
  writeFileSync(envFile, Object.entries(vars).map(([k, v]) => `${k}=${JSON.stringify(String(v))}\n`).join(''), { mode: 0o600 });
  const logFile = path.join(tmp, `${name}.log`);
  const fd = openSync(logFile, 'w');
  const args = { config: path.resolve(config), port, envFile, persistTo: path.join(tmp, `${name}-state`), inspectorPort: inspector || undefined, noBundle };
  // X_LOCAL_OBSERVABILITY=false: wrangler's local trace collector (a streaming tail worker that stores every
  // invocation's events for its local explorer) costs about 1 ms of CPU per request with subrequests; production
  // observability runs outside the isolate.
  const proc = spawnGroup(process.execPath, ['scripts/lib/serve-worker.mjs', JSON.stringify(args)],
    { stdio: ['ignore', fd, fd], env: { ...WRANGLER_ENV, X_LOCAL_OBSERVABILITY: 'false' } });
  closeSync(fd);
  onShutdown(() => proc.stop(8000));
  const tail = () => readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-15).join('\n');
  // Ready = the worker answers HTTP (the dev server opens its port before the worker is loaded).
  for (const end = Date.now() + 120_000; ;) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) throw new Error(`the ${name} worker exited:\n${tail()}`);
    if (Date.now() > end) throw new Error(`the ${name} worker is not answering after 120 s:\n${tail()}`);
    const ok = await fetch(`http://127.0.0.1:${port}/livez`, { signal: AbortSignal.timeout(3000) }).then(() => true, () => false);
    if (ok) return { base: `http://127.0.0.1:${port}`, port, inspector, tail, pgid: proc.pid };
    await sleep(250);
  }
}

/** The rows: what each kind of request is, and the requests autocannon cycles through (one user/IP each). */
function targets(baseline, api, users) {
  const each = (fn) => users.map((u, i) => fn(u, i));
  const auth = (u) => ({ authorization: `Bearer ${u.token}`, 'cf-connecting-ip': u.ip });
  return [
    { kind: 'baseline', label: 'bare Hono worker GET /', url: `${baseline.base}/` },
    { kind: 'floor-sql', label: 'floor: bare route + rate-limit binding + one SQL-over-HTTP statement', url: `${baseline.base}/floor/sql`,
      floorOf: ['public-db-read', 'auth-db-read'], requests: each((u) => ({ method: 'GET', path: '/floor/sql', headers: { 'cf-connecting-ip': u.ip } })) },
    { kind: 'floor-redis', label: 'floor: bare route + rate-limit binding + one Upstash MGET', url: `${baseline.base}/floor/redis`,
      floorOf: ['cached-auth-read'], requests: each((u) => ({ method: 'GET', path: '/floor/redis', headers: { 'cf-connecting-ip': u.ip, 'x-bench-user': u.id } })) },
    { kind: 'floor-write', label: 'floor: bare route + rate-limit binding + the write\'s transaction (driver, WebSocket) + its Redis pipeline', url: `${baseline.base}/floor/write`,
      floorOf: ['write'], requests: each((u) => ({ method: 'PUT', path: '/floor/write', headers: { 'cf-connecting-ip': u.ip, 'x-bench-user': u.id } })) },
    { kind: 'no-io', label: 'GET /livez (no database, no Redis)', url: `${api.base}/livez`,
      requests: each((u) => ({ method: 'GET', path: '/livez', headers: { 'cf-connecting-ip': u.ip } })) },
    { kind: 'public-db-read', label: 'GET /api/v1/plans (isolate cache off)', url: `${api.base}/api/v1/plans`,
      requests: each((u) => ({ method: 'GET', path: '/api/v1/plans', headers: { 'cf-connecting-ip': u.ip } })) },
    { kind: 'cached-auth-read', label: 'GET /api/v1/credits/balance (warm)', url: `${api.base}/api/v1/credits/balance`,
      requests: each((u) => ({ method: 'GET', path: '/api/v1/credits/balance', headers: auth(u) })) },
    { kind: 'auth-db-read', label: 'GET /api/v1/notifications', url: `${api.base}/api/v1/notifications`,
      requests: each((u) => ({ method: 'GET', path: '/api/v1/notifications', headers: auth(u) })) },
    { kind: 'write', label: 'PUT /api/v1/settings (one flag, transaction)', url: `${api.base}/api/v1/settings`,
      requests: each((u, i) => ({ method: 'PUT', path: '/api/v1/settings', headers: { ...auth(u), 'content-type': 'application/json' },
        body: JSON.stringify({ email: { productUpdates: i % 2 === 0 } }) })) },
  ];
}

/** Work counted by the stand-ins between two snapshots. */
function snapshot(stack) {
  const n = stack.neon.stats();
  const b = stack.bridge.stats();
  return { dbConnects: n.wsConnects, dbQueries: n.wsStatements + n.httpStatements, dbHttpRequests: n.httpRequests, redisCommands: b.commands,
    tcpConnections: n.tcpConnections + b.tcpConnections };
}

/** Wait until the stand-ins' counters stop moving (responses sent, after-response work done), then snapshot. */
async function quiet(stack) {
  let last = JSON.stringify(snapshot(stack));
  for (let still = 0, end = Date.now() + 10_000; still < 2 && Date.now() < end;) {
    await sleep(250);
    const now = JSON.stringify(snapshot(stack));
    still = now === last ? still + 1 : 0;
    last = now;
  }
  return JSON.parse(last);
}

const autocannonOptions = (target) => ({ url: target.url, connections: CONNECTIONS, workers: 1, setupClient: SPREAD,
  ...(target.requests ? { requests: target.requests } : {}) });

/** Work per request counted by the stand-ins on a separate, fixed batch between two quiet points. */
async function countWork(target, stack) {
  if (target.kind === 'baseline') return { dbConnects: 0, dbQueries: 0, redisCommands: 0 };
  const amount = 2 * USERS;
  const before = await quiet(stack);
  await autocannon({ ...autocannonOptions(target), connections: 8, amount });
  const after = await quiet(stack);
  const per = (k) => Math.round(((after[k] - before[k]) / amount) * 100) / 100;
  return { dbConnects: per('dbConnects'), dbQueries: per('dbQueries'), redisCommands: per('redisCommands'), dbHttpRequests: per('dbHttpRequests'),
    tcpConnections: per('tcpConnections') };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Load every target in rounds: each round gives each target DURATION/ROUNDS seconds after a short warm-up (the
 * first round's is WARMUP s, after every user's request was sent once: steady state, warm caches). The machine's
 * slow drifts (other tenants, frequency) then fall on every row alike instead of on whichever ran at the time.
 * req/s = all requests / the rounds' measured time; p50 and p99 are the median over the rounds; CPU is summed over the rounds.
 * The work per request is counted right after a row's first round on a separate, fixed batch (so requests cut off at
 * the end of a timed run never skew it).
 */
/**
 * Wait (at most 5 s) until the machine is idle: what a row leaves behind (PostgreSQL's vacuum and checkpoints after
 * the writes, connections closing) would otherwise run on the CPU of whichever row comes next.
 */
async function settle(groups) {
  if (!cpuAvailable) return;
  const busy = (a, b) => Object.keys(a).reduce((sum, k) => sum + (k === 'load' || k === 'stand-ins' ? 0 : a[k] - b[k]), 0);
  for (const end = Date.now() + 5000; Date.now() < end;) {
    const before = cpuSnapshot(groups);
    await sleep(250);
    if (busy(cpuSnapshot(groups), before) < 25) return; // under a tenth of one core
  }
}

async function loadAll(targets, stack, groups) {
  const key = (t) => `${t.kind}@${t.rttMs ?? RTT_MS}`;
  const setRtt = (t) => {
    stack.neon.setRttMs(t.rttMs ?? RTT_MS);
    stack.bridge.setRttMs(t.rttMs ?? RTT_MS);
  };
  const runs = new Map(targets.map((t) => [key(t), []]));
  const work = new Map();
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of targets) {
      setRtt(t);
      await settle(groups);
      if (round === 0 && t.requests) await autocannon({ ...autocannonOptions(t), connections: 8, amount: t.requests.length });
      await autocannon({ ...autocannonOptions(t), duration: round === 0 ? WARMUP : 1 });
      const before = cpuSnapshot(groups);
      const r = await autocannon({ ...autocannonOptions(t), duration: DURATION / ROUNDS });
      runs.get(key(t)).push({ r, cpu: cpuPerRequest(before, cpuSnapshot(groups), 1) });
      if (t.requests?.some((q) => q.method !== 'GET')) await stack.tidy();
      // Counted while the row's caches are as warm as its timed run's (a long bench outlives their TTLs).
      if (round === 0) work.set(key(t), await countWork(t, stack));
    }
  }
  const rows = [];
  for (const t of targets) {
    const rs = runs.get(key(t)).map((x) => x.r);
    const sum = (f) => rs.reduce((a, r) => a + f(r), 0);
    const total = sum((r) => r['1xx'] + r['2xx'] + r['3xx'] + r['4xx'] + r['5xx']);
    const [non2xx, errors, timeouts] = [sum((r) => r.non2xx), sum((r) => r.errors), sum((r) => r.timeouts)];
    const statuses = {};
    for (const r of rs) for (const [code, v] of Object.entries(r.statusCodeStats)) statuses[code] = (statuses[code] ?? 0) + v.count;
    let cpuMs = null;
    if (cpuAvailable) {
      cpuMs = {};
      for (const { cpu } of runs.get(key(t))) for (const [k, ms] of Object.entries(cpu)) cpuMs[k] = (cpuMs[k] ?? 0) + ms;
      for (const k of Object.keys(cpuMs)) cpuMs[k] = Math.round((cpuMs[k] / Math.max(1, total)) * 1000) / 1000;
    }
    rows.push({
      kind: t.kind, rttMs: t.rttMs ?? RTT_MS, target: t.label, url: t.url, rps: Math.round(total / sum((r) => r.duration)), p50: median(rs.map((r) => r.latency.p50)),
      p99: median(rs.map((r) => r.latency.p99)), rounds: rs.map((r) => Math.round(r.requests.mean)), p99Rounds: rs.map((r) => r.latency.p99),
      requests: total, non2xx, errors, timeouts, statuses, perRequest: work.get(key(t)), cpuMs,
      failed: total + errors + timeouts === 0 || (non2xx + errors + timeouts) / (total + errors + timeouts) > 0.5,
    });
  }
  setRtt({});
  return rows;
}

/** CPU profile of the API worker (V8 inspector of `wrangler dev`) while `during` runs; returns the top self-time functions. */
async function profileWhile(inspectorPort, file, during) {
  const list = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json();
  const target = list.find((t) => t.webSocketDebuggerUrl);
  if (!target) throw new Error('no inspector target');
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); });
  let id = 0;
  const pending = new Map();
  ws.on('message', (m) => { const msg = JSON.parse(m); pending.get(msg.id)?.(msg); pending.delete(msg.id); });
  const send = (method, params = {}) => new Promise((res) => { const i = ++id; pending.set(i, res); ws.send(JSON.stringify({ id: i, method, params })); });
  await send('Profiler.enable');
  await send('Profiler.setSamplingInterval', { interval: 200 });
  await send('Profiler.start');
  const result = await during();
  const { result: { profile } } = await send('Profiler.stop');
  ws.close();
  writeFileSync(file, JSON.stringify(profile));
  const total = profile.samples.length;
  const self = new Map();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  for (const s of profile.samples) {
    const f = byId.get(s).callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + 1);
  }
  const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([fn, n]) => ({ fn, pct: Math.round((n / total) * 1000) / 10 }));
  return { result, top };
}

const fmtWork = (w) => (w ? `${w.dbConnects ?? '—'} / ${w.dbQueries ?? '—'} / ${w.redisCommands ?? '—'}` : '—');

function printTable(title, head, body) {
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => String(b[i]).length)));
  const line = (cells) => cells.map((c, i) => (i === 0 || i === cells.length - 1 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join('  ').trimEnd();
  console.log(['', title, line(head), line(w.map((n) => '-'.repeat(n))), ...body.map(line), ''].join('\n'));
}

/** The issue's targets, checked against this run (ratios to this run's baseline). */
function checkTargets(rows, rttRows) {
  const by = Object.fromEntries(rows.map((r) => [r.kind, r]));
  const rtt = Object.fromEntries((rttRows ?? []).map((r) => [r.kind, r]));
  const work = (k) => by[k].perRequest;
  // [target, rows it needs, test, for a ratio: the floor row that bounds it and the ratio asked for]
  const checks = [
    ['no-io ≥ 0.80×', ['no-io'], () => by['no-io'].ratio >= 0.8],
    ['public-db-read ≥ 0.50×', ['public-db-read'], () => by['public-db-read'].ratio >= 0.5, 'floor-sql', 0.5],
    ['cached-auth-read ≥ 0.60×', ['cached-auth-read'], () => by['cached-auth-read'].ratio >= 0.6, 'floor-redis', 0.6],
    ['auth-db-read ≥ 0.40×', ['auth-db-read'], () => by['auth-db-read'].ratio >= 0.4, 'floor-sql', 0.4],
    ['write ≥ 0.25×', ['write'], () => by.write.ratio >= 0.25, 'floor-write', 0.25],
    ['p99 DB reads < 200 ms', ['public-db-read', 'auth-db-read'], () => by['public-db-read'].p99 < 200 && by['auth-db-read'].p99 < 200,
      ['floor-sql']],
    ['p99 cached read < 100 ms', ['cached-auth-read'], () => by['cached-auth-read'].p99 < 100, ['floor-redis']],
    ['p99 write < 500 ms', ['write'], () => by.write.p99 < 500, ['floor-write']],
    ['public-db-read: 1 query, 0 connections, 0 Redis', ['public-db-read'],
      () => work('public-db-read').dbQueries === 1 && work('public-db-read').dbConnects === 0 && work('public-db-read').redisCommands === 0],
    ['cached-auth-read: 0 queries', ['cached-auth-read'], () => work('cached-auth-read').dbQueries === 0],
    ['no-io: 0 of everything', ['no-io'], () => Object.values(work('no-io')).every((v) => v === 0)],
  ];
  if (rttRows && RTT_MS === 0) {
    checks.push([`@${RTT_TABLE_MS} ms: public-db-read p50 ≤ 2×RTT + its 0 ms p50`, ['public-db-read'],
      () => rtt['public-db-read']?.p50 <= 2 * RTT_TABLE_MS + by['public-db-read'].p50]);
    checks.push([`@${RTT_TABLE_MS} ms: cached-auth-read p50 within 25 ms of its 0 ms p50`, ['cached-auth-read'],
      () => rtt['cached-auth-read']?.p50 <= by['cached-auth-read'].p50 + 25]);
  }
  return checks.map(([target, needs, test, floor, asked]) => {
    if (needs.some((k) => !by[k] || by[k].failed)) return { target, ok: null, note: 'not measured in this run' };
    const ok = Boolean(test());
    let note;
    if (!ok && typeof floor === 'string' && by[floor]?.ratio != null && by[floor].ratio < asked) {
      // A floor row under the ratio asked for: no route making that round trip can meet it on this machine.
      note = `its floor (${floor}) runs at ${by[floor].ratio.toFixed(2)}× here`;
    } else if (!ok && Array.isArray(floor)) {
      const seen = floor.filter((k) => by[k]?.p99 != null).map((k) => `${k} ${by[k].p99} ms`);
      if (seen.length) note = `p99 of its floor: ${seen.join(', ')}`;
    }
    return { target, ok, ...(note ? { note } : {}) };
  });
}

let code = 1;
try {
  const t0 = Date.now();
  const clerk = await localClerk();
  const started = await Promise.allSettled([startStack(), bundleApi()]); // both settle: nothing half-started
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  const [stack, apiConfig] = started.map((s) => s.value);
  const users = await seedUsers(stack.pgUrl, clerk);
  const [baseline, api] = await Promise.all([
    startWorker('baseline', 'bench/baseline/wrangler.toml', { inspect: INSPECTOR, vars: {
      UPSTASH_REDIS_REST_URL: stack.vars.UPSTASH_REDIS_REST_URL, UPSTASH_REDIS_REST_TOKEN: UPSTASH_TOKEN,
      NEON_SQL_URL: `http://${stack.vars.NEON_LOCAL_PROXY}/sql`, NEON_LOCAL_PROXY: stack.vars.NEON_LOCAL_PROXY, DATABASE_URL: stack.pgUrl,
    } }),
    startWorker('api', apiConfig, { noBundle: true, inspect: INSPECTOR || Boolean(PROFILE), vars: {
      ...stack.vars, ...clerk.vars, ...LOGGING, ENVIRONMENT: 'development', PLANS_CACHE_SECONDS: '0',
      CORS_ORIGINS: 'http://localhost:5173', PUBLIC_BASE_URL: 'http://127.0.0.1:8787', DATABASE_REPLICA_URLS: '',
    } }),
  ]);
  say(`ready in ${((Date.now() - t0) / 1000).toFixed(1)} s: baseline ${baseline.base}, api ${api.base}; `
    + `${DURATION} s × ${CONNECTIONS} connections per row in ${ROUNDS} interleaved rounds (+${WARMUP} s warm-up, 1 s before each later round), `
    + `${USERS} users/tokens/IPs in rotation`);
  say(`logging as in production: LOG_LEVEL=${LOGGING.LOG_LEVEL}, LOG_REQUEST_SAMPLE_RATE=${LOGGING.LOG_REQUEST_SAMPLE_RATE} `
    + '(warn/error lines and failed requests always logged)');
  say(`bench-only settings: global per-client limit raised to ${BENCH_GLOBAL_LIMIT}/60 s; PLANS_CACHE_SECONDS=0 (public-db-read reads the database); `
    + `database/Redis round trip delay ${RTT_MS} ms`);
  say(`workers served by wrangler's dev server with ${INSPECTOR ? 'the DevTools inspector attached (BENCH_INSPECTOR=1)' : 'no DevTools inspector attached'}`
    + `${PROFILE ? ` (the API's attached for BENCH_PROFILE)` : ''} and without wrangler's local trace collector; each row starts with every user `
    + 'seen once (warm caches), and each connection starts at a different user');

  const groups = { api: { pgid: api.pgid, port: api.port }, baseline: { pgid: baseline.pgid, port: baseline.port } };
  // BENCH_PROFILE measures only its row (and the baseline), so the API's profile holds that kind of request alone.
  const only = PROFILE ? [PROFILE] : ONLY;
  const plan = targets(baseline, api, users).filter((t) => t.kind === 'baseline' || !only.length || (t.floorOf ?? [t.kind]).some((k) => only.includes(k)));
  // The distance table's rows take their turns in the same rounds as the main table's, so both see the same machine.
  const withRtt = RTT_TABLE_MS > 0 && RTT_TABLE_MS !== RTT_MS;
  const far = withRtt ? plan.filter((p) => p.kind !== 'baseline' && !p.floorOf).map((t) => ({ ...t, rttMs: RTT_TABLE_MS })) : [];
  let all;
  let profile = null;
  if (PROFILE) {
    const file = path.join(root, 'bench', 'results', `${PROFILE}.cpuprofile`);
    mkdirSync(path.dirname(file), { recursive: true });
    const p = await profileWhile(api.inspector, file, () => loadAll(plan, stack, groups));
    all = p.result;
    profile = { kind: PROFILE, file: path.relative(root, file), top: p.top };
  } else all = await loadAll([...plan, ...far], stack, groups);
  const rows = all.slice(0, plan.length);
  const rttRows = withRtt && !PROFILE ? all.slice(plan.length) : null;
  for (const r of all) say(`${r.kind}${r.rttMs ? ` @${r.rttMs} ms` : ''}: ${r.rps} req/s, p50 ${r.p50} ms (rounds: ${r.rounds.join(', ')} req/s; p99 ${r.p99Rounds.join(', ')} ms)`);
  const base = rows[0].failed ? 0 : rows[0].rps;
  for (const r of rows) r.ratio = base && !r.failed ? r.rps / base : null;
  printTable(`Main table (database/Redis round trip +${RTT_MS} ms); work = DB connections opened / DB statements / Redis commands, per request`,
    ['kind', 'req/s', 'p50 ms', 'p99 ms', 'vs baseline', 'work per request', 'non-2xx', 'target'],
    rows.map((r) => [r.kind, r.rps, r.p50, r.p99, r.ratio == null ? '—' : `${r.ratio.toFixed(2)}×`, fmtWork(r.perRequest), r.non2xx + r.errors + r.timeouts,
      r.failed ? `FAILED (status ${JSON.stringify(r.statuses)})` : r.target]));

  if (cpuAvailable) {
    const cols = ['baseline proxy', 'baseline', 'api proxy', 'api', 'api (node)', 'stand-ins', 'postgres', 'redis', 'load'];
    printTable('CPU per request (ms, all cores), by process: for the baseline and the API, the dev server\'s proxy worker '
      + '(its own workerd, crossed by every request; not in production) and the worker\'s workerd, and the API\'s wrangler '
      + '(node); the local stand-ins (Neon endpoints, Upstash bridge), PostgreSQL, redis-server, the load generator',
    ['kind', ...cols, 'total'],
    rows.map((r) => [r.kind, ...cols.map((c) => (r.cpuMs?.[c] ?? 0).toFixed(2)), cols.reduce((a, c) => a + (r.cpuMs?.[c] ?? 0), 0).toFixed(2)]));
    // The proxy is told apart by the address wrangler gives it on the command line; if that ever changes, say so.
    for (const g of ['baseline', 'api']) {
      if (rows.some((r) => (r.cpuMs?.[g] ?? 0) > 0) && !rows.some((r) => (r.cpuMs?.[`${g} proxy`] ?? 0) > 0)) {
        say(`the ${g}'s dev server proxy was not found: its CPU is counted in the "${g}" column`);
      }
    }
  }

  if (rttRows) {
    const zero = Object.fromEntries(rows.map((r) => [r.kind, r]));
    printTable(`Distance table: every database and Redis round trip +${RTT_TABLE_MS} ms (an edge location far from the database region)`,
      ['kind', 'p50 ms', 'p99 ms', `p50 at ${RTT_MS} ms`, 'req/s', 'work per request', 'non-2xx'],
      rttRows.map((r) => [r.kind, r.p50, r.p99, zero[r.kind]?.p50 ?? '—', r.rps, fmtWork(r.perRequest), r.non2xx + r.errors + r.timeouts]));
  }
  if (profile) {
    console.log(`CPU profile of the worker during ${profile.kind} (${profile.file}; open it in Chrome DevTools). Top self time:`);
    for (const f of profile.top) console.log(`  ${String(f.pct).padStart(5)}%  ${f.fn}`);
    console.log('');
  }
  const targetsMet = checkTargets(rows, rttRows);
  console.log('Targets:');
  for (const t of targetsMet) console.log(`  ${t.ok ? 'met    ' : t.ok === null ? 'not run' : 'MISSED '} ${t.target}${t.note ? ` (${t.note})` : ''}`);
  for (const f of rows) {
    for (const kind of plan.find((p) => p.kind === f.kind)?.floorOf ?? []) {
      const of = rows.find((r) => r.kind === kind);
      if (of && f.rps) console.log(`  (${of.kind} runs at ${Math.round((of.rps / f.rps) * 100)} % of its floor, ${f.kind} ${f.ratio?.toFixed(2)}×)`);
    }
  }
  console.log('');
  if ([...rows, ...(rttRows ?? [])].some((r) => r.failed)) console.log(`[bench] api log (tail):\n${api.tail()}\n`);

  mkdirSync(path.join(root, 'bench', 'results'), { recursive: true });
  const out = path.join(root, 'bench', 'results', 'latest.json');
  writeFileSync(out, `${JSON.stringify({
    date: new Date().toISOString(), durationSeconds: DURATION, rounds: ROUNDS, warmupSeconds: WARMUP, connections: CONNECTIONS, users: USERS,
    node: process.version, cpus: cpus().length, logging: LOGGING, dbRttMs: RTT_MS,
    benchOnly: { globalLimitPerMinute: BENCH_GLOBAL_LIMIT, PLANS_CACHE_SECONDS: 0 },
    rows, rtt: rttRows ? { ms: RTT_TABLE_MS, rows: rttRows } : null, targets: targetsMet, profile,
  }, null, 2)}\n`);
  say(`wrote ${path.relative(root, out)}`);
  code = [...rows, ...(rttRows ?? [])].some((r) => r.failed) ? 1 : 0;
} catch (e) {
  console.error(`[bench] ${e?.stack ?? e}`);
}
await shutdown(code);
