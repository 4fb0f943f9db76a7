import type { Transaction } from '../../db/client';
import { notifications, type NewNotification } from '../../db/schema';

export type NotificationInput = Pick<NewNotification, 'userId' | 'type' | 'title' | 'message' | 'description' | 'actionUrl' | 'actionLabel' | 'metadata'>;

/**
 * The one way notifications are created (every queue handler uses it). The type is whatever the
 * caller says — never forced to SYSTEM. The caller invalidates the unread-count cache after commit.
 */
export async function createNotification(tx: Transaction, input: NotificationInput): Promise<string> {
  const [row] = await tx.insert(notifications).values(input).returning({ id: notifications.id });
  return row!.id;
}
