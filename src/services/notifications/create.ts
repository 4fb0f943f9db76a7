import type { Config, Env } from '../../config';
import type { Transaction } from '../../db/client';
import { notifications, type NewNotification } from '../../db/schema';
import { cacheDel } from '../../lib/cache';
import { cacheKeys } from '../../lib/cache-keys';
import { pushToHub, streamNotification, unreadCountNow } from './stream';

export type NotificationInput = Pick<NewNotification, 'userId' | 'type' | 'title' | 'message' | 'description' | 'actionUrl' | 'actionLabel' | 'metadata'>;

/** What creating a notification needs from the queue handler: its transaction and its after-commit hook. */
export interface NotificationWriter {
  tx: Transaction;
  config: Config;
  env: Env;
  afterCommit(work: () => Promise<unknown>): void;
}

/**
 * The one way notifications are created (every queue handler uses it). The type is whatever the
 * caller says — never forced to SYSTEM. Once the handler's transaction commits, the unread-count
 * cache is dropped and the notification is pushed to the user's open streams with the new count;
 * the push only ever happens for a committed row, and a redelivered event never gets here twice.
 */
export async function createNotification(ctx: NotificationWriter, input: NotificationInput): Promise<string> {
  const [row] = await ctx.tx.insert(notifications).values(input).returning();
  const unread = await unreadCountNow(ctx.tx, row!.userId);
  ctx.afterCommit(async () => {
    await cacheDel(ctx.config, cacheKeys(ctx.config).unreadCount(row!.userId));
    await pushToHub(ctx.env, row!.userId, { notification: streamNotification(row!), unread });
  });
  return row!.id;
}
