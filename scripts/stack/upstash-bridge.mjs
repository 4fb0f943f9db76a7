// Upstash Redis REST protocol in front of a real redis-server (ioredis), or — when no Redis is available —
// in front of the in-memory engine of redis-memory.mjs (Lua scripts included, so rate limits work).
// Protocol: POST / (["CMD", ...args]), POST /pipeline and /multi-exec ([[...], ...]), path style /cmd/a/b
// (+ raw body as last arg, ?k=v as extra args), Bearer token (or ?_token=), `Upstash-Encoding: base64`.
import { createHash } from 'node:crypto';
import http from 'node:http';
import Redis from 'ioredis';
import { memoryRedisEngine } from './redis-memory.mjs';

const sha1 = (s) => createHash('sha1').update(s).digest('hex');
class RedisError extends Error {}
const fail = (msg) => { throw new RedisError(msg); };

/**
 * Start the bridge on 127.0.0.1:<port> (0 = free port). redisUrl=null → in-memory engine (one log line).
 * Resolves to { port, close() }.
 */
export async function startUpstashBridge({ port = 0, token, redisUrl = null, log = (m) => console.warn(m), rttMs = 0 } = {}) {
  if (!token) throw new Error('startUpstashBridge: token is required');
  const engine = redisUrl ? await redisEngine(redisUrl) : memoryRedisEngine();
  if (!redisUrl) log('[upstash-bridge] no Redis server (install redis-server or set REDIS_URL): using the in-memory engine (not persisted).');

  // Counters for the benchmark (HTTP requests, the Redis commands in them, TCP connections accepted: a client that
  // reuses its connections opens few); rttMs delays every answer.
  const counts = { requests: 0, commands: 0, tcpConnections: 0 };
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

  server.on('connection', () => { counts.tcpConnections++; });
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
  // @upstash/redis sends even single commands to /pipeline, so SCRIPT LOAD's SHA is mapped back here too.
  const items = (out, fixed) => out.map(([err, res], i) => (err ? { error: err.message } : { result: fixed[i].sha ?? res }));
  const batch = (fixed) => fixed.map(({ c }) => ['callBuffer', ...c]);

  return {
    call: one,
    pipeline: async (cmds) => { const fixed = cmds.map(fix); return items(await redis.pipeline(batch(fixed)).exec(), fixed); },
    multi: async (cmds) => { const fixed = cmds.map(fix); return items(await redis.multi(batch(fixed)).exec(), fixed); },
    close: async () => { await redis.quit().catch(() => redis.disconnect()); },
  };
}
