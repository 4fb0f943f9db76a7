import { and, asc, inArray, isNull, lt, sql } from 'drizzle-orm';
import type { Env } from '../config';
import type { Transaction, TransactionRunner } from '../db/client';
import { outbox } from '../db/schema';
import { describeError, log } from '../lib/log';
import { currentTraceparent } from '../lib/trace';
import { EVENT_CATALOG, type EventEnvelope, type EventName, type EventPayload } from './catalog';

/** Collects the ids of events emitted while handling one request or message, to relay after commit. */
export type PendingEvents = string[];

/**
 * Write an event to the outbox inside the caller's transaction: it exists exactly when the state
 * change it describes commits. The payload is validated against the catalog. The emitting span's trace
 * context is stored with it, so the handlers' work joins the same trace.
 */
export async function emit<N extends EventName>(tx: Transaction, pending: PendingEvents, name: N, payload: EventPayload<N>): Promise<string> {
  const valid = EVENT_CATALOG[name].parse(payload);
  const [row] = await tx.insert(outbox).values({ eventName: name, payload: valid, traceContext: currentTraceparent() ?? null }).returning({ id: outbox.id });
  pending.push(row!.id);
  return row!.id;
}

/**
 * An event put on the queue directly, not through the outbox: only for a side effect of work that already
 * committed (nothing left to be atomic with). The payload is validated against the catalog, as `emit` does.
 */
export function directEvent<N extends EventName>(name: N, payload: EventPayload<N>): EventEnvelope {
  return { id: crypto.randomUUID(), name, payload: EVENT_CATALOG[name].parse(payload), emittedAt: new Date().toISOString() };
}

const RELAY_BATCH = 100;
/** Cloudflare Queues accept at most 100 messages per sendBatch call. */
const SEND_BATCH_MAX = 100;

/**
 * Put envelopes on the EVENTS queue (relay, dead-letter replay). Throws when the queue refuses them. An
 * envelope without a trace context (a replay) joins the trace of the span enqueueing it.
 */
export async function enqueueEvents(env: Env, envelopes: EventEnvelope[]): Promise<void> {
  const traceparent = currentTraceparent();
  for (let i = 0; i < envelopes.length; i += SEND_BATCH_MAX) {
    await env.EVENTS.sendBatch(
      envelopes
        .slice(i, i + SEND_BATCH_MAX)
        .map((body) => ({ body: body.traceparent || !traceparent ? body : { ...body, traceparent }, contentType: 'json' as const })),
    );
  }
}

/**
 * Send unrelayed outbox rows to the Queue and mark them relayed. Rows are locked with SKIP LOCKED so
 * a request's relay and the sweeper never send the same row at once. With `ids`, only those rows
 * (a rolled-back emit has no row, so it is never sent); without, rows older than `olderThanMs`.
 * Delivery is at-least-once: handlers deduplicate on the event id.
 */
export async function relayOutbox(db: TransactionRunner, env: Env, select: { ids: string[] } | { olderThanMs: number }): Promise<number> {
  if ('ids' in select && select.ids.length === 0) return 0;
  return db.transaction(async (tx) => {
    const where =
      'ids' in select
        ? and(inArray(outbox.id, select.ids), isNull(outbox.relayedAt))
        : and(isNull(outbox.relayedAt), lt(outbox.createdAt, new Date(Date.now() - select.olderThanMs)));
    const rows = await tx.select().from(outbox).where(where).orderBy(asc(outbox.createdAt)).limit(RELAY_BATCH).for('update', { skipLocked: true });
    if (rows.length === 0) return 0;
    const ids = rows.map((r) => r.id);
    try {
      await enqueueEvents(
        env,
        rows.map((r) => ({
          id: r.id,
          name: r.eventName,
          payload: r.payload,
          emittedAt: r.createdAt.toISOString(),
          ...(r.traceContext ? { traceparent: r.traceContext } : {}),
        })),
      );
    } catch (err) {
      log('warn', 'outbox.relay_failed', { count: rows.length, error: describeError(err) });
      await tx
        .update(outbox)
        .set({ attempts: sql`${outbox.attempts} + 1`, lastError: describeError(err).message })
        .where(inArray(outbox.id, ids));
      return 0;
    }
    await tx.update(outbox).set({ relayedAt: new Date(), attempts: sql`${outbox.attempts} + 1` }).where(inArray(outbox.id, ids));
    return rows.length;
  });
}

/**
 * Relay these committed rows now, RELAY_BATCH at a time, when the queue and the database allow it. Never
 * throws: a batch that cannot be relayed (queue refusal, database blip) stays in the outbox, and the sweeper
 * cron sends it shortly, so the caller's work goes on.
 */
export async function relayOrDefer(db: TransactionRunner, env: Env, ids: string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += RELAY_BATCH) {
    const batch = ids.slice(i, i + RELAY_BATCH);
    try {
      await relayOutbox(db, env, { ids: batch });
    } catch (err) {
      log('warn', 'outbox.relay_deferred', { count: batch.length, error: describeError(err) });
    }
  }
}
