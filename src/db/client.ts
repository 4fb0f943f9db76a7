import { Pool, neonConfig } from '@neondatabase/serverless';
import { drizzle, type NeonDatabase } from 'drizzle-orm/neon-serverless';
import { withReplicas, type PgWithReplicas } from 'drizzle-orm/pg-core';
import type { Config } from '../config';
import * as schema from './schema';

export type Database = NeonDatabase<typeof schema>;
export type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0];

/** Local stack only: the Neon driver speaks WebSocket to a ws→TCP proxy in front of plain PostgreSQL. */
export function configureNeonDriver(proxy: string | undefined): void {
  if (!proxy) return;
  neonConfig.wsProxy = (host, port) => `${proxy}/v2?address=${host}:${port}`;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineConnect = false;
  neonConfig.pipelineTLS = false;
  neonConfig.forceDisablePgSSL = true;
}

/**
 * Request-scoped database access. Pools are opened lazily (a route that never touches the DB opens
 * no socket) and closed by `close()` in waitUntil — Workers cannot share sockets across requests.
 * Reads go to a replica (Drizzle `withReplicas`) until the request writes; from then on they go to
 * the primary so the request reads its own writes.
 */
export class Db {
  private pools: Pool[] = [];
  private routed?: PgWithReplicas<Database>;
  private pinned = false;

  constructor(private readonly config: Config) {}

  private connect(url: string): Database {
    const pool = new Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 5000 });
    this.pools.push(pool);
    return drizzle({ client: pool, schema });
  }

  private get db() {
    if (!this.routed) {
      configureNeonDriver(this.config.NEON_LOCAL_WS_PROXY);
      const primary = this.connect(this.config.DATABASE_URL);
      const replicas = this.config.DATABASE_REPLICA_URLS.map((u) => this.connect(u));
      this.routed = withReplicas(primary, replicas.length ? (replicas as [Database, ...Database[]]) : [primary]);
    }
    return this.routed;
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

  /** Whether any connection was opened (used by tests and logs). */
  get opened(): boolean {
    return this.pools.length > 0;
  }

  async close(): Promise<void> {
    const pools = this.pools;
    this.pools = [];
    this.routed = undefined;
    await Promise.allSettled(pools.map((p) => p.end()));
  }
}
