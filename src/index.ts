import { createApp } from './app';
import type { Env } from './config';
import { runScheduled } from './jobs';
import { handleQueueBatch } from './queue';

const app = createApp();

/** The one Worker: HTTP, queue consumers and cron triggers. */
export default {
  fetch: app.fetch,
  queue: handleQueueBatch,
  scheduled: runScheduled,
} satisfies ExportedHandler<Env>;

export { NotificationHub } from './durable/notification-hub';
export { UserState } from './durable/user-state';
