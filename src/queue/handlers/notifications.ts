import { pushToHub, unreadCountNow } from '../../services/notifications/stream';
import type { EventHandler } from '../types';

/** REST changed the unread count: open streams get the count as of now, once the mark commits. */
export const pushUnreadCount: EventHandler<'notification.unread_changed'> = {
  name: 'push-unread-count',
  async run(ctx, { userId }) {
    const unread = await unreadCountNow(ctx.tx, userId);
    ctx.afterCommit(() => pushToHub(ctx.env, userId, { unread }));
  },
};
