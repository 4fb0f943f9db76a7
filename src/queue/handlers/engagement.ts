import { and, eq, isNull } from 'drizzle-orm';
import { newsletterSubscribers, platformInvites, projectMembers, reports, settings, supportTickets, users } from '../../db/schema';
import { isPlaceholderEmail, sendEmail } from '../../services/email/send';
import { templates } from '../../services/email/templates';
import { createWeeklyFeedbackCode } from '../../services/feedback';
import { githubActivity } from '../../services/github';
import { newsletterLink } from '../../services/newsletter';
import { createNotification } from '../../services/notifications/create';
import { resolveSettings } from '../../services/settings/schema';
import type { EventHandler, HandlerContext } from '../types';

// Support, reports, newsletter, platform invites, GitHub activity and the weekly feedback mail.
// Every handler reads current state (payloads carry ids only) and re-checks that the mail is still due.

const frontend = (ctx: HandlerContext, path: string) => `${ctx.config.FRONTEND_URL.replace(/\/+$/, '')}${path}`;

/** An active user with a real address, or null (deleted, anonymised, or address not known yet). */
async function activeRecipient(ctx: HandlerContext, userId: string) {
  const [user] = await ctx.tx
    .select({ email: users.email, firstName: users.firstName, deletedAt: users.deletedAt, anonymizedAt: users.anonymizedAt })
    .from(users)
    .where(eq(users.id, userId));
  if (!user || user.deletedAt || user.anonymizedAt || isPlaceholderEmail(user.email)) return null;
  return user;
}

export const supportConfirmationEmail: EventHandler<'support.ticket_created'> = {
  name: 'support-confirmation-email',
  async run(ctx, { ticketId, sendConfirmation }) {
    const [ticket] = await ctx.tx.select().from(supportTickets).where(eq(supportTickets.id, ticketId));
    if (!ticket) return;
    let to: string;
    let name: string | null = null;
    if (ticket.userId) {
      const user = await activeRecipient(ctx, ticket.userId);
      if (!user) return;
      to = user.email;
      name = user.firstName;
    } else {
      // Anonymous: only the first ticket naming an address in 24 h is confirmed (decided at creation).
      if (!sendConfirmation || !ticket.email) return;
      to = ticket.email;
    }
    const supportUrl = frontend(ctx, '/support');
    // An anonymous confirmation relays nothing the requester wrote (the address may be anyone's).
    const email = ticket.userId
      ? templates.supportConfirmation({ anonymous: false, name, subject: ticket.subject, ticketId: ticket.id, supportUrl })
      : templates.supportConfirmation({ anonymous: true, ticketId: ticket.id, supportUrl });
    await sendEmail({ db: ctx.tx, config: ctx.config }, to, email, { idempotencyKey: ctx.idempotencyKey });
  },
};

export const supportNotification: EventHandler<'support.ticket_created'> = {
  name: 'support-notification',
  async run(ctx, { ticketId }) {
    const [ticket] = await ctx.tx.select({ userId: supportTickets.userId, id: supportTickets.id }).from(supportTickets).where(eq(supportTickets.id, ticketId));
    if (!ticket?.userId) return;
    await createNotification(ctx, {
      userId: ticket.userId,
      type: 'SYSTEM',
      title: 'Support request received',
      message: 'We received your support request and will get back to you.',
      actionUrl: frontend(ctx, '/support'),
      actionLabel: 'View my requests',
      metadata: { ticketId: ticket.id },
    });
  },
};

export const reportReceivedEmail: EventHandler<'report.created'> = {
  name: 'report-received-email',
  async run(ctx, { reportId }) {
    const [report] = await ctx.tx.select({ id: reports.id, reporterId: reports.reporterId, entityType: reports.entityType }).from(reports).where(eq(reports.id, reportId));
    if (!report) return;
    const user = await activeRecipient(ctx, report.reporterId);
    if (!user) return;
    await sendEmail(
      { db: ctx.tx, config: ctx.config },
      user.email,
      templates.reportReceived({ name: user.firstName, reportId: report.id, entityType: report.entityType }),
      { idempotencyKey: ctx.idempotencyKey },
    );
  },
};

export const newsletterConfirmationEmail: EventHandler<'newsletter.confirmation_requested'> = {
  name: 'newsletter-confirmation-email',
  async run(ctx, { subscriberId }) {
    const [row] = await ctx.tx.select({ email: newsletterSubscribers.email, status: newsletterSubscribers.status }).from(newsletterSubscribers).where(eq(newsletterSubscribers.id, subscriberId));
    if (!row || row.status !== 'pending') return; // confirmed or unsubscribed meanwhile
    const unsubscribeUrl = await newsletterLink(ctx.config, 'unsubscribe', row.email);
    await sendEmail(
      { db: ctx.tx, config: ctx.config },
      row.email,
      templates.newsletterConfirm({ confirmUrl: await newsletterLink(ctx.config, 'confirm', row.email), unsubscribeUrl }),
      { idempotencyKey: ctx.idempotencyKey },
    );
  },
};

export const platformInviteEmail: EventHandler<'platform.invite_requested'> = {
  name: 'platform-invite-email',
  async run(ctx, { inviteId }) {
    const [invite] = await ctx.tx
      .select({ email: platformInvites.email, firstName: users.firstName, lastName: users.lastName, username: users.username })
      .from(platformInvites)
      .innerJoin(users, eq(users.id, platformInvites.inviterId))
      .where(eq(platformInvites.id, inviteId));
    if (!invite) return;
    const [member] = await ctx.tx.select({ id: users.id }).from(users).where(and(eq(users.email, invite.email), isNull(users.deletedAt))).limit(1);
    if (member) return; // signed up in the meantime
    const inviterName = [invite.firstName, invite.lastName].filter(Boolean).join(' ') || invite.username || null;
    await sendEmail(
      { db: ctx.tx, config: ctx.config },
      invite.email,
      templates.platformInvite({ inviterName, signUpUrl: frontend(ctx, '/sign-up') }),
      { idempotencyKey: ctx.idempotencyKey },
    );
  },
};

/** A push or release on a linked repository: an UPDATE notification to each member of the project. */
export const githubActivityNotification: EventHandler<'project.github_activity'> = {
  name: 'github-activity-notification',
  async run(ctx, { projectId, auditLogId }) {
    const activity = await githubActivity(ctx, auditLogId);
    if (!activity || activity.projectId !== projectId) return;
    const c = (activity.changes ?? {}) as Record<string, unknown>;
    const repo = activity.targetId ?? 'the linked repository';
    let title: string;
    let message: string;
    if (activity.action === 'github.release') {
      title = `New release of ${activity.projectName}`;
      message = `${String(c.tag ?? 'A release')} was published on ${repo}.`;
    } else {
      const n = Number(c.commitCount ?? 0);
      const head = (c.headCommit as { message?: string } | null)?.message;
      title = `New push to ${activity.projectName}`;
      message = `${n} commit${n === 1 ? '' : 's'} pushed to ${String(c.branch ?? 'a branch')} of ${repo}${head ? `: ${head}` : '.'}`;
    }
    const members = await ctx.tx
      .select({ userId: projectMembers.userId, settings: settings.settings })
      .from(projectMembers)
      .innerJoin(users, and(eq(users.id, projectMembers.userId), isNull(users.deletedAt)))
      .leftJoin(settings, eq(settings.userId, projectMembers.userId))
      .where(eq(projectMembers.projectId, projectId));
    for (const m of members) {
      if (!resolveSettings(m.settings).notifications.teamActivity) continue;
      await createNotification(ctx, {
        userId: m.userId,
        type: 'UPDATE',
        title,
        message,
        actionUrl: typeof c.url === 'string' ? c.url : null,
        actionLabel: typeof c.url === 'string' ? 'View on GitHub' : null,
        metadata: { projectId, auditLogId, action: activity.action },
      });
    }
  },
};

/**
 * The weekly mail for one user (the cron job emits one event per user per week). Re-checks the
 * opt-in, creates a fresh anonymous single-use code and mails it; the code row and the processed mark
 * commit together, so a failed send leaves no orphan code and a redelivery sends nothing twice.
 */
export const weeklyFeedbackEmail: EventHandler<'feedback.weekly_requested'> = {
  name: 'weekly-feedback-email',
  async run(ctx, { userId }) {
    const user = await activeRecipient(ctx, userId);
    if (!user) return;
    const [prefs] = await ctx.tx.select({ settings: settings.settings }).from(settings).where(eq(settings.userId, userId));
    if (!resolveSettings(prefs?.settings).email.weeklyFeedback) return;
    const code = await createWeeklyFeedbackCode(ctx.tx);
    const unsubscribeUrl = frontend(ctx, '/settings/notifications');
    await sendEmail(
      { db: ctx.tx, config: ctx.config },
      user.email,
      templates.feedbackRequest({ name: user.firstName, feedbackUrl: frontend(ctx, `/feedback/${code}`), unsubscribeUrl }),
      { idempotencyKey: ctx.idempotencyKey, headers: { 'List-Unsubscribe': `<${unsubscribeUrl}>` } },
    );
  },
};
