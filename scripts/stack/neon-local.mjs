// Local stand-in for Neon's two endpoints, in front of plain PostgreSQL, on one port:
//  - WebSocket `/v2?address=…` → TCP to PostgreSQL (the driver's Pool/Client: sessions and interactive transactions);
//    the requested address is ignored, every socket goes to pgHost:pgPort, so this is never an open relay.
//  - `POST /sql` — SQL over HTTP, the protocol `@neondatabase/serverless` speaks for `neon()` and for
//    `Pool.query` with `poolQueryViaFetch` (see `sqlOverHttp` below for what is implemented).
// Counters (`stats()`) let the benchmark report the database work per request; `rttMs` delays every round trip
// (WebSocket handshake, each PostgreSQL reply, each HTTP answer) to mimic the distance to a database region.
import http from 'node:http';
import net from 'node:net';
import pg from 'pg';
import { WebSocketServer } from 'ws';

/** Neon answers every value as PostgreSQL text and lets the client parse it by type OID. */
const RAW_TEXT = { getTypeParser: () => (v) => v };
/** Error fields the driver copies from a 400 answer onto the error it throws. */
const ERROR_FIELDS = ['severity', 'code', 'detail', 'hint', 'position', 'internalPosition', 'internalQuery', 'where',
  'schema', 'table', 'column', 'dataType', 'constraint', 'file', 'line', 'routine'];
const ISOLATION = { Serializable: 'SERIALIZABLE', RepeatableRead: 'REPEATABLE READ', ReadCommitted: 'READ COMMITTED', ReadUncommitted: 'READ UNCOMMITTED' };

/**
 * Start on 127.0.0.1:<port> (0 = a free port). `poolSize`: server connections per database/user for the HTTP
 * path (requests beyond it queue, as on a pooler); `maxSessions`/`sessionWaitMs`: the WebSocket path's cap. Resolves to { port, stats(), setRttMs(ms), close() }.
 */
export async function startNeonLocal({ port = 0, pgHost = '127.0.0.1', pgPort = 5432, rttMs = 0, poolSize = 10, maxSessions = 100, sessionWaitMs = 10_000 } = {}) {
  const zero = () => ({ wsConnects: 0, wsStatements: 0, httpRequests: 0, httpStatements: 0 });
  const counts = zero();
  const perDatabase = new Map(); // the same counters per database name, so a test can read its own
  const count = (database, key) => {
    counts[key]++;
    if (!database) return;
    if (!perDatabase.has(database)) perDatabase.set(database, zero());
    perDatabase.get(database)[key]++;
  };
  let rtt = rttMs;
  const later = (fn) => (rtt > 0 ? setTimeout(fn, rtt) : fn());
  const pools = new Map();
  const conns = new Set();

  function poolFor(connectionString) {
    let u;
    try { u = new URL(connectionString); } catch { throw Object.assign(new Error('invalid Neon-Connection-String'), { status: 400 }); }
    const key = `${decodeURIComponent(u.username)}\n${decodeURIComponent(u.password)}\n${decodeURIComponent(u.pathname.slice(1))}`;
    let pool = pools.get(key);
    if (!pool) {
      pool = new pg.Pool({
        host: pgHost, port: pgPort, user: decodeURIComponent(u.username), password: decodeURIComponent(u.password),
        database: decodeURIComponent(u.pathname.slice(1)) || 'postgres', max: poolSize, idleTimeoutMillis: 5000,
        application_name: u.searchParams.get('application_name') ?? 'neon-local-http',
      });
      // An idle server connection can be killed under us (e.g. DROP DATABASE … WITH (FORCE)): forget the pool.
      pool.on('error', () => { if (pools.get(key) === pool) pools.delete(key); });
      pools.set(key, pool);
    }
    return pool;
  }

  async function run(client, { query, params }) {
    count(client.database, 'httpStatements');
    const r = await client.query({ text: query, values: params ?? [], rowMode: 'array', types: RAW_TEXT });
    return r;
  }

  const shape = (r, arrayMode) => ({
    command: r.command,
    rowCount: r.rowCount,
    rowAsArray: arrayMode,
    fields: r.fields.map((f) => ({ name: f.name, tableID: f.tableID, columnID: f.columnID, dataTypeID: f.dataTypeID,
      dataTypeSize: f.dataTypeSize, dataTypeModifier: f.dataTypeModifier, format: 'text' })),
    rows: arrayMode ? r.rows : r.rows.map((row) => Object.fromEntries(r.fields.map((f, i) => [f.name, row[i]]))),
  });

  /**
   * One query `{query, params}` or a batch `{queries: [...]}` run in one transaction (Neon-Batch-Isolation-Level,
   * -Read-Only, -Deferrable). Neon-Array-Mode selects array or object rows; values are always raw text.
   * PostgreSQL errors answer 400 with the error's fields; an unreachable database answers 503.
   */
  async function sqlOverHttp(req, body) {
    const pool = poolFor(String(req.headers['neon-connection-string'] ?? ''));
    count(pool.options.database, 'httpRequests');
    const arrayMode = String(req.headers['neon-array-mode'] ?? '').toLowerCase() === 'true';
    const client = await pool.connect();
    let broken = false;
    try {
      if (!Array.isArray(body.queries)) return shape(await run(client, body), arrayMode);
      const iso = ISOLATION[req.headers['neon-batch-isolation-level']];
      const ro = req.headers['neon-batch-read-only'] === 'true';
      const deferrable = req.headers['neon-batch-deferrable'] === 'true';
      await client.query(`begin${iso ? ` isolation level ${iso}` : ''}${ro ? ' read only' : ''}${deferrable ? ' deferrable' : ''}`);
      try {
        const results = [];
        for (const q of body.queries) results.push(shape(await run(client, q), arrayMode));
        await client.query('commit');
        return { results };
      } catch (e) {
        await client.query('rollback').catch(() => { broken = true; });
        throw e;
      }
    } catch (e) {
      if (!e.code || e.code.startsWith('08') || e.code === '57P01') broken = true;
      throw e;
    } finally {
      client.release(broken);
    }
  }

  const server = http.createServer(async (req, res) => {
    const send = (status, obj) => later(() => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(obj));
    });
    const { pathname, searchParams } = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET' && pathname === '/_stats') {
      const db = searchParams.get('database');
      return send(200, db ? (perDatabase.get(db) ?? zero()) : counts);
    }
    if (req.method !== 'POST' || pathname !== '/sql') {
      return send(404, { message: 'POST /sql (SQL over HTTP) or a WebSocket upgrade on /v2' });
    }
    let body;
    try {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return send(400, { message: 'request body must be JSON: {query, params} or {queries: [...]}' });
    }
    try {
      send(200, await sqlOverHttp(req, body));
    } catch (e) {
      if (e?.status) return send(e.status, { message: e.message });
      if (e?.code && !/^08/.test(e.code)) return send(400, Object.fromEntries([['message', e.message], ...ERROR_FIELDS.map((f) => [f, e[f]])]));
      send(503, { message: `database unavailable: ${e?.message ?? e}` });
    }
  });

  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  server.on('upgrade', (req, socket, head) => later(() => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws))));

  // Like Neon's pooled endpoint, any number of clients may connect, but at most `maxSessions` PostgreSQL sessions are
  // open at once: a client beyond that waits for one (in arrival order), and after `sessionWaitMs` gets PostgreSQL's
  // own "too many clients" error instead of exhausting the server's max_connections.
  let open = 0;
  const waiting = [];
  const release = () => {
    open--;
    while (waiting.length && open < maxSessions) {
      const next = waiting.shift();
      if (next.settled) continue;
      next.settled = true;
      open++;
      next.grant();
    }
  };

  wss.on('connection', (ws) => {
    let database;
    let sock = null;
    let queued = [];
    const conn = { ws, get sock() { return sock; } };
    conns.add(conn);
    const counter = frontendMessages({
      startup: (params) => { database = params.database ?? params.user; count(database, 'wsConnects'); },
      statement: () => count(database, 'wsStatements'),
    });
    let holds = false;
    const close = () => {
      if (!conns.delete(conn)) return;
      sock?.destroy();
      if (holds) { holds = false; release(); }
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(); else ws.terminate();
    };
    const attach = () => {
      holds = true;
      if (!conns.has(conn)) { holds = false; release(); return; }
      sock = net.connect({ host: pgHost, port: pgPort }); // writes before 'connect' are queued by net
      sock.setNoDelay(true);
      for (const buf of queued) sock.write(buf);
      queued = null;
      sock.on('drain', () => ws.resume());
      sock.on('data', (chunk) => later(() => {
        if (ws.readyState !== ws.OPEN) return;
        ws.send(chunk, { binary: true }, () => { if (sock.isPaused() && ws.bufferedAmount < 1 << 18) sock.resume(); });
        if (ws.bufferedAmount > 1 << 20) sock.pause(); // backpressure towards PostgreSQL
      }));
      for (const ev of ['close', 'error']) sock.on(ev, close);
    };
    ws.on('message', (data, isBinary) => {
      const buf = isBinary ? data : Buffer.from(data);
      counter(buf);
      if (!sock) { queued.push(buf); return; }
      if (!sock.write(buf)) ws.pause(); // backpressure towards the client
    });
    for (const ev of ['close', 'error']) ws.on(ev, close);

    if (open < maxSessions) { open++; attach(); return; }
    const ticket = { settled: false, grant: attach };
    waiting.push(ticket);
    setTimeout(() => {
      if (ticket.settled) return;
      ticket.settled = true;
      if (ws.readyState === ws.OPEN) ws.send(tooManyClients(), { binary: true }, () => close());
      else close();
    }, sessionWaitMs);
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });

  return {
    port: server.address().port,
    /** Totals since start: WebSocket connections and the statements sent over them; HTTP requests and statements.
     * Also served as JSON at GET /_stats (?database=<name> for one database's counters). */
    stats: () => ({ ...counts }),
    setRttMs: (ms) => { rtt = ms; },
    close: () => new Promise((resolve) => {
      for (const { ws, sock } of conns) { sock?.destroy(); ws.terminate(); }
      conns.clear();
      wss.close();
      for (const p of pools.values()) p.end().catch(() => {});
      pools.clear();
      server.close(() => resolve());
      server.closeAllConnections?.();
    }),
  };
}

/**
 * Reads the frontend (client → server) PostgreSQL protocol stream: the startup message (no type byte; its
 * parameters name the user and database) and then typed messages, of which each simple Query ('Q') and each
 * extended-protocol Execute ('E') is one statement.
 */
function frontendMessages({ startup, statement }) {
  let buf = Buffer.alloc(0);
  let started = false;
  return (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      if (!started) {
        if (buf.length < 8) return;
        const len = buf.readInt32BE(0);
        if (buf.length < len) return;
        const code = buf.readInt32BE(4);
        if (code !== 80877103 && code !== 80877104) { // SSLRequest / GSSENCRequest precede the startup message
          started = true;
          const kv = buf.subarray(8, len - 1).toString('utf8').split('\0');
          const params = {};
          for (let i = 0; i + 1 < kv.length; i += 2) params[kv[i]] = kv[i + 1];
          startup(params);
        }
        buf = buf.subarray(len);
        continue;
      }
      if (buf.length < 5) return;
      const len = buf.readInt32BE(1);
      if (buf.length < len + 1) return;
      const type = String.fromCharCode(buf[0]);
      if (type === 'Q' || type === 'E') statement();
      buf = buf.subarray(len + 1);
    }
  };
}

/** A PostgreSQL ErrorResponse (FATAL 53300), as a server at its connection limit answers a startup message. */
function tooManyClients() {
  const fields = [['S', 'FATAL'], ['V', 'FATAL'], ['C', '53300'], ['M', 'sorry, too many clients already']]
    .map(([k, v]) => Buffer.concat([Buffer.from(k), Buffer.from(v), Buffer.from([0])]));
  const body = Buffer.concat([...fields, Buffer.from([0])]);
  const head = Buffer.alloc(5);
  head.write('E', 0);
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

