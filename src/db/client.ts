import { Pool, neon, neonConfig, type QueryArrayConfig, type QueryConfig } from '@neondatabase/serverless';
import { drizzle, type NeonDatabase } from 'drizzle-orm/neon-serverless';
import { withReplicas, type PgWithReplicas } from 'drizzle-orm/pg-core';
import type { Config } from '../config';
import { toError } from '../lib/errors';
import { describeError, log } from '../lib/log';

// No relational schema: nothing uses `db.query.*`, and building its config costs CPU on every drizzle() call.
export type Database = NeonDatabase;
export type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0];
/** Either: what a statement can run on, inside a transaction or not. */
export type Queryable = Database | Transaction;
/** What opens a transaction: `Db` (a session of the request's own), or a transaction handle (a savepoint). */
export interface TransactionRunner {
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T>;
}

/**
 * Bounds that keep a request's answer within 10 s when the database hangs: one statement over HTTP, opening a
 * WebSocket session, one statement on that session. A timeout surfaces as "database unavailable" (503).
 */
export const DB_HTTP_TIMEOUT_MS = 5000;
const DB_CONNECT_TIMEOUT_MS = 5000;
export const DB_STATEMENT_TIMEOUT_MS = 5000;
const DB_CLOSE_TIMEOUT_MS = 2000;

// Statements outside a transaction go over Neon's SQL-over-HTTP endpoint: one fetch per statement, no WebSocket,
// no per-request PostgreSQL session (startup + auth). Interactive transactions (`.transaction()`) still take a
// WebSocket connection from the request's Pool, because they need one session for row locks. The shared handles
// below send through a query function of their own; this setting covers any other Pool's single statements.
neonConfig.poolQueryViaFetch = true;
neonConfig.fetchFunction = (url: string, init: RequestInit) => fetch(url, { ...init, signal: AbortSignal.timeout(DB_HTTP_TIMEOUT_MS) });

const neonDefaults = { wsProxy: neonConfig.wsProxy, fetchEndpoint: neonConfig.fetchEndpoint };
/** Database host name → `host:port` of the local stand-in serving both Neon endpoints for it. */
const localEndpoints = new Map<string, string>();

/**
 * Local stack only: route the database URLs' hosts to `proxy`, the `host:port` of the stand-in that serves both
 * Neon endpoints (WebSocket and `POST /sql`) in front of plain PostgreSQL, without TLS. Routing is per host name
 * (the driver's settings are global to the isolate), so differently named hosts may use different stand-ins.
 * The pipelined connect (start-up and password in one flight) stays as in production: the stand-in answers log-in
 * like Neon's proxy. Production leaves the driver's defaults (wss, https).
 */
export function configureNeonDriver(proxy: string | undefined, ...databaseUrls: string[]): void {
  if (!proxy) return;
  for (const url of databaseUrls) localEndpoints.set(new URL(url).hostname, proxy);
  if (neonConfig.wsProxy !== localWsProxy) {
    neonConfig.wsProxy = localWsProxy;
    neonConfig.fetchEndpoint = localFetchEndpoint;
    neonConfig.useSecureWebSocket = false;
    neonConfig.pipelineTLS = false;
    neonConfig.forceDisablePgSSL = true;
  }
}

function localWsProxy(host: string, port: number | string): string {
  const local = localEndpoints.get(host);
  if (local) return `${local}/v2?address=${host}:${port}`;
  return typeof neonDefaults.wsProxy === 'function' ? neonDefaults.wsProxy(host, port) : String(neonDefaults.wsProxy);
}

function localFetchEndpoint(host: string, port: number | string, options?: { jwtAuth?: boolean }): string {
  const local = localEndpoints.get(host);
  if (local) return `http://${local}/sql`;
  return typeof neonDefaults.fetchEndpoint === 'function' ? neonDefaults.fetchEndpoint(host, port, options) : neonDefaults.fetchEndpoint;
}

/**
 * A Pool that only ever sends statements over HTTP: it can live for the isolate's lifetime because it never holds
 * a socket (Workers cannot share one across requests). Checking out a session from it is a bug, refused loudly.
 */
function statementPool(url: string): Pool {
  const pool = new Pool({ connectionString: url, max: 1 });
  pool.connect = () => {
    throw new Error('statement-only pool: open sessions through Db.transaction()');
  };
  // The driver's own Pool.query over HTTP builds pg connection parameters, a URL and a new neon() query function for
  // every statement; this function is built once. Same endpoint, result shape and errors; the connection string
  // is sent as configured (the driver's rebuilt one dropped its port and parameters).
  const sql = neon(url, { fullResults: true });
  // async: the driver's query object sends its statement each time it is awaited; a native promise sends it once.
  const query = async (q: string | QueryConfig | QueryArrayConfig, values?: unknown[]) => {
    const config: Partial<QueryArrayConfig> & { text: string } = typeof q === 'string' ? { text: q } : q;
    return sql.query(config.text, values ?? config.values ?? [], { arrayMode: config.rowMode === 'array', types: config.types });
  };
  pool.query = query as unknown as Pool['query'];
  return pool;
}

/** What single statements run on, per config: one Pool + Drizzle per database URL, built once per isolate. */
const statementHandles = new WeakMap<Config, PgWithReplicas<Database>>();

function statementHandlesFor(config: Config): PgWithReplicas<Database> {
  let routed = statementHandles.get(config);
  if (!routed) {
    configureNeonDriver(config.NEON_LOCAL_PROXY, config.DATABASE_URL, ...config.DATABASE_REPLICA_URLS);
    const primary = drizzle({ client: statementPool(config.DATABASE_URL) });
    const replicas: Database[] = config.DATABASE_REPLICA_URLS.map((u) => drizzle({ client: statementPool(u) }));
    routed = withReplicas(primary, replicas.length ? (replicas as [Database, ...Database[]]) : [primary]);
    statementHandles.set(config, routed);
  }
  return routed;
}

/** Session connections that already have an error listener. */
const watched = new WeakSet<object>();
const sessionLost = (err: unknown) => log('warn', 'db.session_lost', { error: describeError(err) });

/**
 * Request-scoped database access. Single statements go over HTTP through handles shared by the isolate (nothing
 * to build per request); only a transaction connects a WebSocket, on a Pool of this request's own, closed by
 * `close()` in waitUntil. Reads go to a replica (Drizzle `withReplicas`) until the request writes; from then on
 * they go to the primary so the request reads its own writes.
 */
export class Db {
  private sessions?: Pool;
  private pinned = false;
  private used = false;

  /** `statementTimeoutMs`: bound on one statement inside a transaction (cron jobs may allow more). */
  constructor(
    private readonly config: Config,
    private readonly options: { statementTimeoutMs?: number } = {},
  ) {}

  private get db() {
    this.used = true;
    return statementHandlesFor(this.config);
  }

  /** For reads that tolerate replica lag. */
  get read(): Database {
    return this.pinned ? this.db.$primary : this.db;
  }

  /** For writes, transactions and read-after-write; pins the rest of the request to the primary. */
  get write(): Database {
    this.pinned = true;
    return this.db.$primary;
  }

  /**
   * An interactive transaction on the primary, on a session checked out for it alone. Unlike the Pool-level
   * `.transaction()`, the session is always given back, and dropped when the transaction failed (a failed BEGIN,
   * a lost connection): otherwise a session whose BEGIN failed would stay checked out and `close()` would wait for
   * it forever.
   */
  async transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    void this.write; // pins to the primary
    // One session at most: statements outside a transaction need none, and a request's transactions run one
    // after another. A pooler's capacity is shared by every request in flight.
    if (!this.sessions) {
      this.sessions = new Pool({
        connectionString: this.config.DATABASE_URL,
        max: 1,
        connectionTimeoutMillis: DB_CONNECT_TIMEOUT_MS,
        query_timeout: this.options.statementTimeoutMs ?? DB_STATEMENT_TIMEOUT_MS,
      });
      this.sessions.on('error', sessionLost); // a connection lost while idle in the pool
    }
    const session = await this.sessions.connect().catch((err: unknown) => {
      throw toError(err); // a WebSocket that never opened rejects with its ErrorEvent
    });
    // A connection lost while checked out is also reported as an 'error' event; the statement in flight fails
    // with it anyway, so the event only needs a listener (one per connection), never an unhandled error.
    if (!watched.has(session)) {
      watched.add(session);
      session.on('error', sessionLost);
    }
    let failed = false;
    try {
      return await drizzle({ client: session }).transaction(work);
    } catch (err) {
      failed = true;
      throw toError(err);
    } finally {
      session.release(failed);
    }
  }

  /** Whether this request touched the database (and so may have events to relay or sessions to close). */
  get opened(): boolean {
    return this.used;
  }

  async close(): Promise<void> {
    const sessions = this.sessions;
    this.sessions = undefined;
    this.used = false;
    if (!sessions) return;
    // Bounded: closing must never hold a queue batch or a cron run (they await it) on a session that went bad.
    await Promise.race([sessions.end().catch(() => {}), new Promise((resolve) => setTimeout(resolve, DB_CLOSE_TIMEOUT_MS))]);
  }
}
