// Local stand-in for Neon's two endpoints, in front of plain PostgreSQL, on one port:
//  - WebSocket `/v2?address=…`: PostgreSQL sessions for the driver's Pool/Client (interactive transactions), pooled in
//    transaction mode like Neon's pooled endpoint (./pg-pooler.mjs); the requested address is ignored, every
//    session is served from pgHost:pgPort, so this is never an open relay.
//  - `POST /sql` — SQL over HTTP, the protocol `@neondatabase/serverless` speaks for `neon()` and for
//    `Pool.query` with `poolQueryViaFetch` (see `sqlOverHttp` below for what is implemented).
// Counters (`stats()`) let the benchmark report the database work per request; `rttMs` delays every round trip
// (WebSocket handshake, each PostgreSQL reply, each HTTP answer) to mimic the distance to a database region.
import http from 'node:http';
import pg from 'pg';
import { WebSocketServer } from 'ws';
import { clientSession, createServerPool } from './pg-pooler.mjs';

/** Neon answers every value as PostgreSQL text and lets the client parse it by type OID. */
const RAW_TEXT = { getTypeParser: () => (v) => v };
/** Error fields the driver copies from a 400 answer onto the error it throws. */
const ERROR_FIELDS = ['severity', 'code', 'detail', 'hint', 'position', 'internalPosition', 'internalQuery', 'where',
  'schema', 'table', 'column', 'dataType', 'constraint', 'file', 'line', 'routine'];
const ISOLATION = { Serializable: 'SERIALIZABLE', RepeatableRead: 'REPEATABLE READ', ReadCommitted: 'READ COMMITTED', ReadUncommitted: 'READ UNCOMMITTED' };

/**
 * Start on 127.0.0.1:<port> (0 = a free port). `poolSize`: server connections per database/user for the HTTP
 * path (requests beyond it queue, as on a pooler); `maxSessions`/`sessionWaitMs`: the WebSocket path's server connections and
 * how long a transaction waits for one. Resolves to { port, stats(), setRttMs(ms), close() }.
 */
export async function startNeonLocal({ port = 0, pgHost = '127.0.0.1', pgPort = 5432, rttMs = 0, poolSize = 10, maxSessions = 100, sessionWaitMs = 10_000 } = {}) {
  const zero = () => ({ wsConnects: 0, wsStatements: 0, httpRequests: 0, httpStatements: 0, tcpConnections: 0 });
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

  // Like Neon's pooled endpoint, any number of client sessions, at most `maxSessions` PostgreSQL server connections,
  // each lent to a session for one transaction at a time; a transaction that finds none free waits (in arrival
  // order) and after `sessionWaitMs` gets PostgreSQL's own "too many clients" error.
  const serverPool = createServerPool({ host: pgHost, port: pgPort, max: maxSessions, waitMs: sessionWaitMs });
  wss.on('connection', (ws) => {
    const conn = { ws, session: null };
    conns.add(conn);
    const end = () => {
      if (!conns.delete(conn)) return;
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(); else ws.terminate();
    };
    conn.session = clientSession({
      pool: serverPool,
      send: (buf) => later(() => { if (ws.readyState === ws.OPEN) ws.send(buf, { binary: true }); }),
      end: () => later(end),
      count: (event, database) => count(database, event === 'connect' ? 'wsConnects' : 'wsStatements'),
    });
    ws.on('message', (data, isBinary) => conn.session.receive(isBinary ? data : Buffer.from(data)));
    for (const ev of ['close', 'error']) ws.on(ev, () => { conn.session.close(); end(); });
  });

  server.on('connection', () => { counts.tcpConnections++; });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });

  return {
    port: server.address().port,
    /** Totals since start: WebSocket connections and the statements sent over them; HTTP requests and statements;
     * TCP connections accepted (HTTP keep-alive reuses them).
     * Also served as JSON at GET /_stats (?database=<name> for one database's counters). */
    stats: () => ({ ...counts }),
    setRttMs: (ms) => { rtt = ms; },
    close: () => new Promise((resolve) => {
      for (const { ws, session } of conns) { session?.close(); ws.terminate(); }
      conns.clear();
      serverPool.close();
      wss.close();
      for (const p of pools.values()) p.end().catch(() => {});
      pools.clear();
      server.close(() => resolve());
      server.closeAllConnections?.();
    }),
  };
}
