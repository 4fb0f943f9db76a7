import { and, eq, isNull, sql } from 'drizzle-orm';
import { organizations, teamMembers, teamRoles, teams, users } from '../../db/schema';
import type { ServiceContext } from '../context';
import { createNotification } from '../notifications/create';
import { displayName } from './format';
import { scope } from './scopes';
import { FRONTEND_PAGES, frontendUrl } from '../../lib/frontend-pages';

/**
 * `team.member_joined`: whoever manages the team's members (team Owners and Admins) gets an INVITATION
 * notification. Reads the team and the joiner at delivery time: nothing for a deleted team or account.
 */
export async function notifyTeamMemberJoined(ctx: ServiceContext, input: { teamId: string; userId: string }): Promise<void> {
  const { teamId, userId } = input;
  const db = ctx.db.write;
  const [team] = await db
    .select({ name: teams.name, orgSlug: organizations.slug })
    .from(teams)
    .innerJoin(organizations, and(eq(organizations.id, teams.orgId), isNull(organizations.deletedAt)))
    .where(and(eq(teams.id, teamId), isNull(teams.deletedAt)));
  const [joiner] = await db
    .select({ firstName: users.firstName, lastName: users.lastName, username: users.username, deletedAt: users.deletedAt })
    .from(users)
    .where(eq(users.id, userId));
  if (!team || !joiner || joiner.deletedAt) return;
  const managers = await db
    .select({ userId: teamMembers.userId })
    .from(teamMembers)
    .innerJoin(teamRoles, eq(teamRoles.id, teamMembers.roleId))
    .innerJoin(users, and(eq(users.id, teamMembers.userId), isNull(users.deletedAt)))
    .where(and(eq(teamMembers.teamId, teamId), sql`${scope('team').manage} = any(${teamRoles.permissions})`));
  const name = displayName(joiner) ?? 'Someone';
  for (const recipient of managers.map((m) => m.userId).filter((id) => id !== userId)) {
    await createNotification(ctx, {
      userId: recipient,
      type: 'INVITATION',
      title: 'New team member',
      message: `${name} joined ${team.name}.`,
      actionUrl: frontendUrl(ctx, FRONTEND_PAGES.team(team.orgSlug, teamId)),
      actionLabel: 'View team',
      metadata: { teamId, userId },
    });
  }
}
