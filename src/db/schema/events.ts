import { sql } from 'drizzle-orm';
import { index, integer, jsonb, pgTable, primaryKey, text, uuid } from 'drizzle-orm/pg-core';
import { createdAt, timestamptz, uuidPk } from './columns';

/**
 * Transactional outbox: events written in the same transaction as the state change, then relayed to
 * the Cloudflare Queue (relayed_at set) by the request's waitUntil or the sweeper cron. The row id is
 * the event id handlers deduplicate on.
 */
export const outbox = pgTable(
  'outbox',
  {
    id: uuidPk(),
    eventName: text('event_name').notNull(),
    payload: jsonb('payload').notNull(),
    createdAt: createdAt(),
    relayedAt: timestamptz('relayed_at'),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
  },
  (t) => [
    index('outbox_unrelayed_idx').on(t.createdAt).where(sql`${t.relayedAt} is null`),
    index('outbox_relayed_idx').on(t.relayedAt).where(sql`${t.relayedAt} is not null`),
  ],
);

/** Idempotency record of queue handlers: a handler marks (event_id, handler) in the transaction of its effect. */
export const processedEvents = pgTable(
  'processed_events',
  {
    eventId: uuid('event_id').notNull(),
    handler: text('handler').notNull(),
    processedAt: timestamptz('processed_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'processed_events_pk', columns: [t.eventId, t.handler] }),
    index('processed_events_processed_idx').on(t.processedAt),
  ],
);

/** Events whose delivery exhausted its retries. */
export const deadLetters = pgTable(
  'dead_letters',
  {
    id: uuidPk(),
    eventId: uuid('event_id').notNull(),
    eventName: text('event_name').notNull(),
    payload: jsonb('payload').notNull(),
    error: text('error'),
    attempts: integer('attempts').notNull().default(0),
    createdAt: createdAt(),
  },
  (t) => [index('dead_letters_event_idx').on(t.eventId), index('dead_letters_created_idx').on(t.createdAt)],
);

export type OutboxRow = typeof outbox.$inferSelect;
export type NewOutboxRow = typeof outbox.$inferInsert;
export type ProcessedEvent = typeof processedEvents.$inferSelect;
export type DeadLetter = typeof deadLetters.$inferSelect;
