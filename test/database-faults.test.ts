import { env } from 'cloudflare:workers';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Env } from '../src/config';
import { isDatabaseUnavailable } from '../src/db/errors';
import { clerkUserJson, signedClerkWebhook } from './helpers/clerk';
import { useTestDatabase, withDatabaseAt, withDatabaseHanging } from './helpers/db';
import { call, type CallResult } from './helpers/http';
import { signUp, type TestUser } from './helpers/users';

const db = useTestDatabase();
afterEach(() => vi.restoreAllMocks());

const closed = () => withDatabaseAt(db, 'closed.db.test', `127.0.0.1:${env.TEST_CLOSED_PORT}`);
const hanging = () => withDatabaseHanging(db);
const constrained = () => withDatabaseAt(db, 'constrained.db.test', String(env.TEST_NEON_PROXY_CONSTRAINED));

function expectUnavailable(r: CallResult) {
  expect(r.status).toBe(503);
  expect(r.body.error.code).toBe('SERVICE_UNAVAILABLE');
  expect(r.body.error.requestId).toBe(r.headers.get('X-Request-Id'));
  expect(Number(r.headers.get('Retry-After'))).toBeGreaterThan(0);
  expect(JSON.stringify(r.body)).not.toMatch(/postgres|ECONN|127\.0\.0\.1|stack/i);
}

let user: TestUser;
beforeAll(async () => {
  user = await signUp(db);
});

/** A read, a write (for a user this isolate has not seen, so it must reach the database), a webhook, /healthz. */
async function everyKind(target: Env) {
  vi.spyOn(console, 'error').mockImplementation(() => {});
  vi.spyOn(console, 'warn').mockImplementation(() => {});
  const fresh = await signUp(db);
  const hook = await signedClerkWebhook(String(db.env.CLERK_WEBHOOK_SECRET), 'user.updated', clerkUserJson({ id: fresh.id, email: fresh.email }));
  const started = Date.now();
  const [read, write, webhook, health] = await Promise.all([
    call(target, '/api/v1/plans'),
    call(target, '/api/v1/settings', { method: 'PUT', token: fresh.token, json: { email: { productUpdates: false } } }),
    call(target, '/webhooks/v1/clerk', { method: 'POST', raw: hook.body, headers: hook.headers }),
    call(target, '/healthz'),
  ]);
  return { read, write, webhook, health, ms: Date.now() - started };
}

describe('the database is unreachable (connection refused)', () => {
  it('a read, a write and a webhook answer 503 in the envelope with Retry-After; /healthz names the database', async () => {
    const r = await everyKind(closed());
    expectUnavailable(r.read);
    expectUnavailable(r.write);
    expect(r.webhook.status).toBe(503); // the provider retries; nothing was acknowledged
    expect(r.health.status).toBe(503);
    expect(r.health.body.data.checks.database).toBe('error');
    expect(r.ms).toBeLessThan(10_000);
    // Nothing half-done: the webhook's delivery was not recorded, so the retry will apply it.
    expect((await db.sql('select 1 from webhook_deliveries where source = $1', ['clerk'])).rows).toHaveLength(0);
  });
});

describe('the database is unreachable for a request whose first use of it is a transaction', () => {
  it('answers 503 in the envelope (the session that never opened is reported as an error, not a crash)', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    // Known and active in this isolate: the write's transaction is the request's first database use.
    expect((await call(db.env, '/api/v1/settings', { token: user.token })).status).toBe(200);
    const r = await call(closed(), '/api/v1/settings', { method: 'PUT', token: user.token, json: { email: { productUpdates: false } } });
    expectUnavailable(r);
  });
});

describe('the database hangs (accepts connections, never answers)', () => {
  it('every kind of request answers 503 within 10 s, and the API recovers by itself when it answers again', async () => {
    const r = await everyKind(hanging());
    expectUnavailable(r.read);
    expectUnavailable(r.write);
    expect(r.webhook.status).toBe(503);
    expect(r.health.status).toBe(503);
    expect(r.ms).toBeLessThan(10_000);
    // Same isolate, the database back: nothing was left poisoned.
    expect((await call(db.env, '/api/v1/plans')).status).toBe(200);
    expect((await call(db.env, '/api/v1/settings', { method: 'PUT', token: user.token, json: { email: { productUpdates: true } } })).status).toBe(200);
    expect((await call(db.env, '/healthz')).body.data.checks.database).toBe('ok');
  }, 30_000);
});

describe('/healthz under load', () => {
  it('a database that answers slowly is "degraded" (200), not down', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const slow = withDatabaseAt(db, 'slow.db.test', String(env.TEST_NEON_PROXY_SLOW)); // 1.2 s per round trip
    const r = await call(slow, '/healthz');
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual({ status: 'degraded', checks: { database: 'slow', cache: 'ok' } });
  });
});

describe('load beyond the database capacity', () => {
  it('a burst of reads beyond the pooled connections queues and is served (HTTP path, 2 connections)', async () => {
    const users = await Promise.all(Array.from({ length: 6 }, () => signUp(db)));
    const target = constrained();
    const results = await Promise.all(
      Array.from({ length: 48 }, (_, i) => call(target, '/api/v1/notifications', { token: users[i % users.length]!.token })),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(24);
  });

  it('writes beyond the pooler’s sessions degrade to 503 + Retry-After, never 500', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const users = await Promise.all(Array.from({ length: 24 }, () => signUp(db)));
    const target = constrained(); // 1 server connection; a transaction waits 50 ms at most, then gets "too many clients"
    const results = await Promise.all(
      users.map((u) => call(target, '/api/v1/settings', { method: 'PUT', token: u.token, json: { privacy: { searchable: false } } })),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]);
    expect(statuses).toContain(200);
    expect(statuses).toContain(503);
    for (const r of results.filter((x) => x.status === 503)) expectUnavailable(r);
  });
});

describe('isDatabaseUnavailable', () => {
  it('tells an unavailable database from a bug or a constraint violation', () => {
    const drizzle = (cause: unknown) => Object.assign(new Error('Failed query: select 1'), { name: 'DrizzleQueryError', cause });
    expect(isDatabaseUnavailable(drizzle(Object.assign(new Error('sorry, too many clients already'), { code: '53300' })))).toBe(true);
    expect(isDatabaseUnavailable(drizzle(Object.assign(new Error('the database system is starting up'), { code: '57P03' })))).toBe(true);
    expect(isDatabaseUnavailable(drizzle(Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' })))).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('Error connecting to database: fetch failed'), { sourceError: new TypeError('fetch failed') }))).toBe(true);
    expect(isDatabaseUnavailable(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isDatabaseUnavailable(drizzle(Object.assign(new Error('duplicate key value'), { code: '23505' })))).toBe(false);
    expect(isDatabaseUnavailable(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBe(false);
  });
});
