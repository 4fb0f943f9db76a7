import { beforeEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_TEAM_ROLES } from '../src/services/membership/permissions';
import { useTestDatabase } from './helpers/db';
import {
  addTeamMember,
  api,
  createOrg,
  createProject,
  createTeam,
  insertTeamInvite,
  inviteCodeFromMailbox,
  memberWithRole,
  resetLimits,
  unique,
} from './helpers/orgs';
import { call } from './helpers/http';
import { signUp, type TestUser } from './helpers/users';

const db = useTestDatabase();
const req = api(db);
const TEAM = '/api/v1/team';

// Fixtures are built through the API as a handful of users: keep the per-user limits out of the way
// (the limits themselves are tested in organization.test.ts).
beforeEach(() => resetLimits(db));

const teamAudit = async (teamId: string) =>
  (await db.sql<{ action: string; actor_id: string; changes: any }>(`select action, actor_id, changes from team_audit_logs where team_id = $1 order by created_at, id`, [teamId])).rows;
const inviteCount = async (teamId: string) => Number((await db.sql<{ n: string }>(`select count(*) as n from team_invites where team_id = $1`, [teamId])).rows[0]!.n);

/** An org with an Owner and a team the Owner created (team Owner too), plus a team Admin and a team Member who are org Members. */
async function world(visibility: 'PUBLIC' | 'INTERNAL' | 'PRIVATE' = 'INTERNAL') {
  const owner = await signUp(db, { firstName: 'Olivia', lastName: 'Owner' });
  const org = await createOrg(db, owner);
  const team = await createTeam(db, owner, org.id, { visibility });
  const admin = await memberWithRole(db, org.id, 'Member');
  await addTeamMember(db, team.id, admin.id, 'Admin');
  const member = await memberWithRole(db, org.id, 'Member');
  await addTeamMember(db, team.id, member.id, 'Member');
  return { owner, org, team, admin, member };
}

describe('POST /team', () => {
  it('Owner, Co-Owner and Maintainer create teams (creator = team Owner, 3 default roles, audited in team and org); Member → 403', async () => {
    const owner = await signUp(db);
    const org = await createOrg(db, owner);
    for (const role of ['Co-Owner', 'Maintainer']) {
      const u = await memberWithRole(db, org.id, role);
      const r = await req(u, 'POST', TEAM, { orgId: org.slug, name: `Team ${role}`, slug: unique('t') });
      expect([role, r.status]).toEqual([role, 201]);
      expect(r.body.data).toMatchObject({ organization: { id: org.id }, visibility: 'INTERNAL', memberCount: 1, projectCount: 0, role: { name: 'Owner' } });
      expect(r.body.data.permissions).toContain('team:delete');
    }
    const m = await memberWithRole(db, org.id, 'Member');
    const denied = await req(m, 'POST', TEAM, { orgId: org.id, name: 'Nope', slug: unique('t') });
    expect([denied.status, denied.body.error.code]).toEqual([403, 'FORBIDDEN']);
    expect((await req(await signUp(db), 'POST', TEAM, { orgId: org.id, name: 'Nope', slug: unique('t') })).status).toBe(404);
    expect((await req(undefined, 'POST', TEAM, { orgId: org.id, name: 'Nope', slug: unique('t') })).status).toBe(401);

    const team = await createTeam(db, owner, org.id, { name: 'Platform', slug: 'platform' });
    const roles = await req(owner, 'GET', `${TEAM}/${team.id}/roles`);
    expect(Object.fromEntries(roles.body.data.map((r: any) => [r.name, [...r.permissions].sort()]))).toEqual(
      Object.fromEntries(DEFAULT_TEAM_ROLES.map((r) => [r.name, [...r.permissions].sort()])),
    );
    expect((await teamAudit(team.id)).map((a) => a.action)).toEqual(['team.create']);
    const orgAudit = await db.sql<{ action: string; target_id: string }>(`select action, target_id from organization_audit_logs where org_id = $1 and action = 'team.create'`, [org.id]);
    expect(orgAudit.rows.map((r) => r.target_id)).toContain(team.id);
  });

  it('name and slug are unique per organization (409, any case) but free across organizations; inputs are validated', async () => {
    const owner = await signUp(db);
    const org = await createOrg(db, owner);
    await createTeam(db, owner, org.id, { name: 'Design', slug: 'design' });
    const slug = await req(owner, 'POST', TEAM, { orgId: org.id, name: 'Other', slug: 'DESIGN' });
    expect([slug.status, slug.body.error.details]).toEqual([409, { field: 'slug' }]);
    const name = await req(owner, 'POST', TEAM, { orgId: org.id, name: 'design', slug: 'design-2' });
    expect([name.status, name.body.error.details]).toEqual([409, { field: 'name' }]);
    await resetLimits(db); // 4 creations so far (refused attempts count too)
    const org2 = await createOrg(db, owner);
    expect((await req(owner, 'POST', TEAM, { orgId: org2.id, name: 'Design', slug: 'design' })).status).toBe(201);
    for (const bad of [{ name: 'x', slug: 'a b' }, { name: 'x', slug: 'ok', visibility: 'SECRET' }, { name: '', slug: 'ok' }, { name: 'x', slug: 'ok', extra: 1 }]) {
      expect([bad, (await req(owner, 'POST', TEAM, { orgId: org.id, ...bad })).status]).toEqual([bad, 400]);
    }
  });
});

describe('GET /team/:teamId — addressing and visibility', () => {
  it('by uuid, or by slug with ?orgId= (id or slug); a slug alone is ambiguous (400); a foreign org → 404', async () => {
    const { owner, org, team } = await world();
    expect((await req(owner, 'GET', `${TEAM}/${team.id}`)).body.data.id).toBe(team.id);
    expect((await req(owner, 'GET', `${TEAM}/${team.slug}?orgId=${org.slug}`)).body.data.id).toBe(team.id);
    expect((await req(owner, 'GET', `${TEAM}/${team.slug}?orgId=${org.id}`)).body.data.id).toBe(team.id);
    expect((await req(owner, 'GET', `${TEAM}/${team.slug}`)).status).toBe(400);
    const other = await createOrg(db, owner);
    expect((await req(owner, 'GET', `${TEAM}/${team.id}?orgId=${other.id}`)).status).toBe(404);
    expect((await req(owner, 'GET', `${TEAM}/${crypto.randomUUID()}`)).status).toBe(404);
  });

  it('INTERNAL/PUBLIC: every org member reads it; PRIVATE: team members and org Owner/Co-Owner only; lists agree', async () => {
    const owner = await signUp(db);
    const org = await createOrg(db, owner);
    const teams = {
      PUBLIC: await createTeam(db, owner, org.id, { visibility: 'PUBLIC' }),
      INTERNAL: await createTeam(db, owner, org.id, { visibility: 'INTERNAL' }),
      PRIVATE: await createTeam(db, owner, org.id, { visibility: 'PRIVATE' }),
    };
    const co = await memberWithRole(db, org.id, 'Co-Owner');
    const maint = await memberWithRole(db, org.id, 'Maintainer');
    const member = await memberWithRole(db, org.id, 'Member');
    const insider = await memberWithRole(db, org.id, 'Member');
    await addTeamMember(db, teams.PRIVATE.id, insider.id, 'Member');
    const expected: [TestUser, Record<string, number>][] = [
      [co, { PUBLIC: 200, INTERNAL: 200, PRIVATE: 200 }],
      [maint, { PUBLIC: 200, INTERNAL: 200, PRIVATE: 404 }],
      [member, { PUBLIC: 200, INTERNAL: 200, PRIVATE: 404 }],
      [insider, { PUBLIC: 200, INTERNAL: 200, PRIVATE: 200 }],
    ];
    for (const [user, byVisibility] of expected) {
      const listed = (await req(user, 'GET', `/api/v1/organization/${org.id}/teams`)).body.data.map((t: any) => t.id);
      for (const [vis, status] of Object.entries(byVisibility)) {
        const team = teams[vis as keyof typeof teams];
        expect([vis, (await req(user, 'GET', `${TEAM}/${team.id}`)).status]).toEqual([vis, status]);
        expect([vis, listed.includes(team.id)]).toEqual([vis, status === 200]);
      }
    }
    const view = await req(member, 'GET', `${TEAM}/${teams.INTERNAL.id}`);
    expect(view.body.data).toMatchObject({ role: null, permissions: ['team:read'] });
  });
});

describe('PATCH / DELETE /team/:teamId', () => {
  it('team Admin and org Maintainer update, team Member → 403; audited with before/after', async () => {
    const { org, team, admin, member } = await world();
    const r = await req(admin, 'PATCH', `${TEAM}/${team.id}`, { description: 'Builds things', visibility: 'PUBLIC' });
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({ description: 'Builds things', visibility: 'PUBLIC', role: { name: 'Admin' } });
    expect((await req(member, 'PATCH', `${TEAM}/${team.id}`, { description: 'x' })).status).toBe(403);
    const maint = await memberWithRole(db, org.id, 'Maintainer');
    expect((await req(maint, 'PATCH', `${TEAM}/${team.id}`, { name: 'Renamed' })).status).toBe(200);
    const audit = (await teamAudit(team.id)).filter((a) => a.action === 'team.update');
    expect(audit.map((a) => a.changes)).toEqual([
      { before: { description: null, visibility: 'INTERNAL' }, after: { description: 'Builds things', visibility: 'PUBLIC' } },
      { before: { name: team.name }, after: { name: 'Renamed' } },
    ]);
    expect((await req(admin, 'PATCH', `${TEAM}/${team.id}`, {})).status).toBe(400);
  });

  it('team Admin cannot delete (403); team Owner soft-deletes the team and its projects; history kept; slug free again', async () => {
    const { owner, org, team, admin, member } = await world();
    const project = await createProject(db, owner, team.id);
    expect((await req(admin, 'DELETE', `${TEAM}/${team.id}`)).status).toBe(403);
    expect((await req(owner, 'DELETE', `${TEAM}/${team.id}`)).status).toBe(200);
    for (const user of [owner, admin, member]) {
      expect((await req(user, 'GET', `${TEAM}/${team.id}`)).status).toBe(404);
      expect((await req(user, 'GET', `/api/v1/project/${project.id}`)).status).toBe(404);
      expect((await req(user, 'GET', `/api/v1/organization/${org.id}/teams`)).body.data).toEqual([]);
    }
    expect((await req(owner, 'GET', '/api/v1/organization')).body.data[0].teamCount).toBe(0);
    expect((await teamAudit(team.id)).map((a) => a.action)).toEqual(['team.create', 'project.create', 'team.delete']);
    expect((await req(owner, 'POST', TEAM, { orgId: org.id, name: team.name, slug: team.slug })).status).toBe(201);
  });
});

describe('team members, roles and audit', () => {
  it('lists members; Admin removes a Member but not the Owner; a Member may leave; removal is audited', async () => {
    const { owner, team, admin, member } = await world();
    const list = await req(member, 'GET', `${TEAM}/${team.id}/members`);
    expect(list.body.data.map((m: any) => [m.userId, m.role.name])).toEqual([
      [owner.id, 'Owner'],
      [admin.id, 'Admin'],
      [member.id, 'Member'],
    ]);
    expect((await req(admin, 'DELETE', `${TEAM}/${team.id}/members/${owner.id}`)).status).toBe(403);
    expect((await req(member, 'DELETE', `${TEAM}/${team.id}/members/${admin.id}`)).status).toBe(403);
    expect((await req(admin, 'DELETE', `${TEAM}/${team.id}/members/${member.id}`)).status).toBe(200);
    expect((await req(admin, 'DELETE', `${TEAM}/${team.id}/members/${member.id}`)).status).toBe(404);
    expect((await req(admin, 'DELETE', `${TEAM}/${team.id}/members/${admin.id}`)).status).toBe(200);
    expect((await teamAudit(team.id)).map((a) => a.action).slice(-2)).toEqual(['member.remove', 'member.leave']);
    // still org members, so the INTERNAL team stays readable; the membership list shrank
    expect((await req(member, 'GET', `${TEAM}/${team.id}`)).body.data.role).toBeNull();
    expect((await req(owner, 'GET', `${TEAM}/${team.id}/members`)).body.meta.total).toBe(1);
  });

  it('team audit: team Owner/Admin and org Co-Owner read it; team Member and org Maintainer → 403', async () => {
    const { owner, org, team, admin, member } = await world();
    const co = await memberWithRole(db, org.id, 'Co-Owner');
    const maint = await memberWithRole(db, org.id, 'Maintainer');
    for (const u of [owner, admin, co]) expect((await req(u, 'GET', `${TEAM}/${team.id}/audit?limit=5`)).status).toBe(200);
    for (const u of [member, maint]) expect((await req(u, 'GET', `${TEAM}/${team.id}/audit`)).status).toBe(403);
    expect((await req(owner, 'GET', `${TEAM}/${team.id}/audit?limit=500`)).status).toBe(400);
  });
});

describe('team invites', () => {
  it('/team/invite/{code} wins over /team/{teamId}/…: "invite/members" is the public preview of an unknown code, not a team\'s member list', async () => {
    const r = await req(undefined, 'GET', `${TEAM}/invite/members`);
    // The member list would answer an anonymous caller 401; the preview is public and knows no such code.
    expect(r.status).not.toBe(401);
    expect([400, 404]).toContain(r.status);
  });

  it('Done-when: Owner creates org, team, project; invites by email; the email is in the dev mailbox; the invitee accepts, reads the team and its INTERNAL projects but cannot delete them', async () => {
    const owner = await signUp(db, { firstName: 'Olivia' });
    const org = await createOrg(db, owner);
    const team = await createTeam(db, owner, org.id);
    const internal = await createProject(db, owner, team.id, { visibility: 'INTERNAL' });
    const hidden = await createProject(db, owner, team.id, { visibility: 'PRIVATE' });
    const invitee = await signUp(db, { firstName: 'Ivan' });

    const r = await req(owner, 'POST', `${TEAM}/invite`, { teamId: team.id, email: invitee.email });
    expect(r.status).toBe(201);
    expect(r.body.data).toMatchObject({ email: invitee.email, role: { name: 'Member' }, status: 'pending' });
    expect(db.events.names()).toContain('team.invited');
    const code = await inviteCodeFromMailbox(db, invitee.email, 'team');
    const mail = (await db.sql<{ subject: string; text: string }>(`select subject, text from dev_emails where "to" = $1`, [invitee.email])).rows[0]!;
    // user-chosen names (team, organization, inviter) are never in a subject line
    expect(mail.subject).toBe("You've been invited to join a team on FairArena");
    for (const name of [team.name, org.name, 'Olivia']) expect(mail.subject).not.toContain(name);
    expect(mail.text).toContain(team.name);
    expect(mail.text).toContain(`http://localhost:5173/invite/team/${code}`);
    expect(mail.text).toContain('Olivia');

    const preview = await req(undefined, 'GET', `${TEAM}/invite/${code}`);
    expect(preview.status).toBe(200);
    expect(preview.body.data).toEqual({
      organization: { name: org.name, slug: org.slug },
      team: { name: team.name, slug: team.slug },
      role: { name: 'Member' },
      expiresAt: expect.any(String),
    });

    expect((await req(invitee, 'GET', `${TEAM}/${team.id}`)).status).toBe(404);
    const accepted = await req(invitee, 'POST', `${TEAM}/accept-invite`, { code });
    expect(accepted.status).toBe(200);
    expect(accepted.body.data).toMatchObject({ organization: { id: org.id }, team: { id: team.id }, role: { name: 'Member' } });
    // the invitee is an org member (Member) too, so every team route works for them
    expect((await req(invitee, 'GET', `/api/v1/organization/${org.id}`)).body.data.role.name).toBe('Member');
    expect((await req(invitee, 'GET', `${TEAM}/${team.id}`)).body.data.role).toMatchObject({ name: 'Member' });
    expect((await req(invitee, 'GET', `${TEAM}/${team.id}/members`)).status).toBe(200);
    expect((await req(invitee, 'GET', `${TEAM}/${team.id}/roles`)).status).toBe(200);
    expect((await req(invitee, 'GET', `${TEAM}/${team.id}/projects`)).body.data.map((p: any) => p.id)).toEqual([internal.id]);
    expect((await req(invitee, 'GET', `/api/v1/project/${internal.id}`)).status).toBe(200);
    expect((await req(invitee, 'GET', `/api/v1/project/${hidden.id}`)).status).toBe(404);
    expect((await req(invitee, 'DELETE', `/api/v1/project/${internal.id}`)).status).toBe(403);
    expect((await req(invitee, 'DELETE', `${TEAM}/${team.id}`)).status).toBe(403);

    // the team owner is notified (INVITATION) once the event is delivered
    await db.events.drain();
    const notes = (await db.sql<{ type: string; message: string }>(`select type, message from notifications where user_id = $1 and type = 'INVITATION'`, [owner.id])).rows;
    expect(notes).toEqual([{ type: 'INVITATION', message: `Ivan User joined ${team.name}.` }]);
    expect((await teamAudit(team.id)).map((a) => a.action)).toEqual(['team.create', 'project.create', 'project.create', 'invite.create', 'invite.accept']);
    const orgAudit = (await db.sql<{ action: string }>(`select action from organization_audit_logs where org_id = $1 order by created_at`, [org.id])).rows.map((a) => a.action);
    expect(orgAudit).toContain('member.join');
    // joining the organization through the team invite is a membership change of the invitee's too
    const activity = (await db.sql<{ action: string; metadata: any }>(`select action, metadata from activity_logs where user_id = $1 and action like 'membership.%' order by created_at, action`, [invitee.id])).rows;
    expect(activity.map((r) => [r.action, r.metadata.scope])).toEqual([
      ['membership.invite.accept', 'team'],
      ['membership.member.join', 'organization'],
    ]);
  });

  it('lifecycle: wrong email 403; used, expired, revoked and declined → 410 for preview and accept', async () => {
    const { owner, team, admin } = await world();
    const alice = await signUp(db);
    const mallory = await signUp(db);
    const inv = await insertTeamInvite(db, team.id, alice.email, owner.id);
    const wrong = await req(mallory, 'POST', `${TEAM}/accept-invite`, { code: inv.code });
    expect([wrong.status, wrong.body.error.code]).toEqual([403, 'FORBIDDEN']);
    expect((await req(mallory, 'POST', `${TEAM}/decline-invite`, { code: inv.code })).status).toBe(403);
    expect((await req(alice, 'POST', `${TEAM}/accept-invite`, { code: inv.code })).status).toBe(200);
    for (const check of [() => req(alice, 'POST', `${TEAM}/accept-invite`, { code: inv.code }), () => req(undefined, 'GET', `${TEAM}/invite/${inv.code}`)]) {
      const r = await check();
      expect([r.status, r.body.error.code, r.body.error.details]).toEqual([410, 'GONE', { status: 'used' }]);
    }

    const bob = await signUp(db);
    const expired = await insertTeamInvite(db, team.id, bob.email, owner.id, { expired: true });
    expect((await req(undefined, 'GET', `${TEAM}/invite/${expired.code}`)).status).toBe(410);
    expect((await req(bob, 'POST', `${TEAM}/accept-invite`, { code: expired.code })).body.error.details).toEqual({ status: 'expired' });

    const carol = await signUp(db);
    const revoked = await insertTeamInvite(db, team.id, carol.email, owner.id);
    expect((await req(admin, 'DELETE', `${TEAM}/${team.id}/invites/${revoked.id}`)).status).toBe(200);
    expect((await req(carol, 'POST', `${TEAM}/accept-invite`, { code: revoked.code })).body.error.details).toEqual({ status: 'revoked' });
    expect((await req(admin, 'DELETE', `${TEAM}/${team.id}/invites/${revoked.id}`)).status).toBe(409);

    const dave = await signUp(db);
    const declined = await insertTeamInvite(db, team.id, dave.email, owner.id);
    expect((await req(dave, 'POST', `${TEAM}/decline-invite`, { code: declined.code })).body).toEqual({ data: { declined: true } });
    expect((await req(dave, 'POST', `${TEAM}/accept-invite`, { code: declined.code })).body.error.details).toEqual({ status: 'declined' });
    expect((await req(dave, 'GET', `${TEAM}/${team.id}`)).status).toBe(404);

    expect((await req(undefined, 'GET', `${TEAM}/invite/${'A'.repeat(43)}`)).status).toBe(404);
    expect((await req(undefined, 'GET', `${TEAM}/invite/short`)).status).toBe(400);
    expect((await req(undefined, 'POST', `${TEAM}/accept-invite`, { code: inv.code })).status).toBe(401);
    expect((await teamAudit(team.id)).map((a) => a.action).filter((a) => a.startsWith('invite.'))).toEqual(['invite.accept', 'invite.revoke', 'invite.decline']);
  });

  it('409 for an existing member or a pending invite; roles beyond the inviter are refused; team Members cannot invite', async () => {
    const { owner, team, admin, member } = await world();
    expect((await req(admin, 'POST', `${TEAM}/invite`, { teamId: team.id, email: member.email })).status).toBe(409);
    const newbie = `${unique('new')}@example.test`;
    expect((await req(admin, 'POST', `${TEAM}/invite`, { teamId: team.id, email: newbie, role: 'Admin' })).status).toBe(201);
    const dup = await req(owner, 'POST', `${TEAM}/invite`, { teamId: team.id, email: newbie.toUpperCase() });
    expect([dup.status, dup.body.error.code]).toEqual([409, 'CONFLICT']);
    expect((await req(admin, 'POST', `${TEAM}/invite`, { teamId: team.id, email: `${unique('o')}@example.test`, role: 'Owner' })).status).toBe(403);
    expect((await req(owner, 'POST', `${TEAM}/invite`, { teamId: team.id, email: `${unique('o')}@example.test`, role: 'Owner' })).status).toBe(201);
    expect((await req(member, 'POST', `${TEAM}/invite`, { teamId: team.id, email: `${unique('m')}@example.test` })).status).toBe(403);
    expect((await req(owner, 'POST', `${TEAM}/invite`, { teamId: team.id, email: `${unique('r')}@example.test`, role: 'Boss' })).status).toBe(400);
    expect((await req(owner, 'POST', `${TEAM}/invite`, { teamId: team.slug, email: `${unique('s')}@example.test` })).status).toBe(400);
  });

  it('lists invites by status for team Owner/Admin, 403 for team Members; revoke checks the team', async () => {
    const { owner, team, admin, member } = await world();
    const users = await Promise.all(Array.from({ length: 4 }, () => signUp(db)));
    const pending = await insertTeamInvite(db, team.id, users[0]!.email, owner.id);
    const used = await insertTeamInvite(db, team.id, users[1]!.email, owner.id);
    await req(users[1], 'POST', `${TEAM}/accept-invite`, { code: used.code });
    const expired = await insertTeamInvite(db, team.id, users[2]!.email, owner.id, { expired: true });
    const revoked = await insertTeamInvite(db, team.id, users[3]!.email, owner.id);
    await req(owner, 'DELETE', `${TEAM}/${team.id}/invites/${revoked.id}`);
    const ids = async (status: string) => (await req(admin, 'GET', `${TEAM}/${team.id}/invites?status=${status}`)).body.data.map((i: any) => i.id);
    expect(await ids('pending')).toEqual([pending.id]);
    expect(await ids('used')).toEqual([used.id]);
    expect(await ids('expired')).toEqual([expired.id]);
    expect(await ids('revoked')).toEqual([revoked.id]);
    expect((await ids('all')).sort()).toEqual([pending.id, used.id, expired.id, revoked.id].sort());
    const def = await req(owner, 'GET', `${TEAM}/${team.id}/invites`);
    expect(def.body.data).toEqual([expect.objectContaining({ id: pending.id, email: users[0]!.email, status: 'pending', invitedBy: expect.objectContaining({ id: owner.id }) })]);
    expect(JSON.stringify(def.body)).not.toContain(pending.code);
    expect((await req(member, 'GET', `${TEAM}/${team.id}/invites`)).status).toBe(403);
    expect((await req(admin, 'GET', `${TEAM}/${team.id}/invites?status=bogus`)).status).toBe(400);

    expect((await req(owner, 'DELETE', `${TEAM}/${team.id}/invites/${used.id}`)).status).toBe(409);
    const other = await createTeam(db, owner, (await createOrg(db, owner)).id);
    expect((await req(owner, 'DELETE', `${TEAM}/${other.id}/invites/${pending.id}`)).status).toBe(404);
    expect((await req(member, 'DELETE', `${TEAM}/${team.id}/invites/${pending.id}`)).status).toBe(403);
  });
});

describe('POST /team/invite/bulk', () => {
  it('a JSON list: all created in one go, one email each', async () => {
    const { team, admin } = await world();
    const emails = [1, 2, 3].map((i) => `${unique(`bulk${i}`)}@example.test`);
    const r = await req(admin, 'POST', `${TEAM}/invite/bulk`, { teamId: team.id, invites: [{ email: emails[0] }, { email: emails[1], role: 'Admin' }, { email: emails[2], role: 'member' }] });
    expect(r.status).toBe(201);
    expect(r.body.data.map((i: any) => [i.email, i.role.name])).toEqual([
      [emails[0], 'Member'],
      [emails[1], 'Admin'],
      [emails[2], 'Member'],
    ]);
    for (const e of emails) expect(await inviteCodeFromMailbox(db, e)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('any bad row → 400 with per-row errors and nothing created or sent', async () => {
    const { team, owner, member } = await world();
    const pendingEmail = `${unique('pending')}@example.test`;
    await insertTeamInvite(db, team.id, pendingEmail, owner.id);
    const before = await inviteCount(team.id);
    const eventsBefore = db.events.names().length;
    const good = `${unique('good')}@example.test`;
    const r = await req(owner, 'POST', `${TEAM}/invite/bulk`, {
      teamId: team.id,
      invites: [{ email: good }, { email: 'not-an-email' }, { email: good.toUpperCase() }, { email: member.email }, { email: pendingEmail }, { email: `${unique('x')}@example.test`, role: 'Wizard' }],
    });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('VALIDATION_ERROR');
    expect(r.body.error.details.rows.map((x: any) => [x.row, x.errors.map((e: any) => e.code)])).toEqual([
      [2, ['INVALID_EMAIL']],
      [3, ['DUPLICATE']],
      [4, ['ALREADY_MEMBER']],
      [5, ['PENDING_INVITE']],
      [6, ['UNKNOWN_ROLE']],
    ]);
    expect(await inviteCount(team.id)).toBe(before);
    expect(db.events.names().length).toBe(eventsBefore);
    const tooMany = await req(owner, 'POST', `${TEAM}/invite/bulk`, { teamId: team.id, invites: Array.from({ length: 101 }, (_, i) => ({ email: `u${i}@example.test` })) });
    expect(tooMany.status).toBe(400);
    expect((await req(owner, 'POST', `${TEAM}/invite/bulk`, { teamId: team.id, invites: [] })).status).toBe(400);
    expect((await req(owner, 'POST', `${TEAM}/invite/bulk`, { teamId: team.id, invites: [{ email: 'a@example.test' }], csv: 'email\na@example.test' })).status).toBe(400);
  });

  it('?dryRun=true answers per row (JSON list) and stores, audits, emits and sends nothing', async () => {
    const { team, owner, admin, member } = await world();
    const pendingEmail = `${unique('pending')}@example.test`;
    await insertTeamInvite(db, team.id, pendingEmail, owner.id);
    const count = async (sql: string) => Number((await db.sql<{ n: string }>(sql)).rows[0]!.n);
    const state = async () => {
      await db.events.drain(); // whatever was emitted has sent its mail
      return {
        invites: await inviteCount(team.id),
        audit: (await teamAudit(team.id)).length,
        outbox: await count(`select count(*) as n from outbox`),
        mails: await count(`select count(*) as n from dev_emails`),
        events: db.events.names().length,
      };
    };
    const before = await state();
    const good = `${unique('good')}@example.test`;
    const adminRole = `${unique('adm')}@example.test`;
    const r = await req(admin, 'POST', `${TEAM}/invite/bulk?dryRun=true`, {
      teamId: team.id,
      invites: [
        { email: good.toUpperCase() },
        { email: 'not-an-email' },
        { email: good },
        { email: member.email },
        { email: pendingEmail },
        { email: `${unique('x')}@example.test`, role: 'Wizard' },
        { email: adminRole, role: 'admin' },
        { email: `${unique('o')}@example.test`, role: 'Owner' },
      ],
    });
    expect(r.status).toBe(200);
    expect(r.body.data.summary).toEqual({ total: 8, valid: 2, invalid: 6, wouldCreate: false });
    expect(r.body.data.rows.map((x: any) => [x.row, x.valid, x.role?.name ?? null, x.errors.map((e: any) => e.code)])).toEqual([
      [1, true, 'Member', []],
      [2, false, null, ['INVALID_EMAIL']],
      [3, false, null, ['DUPLICATE']],
      [4, false, null, ['ALREADY_MEMBER']],
      [5, false, null, ['PENDING_INVITE']],
      [6, false, null, ['UNKNOWN_ROLE']],
      [7, true, 'Admin', []],
      [8, false, null, ['ROLE_NOT_GRANTABLE']], // a team Admin cannot hand out Owner
    ]);
    expect(r.body.data.rows[0].email).toBe(good); // normalised as it would be stored
    expect(await state()).toEqual(before);

    // Without dryRun the same valid rows are created: the check and the real call agree.
    const ok = await req(admin, 'POST', `${TEAM}/invite/bulk?dryRun=true`, { teamId: team.id, invites: [{ email: good }, { email: adminRole, role: 'Admin' }] });
    expect(ok.body.data.summary).toEqual({ total: 2, valid: 2, invalid: 0, wouldCreate: true });
    expect(await state()).toEqual(before);
    const created = await req(admin, 'POST', `${TEAM}/invite/bulk?dryRun=false`, { teamId: team.id, invites: [{ email: good }, { email: adminRole, role: 'Admin' }] });
    expect(created.status).toBe(201);
    expect(await inviteCount(team.id)).toBe(before.invites + 2);
  });

  it('?dryRun=true with CSV: per-row results, over 100 valid rows → wouldCreate false; same access rules as creating', async () => {
    const { team, owner, member } = await world();
    const before = await inviteCount(team.id);
    const a = `${unique('csva')}@example.test`;
    const r = await req(owner, 'POST', `${TEAM}/invite/bulk?dryRun=true`, { teamId: team.id, csv: `role,email
Admin,${a}
Member,nope
` });
    expect(r.status).toBe(200);
    expect(r.body.data.rows).toEqual([
      { row: 1, email: a, role: { id: expect.any(String), name: 'Admin' }, valid: true, errors: [] },
      { row: 2, email: 'nope', role: null, valid: false, errors: [{ code: 'INVALID_EMAIL', message: 'invalid email address' }] },
    ]);
    const rows = ['email', ...Array.from({ length: 101 }, (_, i) => `dry${i}.${unique('r')}@example.test`)].join('\n');
    const over100 = await req(owner, 'POST', `${TEAM}/invite/bulk?dryRun=true`, { teamId: team.id, csv: rows });
    expect([over100.status, over100.body.data.summary]).toEqual([200, { total: 101, valid: 101, invalid: 0, wouldCreate: false }]);
    expect((await req(owner, 'POST', `${TEAM}/invite/bulk?dryRun=true`, { teamId: team.id, csv: 'name\nx' })).status).toBe(400);
    expect((await req(owner, 'POST', `${TEAM}/invite/bulk?dryRun=yes`, { teamId: team.id, csv: `email\n${a}` })).status).toBe(400);

    const body = { teamId: team.id, invites: [{ email: `${unique('m')}@example.test` }] };
    const denied = await req(member, 'POST', `${TEAM}/invite/bulk?dryRun=true`, body);
    expect([denied.status, denied.body.error.code]).toEqual([403, 'FORBIDDEN']);
    expect((await req(await signUp(db), 'POST', `${TEAM}/invite/bulk?dryRun=true`, body)).status).toBe(404);
    expect((await req(undefined, 'POST', `${TEAM}/invite/bulk?dryRun=true`, body)).status).toBe(401);
    expect(await inviteCount(team.id)).toBe(before);
  });

  it('CSV text: header email,role (any order, quotes allowed); per-row errors; ≤1000 rows; ≤100 invites per call', async () => {
    const { team, owner } = await world();
    const a = `${unique('csva')}@example.test`;
    const b = `${unique('csvb')}@example.test`;
    const ok = await req(owner, 'POST', `${TEAM}/invite/bulk`, { teamId: team.id, csv: `role,email\r\nAdmin,${a}\n"Member","${b}"\n\n`, expiresInDays: 14 });
    expect(ok.status).toBe(201);
    expect(ok.body.data.map((i: any) => [i.email, i.role.name])).toEqual([
      [a, 'Admin'],
      [b, 'Member'],
    ]);

    const before = await inviteCount(team.id);
    const bad = await req(owner, 'POST', `${TEAM}/invite/bulk`, { teamId: team.id, csv: `email,role\n${unique('c')}@example.test,Member\nnope,Member\n${a},Admin` });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.rows.map((x: any) => [x.row, x.errors.map((e: any) => e.code)])).toEqual([
      [2, ['INVALID_EMAIL']],
      [3, ['PENDING_INVITE']],
    ]);
    expect(await inviteCount(team.id)).toBe(before);

    const rows = (n: number) => ['email', ...Array.from({ length: n }, (_, i) => `bulk${i}.${unique('r')}@example.test`)].join('\n');
    const over100 = await req(owner, 'POST', `${TEAM}/invite/bulk`, { teamId: team.id, csv: rows(101) });
    expect([over100.status, over100.body.error.message]).toEqual([400, expect.stringContaining('At most 100')]);
    const over1000 = await req(owner, 'POST', `${TEAM}/invite/bulk`, { teamId: team.id, csv: rows(1001) });
    expect([over1000.status, over1000.body.error.message]).toEqual([400, expect.stringContaining('at most 1000')]);
    expect((await req(owner, 'POST', `${TEAM}/invite/bulk`, { teamId: team.id, csv: 'name,role\nx,y' })).status).toBe(400);
    expect((await req(owner, 'POST', `${TEAM}/invite/bulk`, { teamId: team.id, csv: 'email' })).status).toBe(400);
    expect(await inviteCount(team.id)).toBe(before);
  });
});

describe('PATCH /team/:teamId/members/:userId and the last Owner', () => {
  const roleIds = async (user: TestUser, teamId: string) =>
    Object.fromEntries((await req(user, 'GET', `${TEAM}/${teamId}/roles`)).body.data.map((r: any) => [r.name, r.id])) as Record<string, string>;

  it('changes a role ({roleId} or {role}) only within the caller’s own permissions; validated; audited', async () => {
    const { owner, org, team, admin, member } = await world();
    const roles = await roleIds(owner, team.id);
    const promoted = await req(admin, 'PATCH', `${TEAM}/${team.id}/members/${member.id}`, { roleId: roles.Admin });
    expect(promoted.status).toBe(200);
    expect(promoted.body.data).toMatchObject({ userId: member.id, role: { id: roles.Admin, name: 'Admin' } });
    expect((await req(owner, 'PATCH', `${TEAM}/${team.id}/members/${member.id}`, { role: 'member' })).body.data.role.name).toBe('Member');
    // no escalation: an Admin can neither hand out Owner nor touch an Owner
    expect((await req(admin, 'PATCH', `${TEAM}/${team.id}/members/${member.id}`, { roleId: roles.Owner })).status).toBe(403);
    expect((await req(admin, 'PATCH', `${TEAM}/${team.id}/members/${owner.id}`, { role: 'Member' })).status).toBe(403);
    // a team Member cannot manage members; an org Maintainer manages them but cannot make an Admin
    expect((await req(member, 'PATCH', `${TEAM}/${team.id}/members/${admin.id}`, { role: 'Member' })).status).toBe(403);
    const maint = await memberWithRole(db, org.id, 'Maintainer');
    expect((await req(maint, 'PATCH', `${TEAM}/${team.id}/members/${member.id}`, { role: 'Admin' })).status).toBe(403);
    // validation, unknown member, foreign callers
    for (const bad of [{}, { roleId: roles.Admin, role: 'Admin' }, { roleId: 'Wizard' }, { roleId: roles.Admin, extra: 1 }]) {
      expect([bad, (await req(owner, 'PATCH', `${TEAM}/${team.id}/members/${member.id}`, bad)).status]).toEqual([bad, 400]);
    }
    expect((await req(owner, 'PATCH', `${TEAM}/${team.id}/members/user_nobody`, { role: 'Admin' })).status).toBe(404);
    expect((await req(await signUp(db), 'PATCH', `${TEAM}/${team.id}/members/${member.id}`, { role: 'Admin' })).status).toBe(404);
    expect((await req(undefined, 'PATCH', `${TEAM}/${team.id}/members/${member.id}`, { role: 'Admin' })).status).toBe(401);
    const changes = (await teamAudit(team.id)).filter((a) => a.action === 'member.role_change').map((a) => a.changes);
    expect(changes).toEqual([
      { before: { role: 'Member' }, after: { role: 'Admin' } },
      { before: { role: 'Admin' }, after: { role: 'Member' } },
    ]);
  });

  it('the last Owner can neither leave, be removed nor be demoted (409); with two Owners one may step down', async () => {
    const { owner, org, team, admin } = await world();
    const coOwner = await memberWithRole(db, org.id, 'Co-Owner'); // holds every team permission through the org
    const self = await req(owner, 'DELETE', `${TEAM}/${team.id}/members/${owner.id}`);
    expect([self.status, self.body.error.code]).toEqual([409, 'CONFLICT']);
    expect((await req(coOwner, 'DELETE', `${TEAM}/${team.id}/members/${owner.id}`)).status).toBe(409);
    expect((await req(coOwner, 'PATCH', `${TEAM}/${team.id}/members/${owner.id}`, { role: 'Admin' })).status).toBe(409);
    expect((await req(owner, 'PATCH', `${TEAM}/${team.id}/members/${owner.id}`, { role: 'Member' })).status).toBe(409);
    // a second Owner: then either may go
    expect((await req(owner, 'PATCH', `${TEAM}/${team.id}/members/${admin.id}`, { role: 'Owner' })).status).toBe(200);
    expect((await req(owner, 'DELETE', `${TEAM}/${team.id}/members/${owner.id}`)).status).toBe(200);
    expect((await req(admin, 'DELETE', `${TEAM}/${team.id}/members/${admin.id}`)).status).toBe(409);
    // a deleted account does not count as an Owner
    await addTeamMember(db, team.id, owner.id, 'Owner');
    await db.sql('update users set deleted_at = now() where id = $1', [owner.id]);
    expect((await req(admin, 'PATCH', `${TEAM}/${team.id}/members/${admin.id}`, { role: 'Member' })).status).toBe(409);
  });

  it('two Owners stepping down at once: exactly one succeeds', async () => {
    const { owner, team, admin } = await world();
    expect((await req(owner, 'PATCH', `${TEAM}/${team.id}/members/${admin.id}`, { role: 'Owner' })).status).toBe(200);
    const both = await Promise.all([
      req(owner, 'DELETE', `${TEAM}/${team.id}/members/${owner.id}`),
      req(admin, 'PATCH', `${TEAM}/${team.id}/members/${admin.id}`, { role: 'Member' }),
    ]);
    expect(both.map((r) => r.status).sort()).toEqual([200, 409]);
    const owners = await db.sql(`select 1 from team_members m join team_roles r on r.id = m.role_id where m.team_id = $1 and r.name = 'Owner'`, [team.id]);
    expect(owners.rows).toHaveLength(1);
  });
});

describe('a team invite dies with its inviter’s authority', () => {
  it('removed, demoted, or the role it grants now above the inviter’s: preview and accept → 410 and nobody joins', async () => {
    const { owner, org, team } = await world();
    const expectVoid = async (invitee: TestUser, code: string) => {
      const preview = await req(undefined, 'GET', `${TEAM}/invite/${code}`);
      expect([preview.status, preview.body.error.details]).toEqual([410, { status: 'void' }]);
      const r = await req(invitee, 'POST', `${TEAM}/accept-invite`, { code });
      expect([r.status, r.body.error.code, r.body.error.details]).toEqual([410, 'GONE', { status: 'void' }]);
      expect((await db.sql(`select 1 from team_members where team_id = $1 and user_id = $2`, [team.id, invitee.id])).rows).toHaveLength(0);
      expect((await db.sql(`select 1 from organization_members where org_id = $1 and user_id = $2`, [org.id, invitee.id])).rows).toHaveLength(0);
    };
    const teamAdmin = async () => {
      const u = await memberWithRole(db, org.id, 'Member');
      await addTeamMember(db, team.id, u.id, 'Admin');
      return u;
    };

    const removed = await teamAdmin();
    const alice = await signUp(db);
    const fromRemoved = await insertTeamInvite(db, team.id, alice.email, removed.id);
    expect((await req(undefined, 'GET', `${TEAM}/invite/${fromRemoved.code}`)).status).toBe(200);
    expect((await req(owner, 'DELETE', `${TEAM}/${team.id}/members/${removed.id}`)).status).toBe(200);
    await expectVoid(alice, fromRemoved.code);

    const demoted = await teamAdmin();
    const bob = await signUp(db);
    const fromDemoted = await insertTeamInvite(db, team.id, bob.email, demoted.id);
    expect((await req(owner, 'PATCH', `${TEAM}/${team.id}/members/${demoted.id}`, { role: 'Member' })).status).toBe(200);
    await expectVoid(bob, fromDemoted.code);

    // still allowed to invite, but no longer to hand out Owner
    const formerOwner = await memberWithRole(db, org.id, 'Member');
    await addTeamMember(db, team.id, formerOwner.id, 'Owner');
    const carol = await signUp(db);
    const asOwner = await insertTeamInvite(db, team.id, carol.email, formerOwner.id, { role: 'Owner' });
    expect((await req(owner, 'PATCH', `${TEAM}/${team.id}/members/${formerOwner.id}`, { role: 'Admin' })).status).toBe(200);
    await expectVoid(carol, asOwner.code);

    // authority through the org role: an org Maintainer demoted to Member
    const maint = await memberWithRole(db, org.id, 'Maintainer');
    const dave = await signUp(db);
    const fromMaint = await insertTeamInvite(db, team.id, dave.email, maint.id);
    expect((await req(owner, 'PATCH', `/api/v1/organization/${org.id}/members/${maint.id}`, { role: 'Member' })).status).toBe(200);
    await expectVoid(dave, fromMaint.code);

    // an inviter who kept their authority: the invite works
    const eve = await signUp(db);
    const kept = await insertTeamInvite(db, team.id, eve.email, formerOwner.id); // now an Admin, inviting as Member
    expect((await req(eve, 'POST', `${TEAM}/accept-invite`, { code: kept.code })).status).toBe(200);
  });
});

describe('invite mail cap', () => {
  const addresses = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ({ email: `${unique(`${tag}${i}`)}@example.test` }));
  /** Invites of the org and its teams, and the invite events queued for them. */
  const sentIn = async (orgId: string) => {
    const { rows } = await db.sql<{ invites: number; events: number }>(
      `with ids as (select i.id from team_invites i join teams t on t.id = i.team_id where t.org_id = $1
                    union all select id from organization_invites where org_id = $1)
       select (select count(*)::int from ids) as invites,
              (select count(*)::int from outbox where event_name in ('team.invited', 'organization.invited') and (payload->>'inviteId')::uuid in (select id from ids)) as events`,
      [orgId],
    );
    return rows[0]!;
  };

  it('50 invite emails per person per hour, organization and team invites together; a bulk that would pass it is refused whole (429), nothing sent', async () => {
    const { owner, org, team } = await world();
    expect((await req(owner, 'POST', `${TEAM}/invite/bulk`, { teamId: team.id, invites: addresses(45, 'cap') })).status).toBe(201);
    expect((await req(owner, 'POST', `/api/v1/organization/${org.id}/invite`, { email: `${unique('capo')}@example.test` })).status).toBe(201);
    expect(await sentIn(org.id)).toEqual({ invites: 46, events: 46 });

    const over = await req(owner, 'POST', `${TEAM}/invite/bulk`, { teamId: team.id, invites: addresses(5, 'over') });
    expect([over.status, over.body.error.code, over.body.error.details.cap]).toEqual([429, 'RATE_LIMITED', { scope: 'user', limit: 50, window: '1 hour' }]);
    const retryAfter = Number(over.headers.get('Retry-After'));
    expect(retryAfter).toBeGreaterThan(3500);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    expect(await sentIn(org.id)).toEqual({ invites: 46, events: 46 });

    expect((await req(owner, 'POST', `${TEAM}/invite/bulk`, { teamId: team.id, invites: addresses(4, 'fit') })).status).toBe(201); // exactly 50
    await resetLimits(db);
    expect((await req(owner, 'POST', `${TEAM}/invite`, { teamId: team.id, email: `${unique('late')}@example.test` })).status).toBe(429);
    expect((await req(owner, 'POST', `/api/v1/organization/${org.id}/invite`, { email: `${unique('late')}@example.test` })).status).toBe(429);
    expect((await req(owner, 'POST', `${TEAM}/invite/bulk`, { teamId: team.id, csv: `email\n${unique('late')}@example.test` })).status).toBe(429);
    // a refused request that was invalid anyway still answers its validation error first
    expect((await req(owner, 'POST', `${TEAM}/invite`, { teamId: team.id, email: 'not-an-email' })).status).toBe(400);
    // someone else in the same organization still has their own hourly allowance
    const coOwner = await memberWithRole(db, org.id, 'Co-Owner');
    expect((await req(coOwner, 'POST', `${TEAM}/invite`, { teamId: team.id, email: `${unique('co')}@example.test` })).status).toBe(201);

    await db.events.drain();
    const refused = await db.sql(`select 1 from dev_emails where "to" like 'over%' or "to" like 'late%'`);
    expect(refused.rows).toHaveLength(0);
    expect(await sentIn(org.id)).toEqual({ invites: 51, events: 51 });
  });

  it('200 invite emails per organization per day, whoever sends them; other organizations are unaffected', async () => {
    const { owner, org, team } = await world();
    const senders = [owner, ...(await Promise.all([1, 2, 3].map(() => memberWithRole(db, org.id, 'Co-Owner'))))];
    for (const [i, sender] of senders.entries()) {
      expect((await req(sender, 'POST', `${TEAM}/invite/bulk`, { teamId: team.id, invites: addresses(50, `day${i}-`) })).status).toBe(201);
    }
    const fifth = await memberWithRole(db, org.id, 'Co-Owner');
    const team2 = await createTeam(db, fifth, org.id);
    const r = await req(fifth, 'POST', `${TEAM}/invite`, { teamId: team2.id, email: `${unique('day')}@example.test` });
    expect([r.status, r.body.error.details.cap]).toEqual([429, { scope: 'organization', limit: 200, window: '24 hours' }]);
    expect(Number(r.headers.get('Retry-After'))).toBeGreaterThan(86_000);
    expect((await req(fifth, 'POST', `/api/v1/organization/${org.id}/invite`, { email: `${unique('day')}@example.test` })).status).toBe(429);
    expect(await sentIn(org.id)).toEqual({ invites: 200, events: 200 });
    const elsewhere = await createOrg(db, fifth);
    expect((await req(fifth, 'POST', `/api/v1/organization/${elsewhere.id}/invite`, { email: `${unique('else')}@example.test` })).status).toBe(201);
  });

  it('fails closed: when the counters cannot be reached nothing is created or sent (503, logged)', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const { owner, org, team } = await world();
    const dead = { ...db.env, UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9' } as typeof db.env;
    const attempts = [
      call(dead, `${TEAM}/invite`, { method: 'POST', token: owner.token, json: { teamId: team.id, email: `${unique('dead')}@example.test` } }),
      call(dead, `${TEAM}/invite/bulk`, { method: 'POST', token: owner.token, json: { teamId: team.id, invites: addresses(2, 'dead') } }),
      call(dead, `/api/v1/organization/${org.id}/invite`, { method: 'POST', token: owner.token, json: { email: `${unique('dead')}@example.test` } }),
    ];
    for (const r of await Promise.all(attempts)) {
      expect([r.status, r.body.error.code]).toEqual([503, 'SERVICE_UNAVAILABLE']);
      expect(r.headers.get('Retry-After')).toBe('60');
    }
    expect(await sentIn(org.id)).toEqual({ invites: 0, events: 0 });
    expect(errors.mock.calls.flat().join('\n')).toContain('invite_mail_cap.unavailable');
    vi.restoreAllMocks();
  });
});
