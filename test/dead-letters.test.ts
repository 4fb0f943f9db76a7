import { createExecutionContext } from 'cloudflare:test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Env } from '../src/config';
import type { EventEnvelope } from '../src/events/catalog';
import worker from '../src/index';
import { MAX_DELIVERY_ATTEMPTS } from '../src/queue';
import { listDeadLetters, replayDeadLetters } from '../src/services/admin/dead-letters';
import type { ServiceContext } from '../src/services/context';
import { useTestDatabase } from './helpers/db';
import { fakeFetch } from './helpers/fake-fetch';
import { call } from './helpers/http';
import { signUp } from './helpers/users';

const ADMIN_TOKEN = 'operator-token-0123456789abcdef0123456789abcdef';
const RESEND = 'POST https://api.resend.com/emails';

const db = useTestDatabase({ ADMIN_TOKEN, RESEND_API_KEY: 're_test_123' });
afterEach(() => vi.restoreAllMocks());

const quiet = () => {
  vi.spyOn(console, 'warn').mockImplementation(() => {});
  vi.spyOn(console, 'error').mockImplementation(() => {});
};

/** One message through the worker's queue() on `queue`, with observable ack/retry. */
async function deliverOne(queue: string, body: unknown, attempts: number, env: Env = db.env) {
  const ack = vi.fn();
  const retry = vi.fn();
  const batch = { queue, messages: [{ id: `m-${attempts}`, timestamp: new Date(), attempts, body, ack, retry }], ackAll: vi.fn(), retryAll: vi.fn() };
  await worker.queue!(batch as never, env, createExecutionContext());
  return { ack, retry };
}

const admin = (path: string, init: Parameters<typeof call>[2] = {}, env: Env = db.env) =>
  call(env, path, { ...init, headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, ...(init.headers as Record<string, string> | undefined) } });

/** A user files a support ticket: support.ticket_created has an email handler and a notification handler. */
async function ticketEvent() {
  const user = await signUp(db);
  const before = db.events.messages.length;
  const r = await call(db.env, '/api/v1/support', { method: 'POST', token: user.token, json: { subject: 'Cannot log in', message: 'The login page keeps spinning.' } });
  expect(r.status).toBe(201);
  // Taken off the captured queue: these tests deliver it themselves, attempt by attempt.
  const event = db.events.messages.splice(before).find((m) => m.name === 'support.ticket_created');
  expect(event).toBeTruthy();
  return { user, event: event! };
}

const notifications = async (userId: string) => (await db.sql(`select 1 from notifications where user_id = $1`, [userId])).rows.length;
const deadLetter = async (eventId: string) => (await db.sql<any>(`select * from dead_letters where event_id = $1 order by handler`, [eventId])).rows;

/** Queue the delivery budget through the main queue, then hand the message to the dead-letter consumer (what the platform does). */
async function exhaust(body: EventEnvelope) {
  for (let attempt = 1; attempt <= MAX_DELIVERY_ATTEMPTS; attempt++) {
    const { ack, retry } = await deliverOne('fairarena-events', body, attempt);
    expect(ack).not.toHaveBeenCalled();
    expect(retry).toHaveBeenCalledTimes(1);
  }
  const dlq = await deliverOne('fairarena-events-dlq', body, 1);
  expect(dlq.ack).toHaveBeenCalledTimes(1);
  expect(dlq.retry).not.toHaveBeenCalled();
}

describe('a provider outage longer than the retry window', () => {
  it('retries the email handler alone, dead-letters it with its cause, and a (double) replay after recovery sends exactly one email', async () => {
    quiet();
    const { user, event } = await ticketEvent();
    let resendUp = false;
    const resend = fakeFetch({
      [RESEND]: () =>
        resendUp
          ? Response.json({ id: '0b4f1c8e-8a53-4e0c-9a37-3f1f5b1c2d11' })
          : Response.json({ statusCode: 503, name: 'internal_server_error', message: 'Resend is having a bad day' }, { status: 503 }),
    });

    await exhaust(event);
    expect(resend.calls).toHaveLength(MAX_DELIVERY_ATTEMPTS); // the email handler was tried on every delivery…
    expect(await notifications(user.id)).toBe(1); // …while the notification went out on the first one, once
    expect((await db.sql(`select handler from processed_events where event_id = $1`, [event.id])).rows).toEqual([{ handler: 'support-notification' }]);

    // one dead letter, for the handler that gave up, with the provider's error
    const [dead, ...others] = await deadLetter(event.id);
    expect(others).toEqual([]);
    expect(dead).toMatchObject({ event_name: 'support.ticket_created', handler: 'support-confirmation-email', attempts: MAX_DELIVERY_ATTEMPTS, resolved_at: null });
    expect(dead.error).toContain('Resend is having a bad day');
    expect(dead.payload).toEqual(event.payload);

    const listed = await admin('/admin/dead-letters');
    expect(listed.status).toBe(200);
    expect(listed.body.data).toEqual([expect.objectContaining({ id: dead.id, eventId: event.id, handler: 'support-confirmation-email', status: 'open', replayable: true })]);

    // the provider recovers; an operator replays twice (an impatient double click)
    resendUp = true;
    const sent = db.events.messages.length;
    const first = await admin(`/admin/dead-letters/${dead.id}/replay`, { method: 'POST' });
    const second = await admin(`/admin/dead-letters/${dead.id}/replay`, { method: 'POST' });
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(second.body.data).toMatchObject({ status: 'replayed', replayCount: 2 });
    const replays = db.events.messages.slice(sent);
    expect(replays).toHaveLength(2);
    for (const m of replays) expect(m).toMatchObject({ id: event.id, name: event.name, payload: event.payload, handler: 'support-confirmation-email', deadLetterId: dead.id });

    await db.events.drain();
    const delivered = resend.calls.slice(MAX_DELIVERY_ATTEMPTS);
    expect(delivered).toHaveLength(1); // exactly one email
    expect(await delivered[0]!.json()).toMatchObject({ to: user.email, subject: 'We received your support request' });
    expect(delivered[0]!.headers.get('Idempotency-Key')).toBe(`${event.id}:support-confirmation-email`);
    expect(await notifications(user.id)).toBe(1); // the replay was for the email handler only

    const after = await admin(`/admin/dead-letters?status=all`);
    expect(after.body.data[0]).toMatchObject({ id: dead.id, status: 'resolved', replayCount: 2 });
    expect(after.body.data[0].resolvedAt).not.toBeNull();
    expect((await admin('/admin/dead-letters')).body.data).toEqual([]);
    const again = await admin(`/admin/dead-letters/${dead.id}/replay`, { method: 'POST' });
    expect([again.status, again.body.error.code, again.body.error.details]).toEqual([409, 'CONFLICT', { reason: 'RESOLVED' }]);
  });

  it('a replay that fails again is retried for its handler only and dead-letters the same row again', async () => {
    quiet();
    const { user, event } = await ticketEvent();
    const resend = fakeFetch({ [RESEND]: () => Response.json({ statusCode: 500, name: 'application_error', message: 'still down' }, { status: 500 }) });
    await exhaust(event);
    const [dead] = await deadLetter(event.id);
    const sent = db.events.messages.length;
    expect((await admin(`/admin/dead-letters/${dead.id}/replay`, { method: 'POST' })).status).toBe(200);
    const [replay] = db.events.messages.slice(sent);

    resend.on(RESEND, () => Response.json({ statusCode: 500, name: 'application_error', message: 'down for the second time' }, { status: 500 }));
    await exhaust(replay!);
    const rows = await deadLetter(event.id);
    expect(rows).toHaveLength(1); // the same (event, handler) row, open again
    expect(rows[0]).toMatchObject({ id: dead.id, handler: 'support-confirmation-email', replay_count: 1, resolved_at: null, attempts: 2 * MAX_DELIVERY_ATTEMPTS });
    expect(rows[0].error).toContain('down for the second time');
    expect((await admin('/admin/dead-letters')).body.data[0]).toMatchObject({ id: dead.id, status: 'open' });
    expect(await notifications(user.id)).toBe(1);
  });
});

describe('dead-letter consumer', () => {
  it('retries the message (never acks it) while the database is down, and stores it once the database is back', async () => {
    quiet();
    const { event } = await ticketEvent();
    await db.sql(`insert into handler_failures (event_id, handler, attempts, last_error) values ($1, 'support-confirmation-email', 6, 'Error: Resend refused the email')`, [event.id]);
    const down = { ...db.env, DATABASE_URL: db.url.replace(/\/[^/]+$/, '/no_such_database') } as Env;
    for (const attempt of [1, 2]) {
      const { ack, retry } = await deliverOne('fairarena-events-dlq', event, attempt, down);
      expect(ack).not.toHaveBeenCalled();
      expect(retry).toHaveBeenCalledWith({ delaySeconds: attempt === 1 ? 10 : 20 });
    }
    expect(await deadLetter(event.id)).toEqual([]);

    const { ack, retry } = await deliverOne('fairarena-events-dlq', event, 3);
    expect(ack).toHaveBeenCalledTimes(1);
    expect(retry).not.toHaveBeenCalled();
    // both handlers are unprocessed here (the event never ran): one row each, the recorded error kept
    const rows = await deadLetter(event.id);
    expect(rows.map((r: { handler: string }) => r.handler)).toEqual(['support-confirmation-email', 'support-notification']);
    expect(rows[0].error).toBe('Error: Resend refused the email');
    expect(rows[1].error).toContain('no error recorded');
    // a redelivery of the same DLQ message adds nothing
    await deliverOne('fairarena-events-dlq', event, 1);
    expect(await deadLetter(event.id)).toHaveLength(2);
  });

  it('a message whose handlers all succeeded meanwhile leaves no dead letter', async () => {
    const { event } = await ticketEvent();
    const resend = fakeFetch({ [RESEND]: () => Response.json({ id: '5d2a4f1e-0a3b-4c5d-8e9f-0a1b2c3d4e5f' }) });
    expect((await deliverOne('fairarena-events', event, 1)).ack).toHaveBeenCalledTimes(1);
    expect((await deliverOne('fairarena-events-dlq', event, 1)).ack).toHaveBeenCalledTimes(1);
    expect(await deadLetter(event.id)).toEqual([]);
    expect(resend.calls).toHaveLength(1);
  });
});

/** Rows as the consumer writes them, for the listing / replay-all tests. */
async function insertDeadLetter(eventName: string, payload: unknown, handler: string | null, createdAt = new Date(), eventId: string = crypto.randomUUID()) {
  const { rows } = await db.sql<{ id: string }>(
    `insert into dead_letters (event_id, event_name, handler, payload, error, attempts, created_at, updated_at) values ($1, $2, $3, $4, 'boom', 6, $5, $5) returning id`,
    [eventId, eventName, handler, JSON.stringify(payload), createdAt.toISOString()],
  );
  return { id: rows[0]!.id, eventId };
}

describe('operator routes /admin/dead-letters', () => {
  it('need ADMIN_TOKEN: 404 while it is not configured, 401 without or with a wrong token', async () => {
    const noToken = { ...db.env, ADMIN_TOKEN: '' } as Env;
    const off = await admin('/admin/dead-letters', {}, noToken);
    expect([off.status, off.body.error.code]).toEqual([404, 'NOT_FOUND']);
    expect((await call(noToken, '/admin/dead-letters/replay', { method: 'POST' })).status).toBe(404);

    const missing = await call(db.env, '/admin/dead-letters');
    expect([missing.status, missing.body.error.code]).toEqual([401, 'AUTH_REQUIRED']);
    expect(missing.headers.get('WWW-Authenticate')).toBe('Bearer');
    expect((await call(db.env, '/admin/dead-letters', { headers: { Authorization: `Bearer ${ADMIN_TOKEN.slice(0, -1)}x` } })).status).toBe(401);
    expect((await call(db.env, '/admin/dead-letters/replay', { method: 'POST', headers: { Authorization: `Bearer ${ADMIN_TOKEN}x` } })).status).toBe(401);
    // a session token of a signed-in user is not an operator token
    const user = await signUp(db);
    expect((await call(db.env, '/admin/dead-letters', { token: user.token })).status).toBe(401);
    // the services themselves refuse a caller the operator door did not vouch for
    const ctx = { env: db.env, requestId: 'r', events: [] } as unknown as ServiceContext;
    await expect(listDeadLetters(ctx, { status: 'all', limit: 1, offset: 0 })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(replayDeadLetters(ctx, {})).rejects.toMatchObject({ code: 'FORBIDDEN' });
    // and a short token is refused as configuration
    expect((await admin('/admin/dead-letters', {}, { ...db.env, ADMIN_TOKEN: 'short' } as Env)).status).toBe(500);
  });

  it('lists a page with meta, filtered by status and event type; validates input', async () => {
    await db.sql(`delete from dead_letters`);
    const user = await signUp(db);
    const t0 = Date.now() - 60_000;
    const a = await insertDeadLetter('user.created', { userId: user.id }, 'welcome-email', new Date(t0));
    const b = await insertDeadLetter('report.created', { reportId: crypto.randomUUID() }, 'report-received-email', new Date(t0 + 1000));
    const c = await insertDeadLetter('user.created', { userId: user.id }, 'welcome-notification', new Date(t0 + 2000));
    await db.sql(`update dead_letters set resolved_at = now() where id = $1`, [c.id]);

    const page = await admin('/admin/dead-letters?limit=1');
    expect(page.status).toBe(200);
    expect(page.headers.get('Cache-Control')).toBe('no-store');
    expect(page.body.meta).toEqual({ total: 2, limit: 1, offset: 0 });
    expect(page.body.data.map((d: { id: string }) => d.id)).toEqual([b.id]);
    expect((await admin('/admin/dead-letters?limit=1&offset=1')).body.data.map((d: { id: string }) => d.id)).toEqual([a.id]);
    expect((await admin('/admin/dead-letters?eventType=user.created')).body.data.map((d: { id: string }) => d.id)).toEqual([a.id]);
    const all = await admin('/admin/dead-letters?status=all');
    expect(all.body.data.map((d: { id: string; status: string }) => [d.id, d.status])).toEqual([[c.id, 'resolved'], [b.id, 'open'], [a.id, 'open']]);
    expect((await admin('/admin/dead-letters?status=resolved')).body.meta.total).toBe(1);

    for (const bad of ['?limit=0', '?limit=101', '?offset=-1', '?status=dead', '?eventType=DROP%20TABLE']) {
      const r = await admin(`/admin/dead-letters${bad}`);
      expect([bad, r.status, r.body.error.code]).toEqual([bad, 400, 'VALIDATION_ERROR']);
    }
    expect((await admin('/admin/dead-letters/not-a-uuid/replay', { method: 'POST' })).status).toBe(400);
    const unknown = await admin(`/admin/dead-letters/${crypto.randomUUID()}/replay`, { method: 'POST' });
    expect([unknown.status, unknown.body.error.code]).toEqual([404, 'NOT_FOUND']);
    expect((await admin('/admin/dead-letters/replay', { method: 'POST', json: { eventType: 'user.created', extra: 1 } })).status).toBe(400);
  });

  it('replay-all reads the body whatever the case of its media type: Application/JSON names one event type, not all', async () => {
    await db.sql(`delete from dead_letters`);
    const user = await signUp(db);
    const welcome = await insertDeadLetter('user.created', { userId: user.id }, 'welcome-email');
    await insertDeadLetter('report.created', { reportId: crypto.randomUUID() }, 'report-received-email');
    const from = db.events.messages.length;
    const r = await admin('/admin/dead-letters/replay', { method: 'POST', json: { eventType: 'user.created' }, headers: { 'Content-Type': 'Application/JSON; charset=UTF-8' } });
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual({ replayed: 1, notReplayable: 0, more: false });
    expect(db.events.messages.slice(from).map((m) => m.deadLetterId)).toEqual([welcome.id]);
    const invalid = await admin('/admin/dead-letters/replay', { method: 'POST', json: { eventType: 'user.created', extra: 1 }, headers: { 'Content-Type': 'APPLICATION/JSON' } });
    expect(invalid.status).toBe(400);
  });

  it('replay-all re-enqueues each unresolved dead letter for its handler (all, by ?eventType= or by body); undispatchable ones are left alone', async () => {
    await db.sql(`delete from dead_letters`);
    const resend = fakeFetch({ [RESEND]: () => Response.json({ id: '7c9e6679-7425-40de-944b-e07fc1f90ae7' }) });
    const user = await signUp(db);
    const welcome = await insertDeadLetter('user.created', { userId: user.id }, 'welcome-email');
    const report = await insertDeadLetter('report.created', { reportId: crypto.randomUUID() }, 'report-received-email');
    // the same event, dead-lettered as a whole (rows stored before dead letters were per handler)
    const legacy = await insertDeadLetter('user.created', { userId: user.id }, null, new Date(), welcome.eventId);
    const unknown = await insertDeadLetter('no.such.event', {}, null);
    const invalid = await insertDeadLetter('user.created', { nope: true }, null);
    const resolved = await insertDeadLetter('user.created', { userId: user.id }, 'welcome-notification');
    await db.sql(`update dead_letters set resolved_at = now() where id = $1`, [resolved.id]);

    const replayed = (from: number) => db.events.messages.slice(from).map((m) => [m.deadLetterId, m.handler ?? null]);

    let from = db.events.messages.length;
    const byQuery = await admin('/admin/dead-letters/replay?eventType=report.created', { method: 'POST' });
    expect(byQuery.body.data).toEqual({ replayed: 1, notReplayable: 0, more: false });
    expect(replayed(from)).toEqual([[report.id, 'report-received-email']]);

    from = db.events.messages.length;
    const byBody = await admin('/admin/dead-letters/replay', { method: 'POST', json: { eventType: 'user.created' } });
    expect(byBody.body.data).toEqual({ replayed: 2, notReplayable: 1, more: false });
    expect(replayed(from)).toEqual(
      expect.arrayContaining([
        [welcome.id, 'welcome-email'],
        [legacy.id, null],
      ]),
    );
    expect(replayed(from)).toHaveLength(2);

    from = db.events.messages.length;
    const all = await admin('/admin/dead-letters/replay', { method: 'POST' });
    expect(all.body.data).toEqual({ replayed: 3, notReplayable: 1, more: false });
    expect(replayed(from).map(([id]) => id).sort()).toEqual([welcome.id, report.id, legacy.id].sort());

    for (const id of [unknown.id, invalid.id]) {
      const r = await admin(`/admin/dead-letters/${id}/replay`, { method: 'POST' });
      expect([r.status, r.body.error.details]).toEqual([409, { reason: 'NOT_REPLAYABLE' }]);
    }

    // delivering the replays resolves them: the whole-event one once all of the event's handlers have run
    await db.events.drain();
    const states = Object.fromEntries((await admin('/admin/dead-letters?status=all&limit=100')).body.data.map((d: { id: string; status: string }) => [d.id, d.status]));
    expect(states[welcome.id]).toBe('resolved');
    expect(states[legacy.id]).toBe('resolved');
    expect(states[unknown.id]).toBe('open');
    // four replays reached the welcome-email handler, two the notification handler: one effect each
    const welcomes = [];
    for (const c of resend.calls) if (((await c.clone().json()) as { to: string }).to === user.email) welcomes.push(c);
    expect(welcomes).toHaveLength(1);
    expect((await db.sql(`select count(*)::int as n from notifications where user_id = $1`, [user.id])).rows).toEqual([{ n: 1 }]);
  });

  it('503 when the queue refuses a replay, and nothing is marked replayed', async () => {
    quiet();
    await db.sql(`delete from dead_letters`);
    const user = await signUp(db);
    const row = await insertDeadLetter('user.created', { userId: user.id }, 'welcome-email');
    const refusing = { ...db.env, EVENTS: { sendBatch: async () => Promise.reject(new Error('queue unavailable')), send: async () => undefined } } as unknown as Env;
    const one = await admin(`/admin/dead-letters/${row.id}/replay`, { method: 'POST' }, refusing);
    expect([one.status, one.body.error.code, one.headers.get('Retry-After')]).toEqual([503, 'SERVICE_UNAVAILABLE', '30']);
    expect((await admin('/admin/dead-letters/replay', { method: 'POST' }, refusing)).status).toBe(503);
    expect((await db.sql(`select replay_count, replayed_at from dead_letters where id = $1`, [row.id])).rows).toEqual([{ replay_count: 0, replayed_at: null }]);
  });

  it('are documented in the OpenAPI document with the operator token', async () => {
    const doc = (await call(db.env, '/openapi.json')).body;
    expect(doc.components.securitySchemes.adminToken).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.paths['/admin/dead-letters'].get.security).toEqual([{ adminToken: [] }]);
    expect(doc.paths['/admin/dead-letters/replay'].post.security).toEqual([{ adminToken: [] }]);
    expect(doc.paths['/admin/dead-letters/{id}/replay'].post.responses).toHaveProperty('409');
    expect(doc.components.schemas.DeadLetter).toBeTruthy();
  });
});

describe('GET /metrics', () => {
  it('shows the outbox backlog and unresolved dead letters per event type', async () => {
    const token = 'metrics-token';
    await db.sql(`delete from dead_letters`);
    await db.sql(`delete from outbox where relayed_at is null`);
    await db.sql(`insert into outbox (event_name, payload) values ('user.created', '{"userId":"u1"}'), ('user.created', '{"userId":"u2"}'), ('report.created', $1)`, [
      JSON.stringify({ reportId: crypto.randomUUID() }),
    ]);
    await insertDeadLetter('user.created', { userId: 'u1' }, 'welcome-email');
    await insertDeadLetter('phone.verified', { userId: 'u1' }, 'phone-verified-email');
    const resolved = await insertDeadLetter('phone.verified', { userId: 'u2' }, 'phone-verified-notification');
    await db.sql(`update dead_letters set resolved_at = now() where id = $1`, [resolved.id]);

    const r = await call({ ...db.env, METRICS_TOKEN: token }, '/metrics', { headers: { Authorization: `Bearer ${token}` } });
    expect(r.status).toBe(200);
    const text = String(r.body);
    expect(text).toContain('# TYPE fairarena_outbox_pending_by_event gauge');
    expect(text).toContain('fairarena_outbox_pending_by_event{event_type="user.created"} 2');
    expect(text).toContain('fairarena_outbox_pending_by_event{event_type="report.created"} 1');
    expect(text).toMatch(/^fairarena_outbox_pending 3$/m);
    expect(text).toContain('fairarena_dead_letters_by_event{event_type="user.created"} 1');
    expect(text).toContain('fairarena_dead_letters_by_event{event_type="phone.verified"} 1');
    expect(text).toMatch(/^fairarena_dead_letters 2$/m);
  });
});
