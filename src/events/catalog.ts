import { z } from 'zod';

const userId = z.string().min(1).max(255);

/**
 * Every domain event: its name and the zod schema of its payload. Payloads carry ids, never PII or
 * secrets: handlers read current state from the database when they run.
 */
export const EVENT_CATALOG = {
  'user.created': z.object({ userId }),
  'user.deleted': z.object({ userId }),
  'user.recovered': z.object({ userId, previousUserId: userId }),
  /** First/last name edited through PUT /profile: pushed to Clerk, which owns identity fields. */
  'user.name_changed': z.object({ userId }),
  /** A user's unread notification count changed over REST (mark read/unread, delete): pushed to their open streams. */
  'notification.unread_changed': z.object({ userId }),
  /**
   * A notification's push to the user's open streams failed after it was committed: delivered again until the hub
   * takes it (it drops an id it already has), so a client that stays connected never silently misses it. Put on
   * the queue directly, by the handler whose push failed.
   */
  'notification.push_failed': z.object({ notificationId: z.uuid(), userId }),
  'profile.starred': z.object({ profileId: z.uuid(), ownerId: userId, starredBy: userId }),
  /** An org / team invite was created: the handler mints its code and emails it (the code is never in a payload). */
  'organization.invited': z.object({ inviteId: z.uuid() }),
  'team.invited': z.object({ inviteId: z.uuid() }),
  /** Someone accepted a team invite: the team's Owners and Admins are notified. */
  'team.member_joined': z.object({ teamId: z.uuid(), userId }),
  /** Payments (services/payments). order_created schedules the 24 h expiry through QStash. */
  'payment.order_created': z.object({ paymentId: z.uuid(), userId }),
  'payment.completed': z.object({ paymentId: z.uuid(), userId }),
  'payment.failed': z.object({ paymentId: z.uuid(), userId }),
  'payment.refunded': z.object({ paymentId: z.uuid(), userId, refundId: z.string().min(1).max(255) }),
  'refund.failed': z.object({ paymentId: z.uuid(), userId, refundId: z.string().min(1).max(255) }),
  /** A second captured payment (razorpayPaymentId) on an order already paid: refunded in full through Razorpay. */
  'payment.duplicate_captured': z.object({ paymentId: z.uuid(), userId, razorpayPaymentId: z.string().min(1).max(255) }),
  /** The refund of that extra payment was recorded (initiated, or found already done): the buyer is mailed. */
  'payment.duplicate_refunded': z.object({ paymentId: z.uuid(), userId, razorpayPaymentId: z.string().min(1).max(255) }),
  /** A dispute (payment_disputes.id) was lost: its credits were taken back; the buyer is told. */
  'payment.dispute_lost': z.object({ paymentId: z.uuid(), userId, disputeId: z.uuid() }),
  /** Support, reports, newsletter, platform invites, GitHub activity, weekly feedback (engagement handlers). */
  /** sendConfirmation: false for an anonymous ticket whose address already got a confirmation in the last 24 h. */
  'support.ticket_created': z.object({ ticketId: z.uuid(), sendConfirmation: z.boolean() }),
  'report.created': z.object({ reportId: z.uuid() }),
  'newsletter.confirmation_requested': z.object({ subscriberId: z.uuid() }),
  'platform.invite_requested': z.object({ inviteId: z.uuid() }),
  /** A GitHub push/release recorded in a linked project's audit log (auditLogId): its members are notified. */
  'project.github_activity': z.object({ projectId: z.uuid(), auditLogId: z.uuid() }),
  /** The weekly feedback mail for one user; weekOf = Monday of the ISO week (UTC), YYYY-MM-DD. */
  'feedback.weekly_requested': z.object({ userId, weekOf: z.iso.date() }),
  /** Phone verification, free credits, data export (services/phone, services/export; handlers in queue/handlers/account.ts).
   * No codes, no phone numbers: handlers read the current row. */
  'phone.verified': z.object({ userId }),
  'credits.free_claimed': z.object({ userId, transactionId: z.uuid() }),
  'account.export_requested': z.object({ userId }),
} as const;

export type EventName = keyof typeof EVENT_CATALOG;
export type EventPayload<N extends EventName> = z.infer<(typeof EVENT_CATALOG)[N]>;

/**
 * What travels on the queue: the outbox row id is the event id handlers deduplicate on. A replay of a
 * dead letter names the one handler it is for (`handler`) and the dead letter it resolves
 * (`deadLetterId`); without `handler`, a delivery is for every handler of the event.
 */
export const EventEnvelope = z.object({
  id: z.uuid(),
  name: z.string(),
  payload: z.unknown(),
  emittedAt: z.string(),
  handler: z.string().min(1).optional(),
  deadLetterId: z.uuid().optional(),
  /** W3C traceparent of the emitting span; the consumer ignores a malformed one (a new trace starts). */
  traceparent: z.string().max(512).optional(),
});
export type EventEnvelope = z.infer<typeof EventEnvelope>;

export function isEventName(name: string): name is EventName {
  return Object.hasOwn(EVENT_CATALOG, name);
}
