import { and, eq, exists, isNotNull, isNull, lt, or, sql } from 'drizzle-orm';
import {
  activityLogs,
  aiPendingActions,
  devEmails,
  feedback,
  handlerFailures,
  idempotencyKeys,
  jobRuns,
  notifications,
  organizationInvites,
  outbox,
  processedEvents,
  teamInvites,
  webhookDeliveries,
  weeklyFeedbackMailings,
} from '../../db/schema';
import type { ServiceContext } from '../context';
import { cancelStalePayments } from '../payments/expiry';
import { ACCOUNT_RETENTION_DAYS } from '../users';
import { anonymiseDeletedUsers } from './anonymise';
import { runSteps, type JobOutcome } from './job-runs';

/** Retention periods of the daily cleanup, in days (activity logs: the ACTIVITY_LOG_RETENTION_DAYS var). */
export const RETENTION = {
  /** Invites: this long after they expired or were used / declined / revoked. */
  invites: 30,
  /** Notifications that have been read. */
  readNotifications: 90,
  /** Relayed outbox rows whose event was processed (every relayed row after `outboxRelayedMax`). */
  outboxProcessed: 7,
  outboxRelayedMax: 14,
  processedEvents: 30,
  /** Last errors of handlers still being retried (a dead letter keeps its own copy). */
  handlerFailures: 30,
  webhookDeliveries: 30,
  /** Weekly feedback: mailing records and codes never used. */
  weeklyFeedback: 90,
  /** Development mailbox rows (only written where no RESEND_API_KEY is set). */
  devEmails: 30,
  /** History of cron runs. */
  jobRuns: 90,
  /** Assistant proposals, this long after they expired (confirmed, cancelled or never answered). */
  aiPendingActions: 1,
  /** Soft-deleted accounts are anonymised after the recovery window. */
  deletedAccounts: ACCOUNT_RETENTION_DAYS,
} as const;

const daysBefore = (now: Date, days: number) => new Date(now.getTime() - days * 86_400_000);

/**
 * The daily cleanup (the `daily-cleanup` cron). Every step is a set-based statement over rows past their
 * retention at `now` (the cron's scheduled time), so a second run the same day finds nothing left to
 * do. Steps are independent: one that fails is recorded and the others still run (its rows wait for the
 * next day). Audit logs, the credits ledger and payments are never deleted.
 */
export async function dailyCleanup(ctx: ServiceContext, now: Date): Promise<JobOutcome> {
  const { config, db } = ctx;
  const w = db.write;
  const deleted = async (statement: Promise<{ rowCount: number | null }>) => (await statement).rowCount ?? 0;
  const inviteCutoff = daysBefore(now, RETENTION.invites);
  const feedbackCutoff = daysBefore(now, RETENTION.weeklyFeedback);

  return runSteps('daily-cleanup', {
    // 1. Invites past use: expired, used, declined or revoked more than 30 days ago.
    invites: async () =>
      (await deleted(
        w
          .delete(organizationInvites)
          .where(or(lt(organizationInvites.expiresAt, inviteCutoff), lt(organizationInvites.usedAt, inviteCutoff), lt(organizationInvites.revokedAt, inviteCutoff))),
      )) +
      (await deleted(
        w
          .delete(teamInvites)
          .where(
            or(lt(teamInvites.expiresAt, inviteCutoff), lt(teamInvites.usedAt, inviteCutoff), lt(teamInvites.declinedAt, inviteCutoff), lt(teamInvites.revokedAt, inviteCutoff)),
          ),
      )),

    // 2. Read notifications older than 90 days (unread ones stay).
    notifications: () =>
      deleted(w.delete(notifications).where(and(isNotNull(notifications.readAt), lt(notifications.createdAt, daysBefore(now, RETENTION.readNotifications))))),

    // 3. Outbox rows relayed > 7 days ago whose event was processed, or relayed > 14 days ago regardless.
    //    (Before processed_events is trimmed, so "processed" is still known.)
    outbox: () =>
      deleted(
        w
          .delete(outbox)
          .where(
            and(
              lt(outbox.relayedAt, daysBefore(now, RETENTION.outboxProcessed)),
              or(
                lt(outbox.relayedAt, daysBefore(now, RETENTION.outboxRelayedMax)),
                exists(w.select({ one: sql`1` }).from(processedEvents).where(eq(processedEvents.eventId, outbox.id))),
              ),
            ),
          ),
      ),

    // 4. Handler idempotency marks and webhook delivery ids past any plausible redelivery.
    processedEvents: () => deleted(w.delete(processedEvents).where(lt(processedEvents.processedAt, daysBefore(now, RETENTION.processedEvents)))),
    handlerFailures: () => deleted(w.delete(handlerFailures).where(lt(handlerFailures.failedAt, daysBefore(now, RETENTION.handlerFailures)))),
    webhookDeliveries: () => deleted(w.delete(webhookDeliveries).where(lt(webhookDeliveries.receivedAt, daysBefore(now, RETENTION.webhookDeliveries)))),

    // 5. Weekly feedback: old mailing records, and codes never used within 90 days (answered ones are kept).
    weeklyFeedbackMailings: () => deleted(w.delete(weeklyFeedbackMailings).where(lt(weeklyFeedbackMailings.weekOf, feedbackCutoff.toISOString().slice(0, 10)))),
    unusedFeedbackCodes: () => deleted(w.delete(feedback).where(and(eq(feedback.kind, 'weekly'), isNull(feedback.usedAt), lt(feedback.createdAt, feedbackCutoff)))),

    // 6. Expired Idempotency-Key records (24 h), the development mailbox, old cron-run history and old assistant proposals.
    idempotencyKeys: () => deleted(w.delete(idempotencyKeys).where(lt(idempotencyKeys.expiresAt, now))),
    devEmails: () => deleted(w.delete(devEmails).where(lt(devEmails.createdAt, daysBefore(now, RETENTION.devEmails)))),
    jobRuns: () => deleted(w.delete(jobRuns).where(lt(jobRuns.startedAt, daysBefore(now, RETENTION.jobRuns)))),
    aiPendingActions: () => deleted(w.delete(aiPendingActions).where(lt(aiPendingActions.expiresAt, daysBefore(now, RETENTION.aiPendingActions)))),

    // 7. Activity-log rows past their retention: they hold IP addresses and user agents.
    activityLogs: () => deleted(w.delete(activityLogs).where(lt(activityLogs.createdAt, daysBefore(now, config.ACTIVITY_LOG_RETENTION_DAYS)))),

    // 8. Anonymise accounts soft-deleted more than 30 days ago (no longer recoverable).
    anonymizedUsers: () => anonymiseDeletedUsers(ctx, { deletedBefore: daysBefore(now, RETENTION.deletedAccounts), now }),

    // 9. Backstop for lost QStash expiry messages: PENDING payments older than 24 h → CANCELLED, within a
    //    time budget (what is left waits for the next run).
    cancelledPayments: async () => (await cancelStalePayments(ctx, { now, limit: 500 })).cancelled,
  });
}
