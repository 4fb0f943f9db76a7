import { eq } from 'drizzle-orm';
import { settings } from '../../db/schema';
import { cacheDel, cached } from '../../lib/cache';
import { cacheKeys } from '../../lib/cache-keys';
import { requireCaller, type ServiceContext, withTransaction } from '../context';
import { applySettingsPatch, resolveSettings, storedOverrides, type SettingsPatch, type UserSettings } from './schema';
import { logActivity } from '../activity';

export { DEFAULT_SETTINGS, type SettingsPatch, type UserSettings } from './schema';


/**
 * A user's full settings (defaults merged in). Reusable by any service or job, e.g. to decide
 * whether to send the weekly feedback mail (`email.weeklyFeedback`) or a star notification.
 * Cached; the cache is filled from the primary so a replica lagging behind a write it just
 * invalidated can never put the old document back for a whole TTL. A user without a settings row
 * simply has the defaults.
 */
export async function getSettings(ctx: ServiceContext, userId: string): Promise<UserSettings> {
  const value = await cached(ctx.config, cacheKeys(ctx.config).settings(userId), async () => {
    const [row] = await ctx.db.write.select({ settings: settings.settings }).from(settings).where(eq(settings.userId, userId)).limit(1);
    return resolveSettings(row?.settings);
  });
  // Re-resolve: a payload cached by an older version of the shape is normalised, not trusted.
  return resolveSettings(value);
}

/** Merge a (deep-partial, already validated) patch into the caller's settings; returns the full result. */
export async function updateSettings(ctx: ServiceContext, patch: SettingsPatch): Promise<UserSettings> {
  const userId = requireCaller(ctx);
  const stored = await withTransaction(ctx, async (tx, ctx) => {
    // The row is created at sign-up. One statement creates it if it is somehow missing, or locks it (the no-op
    // DO UPDATE takes the row lock), and returns the stored document.
    const [row] = await tx
      .insert(settings)
      .values({ userId })
      .onConflictDoUpdate({ target: settings.userId, set: { userId } })
      .returning({ settings: settings.settings });
    const next = applySettingsPatch(storedOverrides(row?.settings), patch);
    await tx.update(settings).set({ settings: next }).where(eq(settings.userId, userId));
    await logActivity(ctx, { userId, action: 'settings.updated', metadata: { patch } });
    return next;
  });
  await cacheDel(ctx.config, cacheKeys(ctx.config).settings(userId));
  return resolveSettings(stored);
}

/** Back to the defaults: the stored document becomes `{}` (so future default changes apply). */
export async function resetSettings(ctx: ServiceContext): Promise<UserSettings> {
  const userId = requireCaller(ctx);
  await withTransaction(ctx, async (tx, ctx) => {
    await tx.insert(settings).values({ userId, settings: {} }).onConflictDoUpdate({ target: settings.userId, set: { settings: {}, updatedAt: new Date() } });
    await logActivity(ctx, { userId, action: 'settings.reset' });
  });
  await cacheDel(ctx.config, cacheKeys(ctx.config).settings(userId));
  return resolveSettings({});
}
