import { eq } from 'drizzle-orm';
import { settings, users } from '../../db/schema';
import { cacheDel } from '../../lib/cache';
import { cacheKeys } from '../../lib/cache-keys';
import { createNotification } from '../../services/notifications/create';
import { resolveSettings } from '../../services/settings/schema';
import type { EventHandler } from '../types';

/** A star notifies the profile's owner (type STAR). Only the starrer's public name is used. */
export const starNotification: EventHandler<'profile.starred'> = {
  name: 'star-notification',
  async run(ctx, { ownerId, starredBy, profileId }) {
    const [starrer] = await ctx.tx
      .select({ firstName: users.firstName, lastName: users.lastName, username: users.username, deletedAt: users.deletedAt })
      .from(users)
      .where(eq(users.id, starredBy));
    if (!starrer || starrer.deletedAt) return;
    const [prefs] = await ctx.tx.select({ settings: settings.settings }).from(settings).where(eq(settings.userId, ownerId));
    if (!resolveSettings(prefs?.settings).notifications.stars) return; // the owner turned star notifications off
    const name = [starrer.firstName, starrer.lastName].filter(Boolean).join(' ') || starrer.username || 'Someone';
    await createNotification(ctx.tx, {
      userId: ownerId,
      type: 'STAR',
      title: 'New star on your profile',
      message: `${name} starred your profile.`,
      actionUrl: `${ctx.config.FRONTEND_URL}/profile/${ownerId}`,
      actionLabel: 'View profile',
      metadata: { profileId, starredBy },
    });
    ctx.afterCommit(() => cacheDel(ctx.config, cacheKeys(ctx.config).unreadCount(ownerId)));
  },
};
