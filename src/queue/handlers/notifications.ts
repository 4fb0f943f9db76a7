import { closeNotificationStreams, pushUnreadCount as pushUnread, repushNotification } from '../../services/notifications/stream';
import type { EventHandler } from '../types';

/** REST changed the unread count: open streams get the count as of now, once the mark commits. */
export const pushUnreadCount: EventHandler<'notification.unread_changed'> = {
  name: 'push-unread-count',
  run: (ctx, { userId }) => pushUnread(ctx, userId),
};

/** A notification whose push failed is pushed again; failing while the hub cannot be reached, so it is retried. */
export const retryPush: EventHandler<'notification.push_failed'> = {
  name: 'retry-notification-push',
  run: (ctx, payload) => repushNotification(ctx, payload),
};

/** A deleted account's open streams are closed and its unspent tickets dropped. */
export const closeStreams: EventHandler<'user.deleted'> = {
  name: 'close-notification-streams',
  run: (ctx, { userId }) => closeNotificationStreams(ctx, userId),
};
