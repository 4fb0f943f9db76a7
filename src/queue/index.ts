import { eq } from 'drizzle-orm';
import { loadConfig, type Config, type Env } from '../config';
import { Db } from '../db/client';
import { deadLetters, outbox, processedEvents } from '../db/schema';
import { EVENT_CATALOG, EventEnvelope, isEventName } from '../events/catalog';
import { relayOutbox, type PendingEvents } from '../events/outbox';
import { describeError, log } from '../lib/log';
import { HANDLERS } from './handlers';
import type { EventHandler, HandlerContext } from './types';

/** max_retries (5) + 1 from wrangler.toml: after this many failed deliveries a message goes to the DLQ. */
export const MAX_DELIVERY_ATTEMPTS = 6;

/** Exponential backoff between deliveries: 10 s, 20 s, 40 s … capped at 10 min. */
export const retryDelaySeconds = (attempts: number) => Math.min(600, 10 * 2 ** Math.max(0, attempts - 1));

/** Queue door: the events queue dispatches to handlers; its dead-letter queue is stored for inspection. */
export async function handleQueueBatch(batch: MessageBatch<unknown>, env: Env, _ctx: ExecutionContext): Promise<void> {
  const config = loadConfig(env);
  const db = new Db(config);
  const pending: PendingEvents = [];
  try {
    if (batch.queue.endsWith('-dlq')) {
      for (const message of batch.messages) await storeDeadLetter(db, message, 'exhausted retries');
      return;
    }
    for (const message of batch.messages) await deliver(db, config, env, pending, message);
    if (pending.length) await relayOutbox(db.write, env, { ids: pending });
  } finally {
    await db.close();
  }
}

async function deliver(db: Db, config: Config, env: Env, pending: PendingEvents, message: Message<unknown>): Promise<void> {
  const envelope = EventEnvelope.safeParse(message.body);
  if (!envelope.success || !isEventName(envelope.data.name)) {
    // A malformed or unknown event can never succeed: keep it for inspection instead of retrying.
    log('error', 'queue.unknown_event', { messageId: message.id, name: envelope.success ? envelope.data.name : null });
    await storeDeadLetter(db, message, 'malformed or unknown event');
    message.ack();
    return;
  }
  const event = envelope.data;
  const name = event.name as keyof typeof EVENT_CATALOG;
  const parsed = EVENT_CATALOG[name].safeParse(event.payload);
  if (!parsed.success) {
    // A payload that does not match its schema will never match it: no retries, straight to inspection.
    log('error', 'queue.invalid_payload', { messageId: message.id, eventId: event.id, event: name });
    await storeDeadLetter(db, message, 'payload does not match the event schema');
    return;
  }
  const payload = parsed.data;
  try {
    for (const handler of HANDLERS[name] as EventHandler[]) {
      await runHandler(db, config, env, pending, { id: event.id, name, emittedAt: event.emittedAt }, handler, payload);
    }
    message.ack();
  } catch (err) {
    const error = describeError(err);
    log('warn', 'queue.handler_failed', { eventId: event.id, event: name, attempt: message.attempts, error });
    await db.write
      .update(outbox)
      .set({ lastError: `${error.name}: ${error.message}`.slice(0, 1000) })
      .where(eq(outbox.id, event.id))
      .catch(() => undefined);
    message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
  }
}

/** Effect and processed-mark in one transaction: a duplicate delivery finds the mark and does nothing. */
async function runHandler(
  db: Db,
  config: Config,
  env: Env,
  pending: PendingEvents,
  event: HandlerContext['event'],
  handler: EventHandler,
  payload: unknown,
): Promise<void> {
  const after: (() => Promise<unknown>)[] = [];
  const ran = await db.write.transaction(async (tx) => {
    const fresh = await tx
      .insert(processedEvents)
      .values({ eventId: event.id, handler: handler.name })
      .onConflictDoNothing()
      .returning({ eventId: processedEvents.eventId });
    if (fresh.length === 0) return false;
    const ctx: HandlerContext = {
      tx,
      config,
      env,
      events: pending,
      event,
      afterCommit: (work) => void after.push(work),
      idempotencyKey: `${event.id}:${handler.name}`,
    };
    await handler.run(ctx, payload as never);
    return true;
  });
  if (ran) await Promise.allSettled(after.map((work) => work()));
}

async function storeDeadLetter(db: Db, message: Message<unknown>, reason: string): Promise<void> {
  const envelope = EventEnvelope.safeParse(message.body);
  const eventId = envelope.success ? envelope.data.id : crypto.randomUUID();
  const [row] = envelope.success ? await db.write.select({ lastError: outbox.lastError }).from(outbox).where(eq(outbox.id, eventId)) : [];
  await db.write.insert(deadLetters).values({
    eventId,
    eventName: envelope.success ? envelope.data.name : 'unknown',
    payload: (envelope.success ? envelope.data.payload : message.body) ?? null,
    error: row?.lastError ?? reason,
    attempts: reason === 'exhausted retries' ? MAX_DELIVERY_ATTEMPTS : message.attempts,
  });
  log('error', 'queue.dead_letter', { eventId, reason });
  message.ack();
}
