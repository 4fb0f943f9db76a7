import { and, asc, eq, sql } from 'drizzle-orm';
import type { Queryable } from '../../db/client';
import { notifications, type Notification } from '../../db/schema';
import {
  HUB_HEADERS,
  notificationHub,
  notificationHubById,
  type HubPush,
  type StreamMessage,
  type StreamNotification,
  type UnreadCount,
} from '../../durable/notification-hub';
import { randomToken, sha256Hex } from '../../lib/crypto';
import { directEvent, enqueueEvents } from '../../events/outbox';
import { AppError } from '../../lib/errors';
import { withTimeout } from '../../lib/http';
import { describeError, log } from '../../lib/log';
import { enforceLimit, LIMITS } from '../../lib/rate-limit';
import { requireCaller, type ServiceContext } from '../context';
import { countUnread } from './index';

/** At most this many missed notifications are replayed on resume; beyond it the client reloads over REST. */
export const RESUME_LIMIT = 100;
/** A hub call that takes longer is abandoned (a push: the client catches up with `since` on its next connect). */
const HUB_TIMEOUT_MS = 3000;

/** The stream's view of a notification. */
export function streamNotification(n: Notification): StreamNotification {
  return { id: n.id, type: n.type, title: n.title, message: n.message, createdAt: n.createdAt.toISOString(), read: n.readAt !== null };
}

/** The user's unread count now, stamped with when it was read (so a late, older count never wins). */
export async function unreadCountNow(ctx: ServiceContext, userId: string): Promise<UnreadCount> {
  const at = Date.now();
  return { count: await countUnread(ctx, userId), at };
}

const deliver = (ctx: ServiceContext, userId: string, push: HubPush) => withTimeout(notificationHub(ctx.env, userId).push(push), HUB_TIMEOUT_MS, 'push');

/**
 * Push into the user's hub, after the notification (or count) committed; it never fails the caller. A failed push
 * of a notification is handed to the queue (`notification.push_failed`), which delivers it again until the hub
 * takes it: otherwise a client that stays connected would receive the next notification, resume from that one
 * after a reconnect, and never see this one. A lost count needs nothing: the next one replaces it.
 */
export async function pushToHub(ctx: ServiceContext, input: { userId: string; push: HubPush }): Promise<void> {
  const { userId, push } = input;
  try {
    await deliver(ctx, userId, push);
  } catch (err) {
    const notificationId = push.notification?.id;
    log('warn', 'notifications.push_failed', { notificationId, error: describeError(err) });
    if (!notificationId) return;
    await enqueueEvents(ctx.env, [directEvent('notification.push_failed', { notificationId, userId })]).catch((e: unknown) => log('error', 'notifications.push_retry_lost', { notificationId, error: describeError(e) }));
  }
}

/**
 * Queue side of `notification.push_failed`: push the notification again with the count as of now. Throws while the
 * hub cannot be reached, so the queue retries. A notification deleted meanwhile is not pushed.
 */
export async function repushNotification(ctx: ServiceContext, input: { notificationId: string; userId: string }): Promise<void> {
  const [row] = await ctx.db.write
    .select()
    .from(notifications)
    .where(and(eq(notifications.id, input.notificationId), eq(notifications.userId, input.userId)));
  if (!row) return;
  await deliver(ctx, input.userId, { notification: streamNotification(row), unread: await unreadCountNow(ctx, input.userId) });
}

/**
 * Queue side of `notification.unread_changed` (REST changed the unread count): open streams get the count
 * as of now, once the handler's transaction commits.
 */
export async function pushUnreadCount(ctx: ServiceContext, userId: string): Promise<void> {
  const unread = await unreadCountNow(ctx, userId);
  ctx.afterCommit(() => pushToHub(ctx, { userId, push: { unread } }));
}

/**
 * The account was deleted: its open streams are closed and its unspent tickets dropped. Throws when the hub cannot
 * be reached, so the queue delivers the event again: a deleted account must not keep receiving.
 */
export async function closeNotificationStreams(ctx: ServiceContext, userId: string): Promise<void> {
  const closed = await withTimeout(notificationHub(ctx.env, userId).closeAll(), HUB_TIMEOUT_MS, 'closing streams');
  if (closed > 0) log('info', 'notifications.streams_closed', { sockets: closed });
}

export interface StreamTicket {
  /** `<hub id>.<secret>`: the hub id routes the connect to the user's object, which holds only the secret's SHA-256. */
  ticket: string;
  expiresAt: string;
}

/**
 * A single-use connect ticket for the caller's notification stream (browsers cannot send
 * Authorization on a WebSocket). It lives in the caller's hub, hashed, for 30 seconds: consuming it
 * there is one synchronous step, so it can never be used twice, and a hub that cannot be reached
 * means no ticket (503), never an unchecked one.
 */
export async function issueStreamTicket(ctx: ServiceContext): Promise<StreamTicket> {
  const userId = requireCaller(ctx);
  await enforceLimit(ctx.config, 'streamTicket', LIMITS.streamTicket, userId);
  const secret = randomToken();
  const hub = notificationHub(ctx.env, userId);
  let expiresAt: number;
  try {
    expiresAt = await hub.issueTicket(userId, await sha256Hex(secret));
  } catch (err) {
    log('error', 'notifications.ticket_failed', { requestId: ctx.requestId, error: describeError(err) });
    throw new AppError('SERVICE_UNAVAILABLE', 'Live notifications are unavailable right now, try again shortly');
  }
  return { ticket: `${hub.id.toString()}.${secret}`, expiresAt: new Date(expiresAt).toISOString() };
}

const TICKET = /^([0-9a-f]{64})\.([A-Za-z0-9_-]{43})$/;

export interface OpenStreamInput {
  ticket?: string;
  since?: string;
  /** The request's Upgrade header. */
  upgrade?: string;
}

/**
 * Open the caller's notification WebSocket. The ticket is the authorization: the hub consumes it and
 * accepts the socket in one step, then this sends what the client missed since `since` (oldest first)
 * and the unread count, read from the primary after the socket was registered — so a notification
 * committed meanwhile is either in that backlog or buffered by the hub, never lost between the two.
 */
export async function openNotificationStream(ctx: ServiceContext, input: OpenStreamInput): Promise<{ webSocket: WebSocket }> {
  if (input.upgrade?.toLowerCase() !== 'websocket') {
    throw new AppError('UPGRADE_REQUIRED', 'This endpoint speaks WebSocket: send Upgrade: websocket', { headers: { Upgrade: 'websocket' } });
  }
  const refused = () => new AppError('AUTH_REQUIRED', 'Stream ticket missing, invalid, used or expired: request a new one');
  const parts = TICKET.exec(input.ticket ?? '');
  const hub = parts ? notificationHubById(ctx.env, parts[1]!) : null;
  if (!parts || !hub) throw refused();

  const unavailable = () => new AppError('SERVICE_UNAVAILABLE', 'Live notifications are unavailable right now, try again shortly');
  const ticketHash = await sha256Hex(parts[2]!);
  const res = await hub
    .fetch('https://notification-hub/connect', {
      headers: { Upgrade: 'websocket', [HUB_HEADERS.ticketHash]: ticketHash, [HUB_HEADERS.maxSockets]: String(ctx.config.NOTIFICATION_SOCKETS_PER_USER) },
    })
    .catch((err: unknown) => {
      log('error', 'notifications.connect_failed', { requestId: ctx.requestId, error: describeError(err) });
      throw unavailable();
    });
  if (res.status === 401) throw refused();
  const socketId = res.headers.get(HUB_HEADERS.socketId);
  const userId = res.headers.get(HUB_HEADERS.userId);
  if (res.status !== 101 || !res.webSocket || !socketId || !userId) throw unavailable();
  try {
    const unread = await unreadCountNow(ctx, userId);
    const backlog = await missedSince(ctx.db.write, userId, input.since);
    await hub.catchUp(socketId, backlog, unread);
  } catch (err) {
    await hub.abandon(socketId).catch(() => undefined);
    throw err;
  }
  return { webSocket: res.webSocket };
}

/** The caller's notifications newer than `since`, oldest first, as stream messages (or a resync request). */
async function missedSince(db: Queryable, userId: string, since: string | undefined): Promise<StreamMessage[]> {
  if (!since) return [];
  const [anchor] = await db
    .select({ id: notifications.id })
    .from(notifications)
    .where(and(eq(notifications.id, since), eq(notifications.userId, userId)));
  // Deleted since, or never this user's: nothing to resume from, and nothing about it is revealed.
  if (!anchor) return [{ type: 'resync', reason: 'unknown_since' }];
  const rows = await db
    .select()
    .from(notifications)
    .where(
      and(
        eq(notifications.userId, userId),
        // Compared in SQL: created_at has microseconds that a JS Date would drop.
        sql`(${notifications.createdAt}, ${notifications.id}) > (select n.created_at, n.id from notifications n where n.id = ${since})`,
      ),
    )
    .orderBy(asc(notifications.createdAt), asc(notifications.id))
    .limit(RESUME_LIMIT + 1);
  if (rows.length > RESUME_LIMIT) return [{ type: 'resync', reason: 'too_many' }];
  return rows.map((n) => ({ type: 'notification', notification: streamNotification(n) }));
}
