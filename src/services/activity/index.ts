import { count, desc, eq } from 'drizzle-orm';
import { activityLogs } from '../../db/schema';
import { requireCaller, type ServiceContext } from '../context';

export type ActivityLevel = 'INFO' | 'WARN' | 'CRITICAL';

/**
 * Action names in use (dot-separated, past tense):
 *   otp.sent · otp.verified · otp.locked · phone.verified · stepup.granted · credits.claimed ·
 *   export.requested · export.completed · export.failed · profile.updated · settings.updated ·
 *   settings.reset · payment.completed · payment.refunded · membership.<audit action> (written by the
 *   org/team/project audit helper for the member concerned) · ai.request (the AI quota counts these)
 * Always call `logActivity(ctx, …)` with the context of the transaction of the change itself.
 */
export interface ActivityEntry {
  userId: string;
  action: string;
  level?: ActivityLevel;
  /** Ids and coarse facts only: never codes, tokens or another user's personal data. */
  metadata?: Record<string, unknown> | null;
}

/**
 * Append one row to the user's activity log, on `ctx.db.write`: inside `withTransaction` that is the
 * transaction of the action it records.
 */
export async function logActivity(ctx: ServiceContext, entry: ActivityEntry): Promise<void> {
  await ctx.db.write.insert(activityLogs).values({ userId: entry.userId, action: entry.action, level: entry.level ?? 'INFO', metadata: entry.metadata ?? null });
}

export interface ActivityRow {
  id: string;
  action: string;
  level: ActivityLevel;
  metadata: Record<string, unknown> | null;
  createdAt: string;
}

/** The caller's activity log, newest first. Primary reads: the log must show what was just done. */
export async function listActivity(ctx: ServiceContext, page: { limit: number; offset: number }): Promise<{ items: ActivityRow[]; total: number }> {
  const userId = requireCaller(ctx);
  const db = ctx.db.write;
  const where = eq(activityLogs.userId, userId);
  const [rows, [total]] = await Promise.all([
    db
      .select({ id: activityLogs.id, action: activityLogs.action, level: activityLogs.level, metadata: activityLogs.metadata, createdAt: activityLogs.createdAt })
      .from(activityLogs)
      .where(where)
      .orderBy(desc(activityLogs.createdAt), desc(activityLogs.id))
      .limit(page.limit)
      .offset(page.offset),
    db.select({ n: count() }).from(activityLogs).where(where),
  ]);
  return {
    total: total?.n ?? 0,
    items: rows.map((r) => ({ ...r, metadata: r.metadata ?? null, createdAt: r.createdAt.toISOString() })),
  };
}
