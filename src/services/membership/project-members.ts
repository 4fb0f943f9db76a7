import { and, eq, isNull } from 'drizzle-orm';
import { projectMembers, teamMembers, users } from '../../db/schema';
import { AppError } from '../../lib/errors';
import { withTransaction, type ServiceContext } from '../context';
import { audit } from './audit';
import { authorize, type ProjectTarget } from './authz';
import { limitedCaller } from './caller';
import { conflictOn, scopeMemberView, type ScopeMember } from './format';
import { assertCanGrant } from './grants';
import { resolveRole } from './queries';

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
 * (members.ts removeMember).
 */

const MEMBER_UNIQUE = { project_members_project_user_uq: 'Already a member of the project' };

/**
 * POST /project/:projectId/members — `project:members:manage`. The user must already be a member of the
 * project's team (otherwise 404, the same answer as an unknown user id); 409 when already a project member;
 * the role (id or name) must be one whose permissions the caller holds on the project.
 */
export async function addProjectMember(ctx: ServiceContext, input: { target: ProjectTarget; userId: string; role: string }): Promise<ScopeMember> {
  const userId = await limitedCaller(ctx, 'orgUpdate');
  return withTransaction(ctx, async (tx, ctx) => {
    // A concurrent removal of the new member from the team or the organization runs wholly before (the team
    // check below fails) or wholly after (it drops the new project membership too).
    const a = await authorize(ctx, { target: input.target, permission: 'project:members:manage', lock: true, lockHierarchy: true });
    const [teammate] = await tx
      .select({ user: users })
      .from(teamMembers)
      .innerJoin(users, and(eq(users.id, teamMembers.userId), isNull(users.deletedAt)))
      .where(and(eq(teamMembers.teamId, a.team.id), eq(teamMembers.userId, input.userId)))
      .limit(1);
    if (!teammate) throw new AppError('NOT_FOUND', 'No such member of the team');
    const role = await resolveRole(ctx, { scope: 'project', scopeId: a.project.id, ref: input.role });
    assertCanGrant(a.permissions, { permissions: role.permissions, what: `assign the project ${role.name} role` });
    const [row] = await tx
      .insert(projectMembers)
      .values({ projectId: a.project.id, userId: input.userId, roleId: role.id })
      .onConflictDoNothing({ target: [projectMembers.projectId, projectMembers.userId] })
      .returning();
    if (!row) throw new AppError('CONFLICT', MEMBER_UNIQUE.project_members_project_user_uq);
    await audit(ctx, {
      scope: 'project',
      scopeId: a.project.id,
      actorId: userId,
      action: 'member.add',
      targetType: 'user',
      targetId: input.userId,
      changes: { after: { role: role.name } },
    });
    return scopeMemberView(teammate.user, { role, joinedAt: row.joinedAt });
  }).catch((err) => conflictOn(err, MEMBER_UNIQUE));
}
