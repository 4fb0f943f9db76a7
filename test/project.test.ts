import { beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_PROJECT_ROLES } from '../src/services/orgs/permissions';
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
  it('project:update (team Member per §4.3, org Maintainer); org Members outside the team → 403; githubRepo links and unlinks; audited', async () => {
    const w = await world();
    const p = await createProject(db, w.owner, w.team.id);
    const r = await req(w.member, 'PATCH', `${PROJECT}/${p.id}`, { description: 'Core engine', githubRepo: 'FairArena/Engine' });
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({ description: 'Core engine', githubRepo: 'FairArena/Engine', role: null });
    expect((await req(w.maintainer, 'PATCH', `${PROJECT}/${p.id}`, { githubRepo: null })).body.data.githubRepo).toBeNull();
    expect((await req(w.outsider, 'PATCH', `${PROJECT}/${p.id}`, { description: 'x' })).status).toBe(403);
    expect((await req(w.owner, 'PATCH', `${PROJECT}/${p.id}`, {})).status).toBe(400);
    expect((await db.sql<{ updated_by: string }>(`select updated_by from projects where id = $1`, [p.id])).rows[0]!.updated_by).toBe(w.maintainer.id);
    expect((await projectAudit(p.id)).filter((a) => a.action === 'project.update').map((a) => a.changes)).toEqual([
      { before: { description: null, githubRepo: null }, after: { description: 'Core engine', githubRepo: 'FairArena/Engine' } },
      { before: { githubRepo: 'FairArena/Engine' }, after: { githubRepo: null } },
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
    expect(doc.paths['/api/v1/team/invite/{code}'].get.security).toBeUndefined();
  });
});
