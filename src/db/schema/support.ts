import { sql } from 'drizzle-orm';
import { check, date, index, pgTable, primaryKey, smallint, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { createdAt, timestamptz, updatedAt, uuidPk } from './columns';
import { feedbackKind, newsletterStatus, reportEntityType, reportSeverity, reportState, reportType } from './enums';
import { users } from './users';

/** Support requests, from a signed-in user or anonymously with an email address. */
export const supportTickets = pgTable(
  'support_tickets',
  {
    id: uuidPk(),
    userId: text('user_id').references(() => users.id, { onDelete: 'restrict', onUpdate: 'cascade' }),
    email: text('email'),
    subject: text('subject').notNull(),
    message: text('message').notNull(),
    status: reportState('status').notNull().default('QUEUED'),
    severity: reportSeverity('severity').notNull().default('LOW'),
    type: reportType('type').notNull().default('BUG'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index('support_tickets_user_created_idx').on(t.userId, t.createdAt),
    index('support_tickets_status_created_idx').on(t.status, t.createdAt),
    check('support_tickets_contact_chk', sql`${t.userId} is not null or ${t.email} is not null`),
  ],
);

/**
 * Feedback. kind 'weekly' rows are anonymous one-shot slots created by the weekly mail and addressed by
 * `code` (used_at set on submission); kind 'general' rows are posted directly by a signed-in user.
 */
export const feedback = pgTable(
  'feedback',
  {
    id: uuidPk(),
    code: text('code').unique('feedback_code_uq'),
    kind: feedbackKind('kind').notNull().default('general'),
    userId: text('user_id').references(() => users.id, { onDelete: 'restrict', onUpdate: 'cascade' }),
    message: text('message'),
    rating: smallint('rating'),
    usedAt: timestamptz('used_at'),
    createdAt: createdAt(),
  },
  (t) => [
    index('feedback_created_idx').on(t.createdAt),
    check('feedback_rating_chk', sql`${t.rating} is null or ${t.rating} between 1 and 5`),
    check('feedback_weekly_has_code_chk', sql`${t.kind} <> 'weekly' or ${t.code} is not null`),
  ],
);

/**
 * Abuse reports about a profile/organization/team/project. The reporter is a users.id (Clerk id), the
 * one user key. One open report per reporter per entity.
 */
export const reports = pgTable(
  'reports',
  {
    id: uuidPk(),
    reporterId: text('reporter_id')
      .notNull()
      .references(() => users.id, { onDelete: 'restrict', onUpdate: 'cascade' }),
    entityType: reportEntityType('entity_type').notNull(),
    entityId: text('entity_id').notNull(),
    /** One of spam, harassment, inappropriate, fake, privacy, other (validated by the API). */
    reason: text('reason').notNull(),
    details: text('details'),
    state: reportState('state').notNull().default('QUEUED'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('reports_one_open_per_reporter_entity_uq')
      .on(t.reporterId, t.entityType, t.entityId)
      .where(sql`${t.state} in ('QUEUED', 'IN_REVIEW', 'ESCALATED')`),
    index('reports_reporter_created_idx').on(t.reporterId, t.createdAt),
    index('reports_entity_idx').on(t.entityType, t.entityId),
    index('reports_state_created_idx').on(t.state, t.createdAt),
  ],
);

/** Newsletter subscriptions (double opt-in: pending → subscribed; unsubscribe by signed token). */
export const newsletterSubscribers = pgTable(
  'newsletter_subscribers',
  {
    id: uuidPk(),
    email: text('email').notNull().unique('newsletter_subscribers_email_uq'),
    status: newsletterStatus('status').notNull().default('pending'),
    confirmedAt: timestamptz('confirmed_at'),
    unsubscribedAt: timestamptz('unsubscribed_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
);

/** Invitations to join the platform sent by a user to an email address. */
export const platformInvites = pgTable(
  'platform_invites',
  {
    id: uuidPk(),
    inviterId: text('inviter_id')
      .notNull()
      .references(() => users.id, { onDelete: 'restrict', onUpdate: 'cascade' }),
    email: text('email').notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    index('platform_invites_email_created_idx').on(t.email, t.createdAt),
    index('platform_invites_inviter_created_idx').on(t.inviterId, t.createdAt),
  ],
);

/**
 * Who was sent the weekly feedback mail for which week (`week_of` = the Monday of the ISO week, UTC):
 * the weekly job inserts with ON CONFLICT DO NOTHING and emits only for new rows, so a second run in
 * the same week mails nobody twice. Deliberately not linked to the feedback code: weekly feedback stays
 * anonymous.
 */
export const weeklyFeedbackMailings = pgTable(
  'weekly_feedback_mailings',
  {
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade', onUpdate: 'cascade' }),
    weekOf: date('week_of', { mode: 'string' }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ name: 'weekly_feedback_mailings_pk', columns: [t.userId, t.weekOf] }),
    index('weekly_feedback_mailings_week_idx').on(t.weekOf),
  ],
);

export type SupportTicket = typeof supportTickets.$inferSelect;
export type NewSupportTicket = typeof supportTickets.$inferInsert;
export type Feedback = typeof feedback.$inferSelect;
export type NewFeedback = typeof feedback.$inferInsert;
export type Report = typeof reports.$inferSelect;
export type NewReport = typeof reports.$inferInsert;
export type NewsletterSubscriber = typeof newsletterSubscribers.$inferSelect;
export type PlatformInvite = typeof platformInvites.$inferSelect;
export type WeeklyFeedbackMailing = typeof weeklyFeedbackMailings.$inferSelect;
