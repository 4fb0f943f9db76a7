import { describe, expect, it } from 'vitest';
import type { Env } from '../src/config';
import { useTestDatabase } from './helpers/db';
import { call } from './helpers/http';
import { signUp, type TestUser } from './helpers/users';

const db = useTestDatabase();
const deadRedis = (): Env => ({ ...db.env, UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9' }) as Env;
const MISSING = '00000000-0000-4000-8000-000000000000';

const slug = (p: string) => `${p}-${crypto.randomUUID().slice(0, 8)}`;

/** An organization → team → project chain, inserted directly. */
async function orgTeamProject(owner: TestUser) {
  const org = (await db.sql<{ id: string }>(`insert into organizations (name, slug) values ($1, $2) returning id`, [slug('Org'), slug('org')])).rows[0]!.id;
  const team = (await db.sql<{ id: string }>(`insert into teams (org_id, name, slug) values ($1, $2, $3) returning id`, [org, slug('Team'), slug('team')])).rows[0]!.id;
  const project = (
    await db.sql<{ id: string }>(`insert into projects (team_id, name, slug, created_by) values ($1, $2, $3, $4) returning id`, [team, slug('Proj'), slug('proj'), owner.id])
  ).rows[0]!.id;
  return { org, team, project };
}

const profileOf = async (u: TestUser) => (await db.sql<{ id: string }>(`select id from profiles where user_id = $1`, [u.id])).rows[0]!.id;

/** A weekly feedback slot, as the weekly mail handler creates it. */
async function weeklyCode(used = false): Promise<string> {
  const code = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(24)))).replaceAll('+', '-').replaceAll('/', '_');
  await db.sql(`insert into feedback (kind, code, used_at, rating) values ('weekly', $1, $2, $3)`, [code, used ? new Date() : null, used ? 4 : null]);
  return code;
}

const outboxCount = async () => Number((await db.sql<{ n: string }>(`select count(*) as n from outbox`)).rows[0]!.n);

describe('POST /api/v1/feedback (general, signed in)', () => {
  it('stores the feedback with its author and broadcasts nothing', async () => {
    const user = await signUp(db);
    const bystander = await signUp(db);
    const outboxBefore = await outboxCount();
    const r = await call(db.env, '/api/v1/feedback', { method: 'POST', token: user.token, json: { rating: 5, message: '  Love the new leaderboard  ' } });
    expect(r.status).toBe(201);
    expect(r.body.data).toMatchObject({ rating: 5, message: 'Love the new leaderboard' });
    const { rows } = await db.sql(`select kind, user_id, rating, message, code from feedback where id = $1`, [r.body.data.id]);
    expect(rows).toEqual([{ kind: 'general', user_id: user.id, rating: 5, message: 'Love the new leaderboard', code: null }]);
    expect(await outboxCount()).toBe(outboxBefore); // no event at all
    await db.events.drain();
    expect((await db.sql(`select 1 from notifications where message like '%leaderboard%'`)).rows).toHaveLength(0);
    expect((await db.sql(`select 1 from notifications where user_id = $1`, [bystander.id])).rows).toHaveLength(0);
  });

  it('validates rating 1–5 (integer), message ≤ 1000 and unknown keys; 401 without a session', async () => {
    const user = await signUp(db);
    for (const json of [{ rating: 0 }, { rating: 6 }, { rating: 2.5 }, { message: 'no rating' }, { rating: 3, message: 'x'.repeat(1001) }, { rating: 3, extra: 1 }]) {
      const r = await call(db.env, '/api/v1/feedback', { method: 'POST', token: user.token, json });
      expect(r.status, JSON.stringify(json).slice(0, 60)).toBe(400);
    }
    expect((await call(db.env, '/api/v1/feedback', { method: 'POST', json: { rating: 3 } })).status).toBe(401);
  });

  it('5 per hour per user, then 429', async () => {
    const user = await signUp(db);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await call(db.env, '/api/v1/feedback', { method: 'POST', token: user.token, json: { rating: 4 } })).status);
    expect(statuses).toEqual([201, 201, 201, 201, 201, 429]);
  });
});

describe('weekly feedback codes: GET / POST /api/v1/feedback/:code (public)', () => {
  it('GET shows the slot; POST stores once; reuse is refused', async () => {
    const code = await weeklyCode();
    const before = await call(db.env, `/api/v1/feedback/${code}`);
    expect(before.status).toBe(200);
    expect(before.body.data).toMatchObject({ code, used: false, usedAt: null });

    const r = await call(db.env, `/api/v1/feedback/${code}`, { method: 'POST', json: { rating: 4, message: 'Good week' } });
    expect(r.status).toBe(200);
    expect(r.body.data.used).toBe(true);
    const { rows } = await db.sql(`select rating, message, user_id, used_at is not null as used from feedback where code = $1`, [code]);
    expect(rows).toEqual([{ rating: 4, message: 'Good week', user_id: null, used: true }]);

    const after = await call(db.env, `/api/v1/feedback/${code}`);
    expect(after.body.data.used).toBe(true);
    expect(after.body.data).not.toHaveProperty('message'); // what was said is never handed back

    // Within 60 s the per-code cooldown answers first…
    const again = await call(db.env, `/api/v1/feedback/${code}`, { method: 'POST', json: { rating: 1 } });
    expect(again.status).toBe(429);
    expect(Number(again.headers.get('Retry-After'))).toBeGreaterThan(0);
    expect((await db.sql(`select rating from feedback where code = $1`, [code])).rows).toEqual([{ rating: 4 }]);
  });

  it('a used code → 409 CONFLICT (also when Redis, and with it the cooldown, is down)', async () => {
    const code = await weeklyCode(true);
    const r = await call(db.env, `/api/v1/feedback/${code}`, { method: 'POST', json: { rating: 2 } });
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('CONFLICT');

    const fresh = await weeklyCode();
    expect((await call(deadRedis(), `/api/v1/feedback/${fresh}`, { method: 'POST', json: { rating: 5 } })).status).toBe(200);
    expect((await call(deadRedis(), `/api/v1/feedback/${fresh}`, { method: 'POST', json: { rating: 1 } })).status).toBe(409);
  });

  it('concurrent submissions of one code store exactly one answer', async () => {
    const code = await weeklyCode();
    const results = await Promise.all([1, 2, 3].map((rating) => call(deadRedis(), `/api/v1/feedback/${code}`, { method: 'POST', json: { rating } })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 409, 409]);
    const winner = results.find((r) => r.status === 200)!;
    expect(winner.body.data.used).toBe(true);
    expect((await db.sql(`select count(*)::int as n from feedback where code = $1 and used_at is not null`, [code])).rows).toEqual([{ n: 1 }]);
  });

  it('unknown or malformed code → 404 on GET and POST; a general feedback id is not a code', async () => {
    const unknown = 'A'.repeat(32);
    for (const code of [unknown, 'short', MISSING]) {
      expect((await call(db.env, `/api/v1/feedback/${code}`)).status).toBe(404);
      expect((await call(db.env, `/api/v1/feedback/${code}`, { method: 'POST', json: { rating: 3 } })).status).toBe(404);
    }
  });

  it('validates the body (rating required, 1–5; message ≤ 1000)', async () => {
    const code = await weeklyCode();
    for (const json of [{}, { rating: 9 }, { rating: 3, message: 'x'.repeat(1001) }]) {
      expect((await call(db.env, `/api/v1/feedback/${code}`, { method: 'POST', json })).status).toBe(400);
    }
    expect((await db.sql(`select used_at from feedback where code = $1`, [code])).rows).toEqual([{ used_at: null }]);
  });
});

describe('POST /api/v1/reports', () => {
  it('stores the report with the caller as reporter (never one named in the body), lists it, and confirms by email', async () => {
    const reporter = await signUp(db, { firstName: 'Rita' });
    const target = await signUp(db);
    const profileId = await profileOf(target);
    const r = await call(db.env, '/api/v1/reports', { method: 'POST', token: reporter.token, json: { entityType: 'profile', entityId: profileId, reason: 'spam', details: 'Posts ads' } });
    expect(r.status).toBe(201);
    expect(r.body.data).toMatchObject({ entityType: 'profile', entityId: profileId, reason: 'spam', details: 'Posts ads', status: 'QUEUED' });
    const { rows } = await db.sql(`select reporter_id, entity_type, entity_id from reports where id = $1`, [r.body.data.id]);
    expect(rows).toEqual([{ reporter_id: reporter.id, entity_type: 'profile', entity_id: profileId }]);

    const list = await call(db.env, '/api/v1/reports', { token: reporter.token });
    expect(list.status).toBe(200);
    expect(list.body.data.map((x: { id: string }) => x.id)).toEqual([r.body.data.id]);
    expect(list.body.meta).toEqual({ total: 1, limit: 20, offset: 0 });
    expect((await call(db.env, '/api/v1/reports', { token: target.token })).body.data).toEqual([]);

    await db.events.drain();
    const mails = (await db.sql<{ subject: string; text: string }>(`select subject, text from dev_emails where "to" = $1`, [reporter.email])).rows;
    expect(mails).toHaveLength(1);
    expect(mails[0]!.subject).toBe('We received your report');
    expect(mails[0]!.text).toContain(r.body.data.id);
  });

  it('organization, team and project reports; a missing or soft-deleted entity → 404', async () => {
    const reporter = await signUp(db);
    const { org, team, project } = await orgTeamProject(reporter);
    for (const [entityType, entityId] of [['organization', org], ['team', team], ['project', project]] as const) {
      const r = await call(db.env, '/api/v1/reports', { method: 'POST', token: reporter.token, json: { entityType, entityId, reason: 'inappropriate' } });
      expect(r.status, entityType).toBe(201);
    }
    for (const entityType of ['profile', 'organization', 'team', 'project']) {
      const r = await call(db.env, '/api/v1/reports', { method: 'POST', token: reporter.token, json: { entityType, entityId: MISSING, reason: 'other' } });
      expect(r.status, entityType).toBe(404);
      expect(r.body.error.code).toBe('NOT_FOUND');
    }
    // An id of another kind of entity is not found either.
    expect((await call(db.env, '/api/v1/reports', { method: 'POST', token: reporter.token, json: { entityType: 'team', entityId: org, reason: 'other' } })).status).toBe(404);
    const other = await orgTeamProject(reporter);
    await db.sql(`update projects set deleted_at = now() where id = $1`, [other.project]);
    expect((await call(db.env, '/api/v1/reports', { method: 'POST', token: reporter.token, json: { entityType: 'project', entityId: other.project, reason: 'fake' } })).status).toBe(404);
    const gone = await signUp(db);
    await db.sql(`update users set deleted_at = now() where id = $1`, [gone.id]);
    expect((await call(db.env, '/api/v1/reports', { method: 'POST', token: reporter.token, json: { entityType: 'profile', entityId: await profileOf(gone), reason: 'fake' } })).status).toBe(404);
    expect((await db.sql(`select 1 from reports where entity_id = $1`, [MISSING])).rows).toHaveLength(0);
  });

  it('one open report per reporter per entity → 409; allowed again once the first is resolved; others may report too', async () => {
    const reporter = await signUp(db);
    const second = await signUp(db);
    const profileId = await profileOf(await signUp(db));
    const body = { entityType: 'profile', entityId: profileId, reason: 'harassment' };
    expect((await call(db.env, '/api/v1/reports', { method: 'POST', token: reporter.token, json: body })).status).toBe(201);
    const dup = await call(db.env, '/api/v1/reports', { method: 'POST', token: reporter.token, json: { ...body, reason: 'spam' } });
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('CONFLICT');
    expect((await call(db.env, '/api/v1/reports', { method: 'POST', token: second.token, json: body })).status).toBe(201);
    await db.sql(`update reports set state = 'RESOLVED' where reporter_id = $1`, [reporter.id]);
    expect((await call(db.env, '/api/v1/reports', { method: 'POST', token: reporter.token, json: body })).status).toBe(201);
    // the 409 emitted nothing: two reports of this reporter, two events
    const { rows } = await db.sql(`select count(*)::int as n from outbox where event_name = 'report.created' and payload->>'reportId' in (select id::text from reports where reporter_id = $1)`, [reporter.id]);
    expect(rows).toEqual([{ n: 2 }]);
  });

  it('validates entity type, uuid id, reason from the reference list, details ≤ 500; 401 without a session', async () => {
    const reporter = await signUp(db);
    const profileId = await profileOf(reporter);
    for (const json of [
      { entityType: 'comment', entityId: profileId, reason: 'spam' },
      { entityType: 'profile', entityId: 'user_123', reason: 'spam' },
      { entityType: 'profile', entityId: profileId, reason: 'SPAM' },
      { entityType: 'profile', entityId: profileId, reason: 'copyright' },
      { entityType: 'profile', entityId: profileId, reason: 'spam', details: 'x'.repeat(501) },
      { entityType: 'profile', entityId: profileId, reason: 'spam', reporterId: 'someone' },
    ]) {
      const r = await call(db.env, '/api/v1/reports', { method: 'POST', token: reporter.token, json });
      expect(r.status, JSON.stringify(json).slice(0, 80)).toBe(400);
    }
    expect((await call(db.env, '/api/v1/reports', { method: 'POST', json: { entityType: 'profile', entityId: profileId, reason: 'spam' } })).status).toBe(401);
    expect((await call(db.env, '/api/v1/reports')).status).toBe(401);
  });

  it('10 reports per hour per user, then 429', async () => {
    const reporter = await signUp(db);
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) {
      statuses.push((await call(db.env, '/api/v1/reports', { method: 'POST', token: reporter.token, json: { entityType: 'team', entityId: crypto.randomUUID(), reason: 'spam' } })).status);
    }
    expect(statuses).toEqual([...Array(10).fill(404), 429]);
  });
});
