import { and, count, desc, eq, getTableColumns, inArray, isNotNull, isNull, sql, type Placeholder, type SQL } from 'drizzle-orm';
import type { Database, Transaction } from '../../db/client';
import { prepared } from '../../db/prepared';
import { notifications, type Notification } from '../../db/schema';
import { emit } from '../../events/outbox';
import { cacheDel, cached } from '../../lib/cache';
import { cacheKeys } from '../../lib/cache-keys';
import { AppError } from '../../lib/errors';
import { requireCaller, type ServiceContext, withTransaction } from '../context';

export type NotificationType = Notification['type'];

/** What clients see of a notification ("read" is derived from read_at). */
export interface NotificationView {
  id: string;
  type: NotificationType;
  title: string;
  message: string;
  description: string | null;
  actionUrl: string | null;
  actionLabel: string | null;
  metadata: Record<string, unknown> | null;
  read: boolean;
  readAt: string | null;
  createdAt: string;
}

export interface ListNotificationsInput {
  read?: boolean;
  type?: NotificationType;
  limit: number;
  offset: number;
}

export interface NotificationPage {
  items: NotificationView[];
  total: number;
  unreadCount: number;
}

const view = (n: Notification): NotificationView => ({
  id: n.id,
  type: n.type,
  title: n.title,
  message: n.message,
  description: n.description,
  actionUrl: n.actionUrl,
  actionLabel: n.actionLabel,
  metadata: n.metadata ?? null,
  read: n.readAt !== null,
  readAt: n.readAt?.toISOString() ?? null,
  createdAt: n.createdAt.toISOString(),
});


const unreadOf = (userId: Placeholder | string) => and(eq(notifications.userId, userId), isNull(notifications.readAt));

/** The user's unread count on `ctx.db.write` (inside a transaction: as of that transaction). */
export async function countUnread(ctx: ServiceContext, userId: string): Promise<number> {
  const [row] = await ctx.db.write.select({ n: count() }).from(notifications).where(unreadOf(userId));
  return row?.n ?? 0;
}

const invalidateUnread = (ctx: ServiceContext, userId: string) => cacheDel(ctx.config, cacheKeys(ctx.config).unreadCount(userId));

/** The unread count moved: open notification streams get the new one (pushed by the queue, never from the request). */
const unreadChanged = (tx: Transaction, ctx: ServiceContext, userId: string) => emit(tx, ctx.events, 'notification.unread_changed', { userId });

/**
 * A user's unread count, cached. Filled from the primary: the count is invalidated by writes, and a
 * lagging replica must not put the pre-write count back for a whole TTL.
 */
export async function getUnreadCount(ctx: ServiceContext, userId: string): Promise<number> {
  const { count: n } = await cached(ctx.config, cacheKeys(ctx.config).unreadCount(userId), async () => ({
    count: await countUnread(ctx, userId),
  }));
  return n;
}

/**
 * The caller's notifications, newest first, with the filtered total and the unread count: one statement. The unread
 * count (on the partial unread index) is the statement's one guaranteed row; the page, with its total as a window
 * count, is joined to it, so an empty page still answers the count. Page and counts come from one snapshot and always
 * agree. (The cached count serves the polled badge endpoint; this is a read the user asked for.)
 */
export async function listNotifications(ctx: ServiceContext, input: ListNotificationsInput): Promise<NotificationPage> {
  const userId = requireCaller(ctx);
  const db = ctx.db.read;
  const page = prepared(db, `notifications.page:${input.read}:${input.type ? 'type' : ''}`, () => pageQuery(db, input.read, Boolean(input.type)));
  const rows = await page.execute({ userId, type: input.type, limit: input.limit, offset: input.offset });
  const unreadCount = rows[0]?.unread ?? 0;
  const items = rows.flatMap((r) => (r.item ? [r.item] : []));
  // A page past the end has no row to carry the filtered total: count it.
  let total = rows[0]?.total ?? 0;
  if (items.length === 0 && input.offset > 0) {
    total = (await db.select({ n: count() }).from(notifications).where(and(...pageFilters(input.read, userId, input.type))))[0]?.n ?? 0;
  }
  return { items: items.map(view), total, unreadCount };
}

/** The page's filters, with values or (for the prepared statement) placeholders. */
function pageFilters(read: boolean | undefined, userId: Placeholder | string, type: Placeholder | Notification['type'] | undefined): SQL[] {
  const filters: SQL[] = [eq(notifications.userId, userId)];
  if (read === true) filters.push(isNotNull(notifications.readAt));
  if (read === false) filters.push(isNull(notifications.readAt));
  if (type) filters.push(eq(notifications.type, type));
  return filters;
}

/**
 * The page statement for one shape of filters. It is kept for the isolate, so it sees the shape only: the user,
 * type, limit and offset are placeholders bound per request.
 */
function pageQuery(db: Database, read: boolean | undefined, byType: boolean) {
  const userId = sql.placeholder('userId');
  const counts = db
    .select({ unread: sql<number>`count(*)`.mapWith(Number).as('unread') })
    .from(notifications)
    .where(unreadOf(userId))
    .as('counts');
  const page = db
    .select({ ...getTableColumns(notifications), total: sql<number>`count(*) over ()`.mapWith(Number).as('total') })
    .from(notifications)
    .where(and(...pageFilters(read, userId, byType ? sql.placeholder('type') : undefined)))
    .orderBy(desc(notifications.createdAt), desc(notifications.id))
    .limit(sql.placeholder('limit'))
    .offset(sql.placeholder('offset'))
    .as('page');
  const columns = getTableColumns(notifications);
  const item = Object.fromEntries(Object.keys(columns).map((k) => [k, page[k as keyof typeof columns]])) as {
    [K in keyof typeof columns]: (typeof page)[K];
  };
  // Unnamed: over HTTP no name is sent anyway, and on a pooled session a named statement could outlive its transaction.
  return db
    .select({ unread: counts.unread, total: page.total, item })
    .from(counts)
    .leftJoinLateral(page, sql`true`)
    .orderBy(desc(page.createdAt), desc(page.id))
    .prepare('');
}

/**
 * Lock the caller's notifications among `ids`; 404 (and nothing changes) unless every id is theirs.
 * Someone else's id and a non-existent id are indistinguishable.
 */
async function lockOwned(tx: Transaction, userId: string, ids: string[]): Promise<void> {
  const owned = await tx
    .select({ id: notifications.id })
    .from(notifications)
    .where(and(eq(notifications.userId, userId), inArray(notifications.id, ids)))
    .for('update');
  if (owned.length === ids.length) return;
  const found = new Set(owned.map((r) => r.id));
  throw new AppError('NOT_FOUND', 'Notification not found', { details: { ids: ids.filter((id) => !found.has(id.toLowerCase())) } });
}

export interface MarkResult {
  /** Notifications whose state changed (already-read ones are not counted by mark-read, and vice versa). */
  updated: number;
  unreadCount: number;
}

async function mark(ctx: ServiceContext, ids: string[], read: boolean): Promise<MarkResult> {
  const userId = requireCaller(ctx);
  const result = await withTransaction(ctx, async (tx, ctx) => {
    await lockOwned(tx, userId, ids);
    const rows = await tx
      .update(notifications)
      .set({ readAt: read ? new Date() : null })
      .where(and(eq(notifications.userId, userId), inArray(notifications.id, ids), read ? isNull(notifications.readAt) : isNotNull(notifications.readAt)))
      .returning({ id: notifications.id });
    if (rows.length > 0) await unreadChanged(tx, ctx, userId);
    return { updated: rows.length, unreadCount: await countUnread(ctx, userId) };
  });
  await invalidateUnread(ctx, userId);
  return result;
}

export const markRead = (ctx: ServiceContext, input: { ids: string[] }) => mark(ctx, input.ids, true);
export const markUnread = (ctx: ServiceContext, input: { ids: string[] }) => mark(ctx, input.ids, false);

export async function markAllRead(ctx: ServiceContext): Promise<MarkResult> {
  const userId = requireCaller(ctx);
  const updated = await withTransaction(ctx, async (tx, ctx) => {
    const rows = await tx.update(notifications).set({ readAt: new Date() }).where(unreadOf(userId)).returning({ id: notifications.id });
    if (rows.length > 0) await unreadChanged(tx, ctx, userId);
    return rows.length;
  });
  await invalidateUnread(ctx, userId);
  return { updated, unreadCount: 0 };
}

/** Delete one of the caller's notifications; someone else's (or a missing) id is 404. */
export async function deleteNotification(ctx: ServiceContext, input: { id: string }): Promise<void> {
  const userId = requireCaller(ctx);
  await withTransaction(ctx, async (tx, ctx) => {
    const [row] = await tx
      .delete(notifications)
      .where(and(eq(notifications.id, input.id), eq(notifications.userId, userId)))
      .returning({ readAt: notifications.readAt });
    if (!row) throw new AppError('NOT_FOUND', 'Notification not found');
    if (row.readAt === null) await unreadChanged(tx, ctx, userId);
  });
  await invalidateUnread(ctx, userId);
}

/** Delete all the caller's read notifications; unread ones are kept. */
export async function deleteReadNotifications(ctx: ServiceContext): Promise<{ deleted: number }> {
  const userId = requireCaller(ctx);
  const rows = await ctx.db.write
    .delete(notifications)
    .where(and(eq(notifications.userId, userId), isNotNull(notifications.readAt)))
    .returning({ id: notifications.id });
  // Only read rows go, so the count does not move (no stream push); invalidating anyway is cheap and keeps the rule simple.
  await invalidateUnread(ctx, userId);
  return { deleted: rows.length };
}
