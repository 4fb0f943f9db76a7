import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Database, Transaction } from '../../db/client';
import { organizations, projectMembers, projectRoles, teamMembers, teams, users } from '../../db/schema';
import { AppError } from '../../lib/errors';
import type { ServiceContext } from '../context';
import { audit } from './audit';
import { assertCanGrant, authorize, isUuid, type ProjectAccess, type ProjectTarget } from './authz';
import type { MemberView, Paging, RoleView } from './organizations';
import { conflictOn, isOwnerRole, limitedCaller, memberPage, ownerCount, rolesOf, scopeMemberView } from './shared';

/*
 * Project membership: a project is shared with teammates. Its members are a subset of its team's members,
 * each with one of the project's roles (default Owner / Editor / Viewer). Membership adds to what the
 * caller's team and org roles already grant on the project (authz.ts `projectPermissions`): it is how a
 * PRIVATE project is opened to a teammate, and how someone gets `project:delete` /
 * `project:members:manage` on one project only.
 *
 * Rules: managing members needs `project:members:manage`; no escalation (`assertCanGrant` on the role handed
 * out and on the role of the member changed or removed); the last Owner of a project can neither be demoted,
 * removed nor leave. Leaving the team or the organization drops the project memberships with it
 * (teams.ts removeTeamMember, organizations.ts removeMember).
 */

const MEMBER_UNIQUE = { project_members_project_user_uq: 'Already a member of the project' };

type Db = Database | Transaction;
type ProjectRole = typeof projectRoles.$inferSelect;

/** A role of the project by id or (case-insensitive) name; 400 when it does not exist. */
async function resolveProjectRole(db: Db, projectId: string, ref: string): Promise<ProjectRole> {
  const cond = isUuid(ref) ? eq(projectRoles.id, ref.toLowerCase()) : sql`lower(${projectRoles.name}) = lower(${ref})`;
  const [r] = await db.select().from(projectRoles).where(and(eq(projectRoles.projectId, projectId), cond)).limit(1);
  if (!r) {
    throw new AppError('VALIDATION_ERROR', `Unknown role "${ref}" for this project`, { details: { issues: [{ path: 'role', message: 'not a role of this project' }] } });
  }
  return r;
}

/** A project member (active user) with their role; `lock` locks the membership row FOR UPDATE. */
async function projectMember(tx: Transaction, projectId: string, userId: string, options: { lock?: boolean } = {}) {
  const q = tx
    .select({ memberId: projectMembers.id, joinedAt: projectMembers.joinedAt, role: projectRoles, user: users })
    .from(projectMembers)
    .innerJoin(projectRoles, eq(projectRoles.id, projectMembers.roleId))
    .innerJoin(users, and(eq(users.id, projectMembers.userId), isNull(users.deletedAt)))
    .where(and(eq(projectMembers.projectId, projectId), eq(projectMembers.userId, userId)))
    .limit(1);
  const [row] = options.lock ? await q.for('update', { of: projectMembers }) : await q;
  return row ?? null;
}

/**
 * Authorize an addition under locks taken top-down (organization, team: FOR SHARE; project: FOR UPDATE),
 * the order deleteOrganization / deleteTeam / removeMember / removeTeamMember lock in. A concurrent removal
 * of the new member from the team or the organization therefore runs entirely before (the team check below
 * then fails) or entirely after (it then deletes the new project membership too) — never leaving a project
 * member who is not a team member.
 */
async function authorizeLockingHierarchy(tx: Transaction, userId: string, target: ProjectTarget): Promise<ProjectAccess> {
  const first = await authorize(tx, userId, target, 'project:members:manage');
  await tx.select({ id: organizations.id }).from(organizations).where(eq(organizations.id, first.org.id)).for('share');
  await tx.select({ id: teams.id }).from(teams).where(eq(teams.id, first.team.id)).for('share');
  return authorize(tx, userId, { project: first.project.id }, 'project:members:manage', { lock: true });
}

/** GET /project/:projectId/members — whoever can read the project; oldest first. Emails per withVisibleEmails. */
export async function listProjectMembers(ctx: ServiceContext, target: ProjectTarget, paging: Paging): Promise<{ items: MemberView[]; total: number }> {
  const userId = await limitedCaller(ctx, 'orgRead');
  const a = await authorize(ctx.db.write, userId, target, 'project:read');
  return memberPage(ctx.db.write, 'project', a.project.id, { userId, managesMembers: a.can('project:members:manage') }, paging);
}

/**
 * POST /project/:projectId/members — `project:members:manage`. The user must already be a member of the
 * project's team (otherwise 404, the same answer as an unknown user id); 409 when already a project member;
 * the role (id or name) must be one whose permissions the caller holds on the project.
 */
export async function addProjectMember(ctx: ServiceContext, target: ProjectTarget, input: { userId: string; role: string }): Promise<MemberView> {
  const userId = await limitedCaller(ctx, 'orgUpdate');
  return ctx.db.write
    .transaction(async (tx) => {
      const a = await authorizeLockingHierarchy(tx, userId, target);
      const [teammate] = await tx
        .select({ user: users })
        .from(teamMembers)
        .innerJoin(users, and(eq(users.id, teamMembers.userId), isNull(users.deletedAt)))
        .where(and(eq(teamMembers.teamId, a.team.id), eq(teamMembers.userId, input.userId)))
        .limit(1);
      if (!teammate) throw new AppError('NOT_FOUND', 'No such member of the team');
      const role = await resolveProjectRole(tx, a.project.id, input.role);
      assertCanGrant(a.permissions, role.permissions, `assign the project ${role.name} role`);
      if (await projectMember(tx, a.project.id, input.userId)) throw new AppError('CONFLICT', MEMBER_UNIQUE.project_members_project_user_uq);
      const [row] = await tx.insert(projectMembers).values({ projectId: a.project.id, userId: input.userId, roleId: role.id }).returning();
      await audit(tx, 'project', a.project.id, {
        actorId: userId,
        action: 'member.add',
        targetType: 'user',
        targetId: input.userId,
        changes: { after: { role: role.name } },
      });
      return scopeMemberView(teammate.user, role, row!.joinedAt);
    })
    .catch((err) => conflictOn(err, MEMBER_UNIQUE));
}

/**
 * PATCH /project/:projectId/members/:userId — `project:members:manage`. The caller must hold every
 * permission of both the member's current role and the new one; the last Owner cannot be demoted (409).
 */
export async function changeProjectMemberRole(ctx: ServiceContext, target: ProjectTarget, targetUserId: string, roleRef: string): Promise<MemberView> {
  const userId = await limitedCaller(ctx, 'orgUpdate');
  return ctx.db.write.transaction(async (tx) => {
    const a = await authorize(tx, userId, target, 'project:members:manage', { lock: true });
    const member = await projectMember(tx, a.project.id, targetUserId, { lock: true });
    if (!member) throw new AppError('NOT_FOUND', 'Member not found');
    const next = await resolveProjectRole(tx, a.project.id, roleRef);
    assertCanGrant(a.permissions, member.role.permissions, `change the role of a project ${member.role.name}`);
    assertCanGrant(a.permissions, next.permissions, `assign the project ${next.name} role`);
    if (next.id !== member.role.id) {
      if (isOwnerRole('project', member.role) && (await ownerCount(tx, 'project', a.project.id)) <= 1) {
        throw new AppError('CONFLICT', 'The last Owner of the project cannot be demoted: make another member Owner first');
      }
      await tx.update(projectMembers).set({ roleId: next.id }).where(eq(projectMembers.id, member.memberId));
      await audit(tx, 'project', a.project.id, {
        actorId: userId,
        action: 'member.role_change',
        targetType: 'user',
        targetId: targetUserId,
        changes: { before: { role: member.role.name }, after: { role: next.name } },
      });
    }
    return scopeMemberView(member.user, next, member.joinedAt);
  });
}

/**
 * DELETE /project/:projectId/members/:userId — `project:members:manage` (no removing a member whose role
 * holds permissions the caller lacks), or a member leaving (own user id). The last Owner can neither be
 * removed nor leave (409). Team and organization membership stay.
 */
export async function removeProjectMember(ctx: ServiceContext, target: ProjectTarget, targetUserId: string): Promise<{ userId: string; removed: true }> {
  const userId = await limitedCaller(ctx, 'orgUpdate');
  const self = targetUserId === userId;
  await ctx.db.write.transaction(async (tx) => {
    const a = await authorize(tx, userId, target, self ? 'project:read' : 'project:members:manage', { lock: true });
    const member = await projectMember(tx, a.project.id, targetUserId, { lock: true });
    if (!member) throw new AppError('NOT_FOUND', 'Member not found');
    if (!self) assertCanGrant(a.permissions, member.role.permissions, `remove a project ${member.role.name}`);
    if (isOwnerRole('project', member.role) && (await ownerCount(tx, 'project', a.project.id)) <= 1) {
      throw new AppError('CONFLICT', `The last Owner of the project cannot ${self ? 'leave' : 'be removed'}: make another member Owner first`);
    }
    await tx.delete(projectMembers).where(eq(projectMembers.id, member.memberId));
    await audit(tx, 'project', a.project.id, {
      actorId: userId,
      action: self ? 'member.leave' : 'member.remove',
      level: 'WARN',
      targetType: 'user',
      targetId: targetUserId,
      changes: { before: { role: member.role.name } },
    });
  });
  return { userId: targetUserId, removed: true };
}

/** GET /project/:projectId/roles — whoever can read the project; most powerful first. */
export async function listProjectRoles(ctx: ServiceContext, target: ProjectTarget): Promise<RoleView[]> {
  const userId = await limitedCaller(ctx, 'orgRead');
  const a = await authorize(ctx.db.write, userId, target, 'project:read');
  return rolesOf(ctx.db.write, 'project', a.project.id);
}
