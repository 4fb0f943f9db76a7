import type { Env } from '../config';
import { EVENT_CATALOG, EventEnvelope, isEventName, type EventName } from '../events/catalog';
import {
  MAX_DELIVERY_ATTEMPTS,
  markProcessed,
  recordHandlerFailure,
  resolveDeadLetter,
  storeExhausted,
  storeUndeliverable,
} from '../services/admin/deliveries';
import { contextFor, openServiceContext, withTransaction, type ServiceContext } from '../services/context';
import { describeError, log } from '../lib/log';
import { recordHandlerRun } from '../lib/metrics';
import { parseTraceparent, runInSpan, startSpan } from '../lib/trace';
import { HANDLERS } from './handlers';
import type { EventHandler, HandlerContext } from './types';

export { MAX_DELIVERY_ATTEMPTS } from '../services/admin/deliveries';

/**
 * Exponential backoff between deliveries: 10 s, 20 s, 40 s … capped at 30 min. With max_retries = 14
 * (MAX_DELIVERY_ATTEMPTS = 15) a message waits about 3.7 h in all before it is dead-lettered, so an outage
 * of a few hours only delays events.
 */
export const retryDelaySeconds = (attempts: number) => Math.min(1800, 10 * 2 ** Math.max(0, attempts - 1));

/**
 * Backoff of the dead-letter consumer while it cannot store a dead letter (database down): capped at
 * 1 h; with the DLQ's max_retries = 100 that keeps trying for about four days.
 */
export const deadLetterRetryDelaySeconds = (attempts: number) => Math.min(3600, 10 * 2 ** Math.max(0, attempts - 1));

/**
 * Queue door. Handlers are independent: a delivery runs every handler of the event that has no
 * processed mark yet, each in its own transaction, and one failing never stops the others. While any
 * handler is left the message is retried, so a retry runs only the handlers that failed. When the queue
 * gives up, the dead-letter consumer stores one `dead_letters` row per handler still unprocessed, with
 * that handler's last error; a replay re-enqueues the event for that handler alone.
 */
export async function handleQueueBatch(batch: MessageBatch<unknown>, env: Env, _ctx: ExecutionContext): Promise<void> {
  const { ctx, finish } = openServiceContext(env, { actor: { kind: 'system', job: 'queue-consumer' } });
  try {
    if (batch.queue.endsWith('-dlq')) {
      for (const message of batch.messages) {
        await runInSpan(startSpan(parentOf(message.body), ctx.config.TRACE_SAMPLE_RATE), () => settle(message, () => deadLetter(ctx, message.body)));
      }
      return;
    }
    for (const message of batch.messages) await deliver(ctx, message);
  } finally {
    // Follow-up events the handlers emitted go to the queue now; the outbox sweeper covers a failed relay.
    await finish();
  }
}

/** Ack once `store` has recorded the message; if it cannot (database down), retry it later rather than lose it. */
async function settle(message: Message<unknown>, store: () => Promise<void>): Promise<void> {
  try {
    await store();
    message.ack();
  } catch (err) {
    log('error', 'queue.dead_letter_failed', { messageId: message.id, attempt: message.attempts, error: describeError(err) });
    message.retry({ delaySeconds: deadLetterRetryDelaySeconds(message.attempts) });
  }
}

/** The handlers a delivery is for: all of the event's, or the one a replay names (null if the event has no such handler). */
function handlersFor(name: EventName, only: string | undefined): EventHandler[] | null {
  const all = HANDLERS[name] as EventHandler[];
  if (only === undefined) return all;
  const handler = all.find((h) => h.name === only);
  return handler ? [handler] : null;
}

/** Why a message can never be dispatched, or its event, payload and handlers. */
function dispatchable(body: unknown):
  | { ok: true; event: EventEnvelope & { name: EventName }; payload: unknown; handlers: EventHandler[] }
  | { ok: false; reason: string; event?: EventEnvelope } {
  const envelope = EventEnvelope.safeParse(body);
  if (!envelope.success || !isEventName(envelope.data.name)) {
    return { ok: false, reason: 'malformed or unknown event', event: envelope.success ? envelope.data : undefined };
  }
  const event = envelope.data as EventEnvelope & { name: EventName };
  const parsed = EVENT_CATALOG[event.name].safeParse(event.payload);
  if (!parsed.success) return { ok: false, reason: 'payload does not match the event schema', event };
  const handlers = handlersFor(event.name, event.handler);
  if (!handlers) return { ok: false, reason: `event ${event.name} has no handler named ${event.handler}`, event };
  return { ok: true, event, payload: parsed.data, handlers };
}

/** The trace a message belongs to: the emitting span's, when the body carries a valid traceparent. */
function parentOf(body: unknown) {
  const traceparent = (body as { traceparent?: unknown } | null)?.traceparent;
  return typeof traceparent === 'string' ? parseTraceparent(traceparent) : null;
}

async function deliver(ctx: ServiceContext, message: Message<unknown>): Promise<void> {
  const { config, env } = ctx;
  // Each handler run is a span of the trace that emitted the event (a new trace if it carried none).
  const parent = parentOf(message.body) ?? startSpan(null, config.TRACE_SAMPLE_RATE);
  const target = dispatchable(message.body);
  if (!target.ok) {
    // It can never succeed: keep it for inspection instead of retrying.
    await runInSpan(startSpan(parent), async () => {
      log('error', 'queue.undeliverable', { messageId: message.id, eventId: target.event?.id ?? null, event: target.event?.name ?? null, reason: target.reason });
      await settle(message, () => storeUndeliverable(ctx, { event: target.event, body: message.body, reason: target.reason, attempts: message.attempts }));
    });
    return;
  }
  const { event, payload, handlers } = target;
  const meta = { id: event.id, name: event.name, emittedAt: event.emittedAt };
  let failed = 0;
  for (const handler of handlers) {
    const started = Date.now();
    await runInSpan(startSpan(parent), async () => {
      try {
        const ran = await runHandler(ctx, meta, handler, payload);
        const outcome = ran ? 'ok' : 'duplicate';
        recordHandlerRun(env, { event: event.name, handler: handler.name, outcome, ms: Date.now() - started, attempt: message.attempts });
        // One line per handler run (failures log their own): ties the effect to the request's trace.
        log('info', 'queue.handled', { eventId: event.id, event: event.name, handler: handler.name, outcome, ms: Date.now() - started, attempt: message.attempts });
      } catch (err) {
        failed++;
        recordHandlerRun(env, {
          event: event.name,
          handler: handler.name,
          outcome: 'failed',
          ms: Date.now() - started,
          attempt: message.attempts,
          error: describeError(err).name,
        });
        await recordHandlerFailure(ctx, { eventId: event.id, handler: handler.name, error: err, attempt: message.attempts });
      }
    });
  }
  try {
    if (failed === 0 && event.deadLetterId) await resolveDeadLetter(ctx, event.deadLetterId);
  } catch (err) {
    // The handlers are marked processed: the retry only finds the marks and resolves the dead letter.
    log('warn', 'queue.resolve_failed', { eventId: event.id, deadLetterId: event.deadLetterId, error: describeError(err) });
    failed++;
  }
  if (failed === 0) message.ack();
  else message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
}

/** Effect and processed-mark in one transaction: a duplicate delivery finds the mark and does nothing. */
async function runHandler(base: ServiceContext, event: HandlerContext['event'], handler: EventHandler, payload: unknown): Promise<boolean> {
  const actor = { kind: 'queue', event: event.name, eventId: event.id, handler: handler.name } as const;
  return withTransaction(contextFor(base, actor), async (_tx, ctx) => {
    if (!(await markProcessed(ctx, { eventId: event.id, handler: handler.name }))) return false;
    await handler.run({ ...ctx, event, idempotencyKey: `${event.id}:${handler.name}` }, payload as never);
    return true;
  });
}

/** Dead-letter consumer: the queue gave up on this message. Throws while the database is down (the caller retries). */
async function deadLetter(ctx: ServiceContext, body: unknown): Promise<void> {
  const target = dispatchable(body);
  if (!target.ok) return storeUndeliverable(ctx, { event: target.event, body, reason: target.reason, attempts: MAX_DELIVERY_ATTEMPTS });
  await storeExhausted(ctx, { event: target.event, handlers: target.handlers.map((h) => h.name) });
}
