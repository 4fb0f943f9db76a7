import { Pool } from '@neondatabase/serverless';
import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterAll, beforeAll } from 'vitest';
import type { Env } from '../../src/config';
import { configureNeonDriver } from '../../src/db/client';
import type { EventEnvelope } from '../../src/events/catalog';
import worker from '../../src/index';

/**
 * Stands in for the EVENTS queue binding of a test file's env: relayed events are captured, and
 * `drain()` delivers them to the real consumer with the same env (the file's own database).
 * One end-to-end test exercises the real Queue binding instead.
 */
export class CapturedQueue {
  messages: EventEnvelope[] = [];
  private delivered = 0;
  constructor(private readonly getEnv: () => Env) {}
  async send(body: EventEnvelope): Promise<void> {
    this.messages.push(body);
  }
  async sendBatch(batch: Iterable<{ body: EventEnvelope }>): Promise<void> {
    for (const m of batch) this.messages.push(m.body);
  }
  /** Events relayed so far, by name. */
  names(): string[] {
    return this.messages.map((m) => m.name);
  }
  /**
   * Deliver every not-yet-delivered event (and the ones handlers emit) once, through the real consumer;
   * `testEnv` replaces the file's env (e.g. with a mail provider configured).
   */
  async drain(testEnv?: Env): Promise<{ acked: number; retried: string[] }> {
    let acked = 0;
    const retried: string[] = [];
    for (let round = 0; round < 5 && this.delivered < this.messages.length; round++) {
      const fresh = this.messages.slice(this.delivered);
      this.delivered = this.messages.length;
      const result = await this.deliver(fresh, testEnv);
      acked += result.acked;
      retried.push(...result.retried);
    }
    return { acked, retried };
  }
  /** Deliver these envelopes (again) in one batch, as a queue retry or a duplicate delivery would. */
  async deliver(bodies: EventEnvelope[], testEnv: Env = this.getEnv()): Promise<{ acked: number; retried: string[] }> {
    const batch = createMessageBatch(
      'fairarena-events',
      bodies.map((body, i) => ({ id: `${body.id}-${i}`, timestamp: new Date(), attempts: 1, body })),
    );
    const ctx = createExecutionContext();
    await worker.queue!(batch as never, testEnv, ctx);
    const result = await getQueueResult(batch, ctx);
    return { acked: result.explicitAcks.length, retried: result.retryMessages.map((m: { msgId: string }) => m.msgId) };
  }
}

export interface TestDatabase {
  /** Worker env whose DATABASE_URL is this file's database and whose Redis keys are namespaced to it. */
  readonly env: Env;
  readonly name: string;
  readonly url: string;
  /** Events relayed by requests made with `env` (see CapturedQueue). */
  readonly events: CapturedQueue;
  /** Raw SQL on this file's database. */
  sql<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: T[] }>;
}

async function admin<T>(work: (pool: Pool) => Promise<T>): Promise<T> {
  configureNeonDriver(env.NEON_LOCAL_PROXY as string, env.TEST_PG_ADMIN_URL);
  const pool = new Pool({ connectionString: env.TEST_PG_ADMIN_URL, max: 1 });
  try {
    return await work(pool);
  } finally {
    await pool.end();
  }
}

/** Clone the migrated + seeded template into a fresh database (retrying while another file clones it). */
export async function createDatabaseFromTemplate(): Promise<{ name: string; url: string }> {
  const name = `t_${crypto.randomUUID().replaceAll('-', '').slice(0, 20)}`;
  await admin(async (pool) => {
    for (let attempt = 0; ; attempt++) {
      try {
        await pool.query(`CREATE DATABASE ${name} TEMPLATE ${env.TEST_TEMPLATE_DB}`);
        return;
      } catch (err) {
        if (attempt >= 20 || !/being accessed by other users/.test(String(err))) throw err;
        await new Promise((r) => setTimeout(r, 100 + attempt * 50));
      }
    }
  });
  return { name, url: `${env.TEST_PG_BASE_URL}/${name}` };
}

export async function dropDatabase(name: string): Promise<void> {
  await admin((pool) => pool.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}

/**
 * Gives the calling test file its own database (cloned from the migrated template) and Redis namespace,
 * so no test depends on another file's rows. Registers beforeAll/afterAll hooks.
 */
export function useTestDatabase(overrides: Record<string, unknown> = {}): TestDatabase {
  let state: { name: string; url: string; env: Env; pool: Pool } | undefined;
  const events = new CapturedQueue(() => get().env);
  const get = () => {
    if (!state) throw new Error('useTestDatabase(): database not ready (use it inside tests/hooks)');
    return state;
  };

  beforeAll(async () => {
    const { name, url } = await createDatabaseFromTemplate();
    const testEnv = { ...env, DATABASE_URL: url, CACHE_NAMESPACE: `t-${name}`, EVENTS: events, ...overrides } as unknown as Env;
    state = { name, url, env: testEnv, pool: new Pool({ connectionString: url, max: 2 }) };
  });

  afterAll(async () => {
    if (!state) return;
    await state.pool.end();
    await dropDatabase(state.name);
  });

  return {
    get env() {
      return get().env;
    },
    get name() {
      return get().name;
    },
    get url() {
      return get().url;
    },
    events,
    async sql<T>(text: string, params: unknown[] = []) {
      const result = await get().pool.query(text, params);
      return { rows: result.rows as T[] };
    },
  };
}

/**
 * A database connection dropped mid-work: another session holds `table` exclusively, `work` starts, and the
 * server connection that waits for the lock is terminated (SQLSTATE 57P01) before the lock is released.
 * Returns what `work` returned (or throws what it threw).
 */
export async function dropConnectionWaitingOn<T>(db: TestDatabase, table: string, work: () => Promise<T>): Promise<T> {
  const blocker = new Pool({ connectionString: db.url, max: 1 });
  const session = await blocker.connect();
  try {
    await session.query('begin');
    await session.query(`lock table ${table} in access exclusive mode`);
    const running = work();
    let waiting: number | undefined;
    for (let i = 0; i < 400 && waiting === undefined; i++) {
      const { rows } = await db.sql<{ pid: number }>(`select pid from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`);
      waiting = rows[0]?.pid;
      if (waiting === undefined) await new Promise((r) => setTimeout(r, 25));
    }
    if (waiting === undefined) throw new Error(`nothing waited for ${table}`);
    await db.sql('select pg_terminate_backend($1)', [waiting]);
    return await running;
  } finally {
    await session.query('rollback');
    session.release();
    await blocker.end();
  }
}

/**
 * The file's env with its database reached through other Neon endpoints. The driver routes by the database
 * URL's host name, so each fault gets its own name (the stand-ins ignore it and serve the same database).
 */
export function withDatabaseAt(db: TestDatabase, hostName: string, endpoints: string): Env {
  const url = new URL(db.url);
  url.hostname = hostName;
  return { ...db.env, DATABASE_URL: url.toString(), NEON_LOCAL_PROXY: endpoints } as Env;
}

/** The file's env with its database accepting connections and never answering (each attempt times out: 503). */
export const withDatabaseHanging = (db: TestDatabase): Env => withDatabaseAt(db, 'hanging.db.test', String(env.TEST_HANGING_ADDR));

export interface HeldTransaction {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: T[] }>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

/**
 * A transaction on a connection of its own, to hold row locks while a request runs: the request's
 * statements queue behind them until `commit()`, so a race can be played in a fixed order.
 * Call `rollback()` in a `finally` (it is a no-op once committed).
 */
export async function beginTransaction(db: TestDatabase): Promise<HeldTransaction> {
  const pool = new Pool({ connectionString: db.url, max: 1 });
  const client = await pool.connect();
  await client.query('begin');
  let open = true;
  const end = async (how: 'commit' | 'rollback') => {
    if (!open) return;
    open = false;
    try {
      await client.query(how);
    } finally {
      client.release();
      await pool.end();
    }
  };
  return {
    async query<T>(text: string, params: unknown[] = []) {
      const result = await client.query(text, params);
      return { rows: result.rows as T[] };
    },
    commit: () => end('commit'),
    rollback: () => end('rollback'),
  };
}

/**
 * Resolves once `count` sessions of this file's database are waiting for a lock, or once `until` settles
 * (a request that never waited); fails after `timeoutMs`.
 */
export async function lockWaiters(db: TestDatabase, options: { count?: number; until?: Promise<unknown>; timeoutMs?: number } = {}): Promise<void> {
  const { count = 1, timeoutMs = 10_000 } = options;
  let settled = false;
  options.until?.then(
    () => (settled = true),
    () => (settled = true),
  );
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await db.sql<{ n: number }>(`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`);
    if ((rows[0]?.n ?? 0) >= count || settled) return;
    if (Date.now() > deadline) throw new Error(`lockWaiters: fewer than ${count} sessions waiting for a lock after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
