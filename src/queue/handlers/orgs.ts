import { mailInvite } from '../../services/membership/invite-mail';
import { notifyTeamMemberJoined } from '../../services/membership/member-joined';
import type { EventHandler } from '../types';

export const organizationInviteEmail: EventHandler<'organization.invited'> = {
  name: 'organization-invite-email',
  run: (ctx, { inviteId }) => mailInvite(ctx, { scope: 'organization', inviteId, idempotencyKey: ctx.idempotencyKey }),
};

export const teamInviteEmail: EventHandler<'team.invited'> = {
  name: 'team-invite-email',
  run: (ctx, { inviteId }) => mailInvite(ctx, { scope: 'team', inviteId, idempotencyKey: ctx.idempotencyKey }),
};

/** A new team member: the team's member managers are notified. */
export const teamMemberJoinedNotification: EventHandler<'team.member_joined'> = {
  name: 'team-member-joined-notification',
  run: (ctx, { teamId, userId }) => notifyTeamMemberJoined(ctx, { teamId, userId }),
};
