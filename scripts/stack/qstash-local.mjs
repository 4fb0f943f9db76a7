// Local QStash emulator (the official dev server downloads a binary at install time, which fails offline).
// POST /v2/publish/<url>, /v2/enqueue/<queue>/<url>, /v2/batch → { messageId } ; delivery is asynchronous,
// loopback destinations only, signed like QStash (HS256 JWT in Upstash-Signature), with Upstash-Delay,
// Upstash-Not-Before, Upstash-Retries (exponential backoff on non-2xx) and Upstash-Forward-* headers.
// GET /v2/local/messages lists recent messages and their state (emulator only, for tests and debugging).
import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import { SignJWT } from 'jose';

const DEFAULT_RETRIES = 3;
const KEEP = 200; // messages remembered for /v2/local/messages

export function isLoopbackUrl(u) {
  try {
    const { protocol, hostname } = new URL(u);
    return (protocol === 'http:' || protocol === 'https:')
      && (hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname));
  } catch { return false; }
}

/** "10s", "5m", "1h", "2d", "500ms" or a bare number of seconds → milliseconds. */
export function parseDuration(s) {
  if (s === undefined || s === null || s === '') return 0;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(String(s));
  if (!m) throw new Error(`invalid duration: ${s}`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 's'];
}

/**
 * Start the emulator on 127.0.0.1:<port> (0 = free port). retryBaseMs: first backoff (doubles per attempt,
 * capped at 30 s). Resolves to { port, close(), messages }.
 */
export async function startQstash({ port = 0, token, currentSigningKey, retryBaseMs = 1000, log = () => {} } = {}) {
  if (!token || !currentSigningKey) throw new Error('startQstash: token and currentSigningKey are required');
  const key = new TextEncoder().encode(currentSigningKey);
  const messages = new Map(); // id -> record
  const timers = new Set();
  const aborter = new AbortController();
  let closed = false;

  const later = (ms, fn) => {
    const t = setTimeout(() => { timers.delete(t); fn(); }, Math.max(0, ms));
    timers.add(t);
  };

  const sign = (url, body) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ body: createHash('sha256').update(body).digest('base64url') })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer('Upstash').setSubject(url).setIssuedAt(now).setNotBefore(now).setExpirationTime(now + 300)
      .setJti(`jwt_${randomUUID()}`).sign(key);
  };

  /** Validate one message and schedule its delivery; returns { messageId, url }. */
  const accept = (destination, headers, body, queue) => {
    if (!isLoopbackUrl(destination)) {
      throw Object.assign(new Error(`destination must be a loopback http(s) URL for the local QStash emulator: ${destination}`), { status: 400 });
    }
    const h = (name) => headers[name.toLowerCase()];
    const retries = h('upstash-retries') !== undefined ? Number(h('upstash-retries')) : DEFAULT_RETRIES;
    if (!Number.isInteger(retries) || retries < 0) throw Object.assign(new Error('invalid Upstash-Retries'), { status: 400 });
    let delay;
    try { delay = parseDuration(h('upstash-delay')); } catch (e) { throw Object.assign(e, { status: 400 }); }
    if (h('upstash-not-before')) delay = Math.max(delay, Number(h('upstash-not-before')) * 1000 - Date.now());

    const fwd = { 'content-type': h('content-type') ?? 'application/octet-stream' };
    for (const [k, v] of Object.entries(headers)) {
      if (k.startsWith('upstash-forward-')) fwd[k.slice('upstash-forward-'.length)] = v;
    }
    const msg = {
      messageId: `msg_${randomUUID().replaceAll('-', '')}`, url: destination, queue,
      method: (h('upstash-method') ?? 'POST').toUpperCase(), headers: fwd, body: Buffer.from(body ?? ''),
      retries, attempts: 0, state: 'CREATED', lastStatus: null, lastError: null, createdAt: Date.now(),
    };
    messages.set(msg.messageId, msg);
    if (messages.size > KEEP) messages.delete(messages.keys().next().value);
    later(delay, () => deliver(msg));
    log(`[qstash] ${msg.messageId} → ${destination}${delay ? ` in ${delay} ms` : ''}`);
    return { messageId: msg.messageId, url: destination };
  };

  const deliver = async (msg) => {
    if (closed) return;
    msg.attempts++;
    msg.state = 'ACTIVE';
    try {
      const res = await fetch(msg.url, {
        method: msg.method,
        headers: {
          ...msg.headers,
          'upstash-signature': await sign(msg.url, msg.body),
          'upstash-message-id': msg.messageId,
          'upstash-retried': String(msg.attempts - 1),
          'upstash-retries': String(msg.retries),
        },
        body: msg.method === 'GET' || msg.method === 'HEAD' ? undefined : msg.body,
        redirect: 'manual',
        signal: AbortSignal.any([aborter.signal, AbortSignal.timeout(30_000)]),
      });
      await res.arrayBuffer().catch(() => {});
      msg.lastStatus = res.status;
      if (res.ok) { msg.state = 'DELIVERED'; log(`[qstash] ${msg.messageId} delivered (${res.status})`); return; }
      msg.lastError = `HTTP ${res.status}`;
    } catch (e) {
      if (closed) return;
      msg.lastError = e?.cause?.code ?? e?.message ?? String(e);
    }
    if (msg.attempts > msg.retries) {
      msg.state = 'FAILED';
      console.warn(`[qstash] ${msg.messageId} → ${msg.url} failed after ${msg.attempts} attempt(s): ${msg.lastError}`);
      return;
    }
    msg.state = 'RETRY';
    later(Math.min(30_000, retryBaseMs * 2 ** (msg.attempts - 1)), () => deliver(msg));
  };

  const server = http.createServer(async (req, res) => {
    const send = (status, body) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };
    try {
      if (req.headers.authorization !== `Bearer ${token}`) return send(401, { error: 'Unauthorized' });
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const body = Buffer.concat(chunks);
      const path = req.url ?? '/';
      let m;
      if (req.method === 'POST' && (m = /^\/v2\/publish\/(.+)$/s.exec(path))) {
        return send(201, accept(decodeDest(m[1]), req.headers, body));
      }
      if (req.method === 'POST' && (m = /^\/v2\/enqueue\/([^/]+)\/(.+)$/s.exec(path))) {
        return send(201, accept(decodeDest(m[2]), req.headers, body, decodeURIComponent(m[1])));
      }
      if (req.method === 'POST' && path === '/v2/batch') {
        const list = JSON.parse(body.toString('utf8'));
        if (!Array.isArray(list)) return send(400, { error: 'expected a JSON array' });
        for (const it of list) if (!isLoopbackUrl(decodeDest(String(it?.destination ?? '')))) return send(400, { error: `destination must be a loopback URL: ${it?.destination}` });
        return send(201, list.map((it) => {
          const headers = Object.fromEntries(Object.entries(it.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
          return accept(decodeDest(String(it.destination)), headers, typeof it.body === 'string' ? it.body : it.body == null ? '' : JSON.stringify(it.body), it.queue);
        }));
      }
      if (req.method === 'GET' && path === '/v2/local/messages') {
        return send(200, [...messages.values()].map(({ body, ...m }) => ({ ...m, body: body.toString('utf8') })));
      }
      return send(404, { error: `not supported by the local QStash emulator: ${req.method} ${path}` });
    } catch (e) {
      return send(e?.status ?? 400, { error: e?.message ?? String(e) });
    }
  });

  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', resolve); });
  return {
    port: server.address().port,
    messages,
    close: () => new Promise((resolve) => {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      aborter.abort();
      server.close(() => resolve());
      server.closeAllConnections?.();
    }),
  };
}

/** The destination is the raw rest of the path; accept it percent-encoded too. */
function decodeDest(s) {
  return /^https?%3A/i.test(s) ? decodeURIComponent(s) : s;
}
