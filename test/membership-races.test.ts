import { describe, expect, it } from 'vitest';
import { beginTransaction, lockWaiters, useTestDatabase } from './helpers/db';
import type { CallResult } from './helpers/http';
import { addProjectMember, addTeamMember, api, createOrg, createProject, createTeam, memberWithRole } from './helpers/orgs';
import { signUp } from './helpers/users';

/*
 * Races played in a fixed order: a test transaction takes the locks a concurrent membership change would
 * take and makes its change, the request starts and queues behind those locks, then the change commits.
 */

const db = useTestDatabase();
const req = api(db);

/**
 * Run `statements` in a held transaction, start `request` while it is open, commit once the request waits
 * for a lock (or has finished without waiting), and return the request's answer.
 */
async function whileHeld(statements: [string, unknown[]][], request: () => Promise<CallResult>): Promise<CallResult> {
  const tx = await beginTransaction(db);
  try {
    for (const [text, params] of statements) await tx.query(text, params);
    const pending = request();
    await lockWaiters(db, { until: pending });
    await tx.commit();
    return await pending;
  } finally {
    await tx.rollback();
  }
}

const deletedAt = async (table: 'organizations' | 'teams' | 'projects', id: string) =>
  (await db.sql<{ deleted_at: Date | null }>(`select deleted_at from ${table} where id = $1`, [id])).rows[0]!.deleted_at;

describe('a locked operation decides on the membership committed while it waited for the lock', () => {
  it('an Owner removed while their DELETE /organization waits is refused, and the organization stays', async () => {
    const a = await signUp(db);
    const org = await createOrg(db, a);
    const b = await memberWithRole(db, org.id, 'Owner');
    const r = await whileHeld(
      [
        ['select id from organizations where id = $1 for update', [org.id]],
        ['delete from organization_members where org_id = $1 and user_id = $2', [org.id, b.id]],
      ],
      () => req(b, 'DELETE', `/api/v1/organization/${org.id}`),
    );
    expect([r.status, r.body.error?.code]).toEqual([404, 'NOT_FOUND']);
    expect(await deletedAt('organizations', org.id)).toBeNull();
  });

  it('an Owner demoted to Member while their role change waits is refused', async () => {
    const a = await signUp(db);
    const org = await createOrg(db, a);
    const b = await memberWithRole(db, org.id, 'Owner');
    const c = await memberWithRole(db, org.id, 'Member');
    const r = await whileHeld(
      [
        ['select id from organizations where id = $1 for update', [org.id]],
        [`update organization_members set role_id = (select id from organization_roles where org_id = $1 and name = 'Member') where org_id = $1 and user_id = $2`, [org.id, b.id]],
      ],
      () => req(b, 'PATCH', `/api/v1/organization/${org.id}/members/${c.id}`, { role: 'Co-Owner' }),
    );
    expect([r.status, r.body.error?.code]).toEqual([403, 'FORBIDDEN']);
    const roles = await db.sql<{ name: string }>(
      `select r.name from organization_members m join organization_roles r on r.id = m.role_id where m.org_id = $1 and m.user_id = $2`,
      [org.id, c.id],
    );
    expect(roles.rows).toEqual([{ name: 'Member' }]);
  });

  it('a team Owner removed from the team while their DELETE /team waits is refused, and the team stays', async () => {
    const a = await signUp(db);
    const org = await createOrg(db, a);
    const team = await createTeam(db, a, org.id);
    const b = await memberWithRole(db, org.id, 'Member');
    await addTeamMember(db, team.id, b.id, 'Owner');
    const r = await whileHeld(
      [
        ['select id from teams where id = $1 for update', [team.id]],
        ['delete from team_members where team_id = $1 and user_id = $2', [team.id, b.id]],
      ],
      () => req(b, 'DELETE', `/api/v1/team/${team.id}`),
    );
    // still an org Member, who may read an INTERNAL team but not delete it
    expect([r.status, r.body.error?.code]).toEqual([403, 'FORBIDDEN']);
    expect(await deletedAt('teams', team.id)).toBeNull();
  });

  it('a project Owner removed from the project while their DELETE /project waits is refused, and the project stays', async () => {
    const a = await signUp(db);
    const org = await createOrg(db, a);
    const team = await createTeam(db, a, org.id);
    const project = await createProject(db, a, team.id);
    const b = await memberWithRole(db, org.id, 'Member');
    await addTeamMember(db, team.id, b.id, 'Member');
    await addProjectMember(db, project.id, b.id, 'Owner');
    const r = await whileHeld(
      [
        ['select id from projects where id = $1 for update', [project.id]],
        ['delete from project_members where project_id = $1 and user_id = $2', [project.id, b.id]],
      ],
      () => req(b, 'DELETE', `/api/v1/project/${project.id}`),
    );
    expect([r.status, r.body.error?.code]).toEqual([403, 'FORBIDDEN']);
    expect(await deletedAt('projects', project.id)).toBeNull();
  });
});

describe('creating a team or project holds its parents until it commits', () => {
  const projectMembership = async (userId: string) =>
    (await db.sql(`select p.id from project_members pm join projects p on p.id = pm.project_id where pm.user_id = $1`, [userId])).rows;
  const teamMembership = async (userId: string) => (await db.sql(`select team_id from team_members where user_id = $1`, [userId])).rows;

  it('a member removed from the team while their POST /project waits creates nothing', async () => {
    const a = await signUp(db);
    const org = await createOrg(db, a);
    const team = await createTeam(db, a, org.id);
    const b = await memberWithRole(db, org.id, 'Member');
    await addTeamMember(db, team.id, b.id, 'Member');
    const r = await whileHeld(
      [
        ['select id from teams where id = $1 for update', [team.id]],
        ['delete from team_members where team_id = $1 and user_id = $2', [team.id, b.id]],
      ],
      () => req(b, 'POST', '/api/v1/project', { teamId: team.id, name: 'Late', slug: 'late' }),
    );
    expect([r.status, r.body.error?.code]).toEqual([403, 'FORBIDDEN']);
    expect(await projectMembership(b.id)).toEqual([]);
  });

  it('a member removed from the organization while their POST /project waits creates nothing', async () => {
    const a = await signUp(db);
    const org = await createOrg(db, a);
    const team = await createTeam(db, a, org.id);
    const b = await memberWithRole(db, org.id, 'Member');
    await addTeamMember(db, team.id, b.id, 'Member');
    // the organization's removal: its row locked, the team membership below dropped, the org membership last
    const r = await whileHeld(
      [
        ['select id from organizations where id = $1 for update', [org.id]],
        ['delete from team_members where team_id = $1 and user_id = $2', [team.id, b.id]],
        ['delete from organization_members where org_id = $1 and user_id = $2', [org.id, b.id]],
      ],
      () => req(b, 'POST', '/api/v1/project', { teamId: team.id, name: 'Late', slug: 'late' }),
    );
    expect([r.status, r.body.error?.code]).toEqual([404, 'NOT_FOUND']);
    expect(await projectMembership(b.id)).toEqual([]);
  });

  it('a member removed from the organization while their POST /team waits creates nothing', async () => {
    const a = await signUp(db);
    const org = await createOrg(db, a);
    const b = await memberWithRole(db, org.id, 'Maintainer');
    const r = await whileHeld(
      [
        ['select id from organizations where id = $1 for update', [org.id]],
        ['delete from organization_members where org_id = $1 and user_id = $2', [org.id, b.id]],
      ],
      () => req(b, 'POST', '/api/v1/team', { orgId: org.id, name: 'Late', slug: 'late' }),
    );
    expect([r.status, r.body.error?.code]).toEqual([404, 'NOT_FOUND']);
    expect(await teamMembership(b.id)).toEqual([]);
  });

  it('a Maintainer demoted to Member while their POST /team waits creates nothing', async () => {
    const a = await signUp(db);
    const org = await createOrg(db, a);
    const b = await memberWithRole(db, org.id, 'Maintainer');
    const r = await whileHeld(
      [
        ['select id from organizations where id = $1 for update', [org.id]],
        [`update organization_members set role_id = (select id from organization_roles where org_id = $1 and name = 'Member') where org_id = $1 and user_id = $2`, [org.id, b.id]],
      ],
      () => req(b, 'POST', '/api/v1/team', { orgId: org.id, name: 'Late', slug: 'late' }),
    );
    expect([r.status, r.body.error?.code]).toEqual([403, 'FORBIDDEN']);
    expect(await teamMembership(b.id)).toEqual([]);
  });

  it('no team is created in an organization deleted while POST /team waits', async () => {
    const a = await signUp(db);
    const org = await createOrg(db, a);
    const r = await whileHeld(
      [
        ['select id from organizations where id = $1 for update', [org.id]],
        ['update organizations set deleted_at = now() where id = $1', [org.id]],
      ],
      () => req(a, 'POST', '/api/v1/team', { orgId: org.id, name: 'Late', slug: 'late' }),
    );
    expect([r.status, r.body.error?.code]).toEqual([404, 'NOT_FOUND']);
    expect((await db.sql(`select id from teams where org_id = $1`, [org.id])).rows).toEqual([]);
  });
});
