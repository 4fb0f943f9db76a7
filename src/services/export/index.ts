import { desc, eq } from 'drizzle-orm';
import {
  activityLogs,
  aiSessions,
  creditBalances,
  creditTransactions,
  feedback,
  notifications,
  payments,
  profileStars,
  profiles,
  reports,
  settings,
  supportTickets,
  users,
} from '../../db/schema';
import { isDatabaseUnavailable } from '../../db/errors';
import { EXPORT_POLICY, userState, type StrictLimitResult } from '../../durable/user-state';
import { emit } from '../../events/outbox';
import { describeError, log } from '../../lib/log';
import { logActivity } from '../activity';
import { requireCaller, type ServiceContext, withSavepoint, withTransaction } from '../context';
import { liveAccount } from '../email/recipients';
import { isTransientMailError, sendEmail } from '../email/send';
import { templates } from '../email/templates';
import { userMemberships } from '../membership/queries';
import type { Scope } from '../membership/scopes';
import { tooMany } from '../../lib/errors';
import { failClosed, userStateCall } from '../phone/strict';
import { resolveSettings } from '../settings/schema';

/**
 * POST /account-settings/export-data: at most one per 24 h (counted in the UserState object, fail
 * closed), then the request is recorded in the activity log with the `account.export_requested` event in
 * one transaction. The export itself is built and emailed on the queue (`emailDataExport` below).
 */
export async function requestDataExport(ctx: ServiceContext, meta: { ip: string | null }): Promise<{ status: 'queued' }> {
  const userId = requireCaller(ctx);
  const state = userState(ctx.env, userId);
  const now = Date.now();
  const slot = await failClosed<StrictLimitResult>('exportLimit', () => state.hit('export', EXPORT_POLICY, now));
  if (!slot.allowed) throw tooMany('You can request one data export every 24 hours', slot.retryAfterMs, { reason: 'EXPORT_LIMIT' });
  try {
    await withTransaction(ctx, async (tx, ctx) => {
      await logActivity(ctx, { userId, action: 'export.requested', level: 'INFO', metadata: { ip: meta.ip } });
      await emit(tx, ctx.events, 'account.export_requested', { userId });
    });
  } catch (err) {
    await userStateCall('exportRefund', () => state.refund('export', now)).catch(() => undefined); // nothing was queued: do not spend the day's export
    throw err;
  }
  return { status: 'queued' };
}

/** Rows per collection in one export (an email attachment has to stay small). */
export const EXPORT_ROW_CAP = 5000;

/** Run queries one after another: they share one transaction's connection. */
async function sequential<T extends readonly (() => Promise<unknown>)[]>(queries: readonly [...T]): Promise<{ -readonly [K in keyof T]: Awaited<ReturnType<T[K]>> }> {
  const out: unknown[] = [];
  for (const q of queries) out.push(await q());
  return out as { -readonly [K in keyof T]: Awaited<ReturnType<T[K]>> };
}

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

/**
 * Everything we hold about `userId` — and only about them (an export must not leak another user's email
 * or personal data; notifications therefore without their text). Memberships carry the
 * organization/team/project name and the user's own role, never the other members. Collections are
 * capped at EXPORT_ROW_CAP rows (newest first) and say so.
 */
export async function buildDataExport(ctx: ServiceContext, input: { userId: string; now?: Date }) {
  const { userId, now = new Date() } = input;
  const db = ctx.db.write;
  const cap = EXPORT_ROW_CAP + 1;
  const memberships = (scope: Scope) => userMemberships(ctx, { userId, scope, live: false, limit: cap });
  const [user] = await db
    .select({
      id: users.id,
      email: users.email,
      firstName: users.firstName,
      lastName: users.lastName,
      username: users.username,
      imageUrl: users.imageUrl,
      phoneNumber: users.phoneNumber,
      phoneVerifiedAt: users.phoneVerifiedAt,
      createdAt: users.createdAt,
    })
    .from(users)
    .where(eq(users.id, userId));
  if (!user) throw new Error('export: user not found');

  const [
    [profile],
    [prefs],
    orgRows,
    teamRows,
    projectRows,
    paymentRows,
    [balance],
    creditRows,
    notificationRows,
    ticketRows,
    activityRows,
    starRows,
    feedbackRows,
    reportRows,
    aiRows,
  ] = await sequential([
    () => db.select().from(profiles).where(eq(profiles.userId, userId)),
    () => db.select({ settings: settings.settings }).from(settings).where(eq(settings.userId, userId)),
    async () => (await memberships('organization')).map((m) => ({ id: m.id, name: m.name, slug: m.slug, role: m.role, joinedAt: m.joinedAt, deletedAt: m.deletedAt })),
    async () =>
      (await memberships('team')).map((m) => ({ id: m.id, name: m.name, slug: m.slug, organization: m.organization.name, role: m.role, joinedAt: m.joinedAt, deletedAt: m.deletedAt })),
    async () => (await memberships('project')).map((m) => ({ id: m.id, name: m.name, slug: m.slug, team: m.team, role: m.role, joinedAt: m.joinedAt, deletedAt: m.deletedAt })),
    () => db
      .select({
        id: payments.id,
        razorpayOrderId: payments.razorpayOrderId,
        razorpayPaymentId: payments.razorpayPaymentId,
        planId: payments.planId,
        planName: payments.planName,
        amount: payments.amount,
        currency: payments.currency,
        credits: payments.credits,
        status: payments.status,
        paymentMethod: payments.paymentMethod,
        refundedAmount: payments.refundedAmount,
        invoiceUrl: payments.invoiceUrl,
        createdAt: payments.createdAt,
        completedAt: payments.completedAt,
      })
      .from(payments)
      .where(eq(payments.userId, userId))
      .orderBy(desc(payments.createdAt))
      .limit(cap),
    () => db.select({ balance: creditBalances.balance }).from(creditBalances).where(eq(creditBalances.userId, userId)),
    () => db
      .select({
        id: creditTransactions.id,
        type: creditTransactions.type,
        amount: creditTransactions.amount,
        balanceAfter: creditTransactions.balanceAfter,
        description: creditTransactions.description,
        paymentId: creditTransactions.paymentId,
        createdAt: creditTransactions.createdAt,
      })
      .from(creditTransactions)
      .where(eq(creditTransactions.userId, userId))
      .orderBy(desc(creditTransactions.seq))
      .limit(cap),
    // Type, title, read state and timestamps only: a notification's message, link and metadata are
    // about someone else ("Mallory Smith starred your profile.", "X joined Team", the starrer's id).
    () => db
      .select({
        id: notifications.id,
        type: notifications.type,
        title: notifications.title,
        readAt: notifications.readAt,
        createdAt: notifications.createdAt,
      })
      .from(notifications)
      .where(eq(notifications.userId, userId))
      .orderBy(desc(notifications.createdAt))
      .limit(cap),
    () => db
      .select({
        id: supportTickets.id,
        subject: supportTickets.subject,
        message: supportTickets.message,
        status: supportTickets.status,
        severity: supportTickets.severity,
        type: supportTickets.type,
        createdAt: supportTickets.createdAt,
      })
      .from(supportTickets)
      .where(eq(supportTickets.userId, userId))
      .orderBy(desc(supportTickets.createdAt))
      .limit(cap),
    () => db
      .select({ id: activityLogs.id, action: activityLogs.action, level: activityLogs.level, metadata: activityLogs.metadata, createdAt: activityLogs.createdAt })
      .from(activityLogs)
      .where(eq(activityLogs.userId, userId))
      .orderBy(desc(activityLogs.createdAt))
      .limit(cap),
    () => db
      .select({ profileId: profileStars.profileId, createdAt: profileStars.createdAt })
      .from(profileStars)
      .where(eq(profileStars.userId, userId))
      .orderBy(desc(profileStars.createdAt))
      .limit(cap),
    () => db
      .select({ id: feedback.id, message: feedback.message, rating: feedback.rating, createdAt: feedback.createdAt })
      .from(feedback)
      .where(eq(feedback.userId, userId))
      .orderBy(desc(feedback.createdAt))
      .limit(cap),
    () => db
      .select({ id: reports.id, entityType: reports.entityType, entityId: reports.entityId, reason: reports.reason, details: reports.details, state: reports.state, createdAt: reports.createdAt })
      .from(reports)
      .where(eq(reports.reporterId, userId))
      .orderBy(desc(reports.createdAt))
      .limit(cap),
    () => db
      .select({ id: aiSessions.id, title: aiSessions.title, createdAt: aiSessions.createdAt, updatedAt: aiSessions.updatedAt })
      .from(aiSessions)
      .where(eq(aiSessions.userId, userId))
      .orderBy(desc(aiSessions.updatedAt))
      .limit(cap),
  ]);

  const truncated: string[] = [];
  const take = <T extends Record<string, unknown>>(name: string, rows: T[]) => {
    if (rows.length > EXPORT_ROW_CAP) truncated.push(name);
    return rows.slice(0, EXPORT_ROW_CAP).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v])));
  };

  return {
    format: 'fairarena-data-export',
    version: 1,
    generatedAt: now.toISOString(),
    account: { ...user, phoneVerifiedAt: iso(user.phoneVerifiedAt), createdAt: iso(user.createdAt) },
    profile: profile ? take('profile', [{ ...profile, userId: undefined }])[0] : null,
    settings: resolveSettings(prefs?.settings),
    memberships: {
      organizations: take('memberships.organizations', orgRows),
      teams: take('memberships.teams', teamRows),
      projects: take('memberships.projects', projectRows),
    },
    payments: take('payments', paymentRows),
    credits: { balance: balance?.balance ?? 0, transactions: take('credits.transactions', creditRows) },
    notifications: take('notifications', notificationRows),
    supportTickets: take('supportTickets', ticketRows),
    activityLog: take('activityLog', activityRows),
    starredProfiles: take('starredProfiles', starRows),
    feedback: take('feedback', feedbackRows),
    reports: take('reports', reportRows),
    aiSessions: take('aiSessions', aiRows),
    truncated,
  };
}

export type DataExport = Awaited<ReturnType<typeof buildDataExport>>;

/**
 * Queue side of `account.export_requested`: build the user's export and email it as a JSON attachment.
 * The build and the send run in a savepoint. A failure that a retry can get past (the database or the mail
 * provider unavailable, a timeout) is thrown, so the queue delivers the event again later and the user
 * still gets the export their daily request paid for. Any other failure is final: the savepoint rolls back,
 * the user gets the failure email, the failure is logged in their activity log, and the event is done (no
 * retry storm of half-built exports). Only if the failure email itself cannot be sent does that throw too.
 */
export async function emailDataExport(ctx: ServiceContext, input: { userId: string; eventId: string; idempotencyKey: string }): Promise<void> {
  const { userId, eventId, idempotencyKey } = input;
  const user = await liveAccount(ctx, userId);
  if (!user) return;
  const generatedAt = new Date();
  const filename = `fairarena-data-export-${generatedAt.toISOString().slice(0, 10)}.json`;
  try {
    const bytes = await withSavepoint(ctx, async (_sp, ctx) => {
      const data = await buildDataExport(ctx, { userId, now: generatedAt });
      const json = JSON.stringify(data, null, 2);
      await sendEmail(ctx, {
        to: user.email,
        email: templates.dataExportReady({ name: user.firstName, generatedAt: generatedAt.toUTCString(), filename }),
        idempotencyKey,
        attachments: [{ filename, content: toBase64(json), contentType: 'application/json' }],
      });
      return json.length;
    });
    await logActivity(ctx, { userId, action: 'export.completed', level: 'INFO', metadata: { bytes, eventId } });
  } catch (err) {
    if (isDatabaseUnavailable(err) || isTransientMailError(err)) {
      log('warn', 'export.deferred', { eventId, error: describeError(err) });
      throw err;
    }
    log('warn', 'export.failed', { eventId, error: describeError(err) });
    await sendEmail(ctx, { to: user.email, email: templates.dataExportFailed({ name: user.firstName }), idempotencyKey: `${idempotencyKey}:failed` });
    await logActivity(ctx, { userId, action: 'export.failed', level: 'WARN', metadata: { eventId } });
  }
}

/** Base64 of a UTF-8 string, in chunks (no call-stack limit on large exports). */
function toBase64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}
