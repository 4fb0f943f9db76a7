import type { EventName, EventPayload } from '../events/catalog';
import type { ServiceContext } from '../services/context';

/**
 * A handler's service context: `db` is the handler's transaction (its effects and its processed-event mark
 * commit together), `events` collects follow-up events (relayed after the batch) and `afterCommit` runs once
 * that transaction has committed (cache invalidation). Handlers pass it to services as it is: a service
 * that opens a transaction (`withTransaction`) joins the handler's.
 */
export interface HandlerContext extends ServiceContext {
  event: { id: string; name: EventName; emittedAt: string };
  /** Idempotency key for external side effects of this handler for this event. */
  idempotencyKey: string;
}

/** One reaction to one event. `name` is stable: it keys deduplication in processed_events. */
export interface EventHandler<N extends EventName = EventName> {
  name: string;
  run(ctx: HandlerContext, payload: EventPayload<N>): Promise<void>;
}

export type HandlerTable = { [N in EventName]: EventHandler<N>[] };
