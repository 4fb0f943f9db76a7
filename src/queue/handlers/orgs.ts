import { and, eq, isNull, sql } from 'drizzle-orm';
import { organizations, teamMembers, teamRoles, teams, users } from '../../db/schema';
import { sendEmail } from '../../services/email/send';
import { templates } from '../../services/email/templates';
import { createNotification } from '../../services/notifications/create';
import { mintInviteCode } from '../../services/membership/invite-mint';
import type { EventHandler, HandlerContext } from '../types';

/**
 * Invite emails. The handler mints the invite's code in its own transaction and sends it (see the
 * comment at the top of services/membership/invite-codes.ts): the code never travels in an event payload. The
 * idempotency key includes the new code's hash, so a retry after an uncommitted send mails the code that
 * is actually stored.
 */
async function sendInviteEmail(ctx: HandlerContext, scope: 'organization' | 'team', inviteId: string): Promise<void> {
  const minted = await mintInviteCode(ctx, { scope, inviteId });
  if (!minted) return; // revoked, used, expired or deleted before we got here: nothing to send
  const url = `${ctx.config.FRONTEND_URL.replace(/\/+$/, '')}/invite/${scope}/${minted.code}`;
  const email =
    scope === 'organization'
      ? templates.organizationInvite({ inviterName: minted.inviterName, orgName: minted.orgName, roleName: minted.roleName, url, expiresAt: minted.expiresAt })
      : templates.teamInvite({ inviterName: minted.inviterName, orgName: minted.orgName, teamName: minted.teamName ?? '', roleName: minted.roleName, url, expiresAt: minted.expiresAt });
  await sendEmail(ctx, { to: minted.email, email, idempotencyKey: `${ctx.idempotencyKey}:${minted.codeHash.slice(0, 16)}` });
}

export const organizationInviteEmail: EventHandler<'organization.invited'> = {
  name: 'organization-invite-email',
  run: (ctx, { inviteId }) => sendInviteEmail(ctx, 'organization', inviteId),
};

export const teamInviteEmail: EventHandler<'team.invited'> = {
  name: 'team-invite-email',
  run: (ctx, { inviteId }) => sendInviteEmail(ctx, 'team', inviteId),
};

/** A new team member: whoever manages the team's members (team Owners and Admins) gets an INVITATION notification. */
export const teamMemberJoinedNotification: EventHandler<'team.member_joined'> = {
  name: 'team-member-joined-notification',
  async run(ctx, { teamId, userId }) {
    const [team] = await ctx.tx
      .select({ name: teams.name, orgSlug: organizations.slug })
      .from(teams)
      .innerJoin(organizations, and(eq(organizations.id, teams.orgId), isNull(organizations.deletedAt)))
      .where(and(eq(teams.id, teamId), isNull(teams.deletedAt)));
    const [joiner] = await ctx.tx
      .select({ firstName: users.firstName, lastName: users.lastName, username: users.username, deletedAt: users.deletedAt })
      .from(users)
      .where(eq(users.id, userId));
    if (!team || !joiner || joiner.deletedAt) return;
    const admins = await ctx.tx
      .select({ userId: teamMembers.userId })
      .from(teamMembers)
      .innerJoin(teamRoles, eq(teamRoles.id, teamMembers.roleId))
      .innerJoin(users, and(eq(users.id, teamMembers.userId), isNull(users.deletedAt)))
      .where(and(eq(teamMembers.teamId, teamId), sql`'team:members:manage' = any(${teamRoles.permissions})`));
    const name = [joiner.firstName, joiner.lastName].filter(Boolean).join(' ') || joiner.username || 'Someone';
    const recipients = admins.map((a) => a.userId).filter((id) => id !== userId);
    for (const recipient of recipients) {
      await createNotification(ctx, {
        userId: recipient,
        type: 'INVITATION',
        title: 'New team member',
        message: `${name} joined ${team.name}.`,
        actionUrl: `${ctx.config.FRONTEND_URL.replace(/\/+$/, '')}/organization/${team.orgSlug}/team/${teamId}`,
        actionLabel: 'View team',
        metadata: { teamId, userId },
      });
    }
  },
};
