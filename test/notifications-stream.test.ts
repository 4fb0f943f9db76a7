import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import type { Env } from '../src/config';
import { notificationHub, PING, PONG, STREAM_CLOSE, STREAM_POLICY, type StreamMessage } from '../src/durable/notification-hub';
import { sha256Hex } from '../src/lib/crypto';
import { CapturedQueue, useTestDatabase } from './helpers/db';
import { signedClerkWebhook } from './helpers/clerk';
import { call } from './helpers/http';
import { signUp, type TestUser } from './helpers/users';

const db = useTestDatabase();

// ───────────────────────────── helpers ─────────────────────────────

/** The client end of a stream: every JSON frame received, in order, and the close event. */
class Client {
  readonly messages: StreamMessage[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: (() => void)[] = [];

  constructor(readonly ws: WebSocket) {
    ws.accept();
    ws.addEventListener('message', (e) => {
      this.messages.push(JSON.parse(e.data as string) as StreamMessage);
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => ws.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason })));
  }

  /** Resolves once `count` messages have arrived (all of them so far, in order); fails after `timeoutMs`. */
  async received(count: number, timeoutMs = 5000): Promise<StreamMessage[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${count} messages within ${timeoutMs} ms, got ${JSON.stringify(this.messages)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.messages.slice(0, count);
  }

  /** Gives in-flight frames a moment to arrive, then returns everything received. */
  async settle(ms = 150): Promise<StreamMessage[]> {
    await new Promise((r) => setTimeout(r, ms));
    return [...this.messages];
  }

  close(): void {
    try {
      this.ws.close(1000, 'bye');
    } catch {
      // already closed
    }
  }
}

const open: Client[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.close();
});

const env = () => db.env;
const withEnv = (vars: Record<string, unknown>) => ({ ...db.env, ...vars }) as Env;

async function ticketFor(u: TestUser, e: Env = env()): Promise<string> {
  const r = await call(e, '/api/v1/notifications/stream-ticket', { method: 'POST', token: u.token });
  expect(r.status).toBe(201);
  return r.body.data.ticket as string;
}

async function connect(ticket: string | undefined, opts: { since?: string; env?: Env; headers?: Record<string, string> } = {}) {
  const q = new URLSearchParams();
  if (ticket !== undefined) q.set('ticket', ticket);
  if (opts.since) q.set('since', opts.since);
  const r = await call(opts.env ?? env(), `/api/v1/notifications/stream?${q}`, { headers: opts.headers ?? { Upgrade: 'websocket' } });
  const ws = r.res.webSocket;
  const client = ws ? new Client(ws) : undefined;
  if (client) open.push(client);
  return { ...r, client };
}

/** Signs in, gets a ticket and connects; the first frame (unread count on connect) is awaited. */
async function live(u: TestUser, opts: { since?: string; env?: Env } = {}) {
  const r = await connect(await ticketFor(u, opts.env), opts);
  expect(r.status).toBe(101);
  return r.client!;
}

async function publicProfile() {
  const owner = await signUp(db, { firstName: 'Owner', profile: { is_public: true } });
  const { rows } = await db.sql<{ id: string }>(`select id from profiles where user_id = $1`, [owner.id]);
  return { owner, profileId: rows[0]!.id };
}

const star = (fan: TestUser, profileId: string, e: Env = env()) => call(e, `/api/v1/stars/${profileId}`, { method: 'POST', token: fan.token });

let clock = Date.parse('2030-01-01T00:00:00Z');
/** Insert a notification directly, each a minute newer than the last. */
async function insertNotification(userId: string, fields: { read?: boolean; title?: string } = {}): Promise<string> {
  clock += 60_000;
  const created = new Date(clock).toISOString();
  const { rows } = await db.sql<{ id: string }>(
    `insert into notifications (user_id, type, title, message, read_at, created_at) values ($1, 'SYSTEM', $2, 'A message', $3, $4) returning id`,
    [userId, fields.title ?? 'A title', fields.read ? created : null, created],
  );
  return rows[0]!.id;
}

const notificationIds = (messages: StreamMessage[]) => messages.flatMap((m) => (m.type === 'notification' ? [m.notification.id] : []));
const hubOf = (u: TestUser) => notificationHub(env(), u.id);

// ───────────────────────────── tickets ─────────────────────────────

describe('POST /api/v1/notifications/stream-ticket', () => {
  it('401 without a session', async () => {
    const r = await call(env(), '/api/v1/notifications/stream-ticket', { method: 'POST' });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('AUTH_REQUIRED');
  });

  it('issues a random ticket valid for at most 60 s; the hub stores only its SHA-256', async () => {
    const u = await signUp(db);
    const before = Date.now();
    const r = await call(env(), '/api/v1/notifications/stream-ticket', { method: 'POST', token: u.token });
    expect(r.status).toBe(201);
    const { ticket, expiresAt } = r.body.data as { ticket: string; expiresAt: string };
    expect(ticket).toMatch(/^[0-9a-f]{64}\.[A-Za-z0-9_-]{43}$/);
    const ttl = Date.parse(expiresAt) - before;
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
    expect(ticket.split('.')[0]).toBe(hubOf(u).id.toString());

    const secret = ticket.split('.')[1]!;
    const stored = await runInDurableObject(hubOf(u), (_i, state) => JSON.stringify([...state.storage.kv.list()]));
    expect(stored).not.toContain(secret);
    expect(stored).toContain(`ticket:${await sha256Hex(secret)}`);

    const second = await call(env(), '/api/v1/notifications/stream-ticket', { method: 'POST', token: u.token });
    expect(second.body.data.ticket).not.toBe(ticket);
  });

  it('is rate limited per user (429 with Retry-After)', async () => {
    const u = await signUp(db);
    const statuses: number[] = [];
    for (let i = 0; i < 31; i++) statuses.push((await call(env(), '/api/v1/notifications/stream-ticket', { method: 'POST', token: u.token })).status);
    expect(statuses.slice(0, 30).every((s) => s === 201)).toBe(true);
    const refused = await call(env(), '/api/v1/notifications/stream-ticket', { method: 'POST', token: u.token });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('Retry-After')).toBeTruthy();
  });
});

// ───────────────────────────── refusals ─────────────────────────────

describe('GET /api/v1/notifications/stream: refusals never upgrade', () => {
  it('426 in the envelope without Upgrade: websocket, and the ticket is not spent', async () => {
    const u = await signUp(db);
    const ticket = await ticketFor(u);
    const r = await connect(ticket, { headers: {} });
    expect(r.status).toBe(426);
    expect(r.body.error.code).toBe('UPGRADE_REQUIRED');
    expect(r.body.error.requestId).toBeTruthy();
    expect(r.headers.get('Upgrade')).toBe('websocket');
    expect(r.client).toBeUndefined();
    expect((await connect(ticket)).status).toBe(101);
  });

  it('401 for a missing, malformed or wrong ticket, and for one user’s secret aimed at another user’s hub', async () => {
    const a = await signUp(db);
    const b = await signUp(db);
    const ticket = await ticketFor(a);
    const [hubA, secret] = ticket.split('.') as [string, string];
    const wrongSecret = `${hubA}.${'A'.repeat(43)}`;
    const otherHub = `${hubOf(b).id.toString()}.${secret}`;
    const notAHubId = `${'0'.repeat(64)}.${secret}`;
    for (const bad of [undefined, '', 'nonsense', `${hubA}.short`, wrongSecret, otherHub, notAHubId]) {
      const r = await connect(bad);
      expect(r.status, String(bad)).toBe(401);
      expect(r.body.error.code).toBe('AUTH_REQUIRED');
      expect(r.client).toBeUndefined();
    }
    // None of those spent the real ticket.
    expect((await connect(ticket)).status).toBe(101);
  });

  it('401 for a reused ticket; two concurrent connects with one ticket open exactly one socket', async () => {
    const u = await signUp(db);
    const ticket = await ticketFor(u);
    expect((await connect(ticket)).status).toBe(101);
    const reused = await connect(ticket);
    expect(reused.status).toBe(401);
    expect(reused.body.error.code).toBe('AUTH_REQUIRED');

    const shared = await ticketFor(u);
    const results = await Promise.all([connect(shared), connect(shared), connect(shared)]);
    expect(results.map((r) => r.status).sort()).toEqual([101, 401, 401]);
  });

  it('401 for an expired ticket (and it is gone afterwards)', async () => {
    const u = await signUp(db);
    const ticket = await ticketFor(u);
    const key = `ticket:${await sha256Hex(ticket.split('.')[1]!)}`;
    await runInDurableObject(hubOf(u), (_i, state) => state.storage.kv.put(key, Date.now() - 1));
    const r = await connect(ticket);
    expect(r.status).toBe(401);
    expect(r.client).toBeUndefined();
    expect(await runInDurableObject(hubOf(u), (_i, state) => state.storage.kv.get(key))).toBeUndefined();
  });

  it('403 for a browser origin outside CORS_ORIGINS (ticket not spent); an allowed origin connects', async () => {
    const u = await signUp(db);
    const ticket = await ticketFor(u);
    const r = await connect(ticket, { headers: { Upgrade: 'websocket', Origin: 'https://evil.example' } });
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('FORBIDDEN');
    expect(r.client).toBeUndefined();
    expect((await connect(ticket, { headers: { Upgrade: 'websocket', Origin: 'https://app.fairarena.test' } })).status).toBe(101);
  });

  it('503 (never an unchecked ticket or socket) when the hub cannot be reached', async () => {
    const u = await signUp(db);
    const ticket = await ticketFor(u);
    const down = withEnv({
      NOTIFICATION_HUB: {
        idFromName: () => ({ toString: () => 'f'.repeat(64) }),
        idFromString: () => ({}),
        get: () => ({ fetch: () => Promise.reject(new Error('hub down')), issueTicket: () => Promise.reject(new Error('hub down')) }),
      },
    });
    const issued = await call(down, '/api/v1/notifications/stream-ticket', { method: 'POST', token: u.token });
    expect(issued.status).toBe(503);
    expect(issued.body.error.code).toBe('SERVICE_UNAVAILABLE');
    const r = await connect(ticket, { env: down });
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('SERVICE_UNAVAILABLE');
    expect(r.client).toBeUndefined();
  });

  it('400 for a since that is not a notification id (before the ticket is looked at)', async () => {
    const u = await signUp(db);
    const ticket = await ticketFor(u);
    const r = await connect(ticket, { since: 'not-a-uuid' });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('VALIDATION_ERROR');
    expect((await connect(ticket)).status).toBe(101);
  });
});

// ───────────────────────────── live delivery ─────────────────────────────

describe('live notifications', () => {
  it('sends the unread count on connect', async () => {
    const u = await signUp(db);
    await insertNotification(u.id);
    await insertNotification(u.id);
    await insertNotification(u.id, { read: true });
    const client = await live(u);
    expect(await client.received(1)).toEqual([{ type: 'unreadCount', count: 2 }]);
  });

  it('a star reaches the owner’s socket within 5 s (notification + new count), and only the owner’s', async () => {
    const { owner, profileId } = await publicProfile();
    const fan = await signUp(db, { firstName: 'Fan', lastName: 'One' });
    const ownerSocket = await live(owner);
    const fanSocket = await live(fan);
    await ownerSocket.received(1);
    await fanSocket.received(1);

    const started = Date.now();
    expect((await star(fan, profileId)).status).toBe(200);
    // Nothing is pushed from the request itself: only the queue consumer delivers.
    expect(await ownerSocket.settle()).toHaveLength(1);
    await db.events.drain();
    const [, note, count] = await ownerSocket.received(3, 5000 - (Date.now() - started));
    expect(Date.now() - started).toBeLessThan(5000);

    const { rows } = await db.sql<{ id: string; created_at: Date }>(`select id, created_at from notifications where user_id = $1 and type = 'STAR'`, [owner.id]);
    expect(note).toEqual({
      type: 'notification',
      notification: {
        id: rows[0]!.id,
        type: 'STAR',
        title: 'New star on your profile',
        message: 'Fan One starred your profile.',
        createdAt: new Date(rows[0]!.created_at).toISOString(),
        read: false,
      },
    });
    expect(count).toEqual({ type: 'unreadCount', count: 1 });
    // The fan's socket never hears about the owner's notification.
    expect(await fanSocket.settle()).toEqual([{ type: 'unreadCount', count: 0 }]);
  });

  it('every open socket of the user gets the push; a redelivered event or a repeated push sends nothing twice', async () => {
    const { owner, profileId } = await publicProfile();
    const fan = await signUp(db);
    const first = await live(owner);
    const second = await live(owner);
    await first.received(1);
    await second.received(1);
    await star(fan, profileId);
    await db.events.drain();
    await first.received(3);
    await second.received(3);
    expect(notificationIds(second.messages)).toEqual(notificationIds(first.messages));

    // The same event delivered again (the handler's processed mark stops it) …
    const starred = db.events.messages.filter((m) => m.name === 'profile.starred' && (m.payload as { ownerId: string }).ownerId === owner.id);
    expect(starred).toHaveLength(1);
    db.events.messages.push(starred[0]!);
    await db.events.drain();
    // … and the same notification pushed again (the hub remembers the id).
    const note = first.messages[1]!;
    if (note.type !== 'notification') throw new Error('expected a notification');
    const again = await hubOf(owner).push({ notification: note.notification, unread: { count: 1, at: Date.now() } });
    expect(again).toEqual({ delivered: 0, duplicate: true });
    expect(await first.settle()).toHaveLength(3);
    expect(await second.settle()).toHaveLength(3);
  });

  it('an unreachable or hanging hub never fails the handler: the notification is committed and the event acked', async () => {
    const { owner, profileId } = await publicProfile();
    const unreachable = { idFromName: () => ({}), get: () => ({ push: () => Promise.reject(new Error('hub unreachable')) }) };
    const hanging = { idFromName: () => ({}), get: () => ({ push: () => new Promise(() => {}) }) };
    for (const hub of [unreachable, hanging]) {
      const fan = await signUp(db);
      expect((await star(fan, profileId)).status).toBe(200);
      const event = db.events.messages.find((m) => m.name === 'profile.starred' && (m.payload as { starredBy: string }).starredBy === fan.id)!;
      const queue = new CapturedQueue(() => withEnv({ NOTIFICATION_HUB: hub }));
      queue.messages.push(event);
      const started = Date.now();
      expect(await queue.drain()).toEqual({ acked: 1, retried: [] });
      expect(Date.now() - started).toBeLessThan(10_000);
    }
    const { rows } = await db.sql(`select id from notifications where user_id = $1 and type = 'STAR'`, [owner.id]);
    expect(rows).toHaveLength(2);
  }, 20_000);

  it('a failed push is delivered again through the queue until the hub takes it, so a connected client does not miss it', async () => {
    const { owner, profileId } = await publicProfile();
    const client = await live(owner);
    await client.received(1);
    const fan = await signUp(db);
    expect((await star(fan, profileId)).status).toBe(200);
    const event = db.events.messages.find((m) => m.name === 'profile.starred' && (m.payload as { starredBy: string }).starredBy === fan.id)!;
    const unreachable = { idFromName: () => ({}), get: () => ({ push: () => Promise.reject(new Error('hub unreachable')) }) };
    const down = new CapturedQueue(() => withEnv({ NOTIFICATION_HUB: unreachable }));
    down.messages.push(event);
    expect(await down.drain()).toEqual({ acked: 1, retried: [] }); // the notification is committed either way
    expect(await client.settle()).toHaveLength(1); // nothing reached the socket
    const retry = db.events.messages.filter((m) => m.name === 'notification.push_failed' && (m.payload as { userId: string }).userId === owner.id);
    expect(retry).toHaveLength(1);
    // While the hub is still unreachable the retry fails, and the queue delivers it again …
    const stillDown = new CapturedQueue(() => withEnv({ NOTIFICATION_HUB: unreachable }));
    stillDown.messages.push(retry[0]!);
    expect((await stillDown.drain()).retried).toHaveLength(1);
    // … and once it is back, the client gets the notification and the count.
    await db.events.drain();
    const frames = await client.received(3);
    expect(frames[1]).toMatchObject({ type: 'notification', notification: { type: 'STAR' } });
    expect(frames[2]).toEqual({ type: 'unreadCount', count: 1 });
  });

  it('at most NOTIFICATION_SOCKETS_PER_USER sockets: the oldest is closed with 4001', async () => {
    const u = await signUp(db);
    const capped = withEnv({ NOTIFICATION_SOCKETS_PER_USER: '2' });
    const oldest = await live(u, { env: capped });
    const middle = await live(u, { env: capped });
    await oldest.received(1);
    await middle.received(1);
    const newest = await live(u, { env: capped });
    await newest.received(1);
    expect((await oldest.closed).code).toBe(STREAM_CLOSE.tooMany);

    await hubOf(u).push({ unread: { count: 7, at: Date.now() } });
    expect((await middle.received(2))[1]).toEqual({ type: 'unreadCount', count: 7 });
    expect((await newest.received(2))[1]).toEqual({ type: 'unreadCount', count: 7 });
  });
});

// ───────────────────────────── resume ─────────────────────────────

describe('resume with since', () => {
  it('a reconnecting client gets what it missed, then the count, then live ones (the star scenario)', async () => {
    const { owner, profileId } = await publicProfile();
    const fan1 = await signUp(db, { firstName: 'Ann', lastName: 'A' });
    const fan2 = await signUp(db, { firstName: 'Bob', lastName: 'B' });
    const fan3 = await signUp(db, { firstName: 'Cid', lastName: 'C' });

    const first = await live(owner);
    await first.received(1);
    await star(fan1, profileId);
    await db.events.drain();
    const [, missedFrom] = await first.received(3);
    if (missedFrom?.type !== 'notification') throw new Error('expected a notification');
    first.close();
    await first.closed;

    await star(fan2, profileId); // while the owner is offline
    await db.events.drain();

    const again = await live(owner, { since: missedFrom.notification.id });
    const [missed, count] = await again.received(2);
    expect(missed).toMatchObject({ type: 'notification', notification: { type: 'STAR', message: 'Bob B starred your profile.', read: false } });
    expect(count).toEqual({ type: 'unreadCount', count: 2 });

    await star(fan3, profileId);
    await db.events.drain();
    const [, , live3, count3] = await again.received(4);
    expect(live3).toMatchObject({ type: 'notification', notification: { message: 'Cid C starred your profile.' } });
    expect(count3).toEqual({ type: 'unreadCount', count: 3 });
  });

  it('sends every newer notification oldest first (read state included), none older, none of anyone else', async () => {
    const u = await signUp(db);
    const other = await signUp(db);
    const n1 = await insertNotification(u.id);
    const n2 = await insertNotification(u.id, { read: true });
    await insertNotification(other.id);
    const n3 = await insertNotification(u.id);
    const client = await live(u, { since: n1 });
    const messages = await client.received(3);
    expect(notificationIds(messages)).toEqual([n2, n3]);
    expect(messages[0]).toMatchObject({ notification: { id: n2, read: true } });
    expect(messages[2]).toEqual({ type: 'unreadCount', count: 2 });
    expect(await client.settle()).toHaveLength(3);
  });

  it('a since that is not the caller’s (or was deleted) asks the client to resync, revealing nothing', async () => {
    const u = await signUp(db);
    const other = await signUp(db);
    const theirs = await insertNotification(other.id);
    await insertNotification(other.id);
    await insertNotification(u.id);
    const client = await live(u, { since: theirs });
    expect(await client.received(2)).toEqual([
      { type: 'resync', reason: 'unknown_since' },
      { type: 'unreadCount', count: 1 },
    ]);
  });

  it(`more than ${100} missed: a resync instead of the backlog`, async () => {
    const u = await signUp(db);
    const anchor = await insertNotification(u.id);
    await db.sql(
      `insert into notifications (user_id, type, title, message, created_at)
       select $1, 'SYSTEM', 't' || g, 'm', $2::timestamptz + g * interval '1 second' from generate_series(1, 101) g`,
      [u.id, new Date(clock).toISOString()],
    );
    const client = await live(u, { since: anchor });
    expect(await client.received(2)).toEqual([
      { type: 'resync', reason: 'too_many' },
      { type: 'unreadCount', count: 102 },
    ]);
  });

  it('a push that arrives while the backlog is being read is buffered, sent once, in order, after it', async () => {
    const u = await signUp(db);
    const hub = hubOf(u);
    const secret = 'S'.repeat(43);
    await hub.issueTicket(u.id, await sha256Hex(secret));
    const res = await hub.fetch('https://notification-hub/connect', { headers: { Upgrade: 'websocket', 'X-Ticket-Hash': await sha256Hex(secret), 'X-Max-Sockets': '5' } });
    expect(res.status).toBe(101);
    const client = new Client(res.webSocket!);
    open.push(client);
    const socketId = res.headers.get('X-Socket-Id')!;
    const t = Date.now();
    const note = (id: string) => ({ id, type: 'SYSTEM', title: id, message: 'm', createdAt: new Date(t).toISOString(), read: false });

    // Committed while the backlog was read: in both the backlog and the buffer. Committed after: only buffered.
    await hub.push({ notification: note('both'), unread: { count: 2, at: t + 1 } });
    await hub.push({ notification: note('later'), unread: { count: 3, at: t + 2 } });
    expect(await client.settle(50)).toEqual([]);
    await hub.catchUp(socketId, [{ type: 'notification', notification: note('old') }, { type: 'notification', notification: note('both') }], { count: 1, at: t });
    const messages = await client.received(4);
    expect(notificationIds(messages)).toEqual(['old', 'both', 'later']);
    expect(messages[3]).toEqual({ type: 'unreadCount', count: 3 });

    // A push of a resumed id that was still in flight is not sent again; an older count is not sent at all.
    await hub.push({ notification: { ...note('both'), id: 'both' }, unread: { count: 1, at: t } });
    await hub.push({ notification: note('new'), unread: { count: 4, at: t + 3 } });
    const after = await client.received(6);
    expect(after.slice(4)).toEqual([
      { type: 'notification', notification: note('new') },
      { type: 'unreadCount', count: 4 },
    ]);
    expect(await client.settle()).toHaveLength(6);
  });
});

// ───────────────────────────── unread count over REST ─────────────────────────────

describe('unread count after REST changes', () => {
  it('mark-read, mark-unread, mark-all-read and deleting an unread one push the new count (through the queue)', async () => {
    const u = await signUp(db);
    const a = await insertNotification(u.id);
    const b = await insertNotification(u.id);
    const c = await insertNotification(u.id);
    const client = await live(u);
    expect(await client.received(1)).toEqual([{ type: 'unreadCount', count: 3 }]);
    const post = (path: string, json?: unknown) => call(env(), `/api/v1/notifications${path}`, { method: 'POST', token: u.token, json });

    expect((await post('/mark-read', { ids: [a] })).status).toBe(200);
    expect(await client.settle()).toHaveLength(1); // not from the request
    expect(db.events.names()).toContain('notification.unread_changed');
    await db.events.drain();
    expect((await client.received(2))[1]).toEqual({ type: 'unreadCount', count: 2 });

    await post('/mark-unread', { ids: [a] });
    await db.events.drain();
    expect((await client.received(3))[2]).toEqual({ type: 'unreadCount', count: 3 });

    expect((await call(env(), `/api/v1/notifications/${b}`, { method: 'DELETE', token: u.token })).status).toBe(200);
    await db.events.drain();
    expect((await client.received(4))[3]).toEqual({ type: 'unreadCount', count: 2 });

    await post('/mark-all-read');
    await db.events.drain();
    expect((await client.received(5))[4]).toEqual({ type: 'unreadCount', count: 0 });

    // Nothing changed (already read): no event, no push.
    const events = db.events.names().length;
    await post('/mark-read', { ids: [c] });
    await post('/mark-all-read');
    await db.events.drain();
    expect(db.events.names().length).toBe(events);
    expect(await client.settle()).toHaveLength(5);
  });
});

// ───────────────────────────── heartbeat, pings, hibernation ─────────────────────────────

describe('heartbeat, pings and hibernation', () => {
  it('answers pings (exact text without waking the object, and plain "ping") and sends heartbeats', async () => {
    const u = await signUp(db);
    const client = await live(u);
    await client.received(1);
    client.ws.send(PING);
    expect((await client.received(2))[1]).toEqual(JSON.parse(PONG));
    client.ws.send('ping');
    expect((await client.received(3))[2]).toEqual({ type: 'pong' });
    client.ws.send('{"type":"something else"}');
    expect(await runDurableObjectAlarm(hubOf(u))).toBe(true);
    const [, , , beat] = await client.received(4);
    expect(beat).toMatchObject({ type: 'heartbeat' });
    // The heartbeat re-arms itself while a socket is open.
    expect(await runInDurableObject(hubOf(u), (_i, state) => state.storage.getAlarm())).toBeGreaterThan(Date.now());
  });

  it('delivery survives hibernation: a fresh instance finds the sockets and their state in the runtime, not in memory', async () => {
    const { owner, profileId } = await publicProfile();
    const fan = await signUp(db, { firstName: 'Late', lastName: 'Fan' });
    const client = await live(owner);
    await client.received(1);
    await evictDurableObject(hubOf(owner)); // sockets hibernate, the instance is torn down
    await star(fan, profileId);
    await db.events.drain();
    const [, note, count] = await client.received(3);
    expect(note).toMatchObject({ type: 'notification', notification: { message: 'Late Fan starred your profile.' } });
    expect(count).toEqual({ type: 'unreadCount', count: 1 });
    await evictDurableObject(hubOf(owner));
    client.ws.send(PING);
    expect((await client.received(4))[3]).toEqual({ type: 'pong' });
  });

  it('a socket whose resume never completed is closed by the alarm (4002); an idle hub keeps no socket state', async () => {
    const u = await signUp(db);
    const hub = hubOf(u);
    const secret = 'T'.repeat(43);
    await hub.issueTicket(u.id, await sha256Hex(secret));
    const res = await hub.fetch('https://notification-hub/connect', { headers: { Upgrade: 'websocket', 'X-Ticket-Hash': await sha256Hex(secret) } });
    const client = new Client(res.webSocket!);
    open.push(client);
    await hub.push({ unread: { count: 1, at: Date.now() } }); // buffered for the socket
    await runInDurableObject(hub, (_i, state) => {
      for (const ws of state.getWebSockets()) {
        const s = ws.deserializeAttachment() as { connectedAt: number };
        ws.serializeAttachment({ ...s, connectedAt: Date.now() - STREAM_POLICY.catchUpTimeoutMs - 1 });
      }
    });
    await runDurableObjectAlarm(hub);
    expect((await client.closed).code).toBe(STREAM_CLOSE.catchUpFailed);
    const keys = await runInDurableObject(hub, (_i, state) => [...state.storage.kv.list()].map(([k]) => k).sort());
    expect(keys.filter((k) => k.startsWith('pending:') || k.startsWith('seen:') || k === 'unread')).toEqual([]);
  });
});

describe('ending streams', () => {
  it('a socket is closed at its maximum age (4003), so the client must show a session again for a new ticket', async () => {
    const u = await signUp(db);
    const old = await live(u);
    const fresh = await live(u);
    await old.received(1);
    await fresh.received(1);
    const hub = hubOf(u);
    await runInDurableObject(hub, (_i, state) => {
      const sockets = state.getWebSockets().map((ws) => ({ ws, s: ws.deserializeAttachment() as { seq: number; connectedAt: number } }));
      const first = sockets.sort((a, b) => a.s.seq - b.s.seq)[0]!;
      first.ws.serializeAttachment({ ...first.s, connectedAt: Date.now() - STREAM_POLICY.maxSocketAgeMs - 1 });
    });
    await runDurableObjectAlarm(hub);
    expect((await old.closed).code).toBe(STREAM_CLOSE.reauthenticate);
    // The younger socket gets its heartbeat and stays open.
    expect((await fresh.received(2))[1]).toMatchObject({ type: 'heartbeat' });
  });

  it('deleting the account closes its open streams (4004) and voids its unspent tickets', async () => {
    const u = await signUp(db);
    const client = await live(u);
    await client.received(1);
    const unspent = await ticketFor(u);
    const { body, headers } = await signedClerkWebhook(db.env.CLERK_WEBHOOK_SECRET as string, 'user.deleted', { id: u.id, object: 'user', deleted: true });
    expect((await call(env(), '/webhooks/v1/clerk', { method: 'POST', raw: body, headers })).status).toBe(200);
    await db.events.drain();
    expect((await client.closed).code).toBe(STREAM_CLOSE.accountClosed);
    expect((await connect(unspent)).status).toBe(401);
    const keys = await runInDurableObject(hubOf(u), (_i, state) => [...state.storage.kv.list()].map(([k]) => k));
    expect(keys.filter((k) => k !== 'owner' && k !== 'seq')).toEqual([]);
  });

  it('a hub that cannot be reached fails the handler, so the deletion is delivered again', async () => {
    const u = await signUp(db);
    const { body, headers } = await signedClerkWebhook(db.env.CLERK_WEBHOOK_SECRET as string, 'user.deleted', { id: u.id, object: 'user', deleted: true });
    expect((await call(env(), '/webhooks/v1/clerk', { method: 'POST', raw: body, headers })).status).toBe(200);
    const event = db.events.messages.find((m) => m.name === 'user.deleted' && (m.payload as { userId: string }).userId === u.id)!;
    const unreachable = { idFromName: () => ({}), get: () => ({ closeAll: () => Promise.reject(new Error('hub unreachable')) }) };
    const queue = new CapturedQueue(() => withEnv({ NOTIFICATION_HUB: unreachable }));
    queue.messages.push(event);
    const result = await queue.drain();
    expect(result.acked).toBe(0);
    expect(result.retried).toHaveLength(1);
    // Delivered again with the hub back, it completes.
    const retry = new CapturedQueue(env);
    retry.messages.push(event);
    expect(await retry.drain()).toEqual({ acked: 1, retried: [] });
  });
});

describe('OpenAPI', () => {
  it('documents the ticket route and the stream as a 101 upgrade with its messages', async () => {
    const r = await call(env(), '/openapi.json');
    const ticket = r.body.paths['/api/v1/notifications/stream-ticket'].post;
    expect(ticket.responses['201']).toBeTruthy();
    const stream = r.body.paths['/api/v1/notifications/stream'].get;
    expect(Object.keys(stream.responses).sort()).toEqual(['101', '400', '401', '403', '426', '503']);
    for (const message of ['"notification"', '"unreadCount"', '"resync"', '"heartbeat"', '"pong"']) expect(stream.description).toContain(message);
    expect(stream.parameters.map((p: { name: string }) => p.name).sort()).toEqual(['since', 'ticket']);
  });
});
