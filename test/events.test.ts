import { Pool } from '@neondatabase/serverless';
import { createExecutionContext, createMessageBatch, createScheduledController, getQueueResult, SELF, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig, type Env } from '../src/config';
import { Db } from '../src/db/client';
import type { EventEnvelope } from '../src/events/catalog';
import { emit, relayOutbox, type PendingEvents } from '../src/events/outbox';
import worker from '../src/index';
import { MAX_DELIVERY_ATTEMPTS, retryDelaySeconds } from '../src/queue';
import { clerkUserJson, signedClerkWebhook } from './helpers/clerk';
import { useTestDatabase } from './helpers/db';
import { fakeFetch } from './helpers/fake-fetch';
import { signUp } from './helpers/users';

const db = useTestDatabase();
afterEach(() => vi.restoreAllMocks());

/** Put a user.created event in the outbox (as a committed request would) and return its envelope. */
async function outboxEvent(userId: string): Promise<EventEnvelope> {
  const { rows } = await db.sql<{ id: string; created_at: Date }>(
    `insert into outbox (event_name, payload) values ('user.created', $1) returning id, created_at`,
    [{ userId }],
  );
  return { id: rows[0]!.id, name: 'user.created', payload: { userId }, emittedAt: new Date(rows[0]!.created_at).toISOString() };
}

/** A batch whose ack/retry calls are observable (getQueueResult does not report retry delays). */
async function deliverObserved(body: unknown, attempts: number, testEnv: Env) {
  const ack = vi.fn();
  const retry = vi.fn();
  const batch = { queue: 'fairarena-events', messages: [{ id: 'm0', timestamp: new Date(), attempts, body, ack, retry }], ackAll: vi.fn(), retryAll: vi.fn() };
  await worker.queue!(batch as never, testEnv, createExecutionContext());
  return { ack, retry };
}

async function deliver(queue: string, bodies: unknown[], attempts = 1, testEnv: Env = db.env) {
  const batch = createMessageBatch(queue, bodies.map((body, i) => ({ id: `m${i}`, timestamp: new Date(), attempts, body })));
  const ctx = createExecutionContext();
  await worker.queue!(batch as never, testEnv, ctx);
  return getQueueResult(batch, ctx);
}

describe('outbox emit and relay', () => {
  it('an event emitted in a rolled-back transaction is never delivered', async () => {
    const user = await signUp(db);
    const database = new Db(loadConfig(db.env));
    const pending: PendingEvents = [];
    try {
      await expect(
        database.transaction(async (tx) => {
          await emit(tx, pending, 'user.created', { userId: user.id });
          throw new Error('business rule failed');
        }),
      ).rejects.toThrow('business rule failed');
      expect(pending).toHaveLength(1); // the id was handed out…
      expect(await relayOutbox(database, db.env, { ids: pending })).toBe(0); // …but no row exists to send
      expect(await relayOutbox(database, db.env, { olderThanMs: 0 })).toBe(0);
    } finally {
      await database.close();
    }
    expect(db.events.messages.filter((m) => pending.includes(m.id))).toEqual([]);
  });

  it('emit validates the payload against the catalog', async () => {
    const database = new Db(loadConfig(db.env));
    try {
      await expect(database.transaction((tx) => emit(tx, [], 'profile.starred', { profileId: 'not-a-uuid' } as never))).rejects.toThrow();
    } finally {
      await database.close();
    }
  });

  it('the sweeper cron relays rows whose request relay was lost, and leaves fresh rows to their request', async () => {
    const user = await signUp(db);
    const lost = await outboxEvent(user.id);
    await db.sql(`update outbox set created_at = now() - interval '5 minutes' where id = $1`, [lost.id]);
    const fresh = await outboxEvent(user.id);
    const ctx = createExecutionContext();
    await worker.scheduled!(createScheduledController({ scheduledTime: Date.now(), cron: '* * * * *' }), db.env, ctx);
    await waitOnExecutionContext(ctx);
    const ids = db.events.messages.map((m) => m.id);
    expect(ids).toContain(lost.id);
    expect(ids).not.toContain(fresh.id);
    const rows = (await db.sql<any>('select id, relayed_at from outbox where id = any($1)', [[lost.id, fresh.id]])).rows;
    expect(rows.find((r) => r.id === lost.id).relayed_at).not.toBeNull();
    expect(rows.find((r) => r.id === fresh.id).relayed_at).toBeNull();
  });
});

describe('queue consumer', () => {
  it('a failing handler is retried with exponential backoff (alone: the other handler is not held up), then dead-lettered with its error', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const user = await signUp(db);
    const event = await outboxEvent(user.id);
    const resend = fakeFetch({
      'POST https://api.resend.com/emails': () => Response.json({ statusCode: 500, name: 'application_error', message: 'upstream exploded' }, { status: 500 }),
    });
    const withResend = { ...db.env, RESEND_API_KEY: 're_test_123' } as Env;

    const first = await deliverObserved(event, 1, withResend);
    expect(first.ack).not.toHaveBeenCalled();
    expect(first.retry).toHaveBeenCalledWith({ delaySeconds: 10 });
    const third = await deliverObserved(event, 3, withResend);
    expect(third.retry).toHaveBeenCalledWith({ delaySeconds: 40 });
    expect((await deliver('fairarena-events', [event], 4, withResend)).retryMessages.map((m: { msgId: string }) => m.msgId)).toEqual(['m0']);
    expect(retryDelaySeconds(20)).toBe(1800);
    expect(resend.calls.length).toBe(3);
    // the failed handler left no processed mark; the notification handler ran on the first delivery, once
    expect((await db.sql('select handler from processed_events where event_id = $1', [event.id])).rows).toEqual([{ handler: 'welcome-notification' }]);
    expect((await db.sql('select 1 from notifications where user_id = $1', [user.id])).rows).toHaveLength(1);

    // after the last retry the platform moves it to the dead-letter queue, whose consumer keeps it
    const dlq = await deliver('fairarena-events-dlq', [event]);
    expect(dlq.explicitAcks).toEqual(['m0']);
    const dead = (await db.sql<any>('select * from dead_letters where event_id = $1', [event.id])).rows;
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ event_name: 'user.created', handler: 'welcome-email', attempts: MAX_DELIVERY_ATTEMPTS });
    expect(dead[0].error).toContain('upstream exploded');
  });

  it('the retries of one message span hours: doubling from 10 s, capped at 30 min, 15 deliveries in all', () => {
    const delays = Array.from({ length: MAX_DELIVERY_ATTEMPTS - 1 }, (_, i) => retryDelaySeconds(i + 1));
    expect(delays).toEqual([10, 20, 40, 80, 160, 320, 640, 1280, 1800, 1800, 1800, 1800, 1800, 1800]);
    // An outage shorter than this delays events without dead-lettering them.
    const total = delays.reduce((a, b) => a + b, 0);
    expect(total).toBe(13_350); // 3 h 42.5 min
    expect(Math.max(...delays)).toBeLessThanOrEqual(43_200); // the largest delay a Queue accepts
  });

  it('a duplicate delivery has exactly one effect (and Resend gets an idempotency key)', async () => {
    const user = await signUp(db);
    const event = await outboxEvent(user.id);
    const resend = fakeFetch({
      'POST https://api.resend.com/emails': () => Response.json({ id: '4ef9a417-02e9-4d39-ad75-9611e0fcc33c' }),
    });
    const withResend = { ...db.env, RESEND_API_KEY: 're_test_123' } as Env;
    expect((await deliver('fairarena-events', [event], 1, withResend)).explicitAcks).toEqual(['m0']);
    expect((await deliver('fairarena-events', [event, event], 2, withResend)).explicitAcks).toEqual(['m0', 'm1']);
    expect(resend.calls).toHaveLength(1);
    const sent = (await resend.calls[0]!.json()) as { to: string; subject: string; from: string; html: string; text: string };
    expect(sent).toMatchObject({ to: user.email, subject: 'Welcome to FairArena', from: 'FairArena <no-reply@fairarena.app>' });
    expect(sent.html).toContain('<h1');
    expect(sent.text).toContain('Your account is ready');
    expect(resend.calls[0]!.headers.get('Idempotency-Key')).toBe(`${event.id}:welcome-email`);
    expect((await db.sql('select 1 from notifications where user_id = $1', [user.id])).rows).toHaveLength(1);
  });

  it('a malformed or unknown event is dead-lettered at once, not retried forever', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const id = crypto.randomUUID();
    const r = await deliver('fairarena-events', [{ id, name: 'no.such.event', payload: {}, emittedAt: new Date().toISOString() }, { junk: true }]);
    expect(r.explicitAcks).toEqual(['m0', 'm1']);
    expect(r.retryMessages).toEqual([]);
    expect((await db.sql<any>('select event_name from dead_letters where event_id = $1', [id])).rows).toEqual([{ event_name: 'no.such.event' }]);
  });
});

describe('end to end through the real Queue binding', () => {
  it('a signed Clerk webhook → outbox → Queue → consumer → welcome email in the dev mailbox', async () => {
    const id = `user_e2e${crypto.randomUUID().replaceAll('-', '').slice(0, 16)}`;
    const email = `${id}@example.test`;
    const { body, headers } = await signedClerkWebhook(env.CLERK_WEBHOOK_SECRET as string, 'user.created', clerkUserJson({ id, email }));
    const res = await SELF.fetch('http://api.fairarena.test/webhooks/v1/clerk', { method: 'POST', body, headers: { ...headers, 'CF-Connecting-IP': '192.0.2.99' } });
    expect(res.status).toBe(200);
    // The default test env points at the shared database and the real EVENTS queue.
    const shared = new Pool({ connectionString: `${env.TEST_PG_BASE_URL}/fairarena_shared`, max: 1 });
    try {
      await vi.waitUntil(
        async () => (await shared.query(`select 1 from dev_emails where "to" = $1 and subject = 'Welcome to FairArena'`, [email])).rows.length === 1,
        { timeout: 15_000, interval: 250 },
      );
      // each handler commits on its own: wait for the second mark too
      const processed = async () =>
        (await shared.query(`select handler from processed_events pe join outbox o on o.id = pe.event_id where o.payload->>'userId' = $1 order by handler`, [id])).rows.map(
          (r) => r.handler,
        );
      await vi.waitUntil(async () => (await processed()).length >= 2, { timeout: 15_000, interval: 250 });
      expect(await processed()).toEqual(['welcome-email', 'welcome-notification']);
    } finally {
      await shared.end();
    }
  });
});
