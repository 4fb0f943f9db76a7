import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { describe, expect, it, vi } from 'vitest';
import type { Env } from '../src/config';
import worker from '../src/index';
import { openServiceContext } from '../src/services/context';
import { audit } from '../src/services/membership/audit';
import { DEFAULT_ORG_ROLES } from '../src/services/membership/permissions';
import { useTestDatabase } from './helpers/db';
import { fakeFetch } from './helpers/fake-fetch';
import { api, createOrg, createProject, createTeam, inviteCodeFromMailbox, memberWithRole, resetLimits, unique } from './helpers/orgs';
import { signUp } from './helpers/users';

const db = useTestDatabase();
const req = api(db);
const ORG = '/api/v1/organization';

const auditRows = async (orgId: string) =>
  (await db.sql<{ action: string; actor_id: string | null; changes: any; target_id: string | null }>(
    `select action, actor_id, changes, target_id from organization_audit_logs where org_id = $1 order by created_at, id`,
    [orgId],
  )).rows;

describe('POST /organization', () => {
  it('creates the org with the four default roles; the creator is Owner; audited', async () => {
    const owner = await signUp(db);
    const r = await req(owner, 'POST', ORG, { name: '  Acme Labs  ', slug: 'Acme-Labs-' + unique('x').toUpperCase(), timezone: 'Asia/Kolkata' });
    expect(r.status).toBe(201);
    const org = r.body.data;
    expect(org.name).toBe('Acme Labs');
    expect(org.slug).toMatch(/^acme-labs-x-/); // lower-cased before validation
    expect(org).toMatchObject({ isPublic: true, joinEnabled: false, timezone: 'Asia/Kolkata', memberCount: 1, teamCount: 0 });
    expect(org.role.name).toBe('Owner');

    const roles = await req(owner, 'GET', `${ORG}/${org.id}/roles`);
    expect(roles.status).toBe(200);
    const byName = Object.fromEntries(roles.body.data.map((x: any) => [x.name, [...x.permissions].sort()]));
    for (const def of DEFAULT_ORG_ROLES) expect(byName[def.name]).toEqual([...def.permissions].sort());
    expect(roles.body.data.map((x: any) => x.name)).toEqual(['Owner', 'Co-Owner', 'Maintainer', 'Member']);
    expect(byName['Co-Owner']).not.toContain('org:delete');
    expect(byName['Member']).toEqual(['org:read']);

    const audit = await auditRows(org.id);
    expect(audit).toEqual([expect.objectContaining({ action: 'organization.create', actor_id: owner.id })]);
  });

  it('validates name, slug and unknown keys (400) and requires a session (401)', async () => {
    const owner = await signUp(db);
    const cases: Record<string, unknown>[] = [
      { name: '', slug: 'ok-slug' },
      { name: 'x'.repeat(101), slug: 'ok-slug' },
      { name: 'Ok', slug: 'bad_slug' },
      { name: 'Ok', slug: 'has space' },
      { name: 'Ok', slug: 'x'.repeat(51) },
      { name: 'Ok', slug: '123e4567-e89b-12d3-a456-426614174000' },
      { name: 'Ok', slug: 'ok', website: 'javascript:alert(1)' },
      { name: 'Ok', slug: 'ok', timezone: 'Mars/Olympus' },
      { name: 'Ok', slug: 'ok', isAdmin: true },
    ];
    for (const json of cases) {
      const r = await req(owner, 'POST', ORG, json);
      expect([JSON.stringify(json).slice(0, 60), r.status, r.body.error?.code]).toEqual([JSON.stringify(json).slice(0, 60), 400, 'VALIDATION_ERROR']);
    }
    expect((await req(undefined, 'POST', ORG, { name: 'Ok', slug: 'ok' })).status).toBe(401);
  });

  it('slug taken → 409 CONFLICT with a free -N suggestion; name taken (any case) → 409, never 500', async () => {
    const a = await signUp(db);
    const b = await signUp(db);
    const slug = unique('dup');
    await createOrg(db, a, { slug, name: `Name ${slug}` });
    await createOrg(db, a, { slug: `${slug}-1` });
    const r = await req(b, 'POST', ORG, { name: 'Another', slug });
    expect(r.status).toBe(409);
    expect(r.body.error).toMatchObject({ code: 'CONFLICT', details: { field: 'slug', suggestion: `${slug}-2` } });
    const n = await req(b, 'POST', ORG, { name: `NAME ${slug.toUpperCase()}`, slug: unique('other') });
    expect(n.status).toBe(409);
    expect(n.body.error.details).toEqual({ field: 'name' });
  });

  it('5 creations per hour per user, then 429 RATE_LIMITED with Retry-After', async () => {
    const owner = await signUp(db);
    for (let i = 0; i < 5; i++) await createOrg(db, owner);
    const r = await req(owner, 'POST', ORG, { name: unique('Six'), slug: unique('six') });
    expect(r.status).toBe(429);
    expect(r.body.error.code).toBe('RATE_LIMITED');
    expect(Number(r.headers.get('Retry-After'))).toBeGreaterThan(0);
    // another user is not affected
    expect((await req(await signUp(db), 'POST', ORG, { name: unique('Other'), slug: unique('other') })).status).toBe(201);
  });
});

describe('GET /organization, GET /organization/:orgId', () => {
  it('lists my orgs with my role and counts; the cached list follows membership changes at once', async () => {
    const owner = await signUp(db);
    const org = await createOrg(db, owner);
    await createTeam(db, owner, org.id);
    const list = await req(owner, 'GET', ORG);
    expect(list.status).toBe(200);
    expect(list.body.meta).toEqual({ total: 1, limit: 20, offset: 0 });
    expect(list.body.data[0]).toMatchObject({ id: org.id, memberCount: 1, teamCount: 1, role: { name: 'Owner' } });

    // join through an invite: both lists change on the next request
    const joiner = await signUp(db);
    expect((await req(joiner, 'GET', ORG)).body.data).toEqual([]);
    expect((await req(owner, 'POST', `${ORG}/${org.id}/invite`, { email: joiner.email, role: 'Maintainer' })).status).toBe(201);
    const code = await inviteCodeFromMailbox(db, joiner.email, 'organization');
    expect((await req(joiner, 'POST', `${ORG}/accept-invite`, { code })).status).toBe(200);
    expect((await req(owner, 'GET', ORG)).body.data[0].memberCount).toBe(2);
    expect((await req(joiner, 'GET', ORG)).body.data).toEqual([expect.objectContaining({ id: org.id, role: expect.objectContaining({ name: 'Maintainer' }) })]);

    // a role change and a removal take effect on the very next request
    expect((await req(owner, 'PATCH', `${ORG}/${org.id}/members/${joiner.id}`, { role: 'Member' })).status).toBe(200);
    expect((await req(joiner, 'GET', ORG)).body.data[0].role.name).toBe('Member');
    expect((await req(joiner, 'POST', '/api/v1/team', { orgId: org.id, name: 'T', slug: unique('t') })).status).toBe(403);
    expect((await req(owner, 'DELETE', `${ORG}/${org.id}/members/${joiner.id}`)).status).toBe(200);
    expect((await req(joiner, 'GET', `${ORG}/${org.id}`)).status).toBe(404);
    expect((await req(joiner, 'GET', ORG)).body.data).toEqual([]);
    expect((await req(owner, 'GET', ORG)).body.data[0].memberCount).toBe(1);

    // each change to the joiner's membership is in the joiner's own activity log
    const activity = (await db.sql<{ action: string; metadata: any }>(`select action, metadata from activity_logs where user_id = $1 order by created_at`, [joiner.id])).rows;
    expect(activity.map((r) => r.action)).toEqual(['membership.invite.accept', 'membership.member.role_change', 'membership.member.remove']);
    expect(activity[1]!.metadata).toMatchObject({ scope: 'organization', scopeId: org.id, after: { role: 'Member' }, byThemselves: false });
  });

  it('reads by id or slug (any case); non-members, unknown ids and anonymous callers learn nothing', async () => {
    const owner = await signUp(db);
    const org = await createOrg(db, owner);
    for (const ref of [org.id, org.slug, org.slug.toUpperCase()]) {
      const r = await req(owner, 'GET', `${ORG}/${ref}`);
      expect([ref, r.status, r.body.data?.id]).toEqual([ref, 200, org.id]);
    }
    const stranger = await signUp(db);
    const a = await req(stranger, 'GET', `${ORG}/${org.id}`);
    const b = await req(stranger, 'GET', `${ORG}/${crypto.randomUUID()}`);
    expect([a.status, b.status]).toEqual([404, 404]);
    expect(a.body.error.message).toBe(b.body.error.message);
    expect((await req(undefined, 'GET', `${ORG}/${org.id}`)).status).toBe(401);
    expect((await req(owner, 'GET', `${ORG}/bad_slug!`)).status).toBe(400);
  });
});

describe('PATCH /organization/:orgId', () => {
  it('Owner and Co-Owner update; audit keeps before/after of the changed fields only', async () => {
    const owner = await signUp(db);
    const org = await createOrg(db, owner, { description: 'old' });
    const co = await memberWithRole(db, org.id, 'Co-Owner');
    const r = await req(co, 'PATCH', `${ORG}/${org.id}`, { description: 'new', isPublic: true, timezone: 'Europe/Paris', joinEnabled: true });
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({ description: 'new', timezone: 'Europe/Paris', joinEnabled: true, role: { name: 'Co-Owner' } });
    const last = (await auditRows(org.id)).at(-1)!;
    expect(last).toMatchObject({ action: 'organization.update', actor_id: co.id });
    expect(last.changes).toEqual({
      before: { description: 'old', timezone: null, joinEnabled: false },
      after: { description: 'new', timezone: 'Europe/Paris', joinEnabled: true },
    });
    // a no-op writes no audit row
    const before = (await auditRows(org.id)).length;
    expect((await req(owner, 'PATCH', `${ORG}/${org.id}`, { description: 'new' })).status).toBe(200);
    expect((await auditRows(org.id)).length).toBe(before);
  });

  it('Maintainer and Member → 403; empty body → 400; name of another org → 409', async () => {
    const owner = await signUp(db);
    const org = await createOrg(db, owner);
    const other = await createOrg(db, owner);
    for (const role of ['Maintainer', 'Member']) {
      const user = await memberWithRole(db, org.id, role);
      const r = await req(user, 'PATCH', `${ORG}/${org.id}`, { description: 'x' });
      expect([role, r.status, r.body.error.code]).toEqual([role, 403, 'FORBIDDEN']);
    }
    expect((await req(owner, 'PATCH', `${ORG}/${org.id}`, {})).status).toBe(400);
    expect((await req(owner, 'PATCH', `${ORG}/${org.id}`, { slug: 'new-slug' })).status).toBe(400);
    const clash = await req(owner, 'PATCH', `${ORG}/${org.id}`, { name: other.name.toUpperCase() });
    expect([clash.status, clash.body.error.code]).toEqual([409, 'CONFLICT']);
  });

  it('audit rows are only written inside the transaction of the change they record', async () => {
    const { ctx, finish } = openServiceContext(db.env, { actor: { kind: 'system', job: 'test' } });
    try {
      await expect(audit(ctx, { scope: 'organization', scopeId: crypto.randomUUID(), actorId: null, action: 'test.outside' })).rejects.toThrow(/transaction/);
    } finally {
      await finish();
    }
    expect((await db.sql(`select 1 from organization_audit_logs where action = 'test.outside'`)).rows).toHaveLength(0);
  });

  it('a failed audit insert rolls the change back', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const owner = await signUp(db);
    const org = await createOrg(db, owner, { description: 'kept' });
    await db.sql(`create or replace function test_refuse_audit() returns trigger language plpgsql as $$
      begin if new.changes->'after'->>'description' = 'boom' then raise exception 'audit refused'; end if; return new; end $$`);
    await db.sql(`create trigger test_refuse_audit before insert on organization_audit_logs for each row execute function test_refuse_audit()`);
    try {
      const r = await req(owner, 'PATCH', `${ORG}/${org.id}`, { description: 'boom' });
      expect(r.status).toBe(500);
      const row = (await db.sql<{ description: string }>(`select description from organizations where id = $1`, [org.id])).rows[0];
      expect(row!.description).toBe('kept');
    } finally {
      await db.sql(`drop trigger test_refuse_audit on organization_audit_logs`);
    }
    vi.restoreAllMocks();
  });
});

describe('DELETE /organization/:orgId', () => {
  it('Owner only; the org, its teams and projects vanish from every read at once; history is kept; the slug is free again', async () => {
    const owner = await signUp(db);
    const org = await createOrg(db, owner);
    const team = await createTeam(db, owner, org.id);
    const project = await createProject(db, owner, team.id);
    const co = await memberWithRole(db, org.id, 'Co-Owner');
    expect((await req(co, 'DELETE', `${ORG}/${org.id}`)).status).toBe(403);
    expect((await req(owner, 'GET', ORG)).body.data.map((o: any) => o.id)).toContain(org.id); // warms the cache

    const r = await req(owner, 'DELETE', `${ORG}/${org.id}`);
    expect(r.status).toBe(200);
    for (const path of [`${ORG}/${org.id}`, `${ORG}/${org.slug}`, `${ORG}/${org.id}/teams`, `${ORG}/${org.id}/members`, `/api/v1/team/${team.id}`, `/api/v1/team/${team.id}/projects`, `/api/v1/project/${project.id}`]) {
      expect([path, (await req(owner, 'GET', path)).status]).toEqual([path, 404]);
    }
    expect((await req(owner, 'GET', ORG)).body.data.map((o: any) => o.id)).not.toContain(org.id);
    expect((await req(co, 'GET', ORG)).body.data).toEqual([]);
    expect((await req(owner, 'DELETE', `${ORG}/${org.id}`)).status).toBe(404);
    const rows = await db.sql<{ t: Date | null; p: Date | null }>(
      `select (select deleted_at from teams where id = $1) as t, (select deleted_at from projects where id = $2) as p`,
      [team.id, project.id],
    );
    expect(rows.rows[0]!.t).not.toBeNull();
    expect(rows.rows[0]!.p).not.toBeNull();
    expect((await auditRows(org.id)).map((a) => a.action)).toEqual(['organization.create', 'team.create', 'organization.delete']);
    const again = await req(await signUp(db), 'POST', ORG, { name: org.name, slug: org.slug });
    expect(again.status).toBe(201);
  });
});

describe('members and roles', () => {
  it('lists members with roles; roles of a foreign org are invisible', async () => {
    const owner = await signUp(db, { firstName: 'Olga', lastName: 'Owner' });
    const org = await createOrg(db, owner);
    const m = await memberWithRole(db, org.id, 'Member');
    const r = await req(m, 'GET', `${ORG}/${org.id}/members?limit=1`);
    expect(r.status).toBe(200);
    expect(r.body.meta).toEqual({ total: 2, limit: 1, offset: 0 });
    // emails are personal data: a plain member sees their own, not the owner's (who has not opted in)
    expect(r.body.data[0]).toMatchObject({ userId: owner.id, name: 'Olga Owner', email: null, role: { name: 'Owner' } });
    const all = async (viewer: typeof owner) => (await req(viewer, 'GET', `${ORG}/${org.id}/members`)).body.data.map((x: { userId: string; email: string | null }) => [x.userId, x.email]);
    expect(await all(m)).toEqual([[owner.id, null], [m.id, m.email]]);
    // whoever manages members sees every email; a member who opts in is visible to everyone
    expect(await all(owner)).toEqual([[owner.id, owner.email], [m.id, m.email]]);
    expect((await req(owner, 'PUT', '/api/v1/settings', { privacy: { showEmailToTeammates: true } })).status).toBe(200);
    expect(await all(m)).toEqual([[owner.id, owner.email], [m.id, m.email]]);
    expect((await req(await signUp(db), 'GET', `${ORG}/${org.id}/roles`)).status).toBe(404);
  });

  it('no escalation: a Co-Owner can neither make nor unmake an Owner; a Maintainer cannot change roles', async () => {
    const owner = await signUp(db);
    const org = await createOrg(db, owner);
    const co = await memberWithRole(db, org.id, 'Co-Owner');
    const m = await memberWithRole(db, org.id, 'Member');
    const maint = await memberWithRole(db, org.id, 'Maintainer');
    expect((await req(co, 'PATCH', `${ORG}/${org.id}/members/${m.id}`, { role: 'Owner' })).status).toBe(403);
    expect((await req(co, 'PATCH', `${ORG}/${org.id}/members/${owner.id}`, { role: 'Member' })).status).toBe(403);
    expect((await req(co, 'DELETE', `${ORG}/${org.id}/members/${owner.id}`)).status).toBe(403);
    expect((await req(co, 'PATCH', `${ORG}/${org.id}/members/${m.id}`, { role: 'maintainer' })).status).toBe(200);
    expect((await req(maint, 'PATCH', `${ORG}/${org.id}/members/${m.id}`, { role: 'Member' })).status).toBe(403);
    expect((await req(co, 'PATCH', `${ORG}/${org.id}/members/${m.id}`, { role: 'Janitor' })).status).toBe(400);
    expect((await req(co, 'PATCH', `${ORG}/${org.id}/members/user_nobody`, { role: 'Member' })).status).toBe(404);
    const audit = (await auditRows(org.id)).filter((a) => a.action === 'member.role_change');
    expect(audit).toEqual([expect.objectContaining({ actor_id: co.id, target_id: m.id, changes: { before: { role: 'Member' }, after: { role: 'Maintainer' } } })]);
  });

  it('the last Owner cannot be demoted, removed or leave; with two Owners one may step down', async () => {
    const owner = await signUp(db);
    const org = await createOrg(db, owner);
    const demote = await req(owner, 'PATCH', `${ORG}/${org.id}/members/${owner.id}`, { role: 'Member' });
    expect([demote.status, demote.body.error.code]).toEqual([409, 'CONFLICT']);
    expect((await req(owner, 'DELETE', `${ORG}/${org.id}/members/${owner.id}`)).status).toBe(409);
    const second = await memberWithRole(db, org.id, 'Member');
    expect((await req(owner, 'PATCH', `${ORG}/${org.id}/members/${second.id}`, { role: 'Owner' })).status).toBe(200);
    expect((await req(second, 'PATCH', `${ORG}/${org.id}/members/${owner.id}`, { role: 'Co-Owner' })).status).toBe(200);
    expect((await req(second, 'DELETE', `${ORG}/${org.id}/members/${second.id}`)).status).toBe(409);
    expect((await req(owner, 'PATCH', `${ORG}/${org.id}/members/${second.id}`, { role: 'Member' })).status).toBe(403);
  });

  it('a deleted account’s Owner membership can be removed (the active Owner remains); it never counts as a second Owner', async () => {
    const owner = await signUp(db);
    const org = await createOrg(db, owner);
    const gone = await memberWithRole(db, org.id, 'Owner');
    const ghost = await memberWithRole(db, org.id, 'Owner');
    await db.sql('update users set deleted_at = now() where id = any($1)', [[gone.id, ghost.id]]);
    // the deleted accounts leave the active Owner as the last one
    expect((await req(owner, 'DELETE', `${ORG}/${org.id}/members/${owner.id}`)).status).toBe(409);
    const r = await req(owner, 'DELETE', `${ORG}/${org.id}/members/${gone.id}`);
    expect([r.status, r.body.data]).toEqual([200, { userId: gone.id, removed: true }]);
    expect((await db.sql(`select 1 from organization_members where org_id = $1 and user_id = $2`, [org.id, gone.id])).rows).toHaveLength(0);
    // a deleted account is not listed, and gets no new role
    expect((await req(owner, 'PATCH', `${ORG}/${org.id}/members/${ghost.id}`, { role: 'Member' })).status).toBe(404);
    expect((await req(owner, 'DELETE', `${ORG}/${org.id}/members/${ghost.id}`)).status).toBe(200);
    expect((await req(owner, 'DELETE', `${ORG}/${org.id}/members/${owner.id}`)).status).toBe(409);
  });

  it('removal drops team and project memberships too; a Member may leave; removed members get 404 next time', async () => {
    const owner = await signUp(db);
    const org = await createOrg(db, owner);
    const team = await createTeam(db, owner, org.id, { visibility: 'PRIVATE' });
    const m = await memberWithRole(db, org.id, 'Maintainer');
    await db.sql(`insert into team_members (team_id, user_id, role_id) select $1, $2, id from team_roles where team_id = $1 and name = 'Admin'`, [team.id, m.id]);
    expect((await req(m, 'GET', `/api/v1/team/${team.id}`)).status).toBe(200);
    expect((await req(owner, 'DELETE', `${ORG}/${org.id}/members/${m.id}`)).status).toBe(200);
    expect((await req(m, 'GET', `/api/v1/team/${team.id}`)).status).toBe(404);
    expect((await db.sql(`select 1 from team_members where user_id = $1`, [m.id])).rows).toHaveLength(0);
    const leaver = await memberWithRole(db, org.id, 'Member');
    expect((await req(leaver, 'DELETE', `${ORG}/${org.id}/members/${leaver.id}`)).status).toBe(200);
    expect((await req(leaver, 'GET', `${ORG}/${org.id}`)).status).toBe(404);
    expect((await auditRows(org.id)).filter((a) => a.action.startsWith('member.')).map((a) => a.action)).toEqual(['member.remove', 'member.leave']);
  });
});

describe('GET /organization/:orgId/audit', () => {
  it('Owner and Co-Owner read it paginated (limit 1–100); Maintainer and Member → 403', async () => {
    const owner = await signUp(db);
    const org = await createOrg(db, owner);
    await req(owner, 'PATCH', `${ORG}/${org.id}`, { description: 'one' });
    await req(owner, 'PATCH', `${ORG}/${org.id}`, { description: 'two' });
    const r = await req(owner, 'GET', `${ORG}/${org.id}/audit?limit=2`);
    expect(r.status).toBe(200);
    expect(r.body.meta).toEqual({ total: 3, limit: 2, offset: 0 });
    expect(r.body.data[0]).toMatchObject({ action: 'organization.update', actor: { id: owner.id }, changes: { before: { description: 'one' }, after: { description: 'two' } } });
    expect((await req(owner, 'GET', `${ORG}/${org.id}/audit?limit=2&offset=2`)).body.data.map((e: any) => e.action)).toEqual(['organization.create']);
    for (const q of ['limit=0', 'limit=101', 'limit=abc', 'offset=-1']) expect([q, (await req(owner, 'GET', `${ORG}/${org.id}/audit?${q}`)).status]).toEqual([q, 400]);
    const co = await memberWithRole(db, org.id, 'Co-Owner');
    expect((await req(co, 'GET', `${ORG}/${org.id}/audit`)).status).toBe(200);
    for (const role of ['Maintainer', 'Member']) expect((await req(await memberWithRole(db, org.id, role), 'GET', `${ORG}/${org.id}/audit`)).status).toBe(403);
  });
});

describe('organization invites', () => {
  it('email-bound and single-use: the code only travels in the email; accept needs the matching email', async () => {
    const owner = await signUp(db, { firstName: 'Ina' });
    const org = await createOrg(db, owner);
    const invitee = await signUp(db, { email: `${unique('Invitee')}@Example.test`.toLowerCase() });
    const r = await req(owner, 'POST', `${ORG}/${org.slug}/invite`, { email: invitee.email.toUpperCase(), role: 'Co-Owner', expiresInDays: 3 });
    expect(r.status).toBe(201);
    expect(r.body.data).toMatchObject({ email: invitee.email, role: { name: 'Co-Owner' }, status: 'pending' });
    expect(JSON.stringify(r.body)).not.toMatch(/code/i);
    const outbox = await db.sql<{ payload: unknown }>(`select payload from outbox where event_name = 'organization.invited' and payload->>'inviteId' = $1`, [r.body.data.id]);
    expect(outbox.rows.map((x) => x.payload)).toEqual([{ inviteId: r.body.data.id }]);

    const code = await inviteCodeFromMailbox(db, invitee.email, 'organization');
    expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const mail = (await db.sql<{ subject: string; html: string }>(`select subject, html from dev_emails where "to" = $1`, [invitee.email])).rows[0]!;
    // user-chosen names (organization, inviter) are never in a subject line
    expect(mail.subject).toBe("You're invited to join an organization on FairArena");
    for (const name of [org.name, 'Ina']) expect(mail.subject).not.toContain(name);
    expect(mail.html).toContain(org.name);
    const stored = (await db.sql<{ code_hash: string }>(`select code_hash from organization_invites where id = $1`, [r.body.data.id])).rows[0]!.code_hash;
    expect(stored).toMatch(/^[0-9a-f]{64}$/);
    expect(stored).not.toContain(code);
    const everywhere = await db.sql(`select 1 from outbox where payload::text like $1 union all select 1 from organization_audit_logs where changes::text like $1`, [`%${code}%`]);
    expect(everywhere.rows).toHaveLength(0);

    const wrong = await signUp(db);
    const w = await req(wrong, 'POST', `${ORG}/accept-invite`, { code });
    expect([w.status, w.body.error.code]).toEqual([403, 'FORBIDDEN']);
    const ok = await req(invitee, 'POST', `${ORG}/accept-invite`, { code });
    expect(ok.status).toBe(200);
    expect(ok.body.data).toMatchObject({ organization: { id: org.id }, role: { name: 'Co-Owner' } });
    expect((await req(invitee, 'GET', `${ORG}/${org.id}`)).body.data.role.name).toBe('Co-Owner');
    const again = await req(invitee, 'POST', `${ORG}/accept-invite`, { code });
    expect([again.status, again.body.error.code]).toEqual([410, 'GONE']);
    expect((await req(invitee, 'POST', `${ORG}/accept-invite`, { code: 'A'.repeat(43) })).status).toBe(404);
    expect((await auditRows(org.id)).map((a) => a.action)).toEqual(['organization.create', 'invite.create', 'invite.accept']);
  });

  it('mailing an invite locks nothing while the provider is slow: a concurrent revoke answers at once', async () => {
    const owner = await signUp(db);
    const org = await createOrg(db, owner);
    const invitee = await signUp(db);
    const r = await req(owner, 'POST', `${ORG}/${org.id}/invite`, { email: invitee.email });
    expect(r.status).toBe(201);
    const inviteId = r.body.data.id as string;
    const [row] = (await db.sql<{ id: string; created_at: Date }>(`select id, created_at from outbox where event_name = 'organization.invited' and payload->>'inviteId' = $1`, [inviteId])).rows;

    // Resend accepts the email only when the test says so (the client would wait up to 10 s).
    let arrived!: () => void;
    let answer!: () => void;
    const reached = new Promise<void>((done) => (arrived = done));
    const held = new Promise<void>((done) => (answer = done));
    const resend = fakeFetch({
      'POST https://api.resend.com/emails': async () => {
        arrived();
        await held;
        return Response.json({ id: '0c2d6a4e-4a55-4f3c-9a43-2bb1c6f0a1de' });
      },
    });
    try {
      const batch = createMessageBatch('fairarena-events', [
        { id: 'm0', timestamp: new Date(), attempts: 1, body: { id: row!.id, name: 'organization.invited', payload: { inviteId }, emittedAt: new Date(row!.created_at).toISOString() } },
      ]);
      const execution = createExecutionContext();
      const mailing = worker.queue!(batch as never, { ...db.env, RESEND_API_KEY: 're_test_123' } as Env, execution);
      try {
        await reached;
        const started = Date.now();
        const revoked = await req(owner, 'DELETE', `${ORG}/${org.id}/invites/${inviteId}`);
        expect(revoked.status).toBe(200);
        expect(Date.now() - started).toBeLessThan(2500); // the statement timeout is 5 s
      } finally {
        answer();
        await mailing;
      }
      expect((await getQueueResult(batch, execution)).explicitAcks).toEqual(['m0']);
      expect(resend.calls).toHaveLength(1);
      // The email that was already on its way names an invitation that now says it was revoked.
      const text = ((await resend.calls[0]!.json()) as { text: string }).text;
      const code = text.match(/\/invite\/organization\/([A-Za-z0-9_-]+)/)![1];
      const accept = await req(invitee, 'POST', `${ORG}/accept-invite`, { code });
      expect([accept.status, accept.body.error.details]).toEqual([410, { status: 'revoked' }]);
    } finally {
      resend.restore();
    }
  });

  it('expired → 410; existing member or pending invite → 409; the role must be one the inviter could hold', async () => {
    const owner = await signUp(db);
    const org = await createOrg(db, owner);
    const invitee = await signUp(db);
    expect((await req(owner, 'POST', `${ORG}/${org.id}/invite`, { email: invitee.email })).status).toBe(201);
    const code = await inviteCodeFromMailbox(db, invitee.email, 'organization');
    expect((await req(owner, 'POST', `${ORG}/${org.id}/invite`, { email: invitee.email })).status).toBe(409);
    await db.sql(`update organization_invites set created_at = now() - interval '9 days', expires_at = now() - interval '1 day' where org_id = $1`, [org.id]);
    const expired = await req(invitee, 'POST', `${ORG}/accept-invite`, { code });
    expect([expired.status, expired.body.error.code]).toEqual([410, 'GONE']);
    expect((await req(owner, 'POST', `${ORG}/${org.id}/invite`, { email: invitee.email })).status).toBe(201); // the expired one no longer blocks

    const member = await memberWithRole(db, org.id, 'Member');
    expect((await req(owner, 'POST', `${ORG}/${org.id}/invite`, { email: member.email })).status).toBe(409);
    expect((await req(member, 'POST', `${ORG}/${org.id}/invite`, { email: 'x@example.test' })).status).toBe(403);
    const maint = await memberWithRole(db, org.id, 'Maintainer');
    expect((await req(maint, 'POST', `${ORG}/${org.id}/invite`, { email: 'y@example.test', role: 'Co-Owner' })).status).toBe(403);
    expect((await req(maint, 'POST', `${ORG}/${org.id}/invite`, { email: 'y@example.test' })).status).toBe(201);
    for (const bad of [{ email: 'not-an-email' }, { email: 'z@example.test', expiresInDays: 31 }, { email: 'z@example.test', expiresInDays: 0 }, { email: 'z@example.test', code: 'x' }]) {
      expect([bad, (await req(owner, 'POST', `${ORG}/${org.id}/invite`, bad)).status]).toEqual([bad, 400]);
    }
    expect((await req(owner, 'POST', `${ORG}/${org.id}/invite`, { email: 'z@example.test', role: 'Nope' })).status).toBe(400);
    await resetLimits(db);
  });

  it('an invite to a deleted organization is dead; accepting twice concurrently joins once', async () => {
    const owner = await signUp(db);
    const org = await createOrg(db, owner);
    const invitee = await signUp(db);
    await req(owner, 'POST', `${ORG}/${org.id}/invite`, { email: invitee.email });
    const code = await inviteCodeFromMailbox(db, invitee.email, 'organization');
    const both = await Promise.all([req(invitee, 'POST', `${ORG}/accept-invite`, { code }), req(invitee, 'POST', `${ORG}/accept-invite`, { code })]);
    expect(both.map((x) => x.status).sort()).toEqual([200, 410]);
    expect((await db.sql(`select 1 from organization_members where org_id = $1 and user_id = $2`, [org.id, invitee.id])).rows).toHaveLength(1);

    const other = await signUp(db);
    await req(owner, 'POST', `${ORG}/${org.id}/invite`, { email: other.email });
    const code2 = await inviteCodeFromMailbox(db, other.email, 'organization');
    expect((await req(owner, 'DELETE', `${ORG}/${org.id}`)).status).toBe(200);
    expect((await req(other, 'POST', `${ORG}/accept-invite`, { code: code2 })).status).toBe(404);
  });
});

describe('GET / DELETE /organization/:orgId/invites', () => {
  it('whoever may invite lists pending invites (never the code) and revokes them; accepting a revoked invite → 410; a Member → 403 on both', async () => {
    const owner = await signUp(db, { firstName: 'Ines' });
    const org = await createOrg(db, owner);
    const invitee = await signUp(db);
    const created = await req(owner, 'POST', `${ORG}/${org.id}/invite`, { email: invitee.email, role: 'Maintainer' });
    expect(created.status).toBe(201);
    const code = await inviteCodeFromMailbox(db, invitee.email, 'organization');
    const maint = await memberWithRole(db, org.id, 'Maintainer');
    const member = await memberWithRole(db, org.id, 'Member');

    const list = await req(maint, 'GET', `${ORG}/${org.slug}/invites`);
    expect(list.status).toBe(200);
    expect(list.body.meta).toEqual({ total: 1, limit: 20, offset: 0 });
    expect(list.body.data).toEqual([
      {
        id: created.body.data.id,
        email: invitee.email,
        role: { id: expect.any(String), name: 'Maintainer' },
        status: 'pending',
        expiresAt: created.body.data.expiresAt,
        createdAt: expect.any(String),
        invitedBy: { id: owner.id, name: 'Ines User' },
        usedAt: null,
      },
    ]);
    expect(JSON.stringify(list.body)).not.toContain(code);
    expect((await req(maint, 'GET', `${ORG}/${org.id}/invites?status=bogus`)).status).toBe(400);

    const inviteId = created.body.data.id as string;
    for (const [method, path] of [['GET', `${ORG}/${org.id}/invites`], ['DELETE', `${ORG}/${org.id}/invites/${inviteId}`]] as const) {
      expect([method, (await req(member, method, path)).status]).toEqual([method, 403]);
      expect([method, (await req(await signUp(db), method, path)).status]).toEqual([method, 404]); // not a member
      expect([method, (await req(undefined, method, path)).status]).toEqual([method, 401]);
    }
    // an invite of another organization cannot be revoked through this one
    const foreign = await createOrg(db, await signUp(db));
    expect((await req(owner, 'DELETE', `${ORG}/${foreign.id}/invites/${inviteId}`)).status).toBe(404);
    expect((await req(owner, 'DELETE', `${ORG}/${org.id}/invites/${crypto.randomUUID()}`)).status).toBe(404);
    expect((await req(owner, 'DELETE', `${ORG}/${org.id}/invites/not-a-uuid`)).status).toBe(400);

    const revoked = await req(maint, 'DELETE', `${ORG}/${org.id}/invites/${inviteId}`);
    expect(revoked.body).toEqual({ data: { id: inviteId, status: 'revoked' } });
    expect((await req(maint, 'DELETE', `${ORG}/${org.id}/invites/${inviteId}`)).status).toBe(409);
    expect((await req(maint, 'GET', `${ORG}/${org.id}/invites`)).body.data).toEqual([]);
    expect((await req(maint, 'GET', `${ORG}/${org.id}/invites?status=revoked`)).body.data.map((i: any) => [i.id, i.status])).toEqual([[inviteId, 'revoked']]);

    const accept = await req(invitee, 'POST', `${ORG}/accept-invite`, { code });
    expect([accept.status, accept.body.error.code, accept.body.error.details]).toEqual([410, 'GONE', { status: 'revoked' }]);
    expect((await req(invitee, 'GET', `${ORG}/${org.id}`)).status).toBe(404);
    expect((await auditRows(org.id)).map((a) => a.action)).toContain('invite.revoke');
    await resetLimits(db);
  });
});

describe('an invite dies with its inviter’s authority', () => {
  it('removed, demoted, or the role it grants now above the inviter’s: accept → 410 and nobody joins; never mailed once void', async () => {
    const owner = await signUp(db);
    const org = await createOrg(db, owner);
    const inviteBy = async (inviter: Awaited<ReturnType<typeof signUp>>, role?: string) => {
      const invitee = await signUp(db);
      expect((await req(inviter, 'POST', `${ORG}/${org.id}/invite`, { email: invitee.email, ...(role ? { role } : {}) })).status).toBe(201);
      return { invitee, code: await inviteCodeFromMailbox(db, invitee.email, 'organization') };
    };
    const expectVoid = async (x: { invitee: Awaited<ReturnType<typeof signUp>>; code: string }) => {
      const r = await req(x.invitee, 'POST', `${ORG}/accept-invite`, { code: x.code });
      expect([r.status, r.body.error.code, r.body.error.details]).toEqual([410, 'GONE', { status: 'void' }]);
      expect((await db.sql(`select 1 from organization_members where org_id = $1 and user_id = $2`, [org.id, x.invitee.id])).rows).toHaveLength(0);
    };

    const removed = await memberWithRole(db, org.id, 'Maintainer');
    const fromRemoved = await inviteBy(removed);
    expect((await req(owner, 'DELETE', `${ORG}/${org.id}/members/${removed.id}`)).status).toBe(200);
    await expectVoid(fromRemoved);

    const demoted = await memberWithRole(db, org.id, 'Maintainer');
    const fromDemoted = await inviteBy(demoted);
    expect((await req(owner, 'PATCH', `${ORG}/${org.id}/members/${demoted.id}`, { role: 'Member' })).status).toBe(200);
    await expectVoid(fromDemoted);

    // still allowed to invite, but no longer to hand out the role this invite grants
    const coOwner = await memberWithRole(db, org.id, 'Co-Owner');
    const asCoOwner = await inviteBy(coOwner, 'Co-Owner');
    expect((await req(owner, 'PATCH', `${ORG}/${org.id}/members/${coOwner.id}`, { role: 'Maintainer' })).status).toBe(200);
    await expectVoid(asCoOwner);

    // a deleted inviter account
    const gone = await memberWithRole(db, org.id, 'Maintainer');
    const fromGone = await inviteBy(gone);
    await db.sql('update users set deleted_at = now() where id = $1', [gone.id]);
    await expectVoid(fromGone);

    // void before the email went out: the email is never sent
    const hasty = await memberWithRole(db, org.id, 'Maintainer');
    const unsent = await signUp(db);
    expect((await req(hasty, 'POST', `${ORG}/${org.id}/invite`, { email: unsent.email })).status).toBe(201);
    expect((await req(owner, 'DELETE', `${ORG}/${org.id}/members/${hasty.id}`)).status).toBe(200);
    await db.events.drain();
    expect((await db.sql(`select 1 from dev_emails where "to" = $1`, [unsent.email])).rows).toHaveLength(0);

    // an inviter who kept their authority: the invite works
    const kept = await inviteBy(coOwner); // now a Maintainer, inviting as Member
    expect((await req(kept.invitee, 'POST', `${ORG}/accept-invite`, { code: kept.code })).status).toBe(200);
    await resetLimits(db);
  });
});

describe('OpenAPI', () => {
  it('documents every organization route with the Clerk session', async () => {
    const doc = (await api(db)(undefined, 'GET', '/openapi.json')).body;
    const paths = [
      ['get', '/api/v1/organization'],
      ['post', '/api/v1/organization'],
      ['get', '/api/v1/organization/{orgId}'],
      ['patch', '/api/v1/organization/{orgId}'],
      ['delete', '/api/v1/organization/{orgId}'],
      ['get', '/api/v1/organization/{orgId}/teams'],
      ['get', '/api/v1/organization/{orgId}/audit'],
      ['get', '/api/v1/organization/{orgId}/members'],
      ['patch', '/api/v1/organization/{orgId}/members/{userId}'],
      ['delete', '/api/v1/organization/{orgId}/members/{userId}'],
      ['get', '/api/v1/organization/{orgId}/roles'],
      ['post', '/api/v1/organization/{orgId}/invite'],
      ['post', '/api/v1/organization/accept-invite'],
      ['get', '/api/v1/organization/{orgId}/invites'],
      ['delete', '/api/v1/organization/{orgId}/invites/{inviteId}'],
    ] as const;
    for (const [method, path] of paths) expect([method, path, doc.paths[path]?.[method]?.security]).toEqual([method, path, [{ clerkSession: [] }]]);
  });
});
