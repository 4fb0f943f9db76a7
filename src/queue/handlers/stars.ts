import { and, eq, gt, sql } from 'drizzle-orm';
import { notifications, settings, users } from '../../db/schema';
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
    // Star, unstar, star again: the owner hears about one person's star at most once a day.
    const [recent] = await ctx.tx
      .select({ id: notifications.id })
      .from(notifications)
      .where(
        and(
          eq(notifications.userId, ownerId),
          eq(notifications.type, 'STAR'),
          sql`${notifications.metadata}->>'starredBy' = ${starredBy}`,
          sql`${notifications.metadata}->>'profileId' = ${profileId}`,
          gt(notifications.createdAt, new Date(Date.now() - 86_400_000)),
        ),
      )
      .limit(1);
    if (recent) return;
    const name = [starrer.firstName, starrer.lastName].filter(Boolean).join(' ') || starrer.username || 'Someone';
    await createNotification(ctx, {
      userId: ownerId,
      type: 'STAR',
      title: 'New star on your profile',
      message: `${name} starred your profile.`,
      actionUrl: `${ctx.config.FRONTEND_URL}/profile/${ownerId}`,
      actionLabel: 'View profile',
      metadata: { profileId, starredBy },
    });
  },
};
