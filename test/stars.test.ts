import { describe, expect, it } from 'vitest';
import type { Env } from '../src/config';
import { useTestDatabase } from './helpers/db';
import { call } from './helpers/http';
import { signUp, type TestUser } from './helpers/users';

const db = useTestDatabase();
const deadRedis = (): Env => ({ ...db.env, UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9' }) as Env;

const star = (user: TestUser | undefined, profileId: string, env: Env = db.env) =>
  call(env, `/api/v1/stars/${profileId}`, { method: 'POST', token: user?.token });
const unstar = (user: TestUser | undefined, profileId: string, env: Env = db.env) =>
  call(env, `/api/v1/stars/${profileId}`, { method: 'DELETE', token: user?.token });

async function publicProfile(profile: Record<string, unknown> = {}) {
  const owner = await signUp(db, { firstName: 'Owner', profile: { is_public: true, ...profile } });
  const { rows } = await db.sql<{ id: string }>(`select id from profiles where user_id = $1`, [owner.id]);
  return { owner, profileId: rows[0]!.id };
}
const starRows = async (profileId: string) => (await db.sql(`select user_id from profile_stars where profile_id = $1`, [profileId])).rows;
const starredEvents = () => db.events.names().filter((n) => n === 'profile.starred').length;

describe('POST /api/v1/stars/:profileId', () => {
  it('stars a profile idempotently and notifies the owner once (STAR notification via the event)', async () => {
    const { owner, profileId } = await publicProfile();
    const fan = await signUp(db, { firstName: 'Fan', lastName: 'One' });
    const before = starredEvents();

    const first = await star(fan, profileId);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ data: { starred: true, count: 1 } });
    const again = await star(fan, profileId);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ data: { starred: true, count: 1 } });

    expect(await starRows(profileId)).toHaveLength(1);
    expect(starredEvents() - before).toBe(1);
    const { rows: outbox } = await db.sql<{ payload: Record<string, string> }>(`select payload from outbox where event_name = 'profile.starred' and payload->>'profileId' = $1`, [profileId]);
    expect(outbox.map((r) => r.payload)).toEqual([{ profileId, ownerId: owner.id, starredBy: fan.id }]);

    await db.events.drain();
    const { rows } = await db.sql<{ type: string; message: string; read_at: Date | null }>(`select type, message, read_at from notifications where user_id = $1 and type = 'STAR'`, [owner.id]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ type: 'STAR', read_at: null });
    expect(rows[0]!.message).toContain('Fan One');
  });

  it('no STAR notification when the owner turned star notifications off in settings', async () => {
    const { owner, profileId } = await publicProfile();
    const off = await call(db.env, '/api/v1/settings', { method: 'PUT', token: owner.token, json: { notifications: { stars: false } } });
    expect(off.status).toBe(200);
    const fan = await signUp(db);
    expect((await star(fan, profileId)).status).toBe(200);
    await db.events.drain();
    expect((await db.sql(`select 1 from notifications where user_id = $1 and type = 'STAR'`, [owner.id])).rows).toHaveLength(0);
  });

  it('star, unstar, star again: the owner is notified once a day per person', async () => {
    const { owner, profileId } = await publicProfile();
    const fan = await signUp(db);
    expect((await star(fan, profileId)).status).toBe(200);
    expect((await unstar(fan, profileId)).status).toBe(200);
    expect((await star(fan, profileId)).status).toBe(200);
    await db.events.drain();
    expect((await db.sql(`select 1 from notifications where user_id = $1 and type = 'STAR'`, [owner.id])).rows).toHaveLength(1);
    const other = await signUp(db);
    expect((await star(other, profileId)).status).toBe(200);
    await db.events.drain();
    expect((await db.sql(`select 1 from notifications where user_id = $1 and type = 'STAR'`, [owner.id])).rows).toHaveLength(2);
  });

  it('5 concurrent stars → exactly one row and one event', async () => {
    const { profileId } = await publicProfile();
    const fan = await signUp(db);
    const before = starredEvents();
    const results = await Promise.all(Array.from({ length: 5 }, () => star(fan, profileId)));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(results.every((r) => r.body.data.starred === true && r.body.data.count === 1)).toBe(true);
    expect(await starRows(profileId)).toHaveLength(1);
    expect(starredEvents() - before).toBe(1);
    const { rows } = await db.sql(`select 1 from outbox where event_name = 'profile.starred' and payload->>'profileId' = $1`, [profileId]);
    expect(rows).toHaveLength(1);
  });

  it('star → unstar → star notifies again only for the new star, never for a repeat', async () => {
    const { profileId } = await publicProfile();
    const fan = await signUp(db);
    const before = starredEvents();
    await star(fan, profileId);
    await star(fan, profileId);
    await unstar(fan, profileId);
    await unstar(fan, profileId);
    expect(starredEvents() - before).toBe(1);
  });

  it('401 without a session, 400 on a malformed id', async () => {
    const { profileId } = await publicProfile();
    const anon = await star(undefined, profileId);
    expect(anon.status).toBe(401);
    expect(anon.body.error.code).toBe('AUTH_REQUIRED');
    const fan = await signUp(db);
    for (const bad of ['not-a-uuid', '1', "1'%20or%201=1"]) {
      const r = await star(fan, bad);
      expect(r.status, bad).toBe(400);
      expect(r.body.error.code).toBe('VALIDATION_ERROR');
    }
  });

  it('404 for an unknown, private or soft-deleted profile; 403 for your own', async () => {
    const fan = await signUp(db);
    expect((await star(fan, crypto.randomUUID())).status).toBe(404);
    const hidden = await publicProfile({ is_public: false });
    const r = await star(fan, hidden.profileId);
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('NOT_FOUND');
    const gone = await publicProfile();
    await db.sql(`update users set deleted_at = now() where id = $1`, [gone.owner.id]);
    expect((await star(fan, gone.profileId)).status).toBe(404);
    const own = await publicProfile();
    const self = await star(own.owner, own.profileId);
    expect(self.status).toBe(403);
    expect(self.body.error.code).toBe('FORBIDDEN');
    for (const p of [hidden.profileId, gone.profileId, own.profileId]) expect(await starRows(p)).toHaveLength(0);
  });

  it('10 star/unstar actions per minute per user, then 429 RATE_LIMITED with Retry-After', async () => {
    const { profileId } = await publicProfile();
    const fan = await signUp(db);
    for (let i = 0; i < 10; i++) {
      const r = i % 2 === 0 ? await star(fan, profileId) : await unstar(fan, profileId);
      expect(r.status, `action ${i + 1}`).toBe(200);
    }
    for (const r of [await star(fan, profileId), await unstar(fan, profileId)]) {
      expect(r.status).toBe(429);
      expect(r.body.error.code).toBe('RATE_LIMITED');
      expect(Number(r.headers.get('Retry-After'))).toBeGreaterThan(0);
    }
    // someone else is not limited
    expect((await star(await signUp(db), profileId)).status).toBe(200);
  });
});

describe('DELETE /api/v1/stars/:profileId', () => {
  it('removes a star idempotently', async () => {
    const { profileId } = await publicProfile();
    const [a, b] = [await signUp(db), await signUp(db)];
    await star(a, profileId);
    await star(b, profileId);
    const r = await unstar(a, profileId);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ data: { starred: false, count: 1 } });
    expect((await unstar(a, profileId)).body).toEqual({ data: { starred: false, count: 1 } });
    expect((await starRows(profileId)).map((x) => x.user_id)).toEqual([b.id]);
  });

  it('401 without a session; 400 malformed; 404 unknown or private (unless it is your star to withdraw)', async () => {
    const { owner, profileId } = await publicProfile();
    expect((await unstar(undefined, profileId)).status).toBe(401);
    const fan = await signUp(db);
    expect((await unstar(fan, 'nope')).status).toBe(400);
    expect((await unstar(fan, crypto.randomUUID())).status).toBe(404);
    await star(fan, profileId);
    await db.sql(`update profiles set is_public = false where user_id = $1`, [owner.id]);
    const stranger = await signUp(db);
    expect((await unstar(stranger, profileId)).status).toBe(404);
    const withdraw = await unstar(fan, profileId);
    expect(withdraw.status).toBe(200);
    expect(withdraw.body.data.starred).toBe(false);
    expect(await starRows(profileId)).toHaveLength(0);
  });
});

describe('GET /api/v1/stars/:profileId', () => {
  it('is public: count and stargazers newest first, no private fields; hasStarred when signed in', async () => {
    const { owner, profileId } = await publicProfile();
    const fans: TestUser[] = [];
    for (const name of ['Ann', 'Ben', 'Cat']) {
      const f = await signUp(db, { firstName: name, lastName: 'Fan' });
      fans.push(f);
      await star(f, profileId);
    }
    await db.sql(`update users set image_url = 'https://img.example/cat.png' where id = $1`, [fans[2]!.id]);
    const anon = await call(db.env, `/api/v1/stars/${profileId}`);
    expect(anon.status).toBe(200);
    expect(anon.body.data.count).toBe(3);
    expect(anon.body.data.hasStarred).toBe(false);
    expect(anon.body.meta).toEqual({ nextCursor: null });
    expect(anon.body.data.stargazers.map((s: { userId: string }) => s.userId)).toEqual([fans[2]!.id, fans[1]!.id, fans[0]!.id]);
    expect(anon.body.data.stargazers[0]).toEqual({ userId: fans[2]!.id, name: 'Cat Fan', avatarUrl: 'https://img.example/cat.png', starredAt: expect.any(String) });
    const raw = JSON.stringify(anon.body);
    for (const u of [owner, ...fans]) expect(raw).not.toContain(u.email);

    expect((await call(db.env, `/api/v1/stars/${profileId}`, { token: fans[0]!.token })).body.data.hasStarred).toBe(true);
    expect((await call(db.env, `/api/v1/stars/${profileId}`, { token: owner.token })).body.data.hasStarred).toBe(false);
  });

  it('cursor pagination walks every stargazer exactly once, ties broken by id', async () => {
    const { profileId } = await publicProfile();
    const fans: TestUser[] = [];
    for (let i = 0; i < 7; i++) fans.push(await signUp(db));
    // Controlled timestamps (microsecond precision, with ties) instead of the API, to pin the ordering.
    const times = ['2026-01-01T00:00:00.000001Z', '2026-01-01T00:00:00.000002Z', '2026-01-01T00:00:00.000002Z', '2026-01-01T00:00:00.000002Z', '2026-01-02T00:00:00Z', '2026-01-03T00:00:00.5Z', '2026-01-03T00:00:00.500001Z'];
    for (const [i, f] of fans.entries()) await db.sql(`insert into profile_stars (profile_id, user_id, created_at) values ($1, $2, $3)`, [profileId, f.id, times[i]]);
    const expected = (
      await db.sql<{ user_id: string }>(`select user_id from profile_stars where profile_id = $1 order by created_at desc, id desc`, [profileId])
    ).rows.map((r) => r.user_id);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor ? `?limit=2&cursor=${encodeURIComponent(cursor)}` : '?limit=2';
      const r = await call(db.env, `/api/v1/stars/${profileId}${q}`);
      expect(r.status).toBe(200);
      expect(r.body.data.count).toBe(7);
      seen.push(...r.body.data.stargazers.map((s: { userId: string }) => s.userId));
      cursor = r.body.meta.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(4);
    expect(seen).toEqual(expected);
  });

  it('400 on a bad cursor, limit or id', async () => {
    const { profileId } = await publicProfile();
    const forged = btoa(JSON.stringify({ at: 'yesterday', id: 'x' }));
    for (const q of ['cursor=%%%', 'cursor=bm90LWpzb24', `cursor=${forged}`, 'limit=0', 'limit=101', 'limit=ten']) {
      const r = await call(db.env, `/api/v1/stars/${profileId}?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error.code).toBe('VALIDATION_ERROR');
    }
    expect((await call(db.env, '/api/v1/stars/123')).status).toBe(400);
  });

  it('a cursor must name an instant PostgreSQL can hold: year 0000 is 400 invalid cursor, year 0001 an empty page', async () => {
    const { profileId } = await publicProfile();
    const cursorAt = (at: string) => btoa(JSON.stringify({ at, id: crypto.randomUUID() })).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
    const r = await call(db.env, `/api/v1/stars/${profileId}?cursor=${cursorAt('0000-01-01T00:00:00Z')}`);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'VALIDATION_ERROR', details: { issues: [{ path: 'cursor', message: 'invalid cursor' }] } });
    const first = await call(db.env, `/api/v1/stars/${profileId}?cursor=${cursorAt('0001-01-01T00:00:00Z')}`);
    expect(first.status).toBe(200);
    expect(first.body.data.stargazers).toEqual([]);
  });

  it('follows the profile’s visibility: private → 404 (owner 200), requireAuth → 401 anonymous, unknown → 404', async () => {
    const hidden = await publicProfile({ is_public: false });
    expect((await call(db.env, `/api/v1/stars/${hidden.profileId}`)).status).toBe(404);
    expect((await call(db.env, `/api/v1/stars/${hidden.profileId}`, { token: (await signUp(db)).token })).status).toBe(404);
    expect((await call(db.env, `/api/v1/stars/${hidden.profileId}`, { token: hidden.owner.token })).status).toBe(200);
    const gated = await publicProfile({ require_auth: true });
    const anon = await call(db.env, `/api/v1/stars/${gated.profileId}`);
    expect(anon.status).toBe(401);
    expect(anon.body.error.code).toBe('AUTH_REQUIRED');
    expect((await call(db.env, `/api/v1/stars/${gated.profileId}`, { token: (await signUp(db)).token })).status).toBe(200);
    expect((await call(db.env, `/api/v1/stars/${crypto.randomUUID()}`)).status).toBe(404);
  });

  it('soft-deleted stargazers are left out of the list and the count', async () => {
    const { profileId } = await publicProfile();
    const [a, b] = [await signUp(db), await signUp(db)];
    await star(a, profileId);
    await star(b, profileId);
    await db.sql(`update users set deleted_at = now() where id = $1`, [a.id]);
    const r = await call(db.env, `/api/v1/stars/${profileId}`);
    expect(r.body.data.count).toBe(1);
    expect(r.body.data.stargazers.map((s: { userId: string }) => s.userId)).toEqual([b.id]);
  });
});

describe('stars and the public profile', () => {
  it('the public profile’s star count and hasStarred are live (never stale from cache)', async () => {
    const { owner, profileId } = await publicProfile();
    const fan = await signUp(db);
    const view = () => call(db.env, `/api/v1/profile/view/${owner.id}`, { token: fan.token });
    expect((await view()).body.data).toMatchObject({ id: profileId, starCount: 0, hasStarred: false });
    await star(fan, profileId);
    expect((await view()).body.data).toMatchObject({ starCount: 1, hasStarred: true });
    await unstar(fan, profileId);
    expect((await view()).body.data).toMatchObject({ starCount: 0, hasStarred: false });
  });
});

describe('Redis unreachable', () => {
  it('star, unstar and list still work (the rate limit fails open)', async () => {
    const env = deadRedis();
    const { profileId } = await publicProfile();
    const fan = await signUp(db);
    const s = await star(fan, profileId, env);
    expect(s.status).toBe(200);
    expect(s.body.data).toEqual({ starred: true, count: 1 });
    const list = await call(env, `/api/v1/stars/${profileId}`, { token: fan.token });
    expect(list.status).toBe(200);
    expect(list.body.data).toMatchObject({ count: 1, hasStarred: true });
    const u = await unstar(fan, profileId, env);
    expect(u.status).toBe(200);
    expect(u.body.data).toEqual({ starred: false, count: 0 });
  });
});

describe('OpenAPI', () => {
  it('documents the star routes', async () => {
    const doc = (await call(db.env, '/openapi.json')).body;
    const path = doc.paths['/api/v1/stars/{profileId}'];
    expect(path.post.security).toEqual([{ clerkSession: [] }]);
    expect(path.delete.security).toEqual([{ clerkSession: [] }]);
    expect(path.post.responses).toHaveProperty('429');
    expect(path.get.parameters.map((p: { name: string }) => p.name).sort()).toEqual(['cursor', 'limit', 'profileId']);
  });
});
