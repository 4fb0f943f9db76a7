import { sql } from 'drizzle-orm';
import { index, integer, jsonb, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { createdAt, timestamptz, uuidPk } from './columns';
import { jobRunStatus } from './enums';
import { users } from './users';

/**
 * Stored responses for `Idempotency-Key` requests, per user. response_status is null while the first
 * request is still in flight (a concurrent retry then answers 409 DUPLICATE_REQUEST).
 */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade', onUpdate: 'cascade' }),
    key: text('key').notNull(),
    /** Hash of method + path + body; a reused key with a different request is rejected. */
    requestHash: text('request_hash').notNull(),
    /**
     * Random per claim: only the request holding the current claim may store its response or release it,
     * so a request whose abandoned-looking claim was taken over cannot act on the new one.
     */
    claimToken: text('claim_token').notNull().default(sql`gen_random_uuid()::text`),
    responseStatus: integer('response_status'),
    responseBody: jsonb('response_body'),
    createdAt: createdAt(),
    expiresAt: timestamptz('expires_at').notNull(),
  },
  (t) => [
    primaryKey({ name: 'idempotency_keys_pk', columns: [t.userId, t.key] }),
    index('idempotency_keys_expires_idx').on(t.expiresAt),
  ],
);

/** Development mailbox: where mail goes when no RESEND_API_KEY is configured (never silently dropped). */
export const devEmails = pgTable(
  'dev_emails',
  {
    id: uuidPk(),
    to: text('to').notNull(),
    from: text('from'),
    subject: text('subject').notNull(),
    html: text('html'),
    text: text('text'),
    tags: jsonb('tags'),
    /** [{ filename, contentType, size }] — metadata only. */
    attachments: jsonb('attachments'),
    createdAt: createdAt(),
  },
  (t) => [index('dev_emails_to_created_idx').on(t.to, t.createdAt), index('dev_emails_created_idx').on(t.createdAt)],
);

/** One row per cron job execution. */
export const jobRuns = pgTable(
  'job_runs',
  {
    id: uuidPk(),
    job: text('job').notNull(),
    startedAt: timestamptz('started_at').notNull().defaultNow(),
    finishedAt: timestamptz('finished_at'),
    status: jobRunStatus('status').notNull().default('running'),
    counts: jsonb('counts').$type<Record<string, number>>(),
    error: text('error'),
  },
  (t) => [index('job_runs_job_started_idx').on(t.job, t.startedAt)],
);

export type IdempotencyKey = typeof idempotencyKeys.$inferSelect;
export type DevEmail = typeof devEmails.$inferSelect;
export type NewDevEmail = typeof devEmails.$inferInsert;
export type JobRun = typeof jobRuns.$inferSelect;

/**
 * Provider deliveries already processed (svix-id for Clerk, delivery ids for GitHub…): a replayed
 * delivery is recognised and answered without a second effect.
 */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    source: text('source').notNull(),
    deliveryId: text('delivery_id').notNull(),
    receivedAt: timestamptz('received_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'webhook_deliveries_pk', columns: [t.source, t.deliveryId] }),
    index('webhook_deliveries_received_idx').on(t.receivedAt),
  ],
);

export type WebhookDelivery = typeof webhookDeliveries.$inferSelect;
