import { relayOutbox } from '../../events/outbox';
import type { ServiceContext } from '../context';

/** Outbox rows older than this were not relayed by their request (crash, queue hiccup): sweep them. */
export const SWEEP_AFTER_MS = 30_000;
/** A sweep stays well inside one minute, the sweeper's period. */
const SWEEP_TIME_BOX_MS = 20_000;

/** Relay batches of stale outbox rows until the backlog is gone or the time box is spent (the next tick continues). */
export async function sweepOutbox(ctx: ServiceContext): Promise<{ relayed: number }> {
  const deadline = Date.now() + SWEEP_TIME_BOX_MS;
  let relayed = 0;
  for (;;) {
    const n = await relayOutbox(ctx.db, ctx.env, { olderThanMs: SWEEP_AFTER_MS });
    relayed += n;
    if (n === 0 || Date.now() > deadline) return { relayed };
  }
}
