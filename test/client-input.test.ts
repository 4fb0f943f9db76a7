import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApp } from '../src/app';
import { registerRoutes } from '../src/routes';
import { createRouter, serviceContext } from '../src/router';
import { useTestDatabase } from './helpers/db';
import { call, type CallResult } from './helpers/http';
import { api, createOrg, createProject, createTeam, unique } from './helpers/orgs';
import { signUp } from './helpers/users';

// The assistant is configured so its input validation is reached; no test here gets as far as the model.
const db = useTestDatabase({ GEMINI_API_KEY: 'test-gemini-key', GEMINI_API_BASE_URL: 'https://gemini.fake.test' });
const as = api(db);
const NUL = '\u0000';

/** 400 VALIDATION_ERROR in the envelope, naming the offending field. */
function expectRefused(r: CallResult, path: string, message = /NUL/) {
  expect(r.status, JSON.stringify(r.body)).toBe(400);
  expect(r.body.error.code).toBe('VALIDATION_ERROR');
  expect(r.body.error.requestId).toEqual(expect.any(String));
  expect(r.body.error.details.issues).toContainEqual(expect.objectContaining({ path, message: expect.stringMatching(message) }));
}

describe('free text with a NUL character (PostgreSQL cannot store it)', () => {
  it('is refused with 400 on support, profile, feedback and reports', async () => {
    const user = await signUp(db);
    expectRefused(await as(user, 'POST', '/api/v1/support', { subject: `hello${NUL}`, message: 'A message long enough.' }), 'subject');
    expectRefused(await call(db.env, '/api/v1/support', { method: 'POST', ip: '203.0.113.9', json: { subject: 'Hello there', message: `body${NUL} long enough`, email: 'a@example.test' } }), 'message');
    expectRefused(await as(user, 'PUT', '/api/v1/profile', { bio: `about${NUL}me` }), 'bio');
    expectRefused(await as(user, 'PUT', '/api/v1/profile', { firstName: `Ada${NUL}` }), 'firstName');
    expectRefused(await as(user, 'PUT', '/api/v1/profile', { skills: ['ts', `go${NUL}`] }), 'skills.1');
    expectRefused(await as(user, 'POST', '/api/v1/feedback', { rating: 4, message: `nice${NUL}` }), 'message');
    expectRefused(await call(db.env, '/api/v1/feedback/abcdefghijklmnopqrstuvwxyz012345', { method: 'POST', json: { rating: 4, message: `x${NUL}` } }), 'message');
    const profileId = (await db.sql<{ id: string }>(`select id from profiles where user_id = $1`, [user.id])).rows[0]!.id;
    const other = await signUp(db);
    expectRefused(await as(other, 'POST', '/api/v1/reports', { entityType: 'profile', entityId: profileId, reason: 'spam', details: `ads${NUL}` }), 'details');
    expect((await db.sql(`select 1 from support_tickets where user_id = $1`, [user.id])).rows).toHaveLength(0);
  });

  it('is refused with 400 on organization, team and project names, descriptions and roles', async () => {
    const owner = await signUp(db);
    expectRefused(await as(owner, 'POST', '/api/v1/organization', { name: `Acme${NUL}`, slug: unique('org') }), 'name');
    const org = await createOrg(db, owner);
    expectRefused(await as(owner, 'PATCH', `/api/v1/organization/${org.id}`, { description: `d${NUL}` }), 'description');
    expectRefused(await as(owner, 'POST', `/api/v1/organization/${org.id}/invite`, { email: 'x@example.test', role: `Member${NUL}` }), 'role');
    expectRefused(await as(owner, 'POST', '/api/v1/team', { orgId: org.id, name: `Team${NUL}`, slug: unique('team') }), 'name');
    const team = await createTeam(db, owner, org.id);
    expectRefused(await as(owner, 'PATCH', `/api/v1/team/${team.id}`, { location: `Pune${NUL}` }), 'location');
    expectRefused(await as(owner, 'POST', '/api/v1/project', { teamId: team.id, name: 'Project', slug: unique('proj'), description: `p${NUL}` }), 'description');
    const project = await createProject(db, owner, team.id);
    expectRefused(await as(owner, 'PATCH', `/api/v1/project/${project.id}`, { name: `P${NUL}` }), 'name');
    // A URL parser takes a NUL in the path as it is: link fields refuse it too.
    expectRefused(await as(owner, 'PATCH', `/api/v1/organization/${org.id}`, { website: `https://acme.example/x${NUL}` }), 'website');
    expectRefused(await as(owner, 'PATCH', `/api/v1/project/${project.id}`, { website: `https://acme.example/x${NUL}` }), 'website');
    expectRefused(await as(owner, 'PUT', '/api/v1/profile', { portfolioUrl: `https://me.example/x${NUL}` }), 'portfolioUrl');
  });

  it('is refused with 400 in an assistant message and its page metadata', async () => {
    const user = await signUp(db);
    const sessionId = crypto.randomUUID();
    expectRefused(await as(user, 'POST', '/api/v1/ai/chat', { message: `hi${NUL}`, sessionId }), 'message');
    expectRefused(await as(user, 'POST', '/api/v1/ai/chat', { message: 'hi', sessionId, metadata: { pageContext: { title: `t${NUL}` } } }), 'metadata.pageContext.title');
  });
});

describe('a PostgreSQL data exception that escapes a service', () => {
  // Statements a service could send with a value validation did not catch.
  const probe = createRouter();
  probe.get('/nul', async (c) => c.json(await serviceContext(c).db.read.execute(sql`select ${'a\u0000b'}::text as t`)));
  probe.get('/date', async (c) => c.json(await serviceContext(c).db.read.execute(sql`select ${'0000-01-01T00:00:00Z'}::timestamptz as t`)));
  probe.get('/overflow', async (c) => c.json(await serviceContext(c).db.read.execute(sql`select (2147483647 + ${1}::int)::int as n`)));
  probe.get('/unique', async (c) =>
    c.json(await serviceContext(c).db.write.execute(sql`insert into plans (plan_id, name, amount, credits) select plan_id, name, amount, credits from plans limit 1`)),
  );
  const app = createApp((a) => {
    registerRoutes(a);
    a.route('/_probe', probe);
  });
  afterEach(() => vi.restoreAllMocks());

  it('is the client\'s input: 400 VALIDATION_ERROR, logged as a warning with its SQLSTATE', async () => {
    const warned: string[] = [];
    vi.spyOn(console, 'warn').mockImplementation((line: unknown) => void warned.push(String(line)));
    const errored = vi.spyOn(console, 'error').mockImplementation(() => {});
    for (const [path, state] of [['/_probe/nul', '22021'], ['/_probe/date', '22008']] as const) {
      const r = await call(db.env, path, { app });
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.error).toMatchObject({ code: 'VALIDATION_ERROR', message: 'A value in the request is not valid' });
      expect(warned.some((l) => l.includes('request.invalid_data') && l.includes(state))).toBe(true);
    }
    expect(errored).not.toHaveBeenCalled();
  });

  it('anything else is still a bug: a unique violation, or a numeric overflow in our own arithmetic, is a 500', async () => {
    const errored = vi.spyOn(console, 'error').mockImplementation(() => {});
    for (const path of ['/_probe/unique', '/_probe/overflow']) {
      const r = await call(db.env, path, { app });
      expect(r.status).toBe(500);
      expect(r.body.error.code).toBe('INTERNAL_ERROR');
    }
    expect(errored.mock.calls.flat().join('\n')).toContain('request.error');
  });
});

describe('member user ids in paths and bodies', () => {
  it('refuses anything that is not a user id with 400 (a %00 in the path decodes to NUL)', async () => {
    const owner = await signUp(db);
    const org = await createOrg(db, owner);
    const team = await createTeam(db, owner, org.id);
    const project = await createProject(db, owner, team.id);
    for (const bad of ['x%00', 'user%20x', 'a.b']) {
      expectRefused(await as(owner, 'DELETE', `/api/v1/organization/${org.id}/members/${bad}`), 'userId', /user id/);
      expectRefused(await as(owner, 'PATCH', `/api/v1/organization/${org.id}/members/${bad}`, { role: 'Member' }), 'userId', /user id/);
      expectRefused(await as(owner, 'DELETE', `/api/v1/team/${team.id}/members/${bad}`), 'userId', /user id/);
      expectRefused(await as(owner, 'PATCH', `/api/v1/team/${team.id}/members/${bad}`, { role: 'Member' }), 'userId', /user id/);
      expectRefused(await as(owner, 'DELETE', `/api/v1/project/${project.id}/members/${bad}`), 'userId', /user id/);
      expectRefused(await as(owner, 'PATCH', `/api/v1/project/${project.id}/members/${bad}`, { role: 'Viewer' }), 'userId', /user id/);
    }
    expectRefused(await as(owner, 'POST', `/api/v1/project/${project.id}/members`, { userId: `${owner.id}\u0000`, role: 'Viewer' }), 'userId', /user id/);
    // A well-formed id of nobody is still a 404.
    expect((await as(owner, 'DELETE', `/api/v1/organization/${org.id}/members/user_nobody`)).status).toBe(404);
  });
});
