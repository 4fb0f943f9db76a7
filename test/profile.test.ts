import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Env } from '../src/config';
import { sessionToken } from './helpers/clerk';
import { useTestDatabase } from './helpers/db';
import { fakeFetch } from './helpers/fake-fetch';
import { call } from './helpers/http';
import { signUp } from './helpers/users';

const db = useTestDatabase();
const deadRedis = (): Env => ({ ...db.env, UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9' }) as Env;

const put = (token: string | undefined, json: unknown, env: Env = db.env) => call(env, '/api/v1/profile', { method: 'PUT', token, json });
const profileId = async (userId: string) => (await db.sql<{ id: string }>(`select id from profiles where user_id = $1`, [userId])).rows[0]!.id;
const viewRows = async (userId: string) =>
  (await db.sql<{ viewer_user_id: string }>(`select v.viewer_user_id from profile_views v join profiles p on p.id = v.profile_id where p.user_id = $1`, [userId])).rows;

/** Private data of an owner that must never appear in a public payload. */
async function ownerWithSecrets(profile: Record<string, unknown> = {}) {
  const owner = await signUp(db, { firstName: 'Ada', lastName: 'Lovelace', profile: { is_public: true, ...profile } });
  const phone = `+9198${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;
  await db.sql(`update users set phone_number = $2, phone_verified_at = now(), image_url = 'https://img.example/ada.png' where id = $1`, [owner.id, phone]);
  await db.sql(`update profiles set date_of_birth = '1990-12-10', gender = 'FEMALE', bio = 'Analyst' where user_id = $1`, [owner.id]);
  return { ...owner, phone };
}

describe('GET /api/v1/profile', () => {
  it('401 AUTH_REQUIRED without a session or with an expired one', async () => {
    const none = await call(db.env, '/api/v1/profile');
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('AUTH_REQUIRED');
    const user = await signUp(db);
    const expired = await call(db.env, '/api/v1/profile', { token: await sessionToken(user.id, { expiresIn: -60 }) });
    expect(expired.status).toBe(401);
  });

  it('returns the caller’s full profile, private fields included', async () => {
    const owner = await ownerWithSecrets();
    const r = await call(db.env, '/api/v1/profile', { token: owner.token });
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({
      id: await profileId(owner.id),
      userId: owner.id,
      email: owner.email,
      firstName: 'Ada',
      lastName: 'Lovelace',
      avatarUrl: 'https://img.example/ada.png',
      phoneNumber: owner.phone,
      phoneVerified: true,
      dateOfBirth: '1990-12-10',
      gender: 'FEMALE',
      bio: 'Analyst',
      skills: [],
      isPublic: true,
      requireAuth: false,
      trackViews: false,
    });
  });

  it('creates a missing profile row without touching the user', async () => {
    const user = await signUp(db);
    await db.sql(`delete from profiles where user_id = $1`, [user.id]);
    const r = await call(db.env, '/api/v1/profile', { token: user.token });
    expect(r.status).toBe(200);
    expect(r.body.data.email).toBe(user.email);
    const { rows } = await db.sql<{ email: string }>(`select email from users where id = $1`, [user.id]);
    expect(rows[0]!.email).toBe(user.email);
  });

  it('is served from cache, and a PUT invalidates it', async () => {
    const user = await signUp(db);
    expect((await call(db.env, '/api/v1/profile', { token: user.token })).body.data.bio).toBe('');
    // A change behind the API's back is not seen while cached …
    await db.sql(`update profiles set bio = 'changed in SQL' where user_id = $1`, [user.id]);
    expect((await call(db.env, '/api/v1/profile', { token: user.token })).body.data.bio).toBe('');
    // … and a write through the API invalidates the entry.
    expect((await put(user.token, { jobTitle: 'Engineer' })).status).toBe(200);
    const after = await call(db.env, '/api/v1/profile', { token: user.token });
    expect(after.body.data).toMatchObject({ bio: 'changed in SQL', jobTitle: 'Engineer' });
  });
});

describe('PUT /api/v1/profile', () => {
  it('updates synchronously and returns the updated profile', async () => {
    const user = await signUp(db);
    const r = await put(user.token, {
      firstName: '  Grace ',
      lastName: 'Hopper',
      bio: 'Compilers',
      gender: 'FEMALE',
      dateOfBirth: '1990-01-31',
      location: 'Arlington',
      jobTitle: 'Rear Admiral',
      company: 'US Navy',
      yearsOfExperience: 40,
      skills: ['COBOL', 'COBOL', 'FLOW-MATIC'],
      languages: ['English'],
      githubUsername: 'grace-hopper',
      twitterHandle: '@grace',
      linkedinProfile: 'https://www.linkedin.com/in/grace',
      portfolioUrl: 'https://grace.example.com',
      isPublic: true,
    });
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({
      firstName: 'Grace',
      lastName: 'Hopper',
      bio: 'Compilers',
      gender: 'FEMALE',
      dateOfBirth: '1990-01-31',
      yearsOfExperience: 40,
      skills: ['COBOL', 'FLOW-MATIC'],
      twitterHandle: 'grace',
      linkedinProfile: 'https://www.linkedin.com/in/grace',
      isPublic: true,
      email: user.email,
    });
    const { rows } = await db.sql<{ first_name: string }>(`select first_name from users where id = $1`, [user.id]);
    expect(rows[0]!.first_name).toBe('Grace');
    const logs = await db.sql<{ action: string; metadata: { fields: string[] } }>(`select action, metadata from activity_logs where user_id = $1`, [user.id]);
    expect(logs.rows).toHaveLength(1);
    expect(logs.rows[0]!.action).toBe('profile.updated');
    expect(logs.rows[0]!.metadata.fields).toContain('skills');
    expect((await call(db.env, '/api/v1/profile', { token: user.token })).body.data.jobTitle).toBe('Rear Admiral');
  });

  it('is partial: absent keys are kept, null and "" clear', async () => {
    const user = await signUp(db);
    await put(user.token, { bio: 'Hello', company: 'Acme', skills: ['Go'], portfolioUrl: 'https://me.example.com', yearsOfExperience: 3 });
    const r = await put(user.token, { company: '', skills: null, portfolioUrl: '', bio: null });
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({ bio: '', company: null, skills: [], portfolioUrl: null, yearsOfExperience: 3 });
  });

  it('400 VALIDATION_ERROR on invalid fields, unknown keys and malformed JSON', async () => {
    const user = await signUp(db);
    const tooOld = `${new Date().getUTCFullYear() - 130}-01-01`;
    const cases: [unknown, string][] = [
      [{ email: 'me@evil.test' }, ''],
      [{ phoneNumber: '+15550000000' }, ''],
      [{ bio: 'x'.repeat(501) }, 'bio'],
      [{ firstName: '   ' }, 'firstName'],
      [{ firstName: null }, 'firstName'],
      [{ location: 'x'.repeat(201) }, 'location'],
      [{ yearsOfExperience: 101 }, 'yearsOfExperience'],
      [{ yearsOfExperience: 2.5 }, 'yearsOfExperience'],
      [{ gender: 'ROBOT' }, 'gender'],
      [{ dateOfBirth: '2999-01-01' }, 'dateOfBirth'],
      [{ dateOfBirth: tooOld }, 'dateOfBirth'],
      [{ dateOfBirth: '2001-02-29' }, 'dateOfBirth'],
      [{ dateOfBirth: '01/02/1990' }, 'dateOfBirth'],
      [{ linkedinProfile: 'javascript:alert(1)' }, 'linkedinProfile'],
      [{ resumeUrl: 'not a url' }, 'resumeUrl'],
      [{ portfolioUrl: `https://example.com/${'x'.repeat(500)}` }, 'portfolioUrl'],
      [{ skills: Array.from({ length: 101 }, (_, i) => `s${i}`) }, 'skills'],
      [{ skills: ['x'.repeat(101)] }, 'skills.0'],
      [{ experiences: ['  '] }, 'experiences.0'],
      [{ languages: 'English' }, 'languages'],
      [{ githubUsername: '../../admin' }, 'githubUsername'],
      [{ isPublic: 'yes' }, 'isPublic'],
    ];
    for (const [json, path] of cases) {
      const r = await put(user.token, json);
      expect(r.status, JSON.stringify(json).slice(0, 80)).toBe(400);
      expect(r.body.error.code).toBe('VALIDATION_ERROR');
      expect(r.body.error.details.issues[0].path).toBe(path);
    }
    const malformed = await call(db.env, '/api/v1/profile', { method: 'PUT', token: user.token, raw: '{"bio":', headers: { 'Content-Type': 'application/json' } });
    expect(malformed.status).toBe(400);
    // Nothing was written by any refused request.
    const { rows } = await db.sql(`select 1 from activity_logs where user_id = $1`, [user.id]);
    expect(rows).toHaveLength(0);
  });

  it('401 without a session (before validating the body)', async () => {
    const r = await put(undefined, { bio: 'x'.repeat(1000) });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('AUTH_REQUIRED');
  });

  it('couples trackViews to requireAuth', async () => {
    const user = await signUp(db);
    const contradictory = await put(user.token, { requireAuth: false, trackViews: true });
    expect(contradictory.status).toBe(400);
    expect(contradictory.body.error.details.issues[0].path).toBe('trackViews');
    // stored requireAuth is false: asking for tracking alone is refused too
    expect((await put(user.token, { trackViews: true })).status).toBe(400);
    const on = await put(user.token, { requireAuth: true, trackViews: true });
    expect(on.body.data).toMatchObject({ requireAuth: true, trackViews: true });
    const off = await put(user.token, { requireAuth: false });
    expect(off.body.data).toMatchObject({ requireAuth: false, trackViews: false });
  });
});

describe('GET /api/v1/profile/view/:userId', () => {
  it('shows a public profile to anyone, with public fields only', async () => {
    const owner = await ownerWithSecrets();
    await put(owner.token, { skills: ['Math'], portfolioUrl: 'https://ada.example.com' });
    const r = await call(db.env, `/api/v1/profile/view/${owner.id}`);
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({
      id: await profileId(owner.id),
      userId: owner.id,
      firstName: 'Ada',
      avatarUrl: 'https://img.example/ada.png',
      bio: 'Analyst',
      skills: ['Math'],
      portfolioUrl: 'https://ada.example.com',
      starCount: 0,
      hasStarred: false,
      isOwner: false,
    });
    for (const field of ['email', 'phoneNumber', 'phoneVerified', 'dateOfBirth', 'gender', 'updatedAt']) expect(r.body.data).not.toHaveProperty(field);
    const raw = JSON.stringify(r.body);
    for (const secret of [owner.email, owner.phone.slice(1), '1990-12-10', 'FEMALE']) expect(raw).not.toContain(secret);
    // a signed-in stranger sees the same (and still no private field)
    const stranger = await signUp(db);
    const signedIn = await call(db.env, `/api/v1/profile/view/${owner.id}`, { token: stranger.token });
    expect(signedIn.status).toBe(200);
    expect(JSON.stringify(signedIn.body)).not.toContain(owner.email);
    expect(JSON.stringify(signedIn.body)).not.toContain(stranger.email);
  });

  it('a private profile is 404 to everyone but its owner', async () => {
    const owner = await signUp(db, { profile: { is_public: false } });
    const stranger = await signUp(db);
    for (const token of [undefined, stranger.token]) {
      const r = await call(db.env, `/api/v1/profile/view/${owner.id}`, { token });
      expect(r.status).toBe(404);
      expect(r.body.error.code).toBe('NOT_FOUND');
    }
    const mine = await call(db.env, `/api/v1/profile/view/${owner.id}`, { token: owner.token });
    expect(mine.status).toBe(200);
    expect(mine.body.data).toMatchObject({ isOwner: true, isPublic: false });
    expect(mine.body.data).not.toHaveProperty('email');
  });

  it('requireAuth: anonymous → 401, signed in → 200; a private requireAuth profile stays 404', async () => {
    const owner = await signUp(db, { profile: { is_public: true, require_auth: true } });
    const anon = await call(db.env, `/api/v1/profile/view/${owner.id}`);
    expect(anon.status).toBe(401);
    expect(anon.body.error.code).toBe('AUTH_REQUIRED');
    const viewer = await signUp(db);
    expect((await call(db.env, `/api/v1/profile/view/${owner.id}`, { token: viewer.token })).status).toBe(200);
    const hidden = await signUp(db, { profile: { is_public: false, require_auth: true } });
    expect((await call(db.env, `/api/v1/profile/view/${hidden.id}`)).status).toBe(404);
  });

  it('404 for unknown and soft-deleted users; 400 for a malformed id', async () => {
    expect((await call(db.env, '/api/v1/profile/view/user_doesnotexist')).status).toBe(404);
    const gone = await signUp(db, { profile: { is_public: true } });
    await db.sql(`update users set deleted_at = now() where id = $1`, [gone.id]);
    const deleted = await call(db.env, `/api/v1/profile/view/${gone.id}`, { token: gone.token });
    expect(deleted.status).toBe(404);
    for (const bad of ['bad%20id', 'x'.repeat(256), 'user_%3Cscript%3E']) {
      const r = await call(db.env, `/api/v1/profile/view/${bad}`);
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('VALIDATION_ERROR');
    }
  });

  it('reflects profile updates at once (public cache invalidated), including going private', async () => {
    const owner = await signUp(db, { profile: { is_public: true } });
    expect((await call(db.env, `/api/v1/profile/view/${owner.id}`)).body.data.bio).toBe('');
    await put(owner.token, { bio: 'New bio', firstName: 'Renamed' });
    const r = await call(db.env, `/api/v1/profile/view/${owner.id}`);
    expect(r.body.data).toMatchObject({ bio: 'New bio', firstName: 'Renamed' });
    await put(owner.token, { isPublic: false });
    expect((await call(db.env, `/api/v1/profile/view/${owner.id}`)).status).toBe(404);
  });

  it('serves the public part from cache until a write invalidates it; private profiles are never cached', async () => {
    const owner = await signUp(db, { profile: { is_public: true } });
    expect((await call(db.env, `/api/v1/profile/view/${owner.id}`)).body.data.location).toBeNull();
    await db.sql(`update profiles set location = 'Set in SQL' where user_id = $1`, [owner.id]);
    expect((await call(db.env, `/api/v1/profile/view/${owner.id}`)).body.data.location).toBeNull();
    await put(owner.token, { jobTitle: 'Dev' });
    expect((await call(db.env, `/api/v1/profile/view/${owner.id}`)).body.data).toMatchObject({ location: 'Set in SQL', jobTitle: 'Dev' });

    const hidden = await signUp(db, { profile: { is_public: false } });
    expect((await call(db.env, `/api/v1/profile/view/${hidden.id}`, { token: hidden.token })).status).toBe(200); // the owner's look
    await db.sql(`update profiles set is_public = true where user_id = $1`, [hidden.id]);
    expect((await call(db.env, `/api/v1/profile/view/${hidden.id}`)).status).toBe(200);
  });

  it('records a view once per viewer per day, only when tracking, never the owner', async () => {
    const owner = await signUp(db, { profile: { is_public: true, require_auth: true, track_views: true } });
    const viewer = await signUp(db);
    await call(db.env, `/api/v1/profile/view/${owner.id}`, { token: viewer.token });
    await call(db.env, `/api/v1/profile/view/${owner.id}`, { token: viewer.token });
    await call(db.env, `/api/v1/profile/view/${owner.id}`, { token: owner.token });
    expect((await viewRows(owner.id)).map((r) => r.viewer_user_id)).toEqual([viewer.id]);

    const untracked = await signUp(db, { profile: { is_public: true, require_auth: true, track_views: false } });
    await call(db.env, `/api/v1/profile/view/${untracked.id}`, { token: viewer.token });
    expect(await viewRows(untracked.id)).toHaveLength(0);
  });

  it('another site cannot record its visitors as viewers by opening a profile in their browser', async () => {
    const owner = await signUp(db, { profile: { is_public: true, require_auth: true, track_views: true } });
    const visitor = await signUp(db);
    const cookie = `__session=${visitor.token}; __client_uat=${Math.floor(Date.now() / 1000) - 60}`;
    const navigation = await call(db.env, `/api/v1/profile/view/${owner.id}`, { headers: { Cookie: cookie, 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Mode': 'navigate' } });
    expect(navigation.status).toBe(401); // the profile asks for a session, and this request has none
    expect(await viewRows(owner.id)).toHaveLength(0);
    // Browsing the profile on the product itself records the view.
    await call(db.env, `/api/v1/profile/view/${owner.id}`, { headers: { Cookie: cookie, 'Sec-Fetch-Site': 'same-site' } });
    expect((await viewRows(owner.id)).map((r) => r.viewer_user_id)).toEqual([visitor.id]);
  });

  it('a viewer the database does not know is not recorded, and the read still succeeds', async () => {
    const owner = await signUp(db, { profile: { is_public: true, require_auth: true, track_views: true } });
    const ghost = await sessionToken('user_ghostviewer');
    const r = await call(db.env, `/api/v1/profile/view/${owner.id}`, { token: ghost });
    expect(r.status).toBe(200);
    expect(await viewRows(owner.id)).toHaveLength(0);
  });
});

describe('GET /api/v1/profile/views', () => {
  it('lists who viewed my profile, newest first, paginated, without emails', async () => {
    const owner = await signUp(db, { profile: { is_public: true, require_auth: true, track_views: true } });
    const viewers = [];
    for (const name of ['Alan', 'Barbara', 'Claude']) {
      const v = await signUp(db, { firstName: name, lastName: 'V' });
      viewers.push(v);
      await call(db.env, `/api/v1/profile/view/${owner.id}`, { token: v.token });
    }
    await db.sql(`update users set image_url = 'https://img.example/c.png' where id = $1`, [viewers[2]!.id]);
    const r = await call(db.env, '/api/v1/profile/views?limit=2', { token: owner.token });
    expect(r.status).toBe(200);
    expect(r.body.meta).toEqual({ total: 3, limit: 2, offset: 0 });
    expect(r.body.data).toHaveLength(2);
    expect(r.body.data[0]).toEqual({ viewerId: viewers[2]!.id, name: 'Claude V', avatarUrl: 'https://img.example/c.png', viewedAt: expect.any(String) });
    expect(r.body.data[1].viewerId).toBe(viewers[1]!.id);
    const next = await call(db.env, '/api/v1/profile/views?limit=2&offset=2', { token: owner.token });
    expect(next.body.data.map((v: { viewerId: string }) => v.viewerId)).toEqual([viewers[0]!.id]);
    expect(next.body.meta).toEqual({ total: 3, limit: 2, offset: 2 });
    const raw = JSON.stringify([r.body, next.body]);
    for (const v of viewers) expect(raw).not.toContain(v.email);

    // each user only ever sees their own profile's viewers
    const other = await call(db.env, '/api/v1/profile/views', { token: viewers[0]!.token });
    expect(other.body).toEqual({ data: [], meta: { total: 0, limit: 20, offset: 0 } });
  });

  it('leaves soft-deleted viewers out', async () => {
    const owner = await signUp(db, { profile: { is_public: true, require_auth: true, track_views: true } });
    const v = await signUp(db);
    await call(db.env, `/api/v1/profile/view/${owner.id}`, { token: v.token });
    await db.sql(`update users set deleted_at = now() where id = $1`, [v.id]);
    const r = await call(db.env, '/api/v1/profile/views', { token: owner.token });
    expect(r.body.meta.total).toBe(0);
  });

  it('401 without a session; 400 on bad pagination', async () => {
    expect((await call(db.env, '/api/v1/profile/views')).status).toBe(401);
    const user = await signUp(db);
    for (const q of ['limit=0', 'limit=101', 'offset=-1', 'limit=abc', 'offset=1.5']) {
      const r = await call(db.env, `/api/v1/profile/views?${q}`, { token: user.token });
      expect(r.status, q).toBe(400);
      expect(r.body.error.code).toBe('VALIDATION_ERROR');
    }
  });
});

describe('Redis unreachable', () => {
  it('every profile route still answers correctly from the database', async () => {
    const env = deadRedis();
    const owner = await signUp(db, { profile: { is_public: true, require_auth: true, track_views: true } });
    const viewer = await signUp(db);
    const own = await call(env, '/api/v1/profile', { token: owner.token });
    expect(own.status).toBe(200);
    const updated = await put(owner.token, { bio: 'No cache today' }, env);
    expect(updated.status).toBe(200);
    expect(updated.body.data.bio).toBe('No cache today');
    const view = await call(env, `/api/v1/profile/view/${owner.id}`, { token: viewer.token });
    expect(view.status).toBe(200);
    expect(view.body.data.bio).toBe('No cache today');
    const views = await call(env, '/api/v1/profile/views', { token: owner.token });
    expect(views.status).toBe(200);
    expect(views.body.meta.total).toBe(1);
  });
});

describe('OpenAPI', () => {
  it('documents the profile routes, authenticated ones with the Clerk session', async () => {
    const doc = (await call(db.env, '/openapi.json')).body;
    expect(doc.paths['/api/v1/profile'].get.security).toEqual([{ clerkSession: [] }]);
    expect(doc.paths['/api/v1/profile'].put.security).toEqual([{ clerkSession: [] }]);
    expect(doc.paths['/api/v1/profile/views'].get.security).toEqual([{ clerkSession: [] }]);
    expect(doc.paths['/api/v1/profile/view/{userId}'].get.responses).toHaveProperty('404');
    expect(JSON.stringify(doc.components.schemas.PublicProfile)).not.toContain('email');
  });
});

describe('names are owned by Clerk', () => {
  afterEach(() => vi.restoreAllMocks());

  it('a name edit is pushed to Clerk by a queue handler (retried while Clerk is down)', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const user = await signUp(db);
    const r = await call(db.env, '/api/v1/profile', { method: 'PUT', token: user.token, json: { firstName: 'Ada', lastName: 'Byron' } });
    expect(r.status).toBe(200);
    expect(db.events.names()).toContain('user.name_changed');
    let up = false;
    const clerk = fakeFetch({
      [`PATCH https://api.clerk.com/v1/users/${user.id}`]: () => (up ? Response.json({ id: user.id }) : new Response('down', { status: 503 })),
    });
    const down = await db.events.drain();
    expect(down.retried.length).toBeGreaterThan(0);
    up = true;
    const event = (await db.sql<{ id: string; payload: unknown; created_at: Date }>(`select id, payload, created_at from outbox where event_name = 'user.name_changed' and payload->>'userId' = $1`, [user.id])).rows[0]!;
    db.events.messages.push({ id: event.id, name: 'user.name_changed', payload: event.payload, emittedAt: new Date(event.created_at).toISOString() });
    expect((await db.events.drain()).retried).toEqual([]);
    const sent = clerk.calls.filter((c) => c.method === 'PATCH' && c.url.endsWith(`/v1/users/${user.id}`));
    expect(sent).toHaveLength(2);
    expect(await sent[1]!.json()).toEqual({ first_name: 'Ada', last_name: 'Byron' });
    expect(sent[1]!.headers.get('Authorization')).toBe('Bearer sk_test_local');
  });

  it('a profile update without name changes emits nothing for Clerk', async () => {
    const user = await signUp(db);
    await call(db.env, '/api/v1/profile', { method: 'PUT', token: user.token, json: { bio: 'Hello' } });
    expect((await db.sql(`select 1 from outbox where event_name = 'user.name_changed' and payload->>'userId' = $1`, [user.id])).rows).toHaveLength(0);
  });
});
