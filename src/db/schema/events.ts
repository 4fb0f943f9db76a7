import { sql } from 'drizzle-orm';
import { index, integer, jsonb, pgTable, primaryKey, text, unique, uuid } from 'drizzle-orm/pg-core';
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
    /** W3C traceparent of the span that emitted the event: handlers continue its trace. */
    traceContext: text('trace_context'),
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

/**
 * The last failure of one handler for one event while the queue retries it. The dead-letter consumer
 * copies it into `dead_letters`, so the cause survives after the queue gives up.
 */
export const handlerFailures = pgTable(
  'handler_failures',
  {
    eventId: uuid('event_id').notNull(),
    handler: text('handler').notNull(),
    /** Failed runs of this handler for this event, replays included. */
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error').notNull(),
    failedAt: timestamptz('failed_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ name: 'handler_failures_pk', columns: [t.eventId, t.handler] }), index('handler_failures_failed_idx').on(t.failedAt)],
);

/**
 * One row per (event, handler) that exhausted its retries. `handler` is null when the event itself
 * could not be dispatched (malformed, unknown name, invalid payload). A replay re-enqueues the event for
 * that handler only; the consumer sets `resolved_at` once the handler has run. Dead-lettering the same
 * pair again (a replay that failed too) updates the row instead of adding one.
 */
export const deadLetters = pgTable(
  'dead_letters',
  {
    id: uuidPk(),
    eventId: uuid('event_id').notNull(),
    eventName: text('event_name').notNull(),
    handler: text('handler'),
    payload: jsonb('payload').notNull(),
    /** When the event was emitted (carried into a replay). */
    emittedAt: timestamptz('emitted_at'),
    error: text('error'),
    attempts: integer('attempts').notNull().default(0),
    createdAt: createdAt(),
    /** Last time the pair was dead-lettered. */
    updatedAt: timestamptz('updated_at').notNull().defaultNow(),
    replayCount: integer('replay_count').notNull().default(0),
    replayedAt: timestamptz('replayed_at'),
    resolvedAt: timestamptz('resolved_at'),
  },
  (t) => [
    unique('dead_letters_event_handler_key').on(t.eventId, t.handler).nullsNotDistinct(),
    index('dead_letters_created_idx').on(t.createdAt),
    index('dead_letters_unresolved_idx').on(t.eventName, t.createdAt).where(sql`${t.resolvedAt} is null`),
  ],
);

export type OutboxRow = typeof outbox.$inferSelect;
export type NewOutboxRow = typeof outbox.$inferInsert;
export type ProcessedEvent = typeof processedEvents.$inferSelect;
export type DeadLetter = typeof deadLetters.$inferSelect;
export type HandlerFailure = typeof handlerFailures.$inferSelect;
