import { mailWeeklyFeedback } from '../../services/feedback';
import { mailNewsletterConfirmation } from '../../services/newsletter';
import { notifyGithubActivity } from '../../services/notifications/github-activity';
import { mailPlatformInvite } from '../../services/platform';
import { mailReportReceived } from '../../services/reports';
import { mailSupportConfirmation, notifySupportTicket } from '../../services/support';
import type { EventHandler } from '../types';

// Support, reports, newsletter, platform invites, GitHub activity and the weekly feedback mail. Each
// service reads current state (payloads carry ids only) and re-checks that the mail is still due.

export const supportConfirmationEmail: EventHandler<'support.ticket_created'> = {
  name: 'support-confirmation-email',
  run: (ctx, { ticketId, sendConfirmation }) => mailSupportConfirmation(ctx, { ticketId, sendConfirmation, idempotencyKey: ctx.idempotencyKey }),
};

export const supportNotification: EventHandler<'support.ticket_created'> = {
  name: 'support-notification',
  run: (ctx, { ticketId }) => notifySupportTicket(ctx, ticketId),
};

export const reportReceivedEmail: EventHandler<'report.created'> = {
  name: 'report-received-email',
  run: (ctx, { reportId }) => mailReportReceived(ctx, { reportId, idempotencyKey: ctx.idempotencyKey }),
};

export const newsletterConfirmationEmail: EventHandler<'newsletter.confirmation_requested'> = {
  name: 'newsletter-confirmation-email',
  run: (ctx, { subscriberId }) => mailNewsletterConfirmation(ctx, { subscriberId, idempotencyKey: ctx.idempotencyKey }),
};

export const platformInviteEmail: EventHandler<'platform.invite_requested'> = {
  name: 'platform-invite-email',
  run: (ctx, { inviteId }) => mailPlatformInvite(ctx, { inviteId, idempotencyKey: ctx.idempotencyKey }),
};

/** A push or release on a linked repository: an UPDATE notification to each member of the project. */
export const githubActivityNotification: EventHandler<'project.github_activity'> = {
  name: 'github-activity-notification',
  run: (ctx, { projectId, auditLogId }) => notifyGithubActivity(ctx, { projectId, auditLogId }),
};

/** The weekly mail for one user: the code row and the processed mark commit together. */
export const weeklyFeedbackEmail: EventHandler<'feedback.weekly_requested'> = {
  name: 'weekly-feedback-email',
  run: (ctx, { userId }) => mailWeeklyFeedback(ctx, { userId, idempotencyKey: ctx.idempotencyKey }),
};
