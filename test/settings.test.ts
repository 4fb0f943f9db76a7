import { describe, expect, it } from 'vitest';
import type { Env } from '../src/config';
import { useTestDatabase } from './helpers/db';
import { call } from './helpers/http';
import { signUp } from './helpers/users';

const db = useTestDatabase();

const DEFAULTS = {
  email: { weeklyFeedback: true, productUpdates: true },
  notifications: { stars: true, teamActivity: true, feedbackReminders: true },
  privacy: { showEmailToTeammates: false, searchable: true },
};

async function stored(userId: string): Promise<unknown> {
  const { rows } = await db.sql<{ settings: unknown }>(`select settings from settings where user_id = $1`, [userId]);
  return rows[0]?.settings;
}

const deadRedis = (): Env => ({ ...db.env, UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9' }) as Env;

describe('settings: authentication', () => {
  it('401 AUTH_REQUIRED on every route without a session', async () => {
    for (const [method, path, json] of [
      ['GET', '/api/v1/settings', undefined],
      ['PUT', '/api/v1/settings', { email: { weeklyFeedback: false } }],
      ['POST', '/api/v1/settings/reset', undefined],
    ] as const) {
      const r = await call(db.env, path, { method, json });
      expect(r.status, `${method} ${path}`).toBe(401);
      expect(r.body.error.code).toBe('AUTH_REQUIRED');
    }
  });
});

describe('GET /api/v1/settings', () => {
  it('returns the defaults for a new user', async () => {
    const u = await signUp(db);
    const r = await call(db.env, '/api/v1/settings', { token: u.token });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ data: DEFAULTS });
  });

  it('merges a partial stored document with the defaults and drops unknown or mistyped keys', async () => {
    const u = await signUp(db);
    await db.sql(`update settings set settings = $2 where user_id = $1`, [
      u.id,
      JSON.stringify({
        email: { weeklyFeedback: false, legacy: true },
        privacy: { searchable: 'no' },
        wantToGetFeedbackMail: true,
        notifications: 'off',
      }),
    ]);
    const r = await call(db.env, '/api/v1/settings', { token: u.token });
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual({ ...DEFAULTS, email: { weeklyFeedback: false, productUpdates: true } });
  });

  it('answers the defaults when the settings row is missing', async () => {
    const u = await signUp(db);
    await db.sql(`delete from settings where user_id = $1`, [u.id]);
    const r = await call(db.env, '/api/v1/settings', { token: u.token });
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual(DEFAULTS);
  });

  it('is cached, and the cache is invalidated by PUT and reset', async () => {
    const u = await signUp(db);
    expect((await call(db.env, '/api/v1/settings', { token: u.token })).body.data).toEqual(DEFAULTS);
    // A change behind the service's back is not seen: the answer comes from the cache.
    await db.sql(`update settings set settings = '{"privacy":{"searchable":false}}' where user_id = $1`, [u.id]);
    expect((await call(db.env, '/api/v1/settings', { token: u.token })).body.data.privacy.searchable).toBe(true);

    await call(db.env, '/api/v1/settings', { method: 'PUT', token: u.token, json: { email: { productUpdates: false } } });
    const afterPut = await call(db.env, '/api/v1/settings', { token: u.token });
    expect(afterPut.body.data.email.productUpdates).toBe(false);
    expect(afterPut.body.data.privacy.searchable).toBe(false); // the stored document, merged

    await call(db.env, '/api/v1/settings/reset', { method: 'POST', token: u.token });
    expect((await call(db.env, '/api/v1/settings', { token: u.token })).body.data).toEqual(DEFAULTS);
  });
});

describe('PUT /api/v1/settings', () => {
  it('deep-merges a partial update, stores only what was set and returns the full settings', async () => {
    const u = await signUp(db);
    const first = await call(db.env, '/api/v1/settings', { method: 'PUT', token: u.token, json: { email: { weeklyFeedback: false } } });
    expect(first.status).toBe(200);
    expect(first.body.data).toEqual({ ...DEFAULTS, email: { weeklyFeedback: false, productUpdates: true } });

    const second = await call(db.env, '/api/v1/settings', {
      method: 'PUT',
      token: u.token,
      json: { privacy: { showEmailToTeammates: true }, notifications: { stars: false } },
    });
    expect(second.status).toBe(200);
    expect(second.body.data).toEqual({
      email: { weeklyFeedback: false, productUpdates: true },
      notifications: { stars: false, teamActivity: true, feedbackReminders: true },
      privacy: { showEmailToTeammates: true, searchable: true },
    });
    expect(await stored(u.id)).toEqual({ email: { weeklyFeedback: false }, notifications: { stars: false }, privacy: { showEmailToTeammates: true } });
    expect((await call(db.env, '/api/v1/settings', { token: u.token })).body.data).toEqual(second.body.data);
  });

  it('accepts an empty patch as a no-op', async () => {
    const u = await signUp(db);
    const r = await call(db.env, '/api/v1/settings', { method: 'PUT', token: u.token, json: {} });
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual(DEFAULTS);
  });

  it('creates the settings row when it is missing', async () => {
    const u = await signUp(db);
    await db.sql(`delete from settings where user_id = $1`, [u.id]);
    const r = await call(db.env, '/api/v1/settings', { method: 'PUT', token: u.token, json: { privacy: { searchable: false } } });
    expect(r.status).toBe(200);
    expect(r.body.data.privacy).toEqual({ showEmailToTeammates: false, searchable: false });
    expect(await stored(u.id)).toEqual({ privacy: { searchable: false } });
  });

  it('drops unknown keys already in the stored document when writing', async () => {
    const u = await signUp(db);
    await db.sql(`update settings set settings = '{"wantToGetFeedbackMail":false,"email":{"old":1}}' where user_id = $1`, [u.id]);
    await call(db.env, '/api/v1/settings', { method: 'PUT', token: u.token, json: { email: { productUpdates: false } } });
    expect(await stored(u.id)).toEqual({ email: { productUpdates: false } });
  });

  it('400 VALIDATION_ERROR for unknown keys at any level, non-booleans and bad JSON; nothing changes', async () => {
    const u = await signUp(db);
    const bodies: unknown[] = [
      { theme: 'dark' },
      { email: { weeklyFeedback: false, marketing: true } },
      { privacy: { searchable: 'false' } },
      { notifications: { stars: null } },
      { email: true },
      [],
      'true',
    ];
    for (const json of bodies) {
      const r = await call(db.env, '/api/v1/settings', { method: 'PUT', token: u.token, json });
      expect(r.status, JSON.stringify(json)).toBe(400);
      expect(r.body.error.code).toBe('VALIDATION_ERROR');
    }
    const malformed = await call(db.env, '/api/v1/settings', {
      method: 'PUT',
      token: u.token,
      raw: '{"email":',
      headers: { 'Content-Type': 'application/json' },
    });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('VALIDATION_ERROR');
    expect(await stored(u.id)).toEqual({});
  });

  it("changes only the caller's settings", async () => {
    const a = await signUp(db);
    const b = await signUp(db);
    await call(db.env, '/api/v1/settings', { token: b.token }); // cache b's defaults
    await call(db.env, '/api/v1/settings', { method: 'PUT', token: a.token, json: { email: { weeklyFeedback: false } } });
    expect((await call(db.env, '/api/v1/settings', { token: b.token })).body.data).toEqual(DEFAULTS);
    expect(await stored(b.id)).toEqual({});
  });
});

describe('POST /api/v1/settings/reset', () => {
  it('stores an empty document and returns the defaults', async () => {
    const u = await signUp(db);
    await call(db.env, '/api/v1/settings', { method: 'PUT', token: u.token, json: { email: { weeklyFeedback: false }, privacy: { searchable: false } } });
    const r = await call(db.env, '/api/v1/settings/reset', { method: 'POST', token: u.token });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ data: DEFAULTS });
    expect(await stored(u.id)).toEqual({});
  });

  it('recreates a missing row', async () => {
    const u = await signUp(db);
    await db.sql(`delete from settings where user_id = $1`, [u.id]);
    const r = await call(db.env, '/api/v1/settings/reset', { method: 'POST', token: u.token });
    expect(r.status).toBe(200);
    expect(await stored(u.id)).toEqual({});
  });
});

describe('settings without Redis', () => {
  it('every route answers from the database when Redis is unreachable', async () => {
    const u = await signUp(db);
    const env = deadRedis();
    const put = await call(env, '/api/v1/settings', { method: 'PUT', token: u.token, json: { notifications: { teamActivity: false } } });
    expect(put.status).toBe(200);
    expect(put.body.data.notifications.teamActivity).toBe(false);
    const get = await call(env, '/api/v1/settings', { token: u.token });
    expect(get.status).toBe(200);
    expect(get.body.data.notifications.teamActivity).toBe(false);
    const reset = await call(env, '/api/v1/settings/reset', { method: 'POST', token: u.token });
    expect(reset.status).toBe(200);
    expect((await call(env, '/api/v1/settings', { token: u.token })).body.data).toEqual(DEFAULTS);
  });
});

describe('settings in the OpenAPI document', () => {
  it('documents the routes as authenticated, with the settings schema', async () => {
    const r = await call(db.env, '/openapi.json');
    expect(r.status).toBe(200);
    for (const [path, method] of [['/api/v1/settings', 'get'], ['/api/v1/settings', 'put'], ['/api/v1/settings/reset', 'post'], ['/api/v1/notifications', 'get'], ['/api/v1/notifications/{id}', 'delete']] as const) {
      expect(r.body.paths[path]?.[method]?.security, `${method} ${path}`).toEqual([{ clerkSession: [] }]);
    }
    expect(r.body.components.schemas.Settings.properties.email.properties.weeklyFeedback.type).toBe('boolean');
    expect(r.body.components.schemas.SettingsPatch.additionalProperties).toBe(false);
  });
});

describe('settings changes in the activity log', () => {
  it('an update and a reset are each recorded in the same transaction as the change', async () => {
    const user = await signUp(db);
    await call(db.env, '/api/v1/settings', { method: 'PUT', token: user.token, json: { email: { productUpdates: false } } });
    await call(db.env, '/api/v1/settings/reset', { method: 'POST', token: user.token });
    const bad = await call(db.env, '/api/v1/settings', { method: 'PUT', token: user.token, json: { email: { nope: true } } });
    expect(bad.status).toBe(400);
    const rows = (await db.sql<{ action: string; metadata: unknown }>(`select action, metadata from activity_logs where user_id = $1 order by created_at`, [user.id])).rows;
    expect(rows).toEqual([
      { action: 'settings.updated', metadata: { patch: { email: { productUpdates: false } } } },
      { action: 'settings.reset', metadata: null },
    ]);
  });
});
