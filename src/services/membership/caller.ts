import { cacheDel } from '../../lib/cache';
import { cacheKeys } from '../../lib/cache-keys';
import { AppError } from '../../lib/errors';
import { enforceLimit, LIMITS } from '../../lib/rate-limit';
import type { ServiceContext } from '../context';
import { orgCoMemberIds } from './queries';

/** Rate-limit buckets of this area (per user and kind of operation, see lib/rate-limit.ts); teams and projects share the organization buckets. */
export type OrgLimit = 'orgCreate' | 'orgUpdate' | 'orgDelete' | 'orgRead' | 'orgAudit';

/** The signed-in caller, after consuming one unit of their per-user limit for this kind of operation. */
export async function limitedCaller(ctx: ServiceContext, bucket: OrgLimit): Promise<string> {
  if (!ctx.userId) throw new AppError('AUTH_REQUIRED', 'Sign in to continue');
  await enforceLimit(ctx.config, bucket, LIMITS[bucket], ctx.userId);
  return ctx.userId;
}

/** Drop the cached organization lists of these users. Call once the change has committed (`ctx.afterCommit`). */
export async function invalidateOrgLists(ctx: ServiceContext, userIds: Iterable<string>): Promise<void> {
  const keys = cacheKeys(ctx.config);
  const unique = [...new Set(userIds)];
  for (let i = 0; i < unique.length; i += 500) await cacheDel(ctx.config, ...unique.slice(i, i + 500).map((id) => keys.orgList(id)));
}

/**
 * An account was deleted or recovered: the member counts in the organization lists of everyone sharing an
 * organization with it change. Reads them in the caller's transaction; drops their lists once it commits.
 */
export async function invalidateCoMemberOrgLists(ctx: ServiceContext, input: { userId: string }): Promise<void> {
  const ids = await orgCoMemberIds(ctx, input);
  if (ids.length) ctx.afterCommit(() => invalidateOrgLists(ctx, ids));
}
