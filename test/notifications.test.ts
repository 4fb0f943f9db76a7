import { describe, expect, it } from 'vitest';
import type { Env } from '../src/config';
import { useTestDatabase } from './helpers/db';
import { call } from './helpers/http';
import { signUp, type TestUser } from './helpers/users';

const db = useTestDatabase();

const deadRedis = (): Env => ({ ...db.env, UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9' }) as Env;

let clock = Date.parse('2030-01-01T00:00:00Z');

/** Insert a notification directly (each one a minute newer than the last); returns its id. */
async function notify(userId: string, fields: { type?: string; read?: boolean; title?: string; metadata?: unknown } = {}): Promise<string> {
  clock += 60_000;
  const created = new Date(clock).toISOString();
  const { rows } = await db.sql<{ id: string }>(
    `insert into notifications (user_id, type, title, message, description, action_url, action_label, metadata, read_at, created_at)
     values ($1, $2, $3, 'A message', null, 'https://app.fairarena.test/x', 'Open', $4, $5, $6) returning id`,
    [
      userId,
      fields.type ?? 'SYSTEM',
      fields.title ?? 'A title',
      fields.metadata === undefined ? null : JSON.stringify(fields.metadata),
      fields.read ? created : null,
      created,
    ],
  );
  return rows[0]!.id;
}

async function readAt(id: string): Promise<string | null | undefined> {
  const { rows } = await db.sql<{ read_at: string | null }>(`select read_at from notifications where id = $1`, [id]);
  return rows.length ? rows[0]!.read_at : undefined;
}

const exists = async (id: string) => (await readAt(id)) !== undefined;
const unread = (u: TestUser, env: Env = db.env) => call(env, '/api/v1/notifications/unread-count', { token: u.token });
const post = (u: TestUser, path: string, json?: unknown, env: Env = db.env) =>
  call(env, `/api/v1/notifications${path}`, { method: 'POST', token: u.token, json });

const MISSING = '00000000-0000-4000-8000-000000000000';

describe('notifications: authentication', () => {
  it('401 AUTH_REQUIRED on every route without a session', async () => {
    for (const [method, path, json] of [
      ['GET', '/', undefined],
      ['GET', '/unread-count', undefined],
      ['POST', '/mark-read', { ids: [MISSING] }],
      ['POST', '/mark-unread', { ids: [MISSING] }],
      ['POST', '/mark-all-read', undefined],
      ['DELETE', `/${MISSING}`, undefined],
      ['DELETE', '/', undefined],
    ] as const) {
      const r = await call(db.env, `/api/v1/notifications${path}`, { method, json });
      expect(r.status, `${method} ${path}`).toBe(401);
      expect(r.body.error.code).toBe('AUTH_REQUIRED');
    }
  });
});

describe('GET /api/v1/notifications', () => {
  it('lists the caller’s notifications newest first with meta.total and meta.unreadCount', async () => {
    const u = await signUp(db);
    const other = await signUp(db);
    const first = await notify(u.id, { type: 'SYSTEM', read: true });
    const second = await notify(u.id, { type: 'STAR', metadata: { profileId: 'p1' } });
    const third = await notify(u.id, { type: 'INVITATION' });
    await notify(other.id, { type: 'STAR' });

    const r = await call(db.env, '/api/v1/notifications', { token: u.token });
    expect(r.status).toBe(200);
    expect(r.body.data.map((n: { id: string }) => n.id)).toEqual([third, second, first]);
    expect(r.body.meta).toEqual({ total: 3, limit: 20, offset: 0, unreadCount: 2 });
    expect(r.body.data[1]).toEqual({
      id: second,
      type: 'STAR',
      title: 'A title',
      message: 'A message',
      description: null,
      actionUrl: 'https://app.fairarena.test/x',
      actionLabel: 'Open',
      metadata: { profileId: 'p1' },
      read: false,
      readAt: null,
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/),
    });
    expect(r.body.data[2]).toMatchObject({ id: first, read: true, readAt: expect.stringMatching(/Z$/) });
  });

  it('filters by read and type; total counts the filtered set', async () => {
    const u = await signUp(db);
    const readStar = await notify(u.id, { type: 'STAR', read: true });
    const unreadStar = await notify(u.id, { type: 'STAR' });
    const unreadSystem = await notify(u.id, { type: 'SYSTEM' });

    const ids = (r: { body: { data: { id: string }[] } }) => r.body.data.map((n) => n.id);
    const unreadOnly = await call(db.env, '/api/v1/notifications?read=false', { token: u.token });
    expect(ids(unreadOnly)).toEqual([unreadSystem, unreadStar]);
    expect(unreadOnly.body.meta).toMatchObject({ total: 2, unreadCount: 2 });

    const readOnly = await call(db.env, '/api/v1/notifications?read=true', { token: u.token });
    expect(ids(readOnly)).toEqual([readStar]);
    expect(readOnly.body.meta).toMatchObject({ total: 1, unreadCount: 2 });

    const stars = await call(db.env, '/api/v1/notifications?type=STAR', { token: u.token });
    expect(ids(stars)).toEqual([unreadStar, readStar]);

    const unreadStars = await call(db.env, '/api/v1/notifications?type=STAR&read=false', { token: u.token });
    expect(ids(unreadStars)).toEqual([unreadStar]);
    expect(unreadStars.body.meta.total).toBe(1);

    const none = await call(db.env, '/api/v1/notifications?type=MENTION', { token: u.token });
    expect(none.body).toEqual({ data: [], meta: { total: 0, limit: 20, offset: 0, unreadCount: 2 } });
  });

  it('paginates with limit and offset', async () => {
    const u = await signUp(db);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await notify(u.id));
    const other = await signUp(db);
    await notify(other.id); // someone else's unread notification counts for them only
    const newestFirst = [...ids].reverse();
    const page1 = await call(db.env, '/api/v1/notifications?limit=2', { token: u.token });
    expect(page1.body.data.map((n: { id: string }) => n.id)).toEqual(newestFirst.slice(0, 2));
    expect(page1.body.meta).toEqual({ total: 5, limit: 2, offset: 0, unreadCount: 5 });
    const page3 = await call(db.env, '/api/v1/notifications?limit=2&offset=4', { token: u.token });
    expect(page3.body.data.map((n: { id: string }) => n.id)).toEqual(newestFirst.slice(4));
    expect(page3.body.meta).toMatchObject({ total: 5, limit: 2, offset: 4 });
    const beyond = await call(db.env, '/api/v1/notifications?limit=100&offset=50', { token: u.token });
    expect(beyond.status).toBe(200);
    expect(beyond.body.data).toEqual([]);
    expect(beyond.body.meta).toMatchObject({ total: 5, unreadCount: 5 });
  });

  it('400 VALIDATION_ERROR for out-of-range or malformed query parameters', async () => {
    const u = await signUp(db);
    for (const q of ['limit=0', 'limit=101', 'limit=abc', 'limit=1.5', 'offset=-1', 'offset=x', 'read=yes', 'read=1', 'type=BOGUS', 'type=star']) {
      const r = await call(db.env, `/api/v1/notifications?${q}`, { token: u.token });
      expect(r.status, q).toBe(400);
      expect(r.body.error.code).toBe('VALIDATION_ERROR');
    }
  });
});

describe('GET /api/v1/notifications/unread-count', () => {
  it('counts only the caller’s unread notifications', async () => {
    const u = await signUp(db);
    const other = await signUp(db);
    await notify(u.id);
    await notify(u.id);
    await notify(u.id, { read: true });
    await notify(other.id);
    const r = await unread(u);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ data: { count: 2 } });
  });

  it('is cached and invalidated by every write that changes it', async () => {
    const u = await signUp(db);
    const a = await notify(u.id);
    expect((await unread(u)).body.data.count).toBe(1);
    // Inserted behind the service's back: the cached count does not see it.
    const b = await notify(u.id);
    expect((await unread(u)).body.data.count).toBe(1);

    expect((await post(u, '/mark-read', { ids: [a] })).body.data).toEqual({ updated: 1, unreadCount: 1 });
    expect((await unread(u)).body.data.count).toBe(1);
    await post(u, '/mark-unread', { ids: [a] });
    expect((await unread(u)).body.data.count).toBe(2);
    await post(u, '/mark-all-read');
    expect((await unread(u)).body.data.count).toBe(0);
    await post(u, '/mark-unread', { ids: [b] });
    expect((await unread(u)).body.data.count).toBe(1);
    await call(db.env, `/api/v1/notifications/${b}`, { method: 'DELETE', token: u.token });
    expect((await unread(u)).body.data.count).toBe(0);
  });
});

describe('POST /api/v1/notifications/mark-read', () => {
  it('marks the given notifications read and reports how many changed', async () => {
    const u = await signUp(db);
    const a = await notify(u.id);
    const b = await notify(u.id);
    const c = await notify(u.id, { read: true });
    const keep = await notify(u.id);
    const r = await post(u, '/mark-read', { ids: [a, b, c] });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ data: { updated: 2, unreadCount: 1 } });
    expect(await readAt(a)).not.toBeNull();
    expect(await readAt(b)).not.toBeNull();
    expect(await readAt(keep)).toBeNull();
    const list = await call(db.env, '/api/v1/notifications?read=false', { token: u.token });
    expect(list.body.data.map((n: { id: string }) => n.id)).toEqual([keep]);
  });

  it("404 for another user's notification or an unknown id, and nothing changes", async () => {
    const u = await signUp(db);
    const other = await signUp(db);
    const mine = await notify(u.id);
    const theirs = await notify(other.id);
    const foreign = await post(u, '/mark-read', { ids: [mine, theirs] });
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.code).toBe('NOT_FOUND');
    expect(foreign.body.error.details).toEqual({ ids: [theirs] });
    expect(await readAt(mine)).toBeNull();
    expect(await readAt(theirs)).toBeNull();
    const missing = await post(u, '/mark-read', { ids: [MISSING] });
    expect(missing.status).toBe(404);
    expect((await unread(u)).body.data.count).toBe(1);
  });

  it('400 VALIDATION_ERROR for a missing, empty, duplicated, oversized or malformed id list', async () => {
    const u = await signUp(db);
    const id = await notify(u.id);
    const many = Array.from({ length: 101 }, () => crypto.randomUUID());
    for (const json of [undefined, {}, { ids: [] }, { ids: [id, id] }, { ids: ['not-a-uuid'] }, { ids: id }, { ids: many }, { ids: [id], extra: 1 }]) {
      const r = await post(u, '/mark-read', json);
      if (json && 'extra' in json) {
        // Unknown body keys are ignored (only ids matters), so this one succeeds.
        expect(r.status).toBe(200);
        continue;
      }
      expect(r.status, JSON.stringify(json)).toBe(400);
      expect(r.body.error.code).toBe('VALIDATION_ERROR');
    }
  });
});

describe('POST /api/v1/notifications/mark-unread', () => {
  it('marks the given notifications unread', async () => {
    const u = await signUp(db);
    const a = await notify(u.id, { read: true });
    const b = await notify(u.id);
    const r = await post(u, '/mark-unread', { ids: [a, b] });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ data: { updated: 1, unreadCount: 2 } });
    expect(await readAt(a)).toBeNull();
  });

  it("404 for another user's notification, and nothing changes", async () => {
    const u = await signUp(db);
    const other = await signUp(db);
    const mine = await notify(u.id, { read: true });
    const theirs = await notify(other.id, { read: true });
    const r = await post(u, '/mark-unread', { ids: [mine, theirs] });
    expect(r.status).toBe(404);
    expect(await readAt(mine)).not.toBeNull();
    expect(await readAt(theirs)).not.toBeNull();
  });

  it('400 VALIDATION_ERROR for a malformed id list', async () => {
    const u = await signUp(db);
    const r = await post(u, '/mark-unread', { ids: [123] });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('VALIDATION_ERROR');
  });
});

describe('POST /api/v1/notifications/mark-all-read', () => {
  it('marks all the caller’s unread notifications read, and no one else’s', async () => {
    const u = await signUp(db);
    const other = await signUp(db);
    await notify(u.id);
    await notify(u.id);
    await notify(u.id, { read: true });
    const theirs = await notify(other.id);
    const r = await post(u, '/mark-all-read');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ data: { updated: 2, unreadCount: 0 } });
    expect(await readAt(theirs)).toBeNull();
    expect((await post(u, '/mark-all-read')).body.data).toEqual({ updated: 0, unreadCount: 0 });
  });
});

describe('DELETE /api/v1/notifications/:id', () => {
  it('deletes one of the caller’s notifications', async () => {
    const u = await signUp(db);
    const id = await notify(u.id);
    const r = await call(db.env, `/api/v1/notifications/${id}`, { method: 'DELETE', token: u.token });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ data: { deleted: true } });
    expect(await exists(id)).toBe(false);
    const again = await call(db.env, `/api/v1/notifications/${id}`, { method: 'DELETE', token: u.token });
    expect(again.status).toBe(404);
  });

  it("404 for another user's notification, which stays", async () => {
    const u = await signUp(db);
    const other = await signUp(db);
    const theirs = await notify(other.id);
    const r = await call(db.env, `/api/v1/notifications/${theirs}`, { method: 'DELETE', token: u.token });
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('NOT_FOUND');
    expect(await exists(theirs)).toBe(true);
  });

  it('400 VALIDATION_ERROR for an id that is not a uuid', async () => {
    const u = await signUp(db);
    const r = await call(db.env, '/api/v1/notifications/not-a-uuid', { method: 'DELETE', token: u.token });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('VALIDATION_ERROR');
  });
});

describe('DELETE /api/v1/notifications', () => {
  it('deletes the caller’s read notifications only', async () => {
    const u = await signUp(db);
    const other = await signUp(db);
    const read1 = await notify(u.id, { read: true });
    const read2 = await notify(u.id, { read: true });
    const kept = await notify(u.id);
    const theirs = await notify(other.id, { read: true });
    const r = await call(db.env, '/api/v1/notifications', { method: 'DELETE', token: u.token });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ data: { deleted: 2 } });
    expect(await exists(read1)).toBe(false);
    expect(await exists(read2)).toBe(false);
    expect(await exists(kept)).toBe(true);
    expect(await exists(theirs)).toBe(true);
    expect((await call(db.env, '/api/v1/notifications', { method: 'DELETE', token: u.token })).body).toEqual({ data: { deleted: 0 } });
  });
});

describe('notifications created by queue handlers', () => {
  it('keep the type the handler chose (not SYSTEM) and invalidate the unread count', async () => {
    const starrer = await signUp(db, { firstName: 'Ada', lastName: 'Lovelace' });
    const owner = await signUp(db);
    const { rows } = await db.sql<{ id: string }>(`select id from profiles where user_id = $1`, [owner.id]);
    expect((await unread(owner)).body.data.count).toBe(0); // now cached
    await db.events.send({
      id: crypto.randomUUID(),
      name: 'profile.starred',
      payload: { profileId: rows[0]!.id, ownerId: owner.id, starredBy: starrer.id },
      emittedAt: new Date().toISOString(),
    });
    await db.events.drain();
    expect((await unread(owner)).body.data.count).toBe(1);
    const list = await call(db.env, '/api/v1/notifications', { token: owner.token });
    expect(list.body.data).toHaveLength(1);
    expect(list.body.data[0]).toMatchObject({ type: 'STAR', read: false, message: 'Ada Lovelace starred your profile.' });
  });
});

describe('notifications without Redis', () => {
  it('every route answers from the database when Redis is unreachable', async () => {
    const u = await signUp(db);
    const env = deadRedis();
    const a = await notify(u.id);
    const b = await notify(u.id);
    expect((await unread(u, env)).body).toEqual({ data: { count: 2 } });
    const c = await notify(u.id, { read: true }); // read: does not change the count
    expect((await unread(u, env)).body.data.count).toBe(2);
    await db.sql(`update notifications set read_at = null where id = $1`, [c]); // no cache: seen at once
    expect((await unread(u, env)).body.data.count).toBe(3);
    await db.sql(`update notifications set read_at = now() where id = $1`, [c]);
    const list = await call(env, '/api/v1/notifications', { token: u.token });
    expect(list.status).toBe(200);
    expect(list.body.meta).toEqual({ total: 3, limit: 20, offset: 0, unreadCount: 2 });
    expect((await post(u, '/mark-read', { ids: [a] }, env)).body.data).toEqual({ updated: 1, unreadCount: 1 });
    expect((await unread(u, env)).body.data.count).toBe(1);
    expect((await post(u, '/mark-unread', { ids: [a] }, env)).body.data).toEqual({ updated: 1, unreadCount: 2 });
    expect((await post(u, '/mark-all-read', undefined, env)).body.data).toEqual({ updated: 2, unreadCount: 0 });
    expect((await call(env, `/api/v1/notifications/${a}`, { method: 'DELETE', token: u.token })).status).toBe(200);
    expect((await call(env, '/api/v1/notifications', { method: 'DELETE', token: u.token })).body).toEqual({ data: { deleted: 2 } });
    expect(await exists(b)).toBe(false);
    expect(await exists(c)).toBe(false);
    expect((await unread(u, env)).body.data.count).toBe(0);
  });
});
