// Upstash Redis REST protocol in front of a real redis-server (ioredis), or — dev only, when no Redis is
// available — in front of a small in-memory engine without Lua.
// Protocol: POST / (["CMD", ...args]), POST /pipeline and /multi-exec ([[...], ...]), path style /cmd/a/b
// (+ raw body as last arg, ?k=v as extra args), Bearer token (or ?_token=), `Upstash-Encoding: base64`.
import { createHash } from 'node:crypto';
import http from 'node:http';
import Redis from 'ioredis';

const sha1 = (s) => createHash('sha1').update(s).digest('hex');
class RedisError extends Error {}
const fail = (msg) => { throw new RedisError(msg); };

/**
 * Start the bridge on 127.0.0.1:<port> (0 = free port). redisUrl=null → in-memory engine (one warning line).
 * Resolves to { port, close() }.
 */
export async function startUpstashBridge({ port = 0, token, redisUrl = null, log = (m) => console.warn(m), rttMs = 0 } = {}) {
  if (!token) throw new Error('startUpstashBridge: token is required');
  const engine = redisUrl ? await redisEngine(redisUrl) : memoryEngine();
  if (!redisUrl) log('[upstash-bridge] WARNING: no Redis server (install redis-server or set REDIS_URL) — using an in-memory engine without Lua: EVAL fails, so rate limits fail open. Dev only.');

  // Counters for the benchmark (HTTP requests and the Redis commands in them); rttMs delays every answer.
  const counts = { requests: 0, commands: 0 };
  let rtt = rttMs;
  const server = http.createServer(async (req, res) => {
    counts.requests++;
    const send = (status, body) => {
      const answer = () => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (rtt > 0) setTimeout(answer, rtt); else answer();
    };
    try {
      const url = new URL(req.url ?? '/', 'http://bridge');
      const auth = req.headers.authorization || (url.searchParams.has('_token') ? `Bearer ${url.searchParams.get('_token')}` : '');
      if (auth !== `Bearer ${token}`) return send(401, { error: 'Unauthorized' });
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const body = Buffer.concat(chunks).toString('utf8');
      const b64 = String(req.headers['upstash-encoding'] ?? '').toLowerCase() === 'base64';
      const reply = (r) => ('error' in r ? r : { result: encode(r.result, b64, true) });

      if (url.pathname === '/pipeline' || url.pathname === '/multi-exec') {
        const cmds = parseJson(body);
        if (!Array.isArray(cmds) || !cmds.every(Array.isArray)) return send(400, { error: 'ERR expected a JSON array of commands' });
        counts.commands += cmds.length;
        const out = url.pathname === '/pipeline' ? await engine.pipeline(cmds.map(normalize)) : await engine.multi(cmds.map(normalize));
        return send(200, out.map(reply));
      }
      let cmd;
      if (url.pathname === '/' || url.pathname === '') cmd = parseJson(body);
      else {
        cmd = url.pathname.slice(1).split('/').filter(Boolean).map(decodeURIComponent);
        for (const [k, v] of url.searchParams) if (k !== '_token') cmd.push(k, ...(v ? [v] : []));
        if (body) cmd.push(body);
      }
      if (!Array.isArray(cmd) || !cmd.length) return send(400, { error: 'ERR expected a command as a JSON array' });
      counts.commands++;
      return send(200, { result: encode(await engine.call(normalize(cmd)), b64, true) });
    } catch (e) {
      if (e instanceof RedisError || e?.name === 'ReplyError' || /^[A-Z]+ /.test(e?.message ?? '')) return send(400, { error: e.message });
      return send(500, { error: `ERR bridge: ${e?.message ?? e}` });
    }
  });

  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', resolve); });
  return {
    port: server.address().port,
    stats: () => ({ ...counts }),
    setRttMs: (ms) => { rtt = ms; },
    close: async () => {
      await new Promise((resolve) => { server.close(() => resolve()); server.closeAllConnections?.(); });
      await engine.close();
    },
  };
}

function parseJson(s) {
  try { return JSON.parse(s); } catch { fail('ERR failed to parse the request body as JSON'); }
}

const normalize = (cmd) => cmd.map((a) => (typeof a === 'string' ? a : typeof a === 'object' ? JSON.stringify(a) : String(a)));

/**
 * Upstash JSON reply. With base64 encoding every string is base64 except a top-level "OK" (the client keeps
 * a top-level "OK" as is and base64-decodes everything else, so a stored "OK" round-trips too).
 */
function encode(v, b64, top = false) {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') return v;
  if (Array.isArray(v)) return v.map((x) => encode(x, b64));
  if (v instanceof Map) return encode([...v].flat(), b64); // RESP3-style map
  if (typeof v === 'object' && !Buffer.isBuffer(v)) return encode(Object.entries(v).flat(), b64); // ioredis' HGETALL object
  const buf = Buffer.isBuffer(v) ? v : Buffer.from(String(v));
  if (!b64) return buf.toString('utf8');
  if (top && buf.length === 2 && buf.toString() === 'OK') return 'OK';
  return buf.toString('base64');
}

// ---- real Redis via ioredis -------------------------------------------------------------------

async function redisEngine(redisUrl) {
  // RESP2 = Upstash reply shapes (flat HGETALL/ZRANGE WITHSCORES, scores as strings); Buffers keep binary data intact.
  const redis = new Redis(redisUrl, { protocol: 2, maxRetriesPerRequest: 2, lazyConnect: true });
  redis.on('error', () => {}); // surfaced per command
  await redis.connect();

  // Upstash scripts start with `#!lua flags=allow-key-locking`, an Upstash-only flag that Redis 7 rejects:
  // strip the shebang and map the client's SHA (of the original) to the SHA of what Redis actually has.
  const shaMap = new Map();
  const fix = (cmd) => {
    const c = [...cmd];
    const name = c[0].toUpperCase();
    const strip = (script) => {
      if (!script.startsWith('#!lua')) return script;
      const s = script.replace(/^#!lua[^\n]*\n/, '');
      shaMap.set(sha1(script), sha1(s));
      return s;
    };
    if ((name === 'EVAL' || name === 'EVAL_RO') && c[1]) c[1] = strip(c[1]);
    else if ((name === 'EVALSHA' || name === 'EVALSHA_RO') && c[1]) c[1] = shaMap.get(c[1].toLowerCase()) ?? c[1];
    else if (name === 'SCRIPT' && c[1]?.toUpperCase() === 'LOAD' && c[2]) return { c: [c[0], c[1], strip(c[2])], sha: sha1(c[2]) };
    else if (name === 'SCRIPT' && c[1]?.toUpperCase() === 'EXISTS') for (let i = 2; i < c.length; i++) c[i] = shaMap.get(c[i].toLowerCase()) ?? c[i];
    return { c };
  };
  const one = async (cmd) => { const { c, sha } = fix(cmd); const r = await redis.callBuffer(...c); return sha ?? r; };
  const items = (out) => out.map(([err, res]) => (err ? { error: err.message } : { result: res }));
  const batch = (cmds) => cmds.map((cmd) => { const { c } = fix(cmd); return ['callBuffer', ...c]; });

  return {
    call: one,
    pipeline: async (cmds) => items(await redis.pipeline(batch(cmds)).exec()),
    multi: async (cmds) => items(await redis.multi(batch(cmds)).exec()),
    close: async () => { await redis.quit().catch(() => redis.disconnect()); },
  };
}

// ---- in-memory engine (dev only; no Lua, no persistence) --------------------------------------

function memoryEngine() {
  const db = new Map(); // key -> { type: 'string'|'hash'|'zset', v, exp?: ms epoch }
  const WRONGTYPE = 'WRONGTYPE Operation against a key holding the wrong kind of value';
  const live = (k) => {
    const e = db.get(k);
    if (e?.exp !== undefined && e.exp <= Date.now()) { db.delete(k); return undefined; }
    return e;
  };
  const get = (k, type) => { const e = live(k); if (e && e.type !== type) fail(WRONGTYPE); return e; };
  const obtain = (k, type, init) => get(k, type) ?? (db.set(k, { type, v: init() }), db.get(k));
  const int = (s) => (/^-?\d+$/.test(s) && Number.isSafeInteger(Number(s)) ? Number(s) : fail('ERR value is not an integer or out of range'));
  const num = (s) => {
    const t = String(s).toLowerCase();
    const n = t === '+inf' || t === 'inf' ? Infinity : t === '-inf' ? -Infinity : Number(t);
    return Number.isNaN(n) || t === '' ? fail('ERR value is not a valid float') : n;
  };
  const fmt = (n) => (n === Infinity ? 'inf' : n === -Infinity ? '-inf' : String(n));
  const bound = (s) => (String(s).startsWith('(') ? { v: num(s.slice(1)), ex: true } : { v: num(s), ex: false });
  const inRange = (x, lo, hi) => (lo.ex ? x > lo.v : x >= lo.v) && (hi.ex ? x < hi.v : x <= hi.v);
  const sorted = (z) => [...z.v].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const glob = (p) => new RegExp(`^${p.replace(/\\(.)|([.+^${}()|\\/])|\*|\?/g, (m, esc, lit) => (esc ? `\\${esc}` : lit ? `\\${lit}` : m === '*' ? '.*' : '.'))}$`, 's');
  const incrBy = (k, by) => {
    const e = get(k, 'string');
    const n = (e ? int(e.v) : 0) + by;
    if (!Number.isSafeInteger(n)) fail('ERR increment or decrement would overflow');
    if (e) e.v = String(n); else db.set(k, { type: 'string', v: String(n) });
    return n;
  };
  const expire = (k, ms) => { const e = live(k); if (!e) return 0; if (ms <= 0) db.delete(k); else e.exp = Date.now() + ms; return 1; };
  const ttl = (k, unit) => { const e = live(k); return !e ? -2 : e.exp === undefined ? -1 : Math.round((e.exp - Date.now()) / unit); };
  const noLua = () => fail('ERR Lua scripting is not available in the in-memory dev engine (install redis-server or set REDIS_URL)');

  const cmds = {
    PING: (msg) => msg ?? 'PONG',
    ECHO: (msg) => msg,
    GET: (k) => get(k, 'string')?.v ?? null,
    SET: (k, v, ...opts) => {
      let exp, nx = false, xx = false, keep = false, getOld = false;
      for (let i = 0; i < opts.length; i++) {
        const o = opts[i].toUpperCase();
        if (o === 'EX' || o === 'PX') {
          const n = int(opts[++i] ?? fail('ERR syntax error'));
          if (n <= 0) fail("ERR invalid expire time in 'set' command");
          exp = Date.now() + n * (o === 'EX' ? 1000 : 1);
        } else if (o === 'NX') nx = true; else if (o === 'XX') xx = true;
        else if (o === 'KEEPTTL') keep = true; else if (o === 'GET') getOld = true;
        else fail('ERR syntax error');
      }
      const cur = getOld ? get(k, 'string') : live(k);
      if ((nx && cur) || (xx && !cur)) return getOld ? cur?.v ?? null : null;
      db.set(k, { type: 'string', v, exp: keep ? cur?.exp : exp });
      return getOld ? cur?.v ?? null : 'OK';
    },
    MGET: (...ks) => ks.map((k) => { const e = live(k); return e?.type === 'string' ? e.v : null; }),
    DEL: (...ks) => ks.filter((k) => live(k) && db.delete(k)).length,
    EXISTS: (...ks) => ks.filter((k) => live(k)).length,
    INCR: (k) => incrBy(k, 1),
    DECR: (k) => incrBy(k, -1),
    INCRBY: (k, by) => incrBy(k, int(by)),
    DECRBY: (k, by) => incrBy(k, -int(by)),
    EXPIRE: (k, s) => expire(k, int(s) * 1000),
    PEXPIRE: (k, ms) => expire(k, int(ms)),
    TTL: (k) => ttl(k, 1000),
    PTTL: (k) => ttl(k, 1),
    HSET: (k, ...fv) => {
      if (!fv.length || fv.length % 2) fail("ERR wrong number of arguments for 'hset' command");
      const h = obtain(k, 'hash', () => new Map()).v;
      let added = 0;
      for (let i = 0; i < fv.length; i += 2) { if (!h.has(fv[i])) added++; h.set(fv[i], fv[i + 1]); }
      return added;
    },
    HGET: (k, f) => get(k, 'hash')?.v.get(f) ?? null,
    HGETALL: (k) => [...(get(k, 'hash')?.v ?? [])].flat(),
    HDEL: (k, ...fs) => {
      const e = get(k, 'hash');
      if (!e) return 0;
      const n = fs.filter((f) => e.v.delete(f)).length;
      if (!e.v.size) db.delete(k);
      return n;
    },
    HINCRBY: (k, f, by) => {
      const h = obtain(k, 'hash', () => new Map()).v;
      const n = (h.has(f) ? int(h.get(f)) : 0) + int(by);
      h.set(f, String(n));
      return n;
    },
    ZADD: (k, ...args) => {
      const flags = new Set();
      while (args.length && ['NX', 'XX', 'GT', 'LT', 'CH'].includes(args[0].toUpperCase())) flags.add(args.shift().toUpperCase());
      if (!args.length || args.length % 2) fail('ERR syntax error');
      const z = obtain(k, 'zset', () => new Map()).v;
      let added = 0, changed = 0;
      for (let i = 0; i < args.length; i += 2) {
        const score = num(args[i]), m = args[i + 1], old = z.get(m);
        if ((flags.has('NX') && old !== undefined) || (flags.has('XX') && old === undefined)) continue;
        if (old !== undefined && ((flags.has('GT') && score <= old) || (flags.has('LT') && score >= old))) continue;
        if (old === undefined) added++; else if (old !== score) changed++;
        z.set(m, score);
      }
      if (!z.size) db.delete(k);
      return flags.has('CH') ? added + changed : added;
    },
    ZRANGE: (k, start, stop, ...opts) => {
      const o = opts.map((x) => x.toUpperCase());
      const byScore = o.includes('BYSCORE'), rev = o.includes('REV'), withScores = o.includes('WITHSCORES');
      if (o.includes('BYLEX')) fail('ERR BYLEX is not supported by the in-memory dev engine');
      const li = o.indexOf('LIMIT');
      const e = get(k, 'zset');
      let list = e ? sorted(e) : [];
      if (rev) list.reverse();
      if (byScore) {
        const [lo, hi] = rev ? [bound(stop), bound(start)] : [bound(start), bound(stop)];
        list = list.filter(([, s]) => inRange(s, lo, hi));
        if (li >= 0) {
          const off = int(opts[li + 1]), cnt = int(opts[li + 2]);
          list = list.slice(off, cnt < 0 ? undefined : off + cnt);
        }
      } else {
        const n = list.length;
        let a = int(start), b = int(stop);
        if (a < 0) a = Math.max(0, n + a);
        if (b < 0) b = n + b;
        list = list.slice(a, Math.min(b, n - 1) + 1);
      }
      return withScores ? list.flatMap(([m, s]) => [m, fmt(s)]) : list.map(([m]) => m);
    },
    ZREM: (k, ...ms) => {
      const e = get(k, 'zset');
      if (!e) return 0;
      const n = ms.filter((m) => e.v.delete(m)).length;
      if (!e.v.size) db.delete(k);
      return n;
    },
    ZCARD: (k) => get(k, 'zset')?.v.size ?? 0,
    ZSCORE: (k, m) => { const s = get(k, 'zset')?.v.get(m); return s === undefined ? null : fmt(s); },
    ZREMRANGEBYSCORE: (k, min, max) => {
      const e = get(k, 'zset');
      if (!e) return 0;
      const lo = bound(min), hi = bound(max);
      let n = 0;
      for (const [m, s] of e.v) if (inRange(s, lo, hi)) { e.v.delete(m); n++; }
      if (!e.v.size) db.delete(k);
      return n;
    },
    SCAN: (_cursor, ...opts) => {
      let re = null, type = null;
      for (let i = 0; i < opts.length; i += 2) {
        const o = opts[i].toUpperCase();
        if (o === 'MATCH') re = glob(opts[i + 1]); else if (o === 'TYPE') type = opts[i + 1].toLowerCase();
        else if (o !== 'COUNT') fail('ERR syntax error');
      }
      return ['0', [...db.keys()].filter((k) => { const e = live(k); return e && (!re || re.test(k)) && (!type || e.type === type); })];
    },
    KEYS: (p) => cmds.SCAN('0', 'MATCH', p)[1],
    DBSIZE: () => [...db.keys()].filter((k) => live(k)).length,
    FLUSHDB: () => { db.clear(); return 'OK'; },
    FLUSHALL: () => { db.clear(); return 'OK'; },
    EVAL: noLua, EVALSHA: noLua, EVAL_RO: noLua, EVALSHA_RO: noLua, SCRIPT: noLua,
  };

  const lookup = (cmd) => cmds[cmd[0].toUpperCase()]
    ?? fail(`ERR unknown command '${cmd[0]}' (not supported by the in-memory dev engine; install redis-server or set REDIS_URL)`);
  const run = (cmd) => { try { return { result: lookup(cmd)(...cmd.slice(1)) }; } catch (e) { return { error: e.message }; } };
  return {
    call: async (cmd) => lookup(cmd)(...cmd.slice(1)),
    pipeline: async (cmds) => cmds.map(run),
    multi: async (cmds) => { // all-or-nothing at queue time like Redis; single-threaded, so atomic
      cmds.forEach((c) => { try { lookup(c); } catch (e) { fail(`EXECABORT Transaction discarded because of previous errors: ${e.message}`); } });
      return cmds.map(run);
    },
    close: async () => db.clear(),
  };
}
