import { notifications, type NewNotification } from '../../db/schema';
import { cacheDel } from '../../lib/cache';
import { cacheKeys } from '../../lib/cache-keys';
import type { ServiceContext } from '../context';
import { pushToHub, streamNotification, unreadCountNow } from './stream';

export type NotificationInput = Pick<NewNotification, 'userId' | 'type' | 'title' | 'message' | 'description' | 'actionUrl' | 'actionLabel' | 'metadata'>;

/**
 * The one way notifications are created (every queue handler uses it), in the caller's transaction. The type is whatever the
 * caller says — never forced to SYSTEM. Once the handler's transaction commits, the unread-count
 * cache is dropped and the notification is pushed to the user's open streams with the new count;
 * the push only ever happens for a committed row, and a redelivered event never gets here twice.
 */
export async function createNotification(ctx: ServiceContext, input: NotificationInput): Promise<string> {
  const [row] = await ctx.db.write.insert(notifications).values(input).returning();
  const unread = await unreadCountNow(ctx, row!.userId);
  ctx.afterCommit(async () => {
    await cacheDel(ctx.config, cacheKeys(ctx.config).unreadCount(row!.userId));
    await pushToHub(ctx, { userId: row!.userId, push: { notification: streamNotification(row!), unread } });
  });
  return row!.id;
}
