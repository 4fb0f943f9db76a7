// Node-side check of the local stand-ins with the real client libraries:
//   npx node scripts/stack/selftest.mjs
// Upstash bridge (real redis-server when installed, and the in-memory engine) with @upstash/redis and
// @upstash/ratelimit; the QStash emulator with @upstash/qstash Client + Receiver; the local Neon WebSocket
// endpoint's transaction pooling with @neondatabase/serverless.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Receiver, Client as QstashClient } from '@upstash/qstash';
import { Ratelimit } from '@upstash/ratelimit';
import { Redis } from '@upstash/redis';
import { Pool, neonConfig } from '@neondatabase/serverless';
import WebSocket from 'ws';
import { freePort, onShutdown, shutdown } from './procs.mjs';
import { startNeonLocal } from './neon-local.mjs';
import { startPostgres } from './postgres.mjs';
import { startQstash } from './qstash-local.mjs';
import { findRedisServer, startRedis } from './redis.mjs';
import { startUpstashBridge } from './upstash-bridge.mjs';

const results = [];
const check = async (name, fn, { expectFail = false } = {}) => {
  try {
    const detail = await fn();
    results.push({ name, ok: !expectFail, detail: detail ?? '' });
  } catch (e) {
    results.push({ name, ok: expectFail, detail: `${expectFail ? 'failed as expected: ' : ''}${e?.message ?? e}` });
  }
};
const eq = (got, want) => {
  if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  return JSON.stringify(got);
};

async function redisChecks(label, redisUrl) {
  const bridge = await startUpstashBridge({ token: 'selftest-token', redisUrl, log: (m) => console.log(`  (${m})`) });
  onShutdown(bridge.close);
  const url = `http://127.0.0.1:${bridge.port}`;
  const redis = new Redis({ url, token: 'selftest-token', enableTelemetry: false });
  const p = `st:${Date.now()}:`;
  await check(`${label}: set/get JSON + unicode`, async () => {
    await redis.set(`${p}a`, { n: 1, s: 'héllo ✓' });
    return eq(await redis.get(`${p}a`), { n: 1, s: 'héllo ✓' });
  });
  await check(`${label}: set "OK" / get`, async () => { await redis.set(`${p}ok`, 'OK'); return eq(await redis.get(`${p}ok`), 'OK'); });
  await check(`${label}: incr/incrby/decr`, async () => eq([await redis.incr(`${p}n`), await redis.incrby(`${p}n`, 5), await redis.decr(`${p}n`)], [1, 6, 5]));
  await check(`${label}: set ex / ttl / nx`, async () => {
    await redis.set(`${p}t`, 'v', { ex: 100 });
    return eq([await redis.ttl(`${p}t`), await redis.set(`${p}t`, 'w', { nx: true }), await redis.ttl(`${p}missing`)], [100, null, -2]);
  });
  await check(`${label}: hset/hgetall/hincrby`, async () => {
    await redis.hset(`${p}h`, { a: '1', b: 'x' });
    await redis.hincrby(`${p}h`, 'a', 2);
    return eq(await redis.hgetall(`${p}h`), { a: 3, b: 'x' });
  });
  await check(`${label}: zadd/zrange withScores/zremrangebyscore`, async () => {
    await redis.zadd(`${p}z`, { score: 1, member: 'a' }, { score: 2.5, member: 'b' }, { score: 3, member: 'c' });
    await redis.zremrangebyscore(`${p}z`, 0, 1);
    return eq([await redis.zrange(`${p}z`, 0, -1, { withScores: true }), await redis.zcard(`${p}z`)], [['b', 2.5, 'c', 3], 2]);
  });
  await check(`${label}: pipeline`, async () => {
    const pl = redis.pipeline();
    pl.set(`${p}p`, 'x'); pl.get(`${p}p`); pl.incr(`${p}pn`); pl.mget(`${p}p`, `${p}nope`);
    return eq(await pl.exec(), ['OK', 'x', 1, ['x', null]]);
  });
  await check(`${label}: multi-exec`, async () => {
    const tx = redis.multi();
    tx.set(`${p}m`, '1'); tx.incr(`${p}m`); tx.get(`${p}m`); tx.del(`${p}m`); tx.exists(`${p}m`);
    return eq(await tx.exec(), ['OK', 2, 2, 1, 0]);
  });
  await check(`${label}: scan match`, async () => {
    const [, keys] = await redis.scan(0, { match: `${p}h*`, count: 1000 });
    return eq(keys, [`${p}h`]);
  });
  await check(`${label}: wrong token → 401`, async () => {
    const r = await fetch(`${url}/get/x`, { headers: { authorization: 'Bearer nope' } });
    return eq(r.status, 401);
  });
  // Rate limits: the exact Lua scripts @upstash/ratelimit sends, through EVALSHA → NOSCRIPT → EVAL, must
  // give the same answers on both engines.
  const runLimiter = async (limiter, n, prefix) => {
    const rl = new Ratelimit({ redis, limiter, prefix: `${p}${prefix}`, analytics: false });
    const out = [];
    for (let i = 0; i < n; i++) { const r = await rl.limit('user'); out.push([r.success, r.remaining, r.limit]); }
    return { rl, out };
  };
  await check(`${label}: ratelimit slidingWindow(3) ×4`, async () => {
    const { rl, out } = await runLimiter(Ratelimit.slidingWindow(3, '10 s'), 4, 'sw');
    return eq([out, await rl.getRemaining('user').then((r) => r.remaining)], [[[true, 2, 3], [true, 1, 3], [true, 0, 3], [false, 0, 3]], 0]);
  });
  await check(`${label}: ratelimit fixedWindow(2) ×3`, async () => {
    const { rl, out } = await runLimiter(Ratelimit.fixedWindow(2, '10 s'), 3, 'fw');
    return eq([out, await rl.getRemaining('user').then((r) => r.remaining)], [[[true, 1, 2], [true, 0, 2], [false, 0, 2]], 0]);
  });
  await check(`${label}: ratelimit tokenBucket(refill 1/10 s, max 3) ×4`, async () => {
    const { rl, out } = await runLimiter(Ratelimit.tokenBucket(1, '10 s', 3), 4, 'tb');
    return eq([out, await rl.getRemaining('user').then((r) => r.remaining)], [[[true, 2, 3], [true, 1, 3], [true, 0, 3], [false, 0, 3]], 0]);
  });
  await check(`${label}: ratelimit window expiry (fixedWindow(1) per 1 s)`, async () => {
    const rl = new Ratelimit({ redis, limiter: Ratelimit.fixedWindow(1, '1 s'), prefix: `${p}fx`, analytics: false });
    const nextWindow = () => new Promise((r) => setTimeout(r, 1020 - (Date.now() % 1000))); // windows start on whole seconds
    await nextWindow();
    const first = [(await rl.limit('u')).success, (await rl.limit('u')).success];
    await nextWindow();
    return eq([...first, (await rl.limit('u')).success], [true, false, true]);
  });
  await check(`${label}: ratelimit resetUsedTokens`, async () => {
    const { rl } = await runLimiter(Ratelimit.slidingWindow(1, '10 s'), 2, 'rs');
    await rl.resetUsedTokens('user');
    return eq((await rl.limit('user')).success, true);
  });
  const shebang = '#!lua flags=allow-key-locking\nreturn {KEYS[1], ARGV[1], tonumber(ARGV[2]) / 2, redis.call("GET", KEYS[1])}';
  await check(`${label}: EVALSHA of an unknown script → NOSCRIPT; EVAL, then EVALSHA works`, async () => {
    const sha = createHash('sha1').update(shebang).digest('hex');
    const before = await redis.evalsha(sha, [`${p}e`], ['a', '5']).then(() => 'ok', (e) => (String(e.message).includes('NOSCRIPT') ? 'NOSCRIPT' : e.message));
    const viaEval = await redis.eval(shebang, [`${p}e`], ['a', '5']);
    return eq([before, viaEval, await redis.evalsha(sha, [`${p}e`], ['b', '7'])], ['NOSCRIPT', [`${p}e`, 'a', 2, null], [`${p}e`, 'b', 3, null]]);
  });
  await check(`${label}: SCRIPT LOAD / EXISTS with the client's SHA`, async () => {
    const script = `${shebang} -- load`;
    const sha = await redis.scriptLoad(script);
    return eq([sha, await redis.scriptExists(sha, 'f'.repeat(40)),
      await redis.evalsha(sha, [`${p}e2`], ['x', '1'])], [createHash('sha1').update(script).digest('hex'), [1, 0], [`${p}e2`, 'x', 0, null]]);
  });
  await check(`${label}: Lua ↔ reply conversion (nil→false, floats truncated, status, error_reply, pcall)`, async () => {
    const script = `local missing = redis.call("GET", KEYS[1])
      local h = redis.call("HMGET", KEYS[2], "a")
      local ok = redis.call("SET", KEYS[1], "v")
      local bad = redis.pcall("INCR", KEYS[1])
      return {missing == false, h[1] == false, ok.ok, bad.err ~= nil, 7.9, -2.5, true, "s", false, "after-false", nil, "after-nil"}`;
    const out = await redis.eval(script, [`${p}lua`, `${p}luah`], []);
    const err = await redis.eval('return redis.error_reply("MYERR custom")', [], []).then(() => 'no error', (e) => e.message);
    const wrongType = await redis.eval('return redis.call("HGET", KEYS[1], "f")', [`${p}lua`], []).then(() => 'no error', (e) => e.message.match(/WRONGTYPE/)?.[0] ?? e.message);
    return eq([out, err.includes('MYERR custom'), wrongType], [[1, 1, 'OK', 1, 7, -2, 1, 's', null, 'after-false'], true, 'WRONGTYPE']);
  });
}

async function qstashChecks() {
  const signing = { currentSigningKey: 'sig_selftest_current', nextSigningKey: 'sig_selftest_next' };
  const q = await startQstash({ token: 'qs-token', currentSigningKey: signing.currentSigningKey, retryBaseMs: 100 });
  onShutdown(q.close);
  const receiver = new Receiver(signing);
  const got = [];
  let failFirst = true;
  const hook = http.createServer(async (req, res) => {
    let body = '';
    for await (const c of req) body += c;
    const url = `http://127.0.0.1:${hook.address().port}${req.url}`;
    const valid = await receiver.verify({ signature: req.headers['upstash-signature'] ?? '', body, url }).catch(() => false);
    got.push({ path: req.url, valid, body, at: Date.now(), hdr: req.headers['x-app'], retried: req.headers['upstash-retried'] });
    if (req.url === '/flaky' && failFirst) { failFirst = false; res.writeHead(500).end(); return; }
    res.writeHead(valid ? 200 : 401).end();
  });
  await new Promise((r) => hook.listen(0, '127.0.0.1', r));
  onShutdown(() => new Promise((r) => { hook.close(() => r()); hook.closeAllConnections(); }));
  const base = `http://127.0.0.1:${hook.address().port}`;
  const client = new QstashClient({ baseUrl: `http://127.0.0.1:${q.port}`, token: 'qs-token', enableTelemetry: false });
  const waitFor = async (pred, ms = 5000) => {
    const end = Date.now() + ms;
    while (Date.now() < end) { const v = pred(); if (v) return v; await new Promise((r) => setTimeout(r, 20)); }
    throw new Error('timed out waiting for delivery');
  };

  await check('qstash: publishJSON → delivered, Receiver.verify ok, forward header', async () => {
    const { messageId } = await client.publishJSON({ url: `${base}/hook`, body: { hello: 'world' }, headers: { 'x-app': 'fa' } });
    const d = await waitFor(() => got.find((g) => g.path === '/hook'));
    return eq([messageId.startsWith('msg_'), d.valid, JSON.parse(d.body), d.hdr], [true, true, { hello: 'world' }, 'fa']);
  });
  await check('qstash: tampered body fails verification', async () => {
    const sig = await new Promise((resolve) => {
      const s = http.createServer((req, res) => { resolve(req.headers['upstash-signature']); res.end(); s.close(); });
      s.listen(0, '127.0.0.1', () => client.publish({ url: `http://127.0.0.1:${s.address().port}/x`, body: 'a' }));
    });
    const ok = await receiver.verify({ signature: sig, body: 'b' }).then(() => true, () => false);
    return eq(ok, false);
  });
  await check('qstash: retry after 500', async () => {
    await client.publish({ url: `${base}/flaky`, body: 'x', retries: 2 });
    await waitFor(() => got.filter((g) => g.path === '/flaky').length === 2);
    return eq(got.filter((g) => g.path === '/flaky').map((g) => g.retried), ['0', '1']);
  });
  await check('qstash: Upstash-Delay 1s', async () => {
    const t0 = Date.now();
    await client.publish({ url: `${base}/delayed`, body: 'x', delay: 1 });
    const d = await waitFor(() => got.find((g) => g.path === '/delayed'), 4000);
    const ms = d.at - t0;
    if (ms < 950) throw new Error(`delivered after ${ms} ms`);
    return `${ms} ms`;
  });
  await check('qstash: batch', async () => {
    const r = await client.batchJSON([{ url: `${base}/b1`, body: { i: 1 } }, { url: `${base}/b2`, body: { i: 2 } }]);
    await waitFor(() => got.some((g) => g.path === '/b1') && got.some((g) => g.path === '/b2'));
    return eq(r.length, 2);
  });
  await check('qstash: non-loopback destination refused', async () => {
    const ok = await client.publish({ url: 'https://example.com/x', body: 'x' }).then(() => true, () => false);
    return eq(ok, false);
  });
}

/** db:reset's safety rules (scripts/db.mjs → removeDataDir), on fake data dirs. */
async function dataDirChecks() {
  const { removeDataDir, runningServer } = await import('./postgres.mjs');
  const base = mkdtempSync(path.join(tmpdir(), 'fairarena-selftest-'));
  onShutdown(() => rmSync(base, { recursive: true, force: true }));
  const cluster = (name, pid) => {
    const d = path.join(base, name);
    mkdirSync(d);
    writeFileSync(path.join(d, 'PG_VERSION'), '18\n');
    if (pid) writeFileSync(path.join(d, 'postmaster.pid'), `${pid}\n${d}\n0\n54329\n`);
    return d;
  };
  const refused = (fn) => { try { fn(); return false; } catch { return true; } };
  await check('db:reset: a running server (live postmaster.pid) is refused', async () => {
    const d = cluster('running', process.pid);
    return eq([runningServer(d), refused(() => removeDataDir(d)), existsSync(d)], [{ pid: process.pid, port: 54329 }, true, true]);
  });
  await check('db:reset: a stale postmaster.pid does not block; the dir is removed', async () => {
    const d = cluster('stale', 2 ** 22 + 12345); // above Linux's pid_max default
    return eq([runningServer(d), removeDataDir(d).length, existsSync(d)], [null, 1, false]);
  });
  await check('db:reset: a folder that is not a PostgreSQL data dir is left alone', async () => {
    const d = path.join(base, 'other');
    mkdirSync(d);
    writeFileSync(path.join(d, 'notes.txt'), 'keep me');
    return eq([refused(() => removeDataDir(d)), existsSync(path.join(d, 'notes.txt'))], [true, true]);
  });
  await check('db:reset: a symlink is followed only into a relocated fairarena-pg/data-* dir', async () => {
    const elsewhere = cluster('elsewhere');
    symlinkSync(elsewhere, path.join(base, 'link-out'));
    const refusedOut = refused(() => removeDataDir(path.join(base, 'link-out')));
    mkdirSync(path.join(base, 'fairarena-pg'));
    const target = path.join(base, 'fairarena-pg', 'data-0123456789abcdef');
    mkdirSync(target);
    writeFileSync(path.join(target, 'PG_VERSION'), '18\n');
    symlinkSync(target, path.join(base, 'link-in'));
    const removed = removeDataDir(path.join(base, 'link-in')).length;
    return eq([refusedOut, existsSync(elsewhere), removed, existsSync(target), existsSync(path.join(base, 'link-in'))], [true, true, 2, false, false]);
  });
}

/** The WebSocket endpoint pools PostgreSQL server connections per transaction, as Neon's pooled endpoint does. */
async function neonPoolerChecks() {
  const dir = mkdtempSync(path.join(tmpdir(), 'fairarena-selftest-pg-'));
  onShutdown(() => rmSync(dir, { recursive: true, force: true }));
  const pg = await startPostgres({ dataDir: path.join(dir, 'pg'), port: await freePort(), persistent: false });
  onShutdown(pg.stop);
  await pg.createDatabase('pooler');
  const neon = await startNeonLocal({ pgPort: pg.port, maxSessions: 1, sessionWaitMs: 150 });
  onShutdown(neon.close);
  neonConfig.webSocketConstructor = WebSocket;
  neonConfig.wsProxy = () => `127.0.0.1:${neon.port}/v2`;
  Object.assign(neonConfig, { useSecureWebSocket: false, pipelineTLS: false, forceDisablePgSSL: true, pipelineConnect: 'password' });
  const url = pg.url('pooler');
  /** One client session (as a request opens one) running `work`, then closed. */
  const session = async (work, connectionString = url) => {
    const pool = new Pool({ connectionString, max: 1, connectionTimeoutMillis: 5000 });
    try {
      const client = await pool.connect();
      try { return await work(client); } finally { client.release(true); }
    } finally { await pool.end(); }
  };
  const pid = (c) => c.query('select pg_backend_pid() as pid').then((r) => r.rows[0].pid);

  await check('neon ws: pipelined log-in; consecutive sessions share one server connection', async () => {
    const a = await session(pid);
    const b = await session(pid);
    return eq([typeof a, a === b], ['number', true]);
  });
  await check('neon ws: a wrong password fails the log-in with 28P01', async () => {
    const bad = new URL(url);
    bad.password = 'wrong';
    return session(pid, bad.toString()).then(() => 'logged in', (e) => eq(e.code, '28P01'));
  });
  await check('neon ws: a transaction that waits past sessionWaitMs gets 53300; the session stays usable', async () => {
    let release;
    const held = new Promise((r) => { release = r; });
    const holder = session(async (c) => { await c.query('begin'); await held; await c.query('commit'); });
    await new Promise((r) => setTimeout(r, 200));
    const waited = await session(async (c) => {
      const first = await c.query('begin').then(() => 'began', (e) => e.code);
      release();
      await holder;
      const next = await c.query('select 1 as one').then((r) => r.rows[0].one);
      return [first, next];
    });
    return eq(waited, ['53300', 1]);
  });
  await check('neon ws: a session that leaves mid-transaction does not hand its open transaction to the next', async () => {
    await session((c) => c.query('create table if not exists pooled (n int)'));
    await session(async (c) => { await c.query('begin'); await c.query('insert into pooled values (1)'); }); // gone without commit
    const rows = await session((c) => c.query('select count(*)::int as n from pooled').then((r) => r.rows[0].n));
    const inTx = await session((c) => c.query('select now() = statement_timestamp() as fresh').then((r) => r.rows[0].fresh));
    return eq([rows, inTx], [0, true]);
  });
}

const t0 = Date.now();
const redisBin = findRedisServer();
if (redisBin) {
  const r = await startRedis({ bin: redisBin });
  onShutdown(r.stop);
  await redisChecks('redis-server', r.url);
} else {
  results.push({ name: 'redis-server', ok: false, detail: 'not installed: real-Redis checks skipped' });
}
await redisChecks('in-memory', null);
await qstashChecks();
await dataDirChecks();
await neonPoolerChecks();

const quiet = process.argv.includes('--quiet'); // npm test: print failures only
for (const r of results) if (!quiet || !r.ok) console.log(`${r.ok ? 'PASS' : 'FAIL'}  ${r.name}${r.detail ? `  — ${r.detail}` : ''}`);
const failed = results.filter((r) => !r.ok).length;
console.log(`${results.length - failed} passed, ${failed} failed (${Date.now() - t0} ms)`);
await shutdown(failed ? 1 : 0);
