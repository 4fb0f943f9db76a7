import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Database, Transaction } from '../../db/client';
import { profileStars, users } from '../../db/schema';

export interface StarSummary {
  count: number;
  hasStarred: boolean;
}

/**
 * Live star count of a profile (stars of soft-deleted users do not count: they are invisible
 * everywhere) and whether `viewerId` starred it. Never cached: it changes with every star.
 */
export async function starSummary(db: Database | Transaction, profileId: string, viewerId: string | undefined): Promise<StarSummary> {
  const [row] = await db
    .select({
      count: sql<number>`count(*)::int`,
      hasStarred: viewerId ? sql<boolean>`coalesce(bool_or(${profileStars.userId} = ${viewerId}), false)` : sql<boolean>`false`,
    })
    .from(profileStars)
    .innerJoin(users, and(eq(users.id, profileStars.userId), isNull(users.deletedAt)))
    .where(eq(profileStars.profileId, profileId));
  return { count: Number(row?.count ?? 0), hasStarred: Boolean(row?.hasStarred) };
}
