import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import { deadLetters, handlerFailures, processedEvents } from '../../db/schema';
import type { EventEnvelope } from '../../events/catalog';
import { describeError, log, stackFrames } from '../../lib/log';
import { withTransaction, type ServiceContext } from '../context';

/**
 * The queue's delivery bookkeeping: processed marks (a handler's effect commits with its mark, so a
 * redelivery does nothing), each handler's last failure, and the dead letters an operator replays
 * (./dead-letters.ts). The queue door decides what to deliver; these record what happened.
 */

/** max_retries (14) + 1 from wrangler.toml: after this many failed deliveries a message goes to the DLQ. */
export const MAX_DELIVERY_ATTEMPTS = 15;

/**
 * Inside the handler's transaction: mark (event, handler) processed. False when it already was (a
 * duplicate delivery: the handler must not run again).
 */
export async function markProcessed(ctx: ServiceContext, input: { eventId: string; handler: string }): Promise<boolean> {
  const fresh = await ctx.db.write
    .insert(processedEvents)
    .values({ eventId: input.eventId, handler: input.handler })
    .onConflictDoNothing()
    .returning({ eventId: processedEvents.eventId });
  return fresh.length > 0;
}

/** Keep the handler's last error for its dead letter. Best effort: with the database down there is nowhere to keep it. */
export async function recordHandlerFailure(ctx: ServiceContext, input: { eventId: string; handler: string; error: unknown; attempt: number }): Promise<void> {
  const { eventId, handler, attempt } = input;
  const error = describeError(input.error);
  log('warn', 'queue.handler_failed', { eventId, handler, attempt, error, stack: stackFrames(input.error) });
  const lastError = `${error.name}: ${error.message}`.slice(0, 1000);
  await ctx.db.write
    .insert(handlerFailures)
    .values({ eventId, handler, attempts: 1, lastError })
    .onConflictDoUpdate({
      target: [handlerFailures.eventId, handlerFailures.handler],
      set: { attempts: sql`${handlerFailures.attempts} + 1`, lastError, failedAt: new Date() },
    })
    .catch(() => undefined);
}

/** A replayed dead letter went through: mark it resolved. */
export async function resolveDeadLetter(ctx: ServiceContext, id: string): Promise<void> {
  await ctx.db.write
    .update(deadLetters)
    .set({ resolvedAt: sql`now()` })
    .where(and(eq(deadLetters.id, id), isNull(deadLetters.resolvedAt)));
}

const emittedAt = (event: EventEnvelope | undefined) => {
  const at = event ? new Date(event.emittedAt) : null;
  return at && !Number.isNaN(at.getTime()) ? at : null;
};

/** A dead letter for a message that can never be dispatched (handler null: the event as a whole). */
export async function storeUndeliverable(
  ctx: ServiceContext,
  input: { event: EventEnvelope | undefined; body: unknown; reason: string; attempts: number },
): Promise<void> {
  const { event, body, reason, attempts } = input;
  const row = {
    eventId: event?.id ?? crypto.randomUUID(),
    eventName: event?.name ?? 'unknown',
    handler: event?.handler ?? null,
    payload: (event ? event.payload : body) ?? null,
    emittedAt: emittedAt(event),
    error: reason,
    attempts,
  };
  await ctx.db.write
    .insert(deadLetters)
    .values(row)
    .onConflictDoUpdate({
      target: [deadLetters.eventId, deadLetters.handler],
      set: { error: row.error, attempts: row.attempts, updatedAt: sql`now()`, resolvedAt: null },
    });
  log('error', 'queue.dead_letter', { eventId: row.eventId, event: row.eventName, reason });
}

/**
 * The queue gave up on this event: one dead letter per handler still without a processed mark, with its
 * last recorded error. Throws while the database is down (the caller retries).
 */
export async function storeExhausted(ctx: ServiceContext, input: { event: EventEnvelope; handlers: string[] }): Promise<void> {
  const { event, handlers: names } = input;
  const left = await withTransaction(ctx, async (tx) => {
    const done = new Set(
      (
        await tx
          .select({ handler: processedEvents.handler })
          .from(processedEvents)
          .where(and(eq(processedEvents.eventId, event.id), inArray(processedEvents.handler, names)))
      ).map((r) => r.handler),
    );
    const failures = new Map(
      (await tx.select().from(handlerFailures).where(and(eq(handlerFailures.eventId, event.id), inArray(handlerFailures.handler, names)))).map((f) => [
        f.handler,
        f,
      ]),
    );
    const left = names.filter((n) => !done.has(n));
    if (left.length === 0) return left; // every handler got through meanwhile (a late success)
    await tx
      .insert(deadLetters)
      .values(
        left.map((handler) => ({
          eventId: event.id,
          eventName: event.name,
          handler,
          payload: event.payload ?? null,
          emittedAt: emittedAt(event),
          error: failures.get(handler)?.lastError ?? 'exhausted retries (no error recorded)',
          // Failures were recorded best effort (not while the database was down): never fewer than the queue made.
          attempts: Math.max(MAX_DELIVERY_ATTEMPTS, failures.get(handler)?.attempts ?? 0),
        })),
      )
      .onConflictDoUpdate({
        target: [deadLetters.eventId, deadLetters.handler],
        set: { error: sql`excluded.error`, attempts: sql`excluded.attempts`, updatedAt: sql`now()`, resolvedAt: null },
      });
    return left;
  });
  if (left.length) log('error', 'queue.dead_letter', { eventId: event.id, event: event.name, handlers: left });
}
