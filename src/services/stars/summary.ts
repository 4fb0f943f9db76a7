import { and, eq, isNull, sql } from 'drizzle-orm';
import { profileStars, users } from '../../db/schema';
import type { ServiceContext } from '../context';

export interface StarSummary {
  count: number;
  hasStarred: boolean;
}

/**
 * Live star count of a profile (stars of soft-deleted users do not count: they are invisible
 * everywhere) and whether `viewerId` starred it. Never cached: it changes with every star. Read on
 * `ctx.db.read`: inside a transaction, that transaction.
 */
export async function starSummary(ctx: ServiceContext, input: { profileId: string; viewerId?: string }): Promise<StarSummary> {
  const { profileId, viewerId } = input;
  const [row] = await ctx.db.read
    .select({
      count: sql<number>`count(*)::int`,
      hasStarred: viewerId ? sql<boolean>`coalesce(bool_or(${profileStars.userId} = ${viewerId}), false)` : sql<boolean>`false`,
    })
    .from(profileStars)
    .innerJoin(users, and(eq(users.id, profileStars.userId), isNull(users.deletedAt)))
    .where(eq(profileStars.profileId, profileId));
  return { count: Number(row?.count ?? 0), hasStarred: Boolean(row?.hasStarred) };
}
