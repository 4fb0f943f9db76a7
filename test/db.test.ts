import type { Pool } from '@neondatabase/serverless';
import { eq, sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig, type Env } from '../src/config';
import { Db } from '../src/db/client';
import { prepared } from '../src/db/prepared';
import { plans } from '../src/db/schema';
import { createDatabaseFromTemplate, dropDatabase, useTestDatabase } from './helpers/db';
import { call } from './helpers/http';
import { signUp } from './helpers/users';

const primary = useTestDatabase();
let replica: { name: string; url: string };

beforeAll(async () => {
  replica = await createDatabaseFromTemplate();
});
afterAll(async () => {
  if (replica) await dropDatabase(replica.name);
});

// A select (not execute: withReplicas always sends execute to the primary) that names the database serving it.
const currentDatabase = async (d: Db['read']) =>
  (await d.select({ name: sql<string>`current_database()` }).from(plans).limit(1))[0]!.name;

afterEach(() => {
  vi.restoreAllMocks();
});

/** Statements sent over HTTP (to the SQL-over-HTTP endpoint) among the calls a fetch spy saw. */
const sqlFetches = (spy: { mock: { calls: unknown[][] } }) =>
  spy.mock.calls.filter(([input]) => String(input instanceof Request ? input.url : input).endsWith('/sql')).length;

describe('Db (request-scoped, withReplicas)', () => {
  it('reads from a replica until the request writes, then pins reads to the primary', async () => {
    const env = { ...primary.env, DATABASE_REPLICA_URLS: replica.url } as Env;
    const db = new Db(loadConfig(env));
    try {
      expect(await currentDatabase(db.read)).toBe(replica.name);
      expect(await currentDatabase(db.write)).toBe(primary.name);
      // read-your-writes: from now on this request reads the primary
      expect(await currentDatabase(db.read)).toBe(primary.name);
    } finally {
      await db.close();
    }
  });

  it('falls back to the primary when no replica is configured', async () => {
    const db = new Db(loadConfig(primary.env));
    try {
      expect(await currentDatabase(db.read)).toBe(primary.name);
    } finally {
      await db.close();
    }
  });

  it('opens no connection until used, and closes what it opened', async () => {
    const db = new Db(loadConfig(primary.env));
    expect(db.opened).toBe(false);
    await currentDatabase(db.read);
    expect(db.opened).toBe(true);
    await db.close();
    expect(db.opened).toBe(false);
  });

  it('a statement outside a transaction is one HTTP request (no WebSocket session); a transaction is none', async () => {
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    const db = new Db(loadConfig(primary.env));
    try {
      await currentDatabase(db.read);
      expect(sqlFetches(fetchSpy)).toBe(1);
      await db.write.insert(plans).values({ planId: 'probe_plan', name: 'Probe', amount: 100, credits: 1 }).onConflictDoNothing();
      expect(sqlFetches(fetchSpy)).toBe(2);
      // An interactive transaction keeps its statements on one WebSocket session (row locks need it).
      await db.transaction(async (tx) => {
        await tx.select().from(plans).limit(1).for('update');
        await tx.select().from(plans).limit(1);
      });
      expect(sqlFetches(fetchSpy)).toBe(2);
    } finally {
      await db.close();
    }
  });

  it('maps a PostgreSQL error from the HTTP path with its code and constraint (services rely on them)', async () => {
    const db = new Db(loadConfig(primary.env));
    try {
      const err = await db.write.execute(sql`insert into plans (plan_id, name, amount, credits) select plan_id, name, amount, credits from plans limit 1`)
        .then(() => null, (e: { cause?: { code?: string; constraint?: string } }) => e.cause ?? e);
      expect(err).toMatchObject({ code: '23505' });
      expect((err as { constraint?: string }).constraint).toMatch(/plan/);
    } finally {
      await db.close();
    }
  });

  it('a statement answers the same over HTTP as on a session: object rows from execute(), typed rows from a select', async () => {
    const db = new Db(loadConfig(primary.env));
    try {
      const literals = sql`select '2026-01-02T03:04:05.678Z'::timestamptz as at, '{"a":[1,2]}'::jsonb as j, array['x','y']::text[] as arr,
        12345678901234::bigint as big, 1.5::numeric as num, true as b, null::text as n, ${'käse'}::text as param`;
      const overHttp = await db.write.execute(literals);
      const onSession = await db.transaction((tx) => tx.execute(literals));
      expect(overHttp.rows).toEqual(onSession.rows);
      expect([overHttp.command, overHttp.rowCount]).toEqual([onSession.command, onSession.rowCount]);
      const fields = (r: typeof overHttp) => r.fields.map((f) => [f.name, f.dataTypeID]);
      expect(fields(overHttp)).toEqual(fields(onSession));
      expect(overHttp.rows[0]).toMatchObject({ j: { a: [1, 2] }, arr: ['x', 'y'], b: true, n: null, param: 'käse' });

      const typed = (q: Db['read']) => q.select({ id: plans.planId, amount: plans.amount, features: plans.features, at: plans.createdAt })
        .from(plans).orderBy(plans.planId).limit(3);
      const rows = await typed(db.read);
      expect(rows.length).toBeGreaterThan(0);
      expect(rows[0]!.at).toBeInstanceOf(Date);
      expect(await db.transaction((tx) => typed(tx))).toEqual(rows);
    } finally {
      await db.close();
    }
  });

  it('a statement handed out by the shared handle is sent once, however often its result is awaited', async () => {
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    const db = new Db(loadConfig(primary.env));
    try {
      const pending = (db.write as unknown as { $client: Pool }).$client.query('select 1 as one');
      pending.catch(() => {});
      const [a, b] = await Promise.all([pending, pending]);
      expect(a.rows).toEqual([{ one: 1 }]);
      expect(b).toBe(a);
      expect(sqlFetches(fetchSpy)).toBe(1);
    } finally {
      await db.close();
    }
  });

  it('single statements run on handles shared by every request of the isolate: closing one request leaves them working', async () => {
    const first = new Db(loadConfig(primary.env));
    expect(await currentDatabase(first.read)).toBe(primary.name);
    await first.close();
    const second = new Db(loadConfig(primary.env));
    try {
      expect(await currentDatabase(second.read)).toBe(primary.name);
      expect(await currentDatabase(second.write)).toBe(primary.name);
    } finally {
      await second.close();
    }
  });

  it('a session is never opened on the shared statement handles: transactions go through Db.transaction()', async () => {
    const db = new Db(loadConfig(primary.env));
    try {
      await expect(db.write.transaction(async (tx) => tx.select().from(plans).limit(1))).rejects.toThrow(/Db\.transaction\(\)/);
      // …while Db.transaction() opens this request's own session and closes it afterwards.
      expect(await db.transaction(async (tx) => (await tx.select().from(plans).limit(1)).length)).toBeGreaterThanOrEqual(0);
    } finally {
      await db.close();
    }
  });

  it('a prepared query is built once per handle and shape, then only binds each request\'s values', async () => {
    const first = new Db(loadConfig(primary.env));
    const second = new Db(loadConfig(primary.env));
    let builds = 0;
    const byId = (db: Db) =>
      prepared(db.read, 'test.plan-by-id', () => {
        builds++;
        return db.read.select({ id: plans.id }).from(plans).where(eq(plans.id, sql.placeholder('id'))).prepare('');
      });
    try {
      const [plan] = await first.read.select({ id: plans.id }).from(plans).limit(1);
      expect(plan).toBeDefined();
      expect(await byId(first).execute({ id: plan!.id })).toEqual([{ id: plan!.id }]);
      expect(await byId(second).execute({ id: '00000000-0000-0000-0000-000000000000' })).toEqual([]);
      expect(builds).toBe(1); // two requests, one isolate-level handle
      prepared(second.write, 'test.plan-by-id', () => ++builds); // another handle (the primary once pinned) builds its own
      expect(builds).toBe(2);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  it('a transaction that throws leaves nothing behind', async () => {
    const db = new Db(loadConfig(primary.env));
    try {
      await db.write.execute(sql`create table tx_probe (id int primary key)`);
      await expect(
        db.transaction(async (tx) => {
          await tx.execute(sql`insert into tx_probe values (1)`);
          throw new Error('abort');
        }),
      ).rejects.toThrow('abort');
      const { rows } = await primary.sql('select count(*)::int as n from tx_probe');
      expect(rows[0]).toEqual({ n: 0 });
    } finally {
      await db.close();
    }
  });
});

/**
 * What a request costs the database and Redis, counted by the local Neon endpoints for this file's database
 * (WebSocket connections opened, statements sent) and by the worker's own fetches to Redis. Counts, not timings:
 * the speed itself is measured by `npm run bench`.
 */
describe('work per request', () => {
  const neonStats = async (): Promise<{ wsConnects: number; wsStatements: number; httpStatements: number }> =>
    (await fetch(`http://${primary.env.NEON_LOCAL_PROXY}/_stats?database=${primary.name}`)).json();
  /** Redis commands the worker sent while `work` ran (a pipeline counts each of its commands). */
  async function measure(work: () => Promise<void>) {
    const redisUrl = String(primary.env.UPSTASH_REDIS_REST_URL);
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    const before = await neonStats();
    await work();
    await new Promise((r) => setTimeout(r, 200)); // after-response work (waitUntil)
    const after = await neonStats();
    let redisCommands = 0;
    for (const [input, init] of fetchSpy.mock.calls) {
      const url = String(input instanceof Request ? input.url : input);
      if (!url.startsWith(redisUrl)) continue;
      const body = JSON.parse(String(init?.body ?? '[]'));
      redisCommands += new URL(url).pathname === '/pipeline' || new URL(url).pathname === '/multi-exec' ? body.length : 1;
    }
    fetchSpy.mockRestore();
    return {
      dbConnects: after.wsConnects - before.wsConnects,
      dbQueries: after.wsStatements + after.httpStatements - before.wsStatements - before.httpStatements,
      redisCommands,
    };
  }

  it('a public database read: one statement over HTTP, no connection, no Redis', async () => {
    expect(await measure(async () => expect((await call(primary.env, '/api/v1/plans')).status).toBe(200)))
      .toEqual({ dbConnects: 0, dbQueries: 1, redisCommands: 0 });
  });

  it('an authenticated cached read: no database at all once warm (the active-user check is held by the isolate)', async () => {
    const user = await signUp(primary);
    expect((await call(primary.env, '/api/v1/credits/balance', { token: user.token })).status).toBe(200);
    expect(await measure(async () => expect((await call(primary.env, '/api/v1/credits/balance', { token: user.token })).status).toBe(200)))
      .toEqual({ dbConnects: 0, dbQueries: 0, redisCommands: 1 });
  });

  it('an authenticated uncached read: one statement over HTTP (the page, its total and the unread count together)', async () => {
    const user = await signUp(primary);
    expect((await call(primary.env, '/api/v1/notifications', { token: user.token })).status).toBe(200);
    const work = await measure(async () => expect((await call(primary.env, '/api/v1/notifications', { token: user.token })).status).toBe(200));
    expect(work).toEqual({ dbConnects: 0, dbQueries: 1, redisCommands: 0 });
  });

  it('a write takes one WebSocket session for its transaction', async () => {
    const user = await signUp(primary);
    expect((await call(primary.env, '/api/v1/settings', { token: user.token })).status).toBe(200); // warm: the active-user check
    const work = await measure(async () => {
      expect((await call(primary.env, '/api/v1/settings', { method: 'PUT', token: user.token, json: { email: { productUpdates: false } } })).status).toBe(200);
    });
    expect(work.dbConnects).toBe(1);
    // BEGIN, the upsert that creates or locks the row, the update, the activity row, COMMIT.
    expect(work.dbQueries).toBe(5);
  });
});

