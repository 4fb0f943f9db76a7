import type { Config, Env } from '../config';
import type { Transaction } from '../db/client';
import type { EventName, EventPayload } from '../events/catalog';
import type { PendingEvents } from '../events/outbox';

export interface HandlerContext {
  /** The handler's transaction: its effects and its processed-event mark commit together. */
  tx: Transaction;
  config: Config;
  env: Env;
  /** Follow-up events emitted by the handler (relayed after the batch). */
  events: PendingEvents;
  event: { id: string; name: EventName; emittedAt: string };
  /** Runs after the transaction commits (cache invalidation). */
  afterCommit(work: () => Promise<unknown>): void;
  /** Idempotency key for external side effects of this handler for this event. */
  idempotencyKey: string;
}

/** One reaction to one event. `name` is stable: it keys deduplication in processed_events. */
export interface EventHandler<N extends EventName = EventName> {
  name: string;
  run(ctx: HandlerContext, payload: EventPayload<N>): Promise<void>;
}

export type HandlerTable = { [N in EventName]: EventHandler<N>[] };
