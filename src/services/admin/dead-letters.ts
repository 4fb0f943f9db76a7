import { and, asc, count, desc, eq, inArray, isNotNull, isNull, sql, type SQL } from 'drizzle-orm';
import type { Transaction } from '../../db/client';
import { deadLetters, type DeadLetter } from '../../db/schema';
import { EVENT_CATALOG, isEventName, type EventEnvelope } from '../../events/catalog';
import { enqueueEvents } from '../../events/outbox';
import { AppError } from '../../lib/errors';
import { describeError, log } from '../../lib/log';
import { requireOperator, type ServiceContext, withTransaction } from '../context';

/** open: waiting for an operator; replayed: re-enqueued, not yet handled; resolved: the handler has run since. */
export type DeadLetterStatus = 'open' | 'replayed' | 'resolved';

export interface DeadLetterView {
  id: string;
  eventId: string;
  eventType: string;
  /** The handler that gave up; null when the event as a whole could not be dispatched. */
  handler: string | null;
  payload: unknown;
  error: string | null;
  attempts: number;
  status: DeadLetterStatus;
  /** False for events that can never be dispatched (unknown type, payload not matching its schema). */
  replayable: boolean;
  replayCount: number;
  emittedAt: string | null;
  createdAt: string;
  updatedAt: string;
  replayedAt: string | null;
  resolvedAt: string | null;
}

/** Rows replayed by one call of the replay-all operation; the answer says whether more are left. */
export const REPLAY_ALL_MAX = 500;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function status(row: DeadLetter): DeadLetterStatus {
  if (row.resolvedAt) return 'resolved';
  // Dead-lettered again after a replay: open again.
  return row.replayedAt && row.replayedAt >= row.updatedAt ? 'replayed' : 'open';
}

function replayable(row: DeadLetter): boolean {
  return isEventName(row.eventName) && EVENT_CATALOG[row.eventName].safeParse(row.payload).success;
}

function view(row: DeadLetter): DeadLetterView {
  return {
    id: row.id,
    eventId: row.eventId,
    eventType: row.eventName,
    handler: row.handler,
    payload: row.payload,
    error: row.error,
    attempts: row.attempts,
    status: status(row),
    replayable: replayable(row),
    replayCount: row.replayCount,
    emittedAt: iso(row.emittedAt),
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    replayedAt: iso(row.replayedAt),
    resolvedAt: iso(row.resolvedAt),
  };
}

/** The original event, addressed to the dead letter's handler only (or every handler when it has none). */
function envelope(row: DeadLetter): EventEnvelope {
  return {
    id: row.eventId,
    name: row.eventName,
    payload: row.payload,
    emittedAt: (row.emittedAt ?? row.createdAt).toISOString(),
    ...(row.handler ? { handler: row.handler } : {}),
    deadLetterId: row.id,
  };
}

export interface ListInput {
  status: 'unresolved' | 'resolved' | 'all';
  eventType?: string;
  limit: number;
  offset: number;
}

/** Dead letters, newest first. */
export async function listDeadLetters(ctx: ServiceContext, input: ListInput): Promise<{ items: DeadLetterView[]; total: number }> {
  requireOperator(ctx);
  const filters: SQL[] = [];
  if (input.status === 'unresolved') filters.push(isNull(deadLetters.resolvedAt));
  if (input.status === 'resolved') filters.push(isNotNull(deadLetters.resolvedAt));
  if (input.eventType) filters.push(eq(deadLetters.eventName, input.eventType));
  const where = filters.length ? and(...filters) : undefined;
  const db = ctx.db.write; // an operator checks what a replay just changed: no replica lag
  // One after the other: a request holds one database connection at a time.
  const rows = await db.select().from(deadLetters).where(where).orderBy(desc(deadLetters.createdAt), desc(deadLetters.id)).limit(input.limit).offset(input.offset);
  const [total] = await db.select({ n: count() }).from(deadLetters).where(where);
  return { items: rows.map(view), total: total?.n ?? 0 };
}

/** Enqueue the rows' events, then record the replay (in the caller's transaction, which holds their locks). */
async function replayRows(ctx: ServiceContext, tx: Transaction, rows: DeadLetter[]): Promise<DeadLetter[]> {
  if (rows.length === 0) return [];
  try {
    await enqueueEvents(ctx.env, rows.map(envelope));
  } catch (err) {
    log('error', 'admin.replay_enqueue_failed', { requestId: ctx.requestId, count: rows.length, error: describeError(err) });
    throw new AppError('SERVICE_UNAVAILABLE', 'The event queue is unavailable, try again shortly', { headers: { 'Retry-After': '30' } });
  }
  const updated = await tx
    .update(deadLetters)
    .set({ replayedAt: sql`now()`, replayCount: sql`${deadLetters.replayCount} + 1` })
    .where(inArray(deadLetters.id, rows.map((r) => r.id)))
    .returning();
  log('info', 'admin.dead_letters_replayed', { requestId: ctx.requestId, ids: rows.map((r) => r.id) });
  return updated;
}

/**
 * Re-enqueue one dead letter's event for its handler. Harmless to repeat: the handler's processed mark
 * makes a second delivery a no-op. 404 unknown id; 409 already resolved or never dispatchable.
 */
export async function replayDeadLetter(ctx: ServiceContext, input: { id: string }): Promise<DeadLetterView> {
  requireOperator(ctx);
  return withTransaction(ctx, async (tx, ctx) => {
    const [row] = await tx.select().from(deadLetters).where(eq(deadLetters.id, input.id)).for('update');
    if (!row) throw new AppError('NOT_FOUND', 'No such dead letter');
    if (row.resolvedAt) throw new AppError('CONFLICT', 'This dead letter is already resolved', { details: { reason: 'RESOLVED' } });
    if (!replayable(row)) {
      throw new AppError('CONFLICT', 'This event can never be dispatched (unknown type or invalid payload)', { details: { reason: 'NOT_REPLAYABLE' } });
    }
    const [updated] = await replayRows(ctx, tx, [row]);
    return view(updated!);
  });
}

/** Re-enqueue every unresolved, replayable dead letter (optionally of one event type), oldest first, up to REPLAY_ALL_MAX. */
export async function replayDeadLetters(
  ctx: ServiceContext,
  input: { eventType?: string },
): Promise<{ replayed: number; notReplayable: number; more: boolean }> {
  requireOperator(ctx);
  return withTransaction(ctx, async (tx, ctx) => {
    const filters = [
      isNull(deadLetters.resolvedAt),
      // Unknown event types can never be dispatched: leave them out so they cannot crowd out the rest.
      inArray(deadLetters.eventName, Object.keys(EVENT_CATALOG)),
      ...(input.eventType ? [eq(deadLetters.eventName, input.eventType)] : []),
    ];
    // SKIP LOCKED: two operators replaying at once split the rows instead of waiting on each other.
    const rows = await tx
      .select()
      .from(deadLetters)
      .where(and(...filters))
      .orderBy(asc(deadLetters.createdAt), asc(deadLetters.id))
      .limit(REPLAY_ALL_MAX + 1)
      .for('update', { skipLocked: true });
    const batch = rows.slice(0, REPLAY_ALL_MAX);
    const candidates = batch.filter(replayable);
    await replayRows(ctx, tx, candidates);
    return { replayed: candidates.length, notReplayable: batch.length - candidates.length, more: rows.length > REPLAY_ALL_MAX };
  });
}
