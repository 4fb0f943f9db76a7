import { beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_PROJECT_ROLES } from '../src/services/membership/permissions';
import { useTestDatabase } from './helpers/db';
import { addTeamMember, api, createOrg, createProject, createTeam, memberWithRole, resetLimits, unique } from './helpers/orgs';
import { signUp } from './helpers/users';

const db = useTestDatabase();
const req = api(db);
const PROJECT = '/api/v1/project';

beforeEach(() => resetLimits(db));

const projectAudit = async (projectId: string) =>
  (await db.sql<{ action: string; actor_id: string; changes: any }>(`select action, actor_id, changes from project_audit_logs where project_id = $1 order by created_at, id`, [projectId])).rows;

/** Org Owner (who created the team, so team Owner too), a team Admin, a team Member, an org Member outside the team, an org Maintainer. */
async function world(teamVisibility: 'INTERNAL' | 'PRIVATE' = 'INTERNAL') {
  const owner = await signUp(db);
  const org = await createOrg(db, owner);
  const team = await createTeam(db, owner, org.id, { visibility: teamVisibility });
  const admin = await memberWithRole(db, org.id, 'Member');
  await addTeamMember(db, team.id, admin.id, 'Admin');
  const member = await memberWithRole(db, org.id, 'Member');
  await addTeamMember(db, team.id, member.id, 'Member');
  const outsider = await memberWithRole(db, org.id, 'Member');
  const maintainer = await memberWithRole(db, org.id, 'Maintainer');
  return { owner, org, team, admin, member, outsider, maintainer };
}

describe('POST /project', () => {
  it('team members and org Maintainers create (creator = project Owner, roles Owner/Editor/Viewer, audited); org Members outside the team → 403', async () => {
    const w = await world();
    for (const [who, user] of [
      ['team Member', w.member],
      ['team Admin', w.admin],
      ['org Maintainer', w.maintainer],
    ] as const) {
      const r = await req(user, 'POST', PROJECT, { teamId: w.team.id, name: `P ${who}`, slug: unique('p'), githubRepo: 'fairarena/api' });
      expect([who, r.status]).toEqual([who, 201]);
      expect(r.body.data).toMatchObject({ team: { id: w.team.id }, organization: { id: w.org.id }, visibility: 'INTERNAL', githubRepo: 'fairarena/api', createdBy: user.id, role: { name: 'Owner' } });
    }
    const denied = await req(w.outsider, 'POST', PROJECT, { teamId: w.team.id, name: 'Nope', slug: unique('p') });
    expect([denied.status, denied.body.error.code]).toEqual([403, 'FORBIDDEN']);
    expect((await req(await signUp(db), 'POST', PROJECT, { teamId: w.team.id, name: 'Nope', slug: unique('p') })).status).toBe(404);
    expect((await req(undefined, 'POST', PROJECT, { teamId: w.team.id, name: 'Nope', slug: unique('p') })).status).toBe(401);

    const p = await createProject(db, w.owner, w.team.id, { name: 'Engine', slug: 'engine' });
    const roles = (await db.sql<{ name: string; permissions: string[] }>(`select name, permissions from project_roles where project_id = $1`, [p.id])).rows;
    expect(Object.fromEntries(roles.map((r) => [r.name, [...r.permissions].sort()]))).toEqual(Object.fromEntries(DEFAULT_PROJECT_ROLES.map((r) => [r.name, [...r.permissions].sort()])));
    expect((await projectAudit(p.id)).map((a) => a.action)).toEqual(['project.create']);
  });

  it('name/slug unique per team (409), free in another team; githubRepo must be owner/name; team by slug needs orgId', async () => {
    const w = await world();
    await createProject(db, w.owner, w.team.id, { name: 'Engine', slug: 'engine' });
    expect((await req(w.owner, 'POST', PROJECT, { teamId: w.team.id, name: 'Other', slug: 'engine' })).status).toBe(409);
    expect((await req(w.owner, 'POST', PROJECT, { teamId: w.team.id, name: 'ENGINE', slug: 'engine-2' })).status).toBe(409);
    await resetLimits(db); // refused attempts count against the 5/h creation limit too
    const team2 = await createTeam(db, w.owner, w.org.id);
    expect((await req(w.owner, 'POST', PROJECT, { teamId: team2.id, name: 'Engine', slug: 'engine' })).status).toBe(201);
    await resetLimits(db);
    for (const githubRepo of ['nope', 'a/b/c', 'https://github.com/a/b', 'a b/c']) {
      expect([githubRepo, (await req(w.owner, 'POST', PROJECT, { teamId: w.team.id, name: 'G', slug: unique('g'), githubRepo })).status]).toEqual([githubRepo, 400]);
    }
    expect((await req(w.owner, 'POST', PROJECT, { teamId: w.team.slug, name: 'S', slug: unique('s') })).status).toBe(400);
    expect((await req(w.owner, 'POST', PROJECT, { teamId: w.team.slug, orgId: w.org.slug, name: 'S', slug: unique('s') })).status).toBe(201);
  });
});

describe('GET /project/:projectId', () => {
  it('by uuid, or by slug with ?teamId= (and &orgId= for a team slug); a slug alone → 400', async () => {
    const w = await world();
    const p = await createProject(db, w.owner, w.team.id);
    expect((await req(w.member, 'GET', `${PROJECT}/${p.id}`)).body.data.id).toBe(p.id);
    expect((await req(w.member, 'GET', `${PROJECT}/${p.slug}?teamId=${w.team.id}`)).body.data.id).toBe(p.id);
    expect((await req(w.member, 'GET', `${PROJECT}/${p.slug}?teamId=${w.team.slug}&orgId=${w.org.slug}`)).body.data.id).toBe(p.id);
    expect((await req(w.member, 'GET', `${PROJECT}/${p.slug}`)).status).toBe(400);
    expect((await req(w.member, 'GET', `${PROJECT}/${p.slug}?teamId=${w.team.slug}`)).status).toBe(400);
    const other = await createTeam(db, w.owner, w.org.id);
    expect((await req(w.member, 'GET', `${PROJECT}/${p.id}?teamId=${other.id}`)).status).toBe(404);
  });

  it('visibility layers: PRIVATE projects only for project members and roles managing every project; lists agree', async () => {
    const w = await world();
    const open = await createProject(db, w.member, w.team.id, { visibility: 'INTERNAL' });
    const secret = await createProject(db, w.member, w.team.id, { visibility: 'PRIVATE' });
    const co = await memberWithRole(db, w.org.id, 'Co-Owner');
    const expectations: [string, typeof w.owner, number, number][] = [
      ['creator (project Owner)', w.member, 200, 200],
      ['team Admin', w.admin, 200, 200],
      ['org Owner', w.owner, 200, 200],
      ['org Co-Owner', co, 200, 200],
      ['org Maintainer', w.maintainer, 200, 404],
      ['org Member outside the team', w.outsider, 200, 404],
    ];
    for (const [who, user, openStatus, secretStatus] of expectations) {
      expect([who, (await req(user, 'GET', `${PROJECT}/${open.id}`)).status, (await req(user, 'GET', `${PROJECT}/${secret.id}`)).status]).toEqual([who, openStatus, secretStatus]);
      const listed = (await req(user, 'GET', `/api/v1/team/${w.team.id}/projects`)).body.data.map((p: any) => p.id);
      expect([who, listed.includes(secret.id)]).toEqual([who, secretStatus === 200]);
    }
    const other = await memberWithRole(db, w.org.id, 'Member');
    await addTeamMember(db, w.team.id, other.id, 'Member');
    expect((await req(other, 'GET', `${PROJECT}/${secret.id}`)).status).toBe(404);
    expect((await req(w.outsider, 'GET', `${PROJECT}/${open.id}`)).body.data).toMatchObject({ role: null, permissions: ['project:read'] });
  });

  it('a project of a PRIVATE team is invisible to org members outside the team, even when the project is INTERNAL', async () => {
    const w = await world('PRIVATE');
    const p = await createProject(db, w.member, w.team.id, { visibility: 'INTERNAL' });
    expect((await req(w.member, 'GET', `${PROJECT}/${p.id}`)).status).toBe(200);
    expect((await req(w.outsider, 'GET', `${PROJECT}/${p.id}`)).status).toBe(404);
    expect((await req(w.maintainer, 'GET', `${PROJECT}/${p.id}`)).status).toBe(404);
  });
});

describe('PATCH /project/:projectId', () => {
  it('project:update (team Member, org Maintainer); org Members outside the team → 403; githubRepo links and unlinks; audited', async () => {
    const w = await world();
    const p = await createProject(db, w.owner, w.team.id);
    const r = await req(w.member, 'PATCH', `${PROJECT}/${p.id}`, { description: 'Core engine', githubRepo: 'FairArena/Engine' });
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({ description: 'Core engine', githubRepo: 'FairArena/Engine', role: null });
    // linking shows the repository's fresh webhook secret once (github-webhook.test.ts covers it in depth)
    expect(r.body.data.github).toMatchObject({ repo: 'FairArena/Engine', webhookSecret: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    const unlinked = (await req(w.maintainer, 'PATCH', `${PROJECT}/${p.id}`, { githubRepo: null })).body.data;
    expect(unlinked.githubRepo).toBeNull();
    expect(unlinked).not.toHaveProperty('github');
    expect((await req(w.outsider, 'PATCH', `${PROJECT}/${p.id}`, { description: 'x' })).status).toBe(403);
    expect((await req(w.owner, 'PATCH', `${PROJECT}/${p.id}`, {})).status).toBe(400);
    expect((await db.sql<{ updated_by: string }>(`select updated_by from projects where id = $1`, [p.id])).rows[0]!.updated_by).toBe(w.maintainer.id);
    expect((await projectAudit(p.id)).filter((a) => a.action === 'project.update').map((a) => a.changes)).toEqual([
      { before: { description: null, githubRepo: null }, after: { description: 'Core engine', githubRepo: 'FairArena/Engine' }, webhookSecret: 'rotated' },
      { before: { githubRepo: 'FairArena/Engine' }, after: { githubRepo: null }, webhookSecret: 'cleared' },
    ]);
    const twin = await createProject(db, w.owner, w.team.id);
    expect((await req(w.owner, 'PATCH', `${PROJECT}/${twin.id}`, { name: p.name.toLowerCase() })).status).toBe(409);
  });
});

describe('DELETE /project/:projectId', () => {
  it('project Owner / team Admin / org Co-Owner delete (soft); team Member and Maintainer → 403; gone everywhere; history kept', async () => {
    const w = await world();
    const p = await createProject(db, w.member, w.team.id);
    const q = await createProject(db, w.owner, w.team.id);
    expect((await req(w.maintainer, 'DELETE', `${PROJECT}/${q.id}`)).status).toBe(403);
    expect((await req(w.member, 'DELETE', `${PROJECT}/${q.id}`)).status).toBe(403);
    expect((await req(w.member, 'DELETE', `${PROJECT}/${p.id}`)).status).toBe(200);
    expect((await req(w.admin, 'DELETE', `${PROJECT}/${q.id}`)).status).toBe(200);
    for (const user of [w.owner, w.member]) {
      expect((await req(user, 'GET', `${PROJECT}/${p.id}`)).status).toBe(404);
      expect((await req(user, 'PATCH', `${PROJECT}/${p.id}`, { description: 'x' })).status).toBe(404);
      expect((await req(user, 'GET', `/api/v1/team/${w.team.id}/projects`)).body.data).toEqual([]);
    }
    expect((await req(w.owner, 'GET', `/api/v1/team/${w.team.id}`)).body.data.projectCount).toBe(0);
    expect((await projectAudit(p.id)).map((a) => a.action)).toEqual(['project.create', 'project.delete']);
    expect((await req(w.member, 'POST', PROJECT, { teamId: w.team.id, name: p.name, slug: p.slug })).status).toBe(201);
  });
});

describe('OpenAPI', () => {
  it('documents every team and project route; all but the invite preview need the Clerk session', async () => {
    const doc = (await api(db)(undefined, 'GET', '/openapi.json')).body;
    const routes = [
      ['post', '/api/v1/team'],
      ['get', '/api/v1/team/{teamId}'],
      ['patch', '/api/v1/team/{teamId}'],
      ['delete', '/api/v1/team/{teamId}'],
      ['post', '/api/v1/team/invite'],
      ['post', '/api/v1/team/invite/bulk'],
      ['post', '/api/v1/team/accept-invite'],
      ['post', '/api/v1/team/decline-invite'],
      ['get', '/api/v1/team/{teamId}/invites'],
      ['delete', '/api/v1/team/{teamId}/invites/{inviteId}'],
      ['get', '/api/v1/team/{teamId}/members'],
      ['patch', '/api/v1/team/{teamId}/members/{userId}'],
      ['delete', '/api/v1/team/{teamId}/members/{userId}'],
      ['get', '/api/v1/team/{teamId}/roles'],
      ['get', '/api/v1/team/{teamId}/projects'],
      ['get', '/api/v1/team/{teamId}/audit'],
      ['post', '/api/v1/project'],
      ['get', '/api/v1/project/{projectId}'],
      ['patch', '/api/v1/project/{projectId}'],
      ['delete', '/api/v1/project/{projectId}'],
    ] as const;
    for (const [method, path] of routes) expect([method, path, doc.paths[path]?.[method]?.security]).toEqual([method, path, [{ clerkSession: [] }]]);
    expect(doc.paths['/api/v1/team/invite/{code}'].get.security).toEqual([]); // public, and marked so explicitly
  });
});

// ───────────────────────────── project members and roles ─────────────────────────────

const membersOf = (projectId: string) => `${PROJECT}/${projectId}/members`;
const memberRows = async (projectId: string) =>
  (
    await db.sql<{ user_id: string; role: string }>(
      `select pm.user_id, pr.name as role from project_members pm join project_roles pr on pr.id = pm.role_id where pm.project_id = $1 order by pm.joined_at, pm.id`,
      [projectId],
    )
  ).rows.map((r) => [r.user_id, r.role]);
const memberAudit = async (projectId: string) =>
  (
    await db.sql<{ action: string; actor_id: string; target_type: string; target_id: string; changes: any }>(
      `select action, actor_id, target_type, target_id, changes from project_audit_logs where project_id = $1 and action like 'member.%' order by created_at, id`,
      [projectId],
    )
  ).rows;

/** A teammate whose team role ("Reader": team:read only) grants nothing on projects: their project rights are their project role's. */
async function readerTeammate(w: Awaited<ReturnType<typeof world>>) {
  await db.sql(`insert into team_roles (team_id, name, description, permissions) values ($1, 'Reader', 'Reads the team', '{team:read}') on conflict do nothing`, [w.team.id]);
  const u = await memberWithRole(db, w.org.id, 'Member');
  await addTeamMember(db, w.team.id, u.id, 'Reader');
  return u;
}

describe('project members', () => {
  it('lifecycle: add (role by name or id) → list → change role → remove, and a member leaves; each step audited, also in the member’s activity log', async () => {
    const w = await world();
    const p = await createProject(db, w.owner, w.team.id, { visibility: 'PRIVATE' });
    const roles = await req(w.member, 'GET', `${PROJECT}/${p.id}/roles`);
    expect(roles.status).toBe(404); // not readable yet: PRIVATE and not a project member
    const ownerRoles = (await req(w.owner, 'GET', `${PROJECT}/${p.id}/roles`)).body.data;
    expect(ownerRoles.map((r: any) => [r.name, r.isDefault])).toEqual([
      ['Owner', true],
      ['Editor', true],
      ['Viewer', true],
    ]);
    const editorId = ownerRoles.find((r: any) => r.name === 'Editor').id;

    const added = await req(w.owner, 'POST', membersOf(p.id), { userId: w.member.id, role: 'viewer' });
    expect(added.status).toBe(201);
    expect(added.body.data).toMatchObject({ userId: w.member.id, email: w.member.email, role: { name: 'Viewer' } });
    expect((await req(w.member, 'GET', `${PROJECT}/${p.id}`)).body.data.role).toMatchObject({ name: 'Viewer' });
    expect((await req(w.owner, 'POST', `${PROJECT}/${p.slug}/members?teamId=${w.team.id}`, { userId: w.admin.id, role: editorId })).body.data.role.name).toBe('Editor');

    const page1 = await req(w.member, 'GET', `${membersOf(p.id)}?limit=2`);
    expect(page1.status).toBe(200);
    expect(page1.body.meta).toEqual({ total: 3, limit: 2, offset: 0 });
    expect(page1.body.data.map((m: any) => [m.userId, m.role.name])).toEqual([
      [w.owner.id, 'Owner'],
      [w.member.id, 'Viewer'],
    ]);
    expect((await req(w.member, 'GET', `${membersOf(p.id)}?limit=2&offset=2`)).body.data.map((m: any) => m.userId)).toEqual([w.admin.id]);

    const changed = await req(w.owner, 'PATCH', `${membersOf(p.id)}/${w.member.id}`, { role: 'Editor' });
    expect([changed.status, changed.body.data.role.name, changed.body.data.userId]).toEqual([200, 'Editor', w.member.id]);
    expect((await req(w.owner, 'DELETE', `${membersOf(p.id)}/${w.admin.id}`)).body.data).toEqual({ userId: w.admin.id, removed: true });
    expect((await req(w.member, 'DELETE', `${membersOf(p.id)}/${w.member.id}`)).status).toBe(200); // leaves
    expect(await memberRows(p.id)).toEqual([[w.owner.id, 'Owner']]);

    expect((await memberAudit(p.id)).map((a) => [a.action, a.actor_id, a.target_type, a.target_id, a.changes])).toEqual([
      ['member.add', w.owner.id, 'user', w.member.id, { after: { role: 'Viewer' } }],
      ['member.add', w.owner.id, 'user', w.admin.id, { after: { role: 'Editor' } }],
      ['member.role_change', w.owner.id, 'user', w.member.id, { before: { role: 'Viewer' }, after: { role: 'Editor' } }],
      ['member.remove', w.owner.id, 'user', w.admin.id, { before: { role: 'Editor' } }],
      ['member.leave', w.member.id, 'user', w.member.id, { before: { role: 'Editor' } }],
    ]);
    const activity = (await db.sql<{ action: string }>(`select action from activity_logs where user_id = $1 and action like 'membership.member.%' order by created_at, id`, [w.member.id])).rows;
    expect(activity.map((a) => a.action)).toEqual(['membership.member.add', 'membership.member.role_change', 'membership.member.leave']);
    // team membership is untouched by leaving the project
    expect((await req(w.member, 'GET', `/api/v1/team/${w.team.id}`)).body.data.role).toMatchObject({ name: 'Member' });
  });

  it('only teammates can be added: an org member outside the team, another tenant and an unknown id all get the same 404; twice → 409; bad input → 400', async () => {
    const w = await world();
    const p = await createProject(db, w.owner, w.team.id);
    const stranger = await signUp(db);
    const nobody = await req(w.owner, 'POST', membersOf(p.id), { userId: 'user_nobody', role: 'Viewer' });
    expect([nobody.status, nobody.body.error.code]).toEqual([404, 'NOT_FOUND']);
    for (const userId of [w.outsider.id, w.maintainer.id, stranger.id]) {
      const r = await req(w.owner, 'POST', membersOf(p.id), { userId, role: 'Viewer' });
      expect([r.status, r.body.error.message]).toEqual([404, nobody.body.error.message]);
    }
    expect((await req(w.owner, 'POST', membersOf(p.id), { userId: w.member.id, role: 'Viewer' })).status).toBe(201);
    const again = await req(w.owner, 'POST', membersOf(p.id), { userId: w.member.id, role: 'Editor' });
    expect([again.status, again.body.error.code]).toEqual([409, 'CONFLICT']);
    expect((await req(w.owner, 'POST', membersOf(p.id), { userId: w.owner.id, role: 'Viewer' })).status).toBe(409); // the creator is already Owner
    expect(await memberRows(p.id)).toEqual([
      [w.owner.id, 'Owner'],
      [w.member.id, 'Viewer'],
    ]);

    const bad = await req(w.owner, 'POST', membersOf(p.id), { userId: w.admin.id, role: 'Admin' }); // a team role, not a project role
    expect([bad.status, bad.body.error.code]).toEqual([400, 'VALIDATION_ERROR']);
    for (const json of [{ userId: w.admin.id }, { role: 'Viewer' }, { userId: w.admin.id, role: 'Viewer', extra: 1 }, { userId: '', role: 'Viewer' }]) {
      expect([json, (await req(w.owner, 'POST', membersOf(p.id), json)).status]).toEqual([json, 400]);
    }
    expect((await req(w.owner, 'PATCH', `${membersOf(p.id)}/${w.member.id}`, {})).status).toBe(400);
    expect((await req(w.owner, 'PATCH', `${membersOf(p.id)}/${w.member.id}`, { role: 'Nope' })).status).toBe(400);
    for (const q of ['limit=0', 'limit=101', 'offset=-1']) expect([q, (await req(w.owner, 'GET', `${membersOf(p.id)}?${q}`)).status]).toEqual([q, 400]);
    await resetLimits(db); // the owner's refused attempts count against the 10-per-5-minutes update limit too
    // a teammate who is not a project member: nothing to change or remove
    expect((await req(w.owner, 'PATCH', `${membersOf(p.id)}/${w.admin.id}`, { role: 'Editor' })).status).toBe(404);
    expect((await req(w.owner, 'DELETE', `${membersOf(p.id)}/${w.admin.id}`)).status).toBe(404);
    expect((await req(w.admin, 'DELETE', `${membersOf(p.id)}/${w.admin.id}`)).status).toBe(404);
    expect((await req(undefined, 'POST', membersOf(p.id), { userId: w.admin.id, role: 'Viewer' })).status).toBe(401);
    expect((await req(undefined, 'GET', membersOf(p.id))).status).toBe(401);
  });

  it('no escalation: an Editor cannot manage members; a member manager hands out only roles within their own permissions', async () => {
    const w = await world();
    const p = await createProject(db, w.owner, w.team.id);
    await req(w.owner, 'POST', membersOf(p.id), { userId: w.member.id, role: 'Editor' });
    const denied = await req(w.member, 'POST', membersOf(p.id), { userId: w.admin.id, role: 'Owner' });
    expect([denied.status, denied.body.error.details]).toEqual([403, { required: 'project:members:manage' }]);
    expect((await req(w.member, 'PATCH', `${membersOf(p.id)}/${w.member.id}`, { role: 'Owner' })).status).toBe(403);
    expect((await req(w.member, 'DELETE', `${membersOf(p.id)}/${w.owner.id}`)).status).toBe(403);

    // A custom project role that manages members: held = project:read + members:manage (role) ∪ project:update (team Member role).
    await db.sql(`insert into project_roles (project_id, name, permissions) values ($1, 'Steward', '{project:read,project:members:manage}')`, [p.id]);
    expect((await req(w.owner, 'PATCH', `${membersOf(p.id)}/${w.member.id}`, { role: 'Steward' })).status).toBe(200);
    const reader = await readerTeammate(w);
    const owner = await req(w.member, 'POST', membersOf(p.id), { userId: w.admin.id, role: 'Owner' });
    expect([owner.status, owner.body.error.details.missing]).toEqual([403, ['project:delete']]);
    expect((await req(w.member, 'POST', membersOf(p.id), { userId: w.admin.id, role: 'Editor' })).status).toBe(201);
    expect((await req(w.member, 'POST', membersOf(p.id), { userId: reader.id, role: 'Viewer' })).status).toBe(201);
    expect((await req(w.member, 'PATCH', `${membersOf(p.id)}/${reader.id}`, { role: 'Owner' })).status).toBe(403);
    expect((await req(w.member, 'PATCH', `${membersOf(p.id)}/${w.owner.id}`, { role: 'Viewer' })).status).toBe(403); // cannot unmake an Owner
    expect((await req(w.member, 'DELETE', `${membersOf(p.id)}/${w.owner.id}`)).status).toBe(403);
    expect((await req(w.member, 'DELETE', `${membersOf(p.id)}/${reader.id}`)).status).toBe(200);
    expect(await memberRows(p.id)).toEqual([
      [w.owner.id, 'Owner'],
      [w.member.id, 'Steward'],
      [w.admin.id, 'Editor'],
    ]);
  });

  it('the last Owner cannot be demoted, removed or leave (409); with a second Owner one may step down', async () => {
    const w = await world();
    const p = await createProject(db, w.member, w.team.id); // w.member is its only Owner
    const self = `${membersOf(p.id)}/${w.member.id}`;
    for (const [who, method, json] of [
      [w.member, 'PATCH', { role: 'Editor' }],
      [w.member, 'DELETE', undefined],
      [w.admin, 'PATCH', { role: 'Viewer' }], // team Admin holds every project permission
      [w.admin, 'DELETE', undefined],
    ] as const) {
      const r = await req(who, method, self, json);
      expect([method, r.status, r.body.error?.code]).toEqual([method, 409, 'CONFLICT']);
    }
    expect((await req(w.member, 'POST', membersOf(p.id), { userId: w.admin.id, role: 'Owner' })).status).toBe(201);
    expect((await req(w.member, 'PATCH', self, { role: 'Owner' })).status).toBe(200); // unchanged role: no-op, not a demotion
    expect((await req(w.member, 'DELETE', self)).status).toBe(200);
    expect((await req(w.admin, 'PATCH', `${membersOf(p.id)}/${w.admin.id}`, { role: 'Editor' })).status).toBe(409);
    expect(await memberRows(p.id)).toEqual([[w.admin.id, 'Owner']]);
    expect((await memberAudit(p.id)).map((a) => a.action)).toEqual(['member.add', 'member.leave']);
  });

  it('a Viewer reads but cannot update; an Editor updates (teammates whose team role grants nothing on projects)', async () => {
    const w = await world();
    const p = await createProject(db, w.owner, w.team.id, { visibility: 'PRIVATE' });
    const viewer = await readerTeammate(w);
    const editor = await readerTeammate(w);
    expect((await req(viewer, 'GET', `${PROJECT}/${p.id}`)).status).toBe(404);
    await req(w.owner, 'POST', membersOf(p.id), { userId: viewer.id, role: 'Viewer' });
    await req(w.owner, 'POST', membersOf(p.id), { userId: editor.id, role: 'Editor' });
    const read = await req(viewer, 'GET', `${PROJECT}/${p.id}`);
    expect([read.status, read.body.data.permissions]).toEqual([200, ['project:read']]);
    const refused = await req(viewer, 'PATCH', `${PROJECT}/${p.id}`, { description: 'x' });
    expect([refused.status, refused.body.error.code]).toEqual([403, 'FORBIDDEN']);
    expect((await req(editor, 'PATCH', `${PROJECT}/${p.id}`, { description: 'by the editor' })).body.data.description).toBe('by the editor');
    expect((await req(editor, 'DELETE', `${PROJECT}/${p.id}`)).status).toBe(403);
    expect((await req(editor, 'GET', membersOf(p.id))).status).toBe(200);
    expect((await req(editor, 'POST', membersOf(p.id), { userId: w.member.id, role: 'Viewer' })).status).toBe(403);
    // Layering (permissions.ts): the default team Member role grants project:update on every project it can
    // read, so for a default team Member a project Viewer role only opens the PRIVATE project — it restricts nothing.
    await req(w.owner, 'POST', membersOf(p.id), { userId: w.member.id, role: 'Viewer' });
    expect((await req(w.member, 'PATCH', `${PROJECT}/${p.id}`, { description: 'by a team Member' })).status).toBe(200);
  });

  it('a removed member loses a PRIVATE project on their very next request; leaving the team or the organization drops project memberships too', async () => {
    const w = await world();
    const p = await createProject(db, w.owner, w.team.id, { visibility: 'PRIVATE' });
    await req(w.owner, 'POST', membersOf(p.id), { userId: w.member.id, role: 'Editor' });
    expect((await req(w.member, 'GET', `${PROJECT}/${p.id}`)).status).toBe(200);
    expect((await req(w.owner, 'DELETE', `${membersOf(p.id)}/${w.member.id}`)).status).toBe(200);
    for (const [method, path] of [
      ['GET', `${PROJECT}/${p.id}`],
      ['PATCH', `${PROJECT}/${p.id}`],
      ['GET', membersOf(p.id)],
      ['GET', `${PROJECT}/${p.id}/roles`],
    ] as const) {
      expect([method, path, (await req(w.member, method, path, method === 'PATCH' ? { description: 'x' } : undefined)).status]).toEqual([method, path, 404]);
    }

    await req(w.owner, 'POST', membersOf(p.id), { userId: w.member.id, role: 'Viewer' });
    expect((await req(w.owner, 'DELETE', `/api/v1/team/${w.team.id}/members/${w.member.id}`)).status).toBe(200);
    expect(await memberRows(p.id)).toEqual([[w.owner.id, 'Owner']]);
    expect((await req(w.member, 'GET', `${PROJECT}/${p.id}`)).status).toBe(404);

    await addTeamMember(db, w.team.id, w.member.id, 'Member');
    await req(w.owner, 'POST', membersOf(p.id), { userId: w.member.id, role: 'Viewer' });
    expect((await req(w.owner, 'DELETE', `/api/v1/organization/${w.org.id}/members/${w.member.id}`)).status).toBe(200);
    expect(await memberRows(p.id)).toEqual([[w.owner.id, 'Owner']]);
  });

  it('emails in the member list: managers see all; others see their own and opted-in ones only', async () => {
    const w = await world();
    const p = await createProject(db, w.owner, w.team.id);
    await req(w.owner, 'POST', membersOf(p.id), { userId: w.member.id, role: 'Editor' });
    const emails = async (viewer: typeof w.owner) => Object.fromEntries((await req(viewer, 'GET', membersOf(p.id))).body.data.map((m: any) => [m.userId, m.email]));
    expect(await emails(w.owner)).toEqual({ [w.owner.id]: w.owner.email, [w.member.id]: w.member.email });
    expect(await emails(w.member)).toEqual({ [w.owner.id]: null, [w.member.id]: w.member.email });
    expect(await emails(w.outsider)).toEqual({ [w.owner.id]: null, [w.member.id]: null }); // reads the INTERNAL project
  });

  it('documents the member and role routes behind the Clerk session', async () => {
    const doc = (await req(undefined, 'GET', '/openapi.json')).body;
    for (const [method, path] of [
      ['get', '/api/v1/project/{projectId}/members'],
      ['post', '/api/v1/project/{projectId}/members'],
      ['patch', '/api/v1/project/{projectId}/members/{userId}'],
      ['delete', '/api/v1/project/{projectId}/members/{userId}'],
      ['get', '/api/v1/project/{projectId}/roles'],
    ] as const) {
      expect([method, path, doc.paths[path]?.[method]?.security]).toEqual([method, path, [{ clerkSession: [] }]]);
    }
  });
});

// ───────────────────────────── rate limits ─────────────────────────────
// Teams and projects share the organization buckets (src/lib/rate-limit.ts): one per-user
// budget per kind of operation across the hierarchy. Each test exhausts a bucket with cheap calls (a random
// project id: the unit is consumed before authorization, the answer is 404), then shows the 429.

describe('rate limits (shared organization buckets)', () => {
  const exhaust = async (user: Awaited<ReturnType<typeof signUp>>, n: number, method: string, path: () => string) => {
    const statuses = await Promise.all(Array.from({ length: n }, () => req(user, method, path(), method === 'PATCH' ? { description: 'x' } : undefined).then((r) => r.status)));
    expect(new Set(statuses)).toEqual(new Set([404]));
  };
  const expect429 = (r: Awaited<ReturnType<typeof req>>, windowSeconds: number) => {
    expect([r.status, r.body.error?.code]).toEqual([429, 'RATE_LIMITED']);
    const retryAfter = Number(r.headers.get('Retry-After'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(windowSeconds);
    expect(r.body.error.details.retryAfter).toBe(retryAfter);
  };

  it('update: 10 per 5 minutes across projects, project members and teams; other users unaffected', async () => {
    const w = await world();
    const p = await createProject(db, w.owner, w.team.id);
    await exhaust(w.owner, 10, 'PATCH', () => `${PROJECT}/${crypto.randomUUID()}`);
    expect429(await req(w.owner, 'PATCH', `${PROJECT}/${p.id}`, { description: 'eleventh' }), 300);
    expect429(await req(w.owner, 'POST', membersOf(p.id), { userId: w.member.id, role: 'Viewer' }), 300);
    expect429(await req(w.owner, 'PATCH', `/api/v1/team/${w.team.id}`, { description: 'x' }), 300);
    expect((await req(w.admin, 'PATCH', `${PROJECT}/${p.id}`, { description: 'admin' })).status).toBe(200);
  });

  it('delete: 3 per hour', async () => {
    const w = await world();
    const p = await createProject(db, w.owner, w.team.id);
    await exhaust(w.owner, 3, 'DELETE', () => `${PROJECT}/${crypto.randomUUID()}`);
    expect429(await req(w.owner, 'DELETE', `${PROJECT}/${p.id}`), 3600);
    expect429(await req(w.owner, 'DELETE', `/api/v1/team/${w.team.id}`), 3600);
    expect((await req(w.owner, 'GET', `${PROJECT}/${p.id}`)).status).toBe(200); // reads have their own bucket
  });

  it('read: 60 per minute', async () => {
    const w = await world();
    const p = await createProject(db, w.owner, w.team.id);
    await exhaust(w.member, 60, 'GET', () => `${PROJECT}/${crypto.randomUUID()}`);
    expect429(await req(w.member, 'GET', `${PROJECT}/${p.id}`), 60);
    expect429(await req(w.member, 'GET', membersOf(p.id)), 60);
    expect429(await req(w.member, 'GET', `/api/v1/team/${w.team.id}`), 60);
  });

  it('audit: 30 per minute', async () => {
    const w = await world();
    await exhaust(w.owner, 30, 'GET', () => `/api/v1/team/${crypto.randomUUID()}/audit`);
    expect429(await req(w.owner, 'GET', `/api/v1/team/${w.team.id}/audit`), 60);
    expect429(await req(w.owner, 'GET', `/api/v1/organization/${w.org.id}/audit`), 60);
    expect((await req(w.owner, 'GET', `/api/v1/team/${w.team.id}`)).status).toBe(200);
  });
});

describe('project members under concurrency', () => {
  it('two Owners demoting each other at once: exactly one succeeds, one Owner remains', async () => {
    const w = await world();
    const p = await createProject(db, w.owner, w.team.id);
    await req(w.owner, 'POST', membersOf(p.id), { userId: w.admin.id, role: 'Owner' });
    const results = await Promise.all([
      req(w.owner, 'PATCH', `${membersOf(p.id)}/${w.admin.id}`, { role: 'Editor' }),
      req(w.admin, 'PATCH', `${membersOf(p.id)}/${w.owner.id}`, { role: 'Editor' }),
    ]);
    // serialised by the project row lock: the second sees the other as the last Owner (409) — never both demoted
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    expect((await memberRows(p.id)).filter(([, role]) => role === 'Owner')).toHaveLength(1);
  });

  it('adding a teammate while they are removed from the team never leaves a project member outside the team', async () => {
    const w = await world();
    const p = await createProject(db, w.owner, w.team.id);
    const users = await Promise.all(Array.from({ length: 4 }, () => memberWithRole(db, w.org.id, 'Member')));
    for (const u of users) await addTeamMember(db, w.team.id, u.id, 'Member');
    // fails without the FOR SHARE locks on the organization and team rows in addProjectMember
    await Promise.all(
      users.flatMap((u) => [req(w.owner, 'POST', membersOf(p.id), { userId: u.id, role: 'Viewer' }), req(w.admin, 'DELETE', `/api/v1/team/${w.team.id}/members/${u.id}`)]),
    );
    const orphans = await db.sql(
      `select pm.user_id from project_members pm join projects p on p.id = pm.project_id
        where pm.project_id = $1 and not exists (select 1 from team_members tm where tm.team_id = p.team_id and tm.user_id = pm.user_id)`,
      [p.id],
    );
    expect(orphans.rows).toEqual([]);
  });
});
