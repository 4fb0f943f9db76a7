import type { Env } from '../config';
import { log } from '../lib/log';

/**
 * Queue consumer entry. Domain events arrive here from the outbox relay; the event catalog and
 * per-event handlers are wired in by the event-backbone work. Until then no producer sends
 * anything, and an unexpected message is logged and acknowledged rather than retried forever.
 */
export async function handleQueueBatch(batch: MessageBatch<unknown>, _env: Env, _ctx: ExecutionContext): Promise<void> {
  for (const message of batch.messages) {
    log('warn', 'queue.unhandled_message', { queue: batch.queue, messageId: message.id });
    message.ack();
  }
}
