import { and, eq, gt, isNotNull, isNull, sql } from 'drizzle-orm';
import type { Transaction } from '../../db/client';
import { profiles, settings, users } from '../../db/schema';
import { emit } from '../../events/outbox';
import { isUniqueViolation } from '../../db/errors';
import { fetchClerkUser, type ClerkUserFields } from '../../integrations/clerk';
import { cacheDel, cached } from '../../lib/cache';
import { cacheKeys } from '../../lib/cache-keys';
import { AppError } from '../../lib/errors';
import { IsolateCache } from '../../lib/isolate-cache';
import { describeError, log } from '../../lib/log';
import { withTransaction, type ServiceContext } from '../context';
import { invalidateCoMemberOrgLists } from '../membership/caller';

/** A soft-deleted account can be recovered, then its personal data is anonymised (daily job). */
export const ACCOUNT_RETENTION_DAYS = 30;

/** Run `work` in a savepoint so an expected failure (a unique violation) leaves the transaction usable. */
async function savepoint<T>(tx: Transaction, work: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await tx.transaction(() => work()) };
  } catch (error) {
    return { ok: false, error };
  }
}

const isEmailTaken = (err: unknown) => isUniqueViolation(err, 'users_email_active_uq');

/** Held until Clerk tells us the real address (JIT provisioning while Clerk's API was unreachable). */
const placeholderEmail = (userId: string) => `${userId.toLowerCase()}@users.invalid`;

export type SyncOutcome = 'created' | 'updated' | 'recovered' | 'unchanged' | 'ignored';

/**
 * Create or update a user from Clerk's data, keyed by the Clerk id (never by email: an address can
 * change hands, so matching by it could hand one person's account to another). A new Clerk account whose email belongs to an account deleted within the retention period
 * recovers that account: its row is re-keyed to the new id and every row that references it follows.
 * `createOnly` (just-in-time provisioning) never overwrites an existing row. In the caller's transaction when
 * there is one (the Clerk webhook's, which also claims the delivery); caches are dropped after it commits.
 */
export async function syncUserFromClerk(ctx: ServiceContext, input: { user: ClerkUserFields; createOnly?: boolean }): Promise<SyncOutcome> {
  const u = input.user;
  return withTransaction(ctx, async (tx, ctx): Promise<SyncOutcome> => {
    const outcome = await sync(tx, ctx, u, input.createOnly ?? false);
    if (outcome !== 'unchanged' && outcome !== 'ignored') forgetUser(ctx, u.id);
    return outcome;
  });
}

async function sync(tx: Transaction, ctx: ServiceContext, u: ClerkUserFields, createOnly: boolean): Promise<SyncOutcome> {
  const [existing] = await tx.select({ id: users.id, deletedAt: users.deletedAt }).from(users).where(eq(users.id, u.id)).for('update');
  if (existing) {
    if (createOnly) return 'unchanged';
    if (existing.deletedAt) return 'ignored'; // a late update for a deleted account changes nothing
    const names = { firstName: u.firstName, lastName: u.lastName, username: u.username, imageUrl: u.imageUrl };
    // Only a verified address replaces ours; one held by another active account is kept out (logged).
    const emailChange = u.email && u.emailVerified ? { email: u.email } : {};
    const updated = await savepoint(tx, () => tx.update(users).set({ ...emailChange, ...names }).where(eq(users.id, u.id)));
    if (!updated.ok) {
      if (!isEmailTaken(updated.error)) throw updated.error;
      log('warn', 'users.email_taken', { userId: u.id });
      await tx.update(users).set(names).where(eq(users.id, u.id));
    }
    return 'updated';
  }
  // Only an address Clerk verified is ours to store (and to show on the profile); until one arrives,
  // the placeholder stands in and a later verified user.updated replaces it.
  const verifiedEmail = u.email && u.emailVerified ? u.email : null;
  if (verifiedEmail) {
    // Recovery hands over the old account's data: only to someone who proved they own the address.
    const recovered = await recoverDeletedAccount(tx, ctx, { ...u, email: verifiedEmail });
    if (recovered) return 'recovered';
  }
  const row = { id: u.id, firstName: u.firstName, lastName: u.lastName, username: u.username, imageUrl: u.imageUrl };
  const insert = (email: string) => tx.insert(users).values({ ...row, email }).onConflictDoNothing({ target: users.id }).returning({ id: users.id });
  const first = await savepoint(tx, () => insert(verifiedEmail ?? placeholderEmail(u.id)));
  if (!first.ok && !isEmailTaken(first.error)) throw first.error;
  if (!first.ok) log('warn', 'users.email_taken', { userId: u.id }); // another active account holds it: never lock this user out
  const inserted = first.ok ? first.value : await insert(placeholderEmail(u.id));
  if (inserted.length === 0) return 'unchanged'; // a concurrent request created it first
  await tx.insert(settings).values({ userId: u.id }).onConflictDoNothing();
  await tx.insert(profiles).values({ userId: u.id }).onConflictDoNothing();
  await emit(tx, ctx.events, 'user.created', { userId: u.id });
  return 'created';
}

const cachedAboutUser = (ctx: ServiceContext, userId: string) => {
  const keys = cacheKeys(ctx.config);
  return [keys.userActive(userId), keys.ownProfile(userId), keys.publicProfile(userId)] as const;
};

/** Once the transaction commits: this isolate and Redis forget what they cached about the user. */
function forgetUser(ctx: ServiceContext, userId: string): void {
  ctx.afterCommit(async () => {
    forgetActive(ctx, userId);
    await cacheDel(ctx.config, ...cachedAboutUser(ctx, userId));
  });
}

/**
 * Queue side of `user.deleted`: Redis forgets the user again, and the delivery fails while it cannot, so it is
 * retried. The request's own invalidation is best effort; without this, a Redis outage during the deletion would
 * let the cached "active" answer come back with Redis and keep the account usable until its TTL.
 */
export async function forgetDeletedUser(ctx: ServiceContext, userId: string): Promise<void> {
  if (!(await cacheDel(ctx.config, ...cachedAboutUser(ctx, userId)))) {
    throw new AppError('SERVICE_UNAVAILABLE', 'Cache unavailable: the deleted user is forgotten on the next delivery');
  }
}

async function recoverDeletedAccount(tx: Transaction, ctx: ServiceContext, u: ClerkUserFields & { email: string }): Promise<boolean> {
  const cutoff = new Date(Date.now() - ACCOUNT_RETENTION_DAYS * 86_400_000);
  const [previous] = await tx
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.email, u.email), isNotNull(users.deletedAt), isNull(users.anonymizedAt), gt(users.deletedAt, cutoff)))
    .orderBy(sql`${users.deletedAt} desc`)
    .limit(1)
    .for('update');
  if (!previous) return false;
  // Every user FK is ON UPDATE CASCADE: re-keying moves profile, memberships, ledger, … to the new id.
  const rekeyed = await savepoint(tx, () =>
    tx
      .update(users)
      .set({ id: u.id, deletedAt: null, firstName: u.firstName, lastName: u.lastName, username: u.username, imageUrl: u.imageUrl })
      .where(eq(users.id, previous.id)),
  );
  if (!rekeyed.ok) {
    // Another active account holds the address now (or this id was created meanwhile): the deleted account
    // stays deleted and the caller creates a fresh one — never a failed sign-up.
    if (!isEmailTaken(rekeyed.error) && !isUniqueViolation(rekeyed.error, 'users_pkey')) throw rekeyed.error;
    log('warn', 'users.recovery_skipped', { userId: u.id, previousUserId: previous.id });
    return false;
  }
  await emit(tx, ctx.events, 'user.recovered', { userId: u.id, previousUserId: previous.id });
  await invalidateCoMemberOrgLists(ctx, { userId: u.id });
  ctx.afterCommit(async () => {
    forgetActive(ctx, previous.id);
    await cacheDel(ctx.config, cacheKeys(ctx.config).userActive(previous.id));
  });
  return true;
}

/**
 * Soft delete: hidden everywhere at once; personal data is anonymised after the retention period.
 * A deletion for an id we have never seen (Clerk's user.deleted overtaking its user.created) leaves a
 * deleted row behind, so the late user.created — or a request with a still-valid token — cannot bring the
 * account to life. False when the user was already deleted.
 */
export async function softDeleteUser(ctx: ServiceContext, userId: string): Promise<boolean> {
  return withTransaction(ctx, async (tx, ctx) => {
    const now = new Date();
    const rows = await tx
      .update(users)
      .set({ deletedAt: now })
      .where(and(eq(users.id, userId), isNull(users.deletedAt)))
      .returning({ id: users.id });
    if (rows.length === 0) {
      // No deletion email: there is no address to send it to.
      const tombstone = await tx
        .insert(users)
        .values({ id: userId, email: placeholderEmail(userId), deletedAt: now })
        .onConflictDoNothing({ target: users.id })
        .returning({ id: users.id });
      if (tombstone.length > 0) forgetUser(ctx, userId);
      return tombstone.length > 0;
    }
    await emit(tx, ctx.events, 'user.deleted', { userId });
    forgetUser(ctx, userId);
    await invalidateCoMemberOrgLists(ctx, { userId });
    return true;
  });
}

/**
 * Users this isolate has seen active, for 60 s — the lifetime of a Clerk session token, so a deletion elsewhere is
 * honoured everywhere within the time a token issued before it stays valid anyway. A deletion in this isolate
 * drops the entry at once. Saves the Redis round trip on every authenticated request.
 */
const activeUsers = new IsolateCache<true>(10_000);
const ACTIVE_USER_TTL_MS = 60_000;
const activeKey = (ctx: ServiceContext, userId: string) => `${ctx.config.DATABASE_URL}|${userId}`;

function forgetActive(ctx: ServiceContext, ...userIds: string[]): void {
  for (const id of userIds) activeUsers.delete(activeKey(ctx, id));
}

/**
 * Just-in-time provisioning: the first authenticated request of a user we have not heard of (the
 * Clerk webhook may be late) creates them, so nobody is locked out. Deleted accounts are refused.
 */
export async function ensureActiveUser(ctx: ServiceContext, userId: string): Promise<void> {
  const key = activeKey(ctx, userId);
  if (activeUsers.get(key)) return;
  // A miss (at most once an hour per user) reads the primary: a lagging replica must not let a
  // just-deleted account back in. Deletion invalidates the key, and a throw is never cached.
  await cached(ctx.config, cacheKeys(ctx.config).userActive(userId), () => loadActiveUser(ctx, userId));
  activeUsers.set(key, true, ACTIVE_USER_TTL_MS);
}

async function loadActiveUser(ctx: ServiceContext, userId: string): Promise<{ active: true }> {
  const [row] = await ctx.db.write.select({ deletedAt: users.deletedAt }).from(users).where(eq(users.id, userId)).limit(1);
  if (row?.deletedAt) throw new AppError('AUTH_REQUIRED', 'This account has been deleted');
  if (!row) {
    let fields: ClerkUserFields;
    try {
      fields = await fetchClerkUser(ctx.config, userId);
    } catch (err) {
      // Clerk unreachable: create the account with a placeholder address; the webhook fills it in.
      log('warn', 'users.clerk_lookup_failed', { userId, error: describeError(err) });
      fields = { id: userId, email: null, emailVerified: false, firstName: null, lastName: null, username: null, imageUrl: null };
    }
    const outcome = await syncUserFromClerk(ctx, { user: fields, createOnly: true });
    if (outcome === 'ignored') throw new AppError('AUTH_REQUIRED', 'This account has been deleted');
  }
  return { active: true };
}
