import { and, desc, eq, gt, isNull, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Database, Transaction } from '../../db/client';
import { notifications, profiles, profileStars, settings, users } from '../../db/schema';
import { emit } from '../../events/outbox';
import { AppError } from '../../lib/errors';
import { enforceLimit, LIMITS } from '../../lib/rate-limit';
import { requireCaller, type ServiceContext, withTransaction } from '../context';
import { createNotification } from '../notifications/create';
import { assertCanView } from '../profile/access';
import { displayName } from '../profile/views';
import { resolveSettings } from '../settings/schema';
import { starSummary } from './summary';
import { FRONTEND_PAGES, frontendUrl } from '../../lib/frontend-pages';

/** Answer of POST and DELETE /stars/:profileId. */
export interface StarState {
  starred: boolean;
  count: number;
}

export interface Stargazer {
  userId: string;
  name: string | null;
  avatarUrl: string | null;
  starredAt: string;
}

export interface StarsPage {
  count: number;
  hasStarred: boolean;
  stargazers: Stargazer[];
  nextCursor: string | null;
}


/** The profile (of an active user) with what decides its visibility; FOR SHARE inside a transaction. */
async function findTarget(db: Database | Transaction, profileId: string, lock: boolean) {
  const q = db
    .select({ id: profiles.id, userId: profiles.userId, isPublic: profiles.isPublic, requireAuth: profiles.requireAuth })
    .from(profiles)
    .innerJoin(users, and(eq(users.id, profiles.userId), isNull(users.deletedAt)))
    .where(eq(profiles.id, profileId))
    .limit(1);
  const [row] = lock ? await q.for('share', { of: profiles }) : await q;
  return row ?? null;
}

/**
 * POST /stars/:profileId — idempotent. The rate limit counts every attempt (checked before any work).
 * `profile.starred` (→ STAR notification to the owner) is emitted only when a row was inserted, so
 * starring again — or five concurrent stars — never notifies twice.
 */
export async function starProfile(ctx: ServiceContext, profileId: string): Promise<StarState> {
  const userId = requireCaller(ctx);
  await enforceLimit(ctx.config, 'stars', LIMITS.stars, userId);
  return withTransaction(ctx, async (tx, ctx) => {
    const target = assertCanView(await findTarget(tx, profileId, true), userId); // private / missing → 404
    if (target.userId === userId) throw new AppError('FORBIDDEN', 'You cannot star your own profile');
    const inserted = await tx
      .insert(profileStars)
      .values({ profileId, userId })
      .onConflictDoNothing({ target: [profileStars.profileId, profileStars.userId] })
      .returning({ id: profileStars.id });
    if (inserted.length > 0) await emit(tx, ctx.events, 'profile.starred', { profileId, ownerId: target.userId, starredBy: userId });
    const { count } = await starSummary(ctx, { profileId });
    return { starred: true, count };
  });
}

/**
 * DELETE /stars/:profileId — idempotent (200 whether or not a star existed). A caller may always
 * withdraw their own star, even from a profile that has since gone private; without a star of theirs,
 * a profile they cannot see is a 404 as everywhere else.
 */
export async function unstarProfile(ctx: ServiceContext, profileId: string): Promise<StarState> {
  const userId = requireCaller(ctx);
  await enforceLimit(ctx.config, 'stars', LIMITS.stars, userId);
  return withTransaction(ctx, async (tx, ctx) => {
    const target = await findTarget(tx, profileId, true);
    if (!target) throw new AppError('NOT_FOUND', 'Profile not found');
    const removed = await tx
      .delete(profileStars)
      .where(and(eq(profileStars.profileId, profileId), eq(profileStars.userId, userId)))
      .returning({ id: profileStars.id });
    if (removed.length === 0) assertCanView(target, userId);
    const { count } = await starSummary(ctx, { profileId });
    return { starred: false, count };
  });
}

// The ISO format allows year 0000, which PostgreSQL has no room for (there is no year 0): such a cursor was
// never handed out, and must be refused here rather than by the database.
const CursorSchema = z.object({ at: z.iso.datetime().refine((at) => !at.startsWith('0000')), id: z.uuid() });
type Cursor = z.infer<typeof CursorSchema>;

/** Opaque cursor: base64url of the last row's exact (created_at, id), microseconds included. */
function encodeCursor(c: Cursor): string {
  return btoa(JSON.stringify(c)).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

function decodeCursor(raw: string): Cursor {
  try {
    const b64 = raw.replaceAll('-', '+').replaceAll('_', '/');
    return CursorSchema.parse(JSON.parse(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4))));
  } catch {
    throw new AppError('VALIDATION_ERROR', 'Invalid request query', {
      details: { target: 'query', issues: [{ path: 'cursor', message: 'invalid cursor' }] },
    });
  }
}

/**
 * GET /stars/:profileId — public (same visibility rule as the profile): live count, whether the caller
 * starred it, and the stargazers newest first with cursor pagination. Soft-deleted users are left out
 * of both the list and the count.
 */
export async function listStars(ctx: ServiceContext, input: { profileId: string; limit: number; cursor?: string }): Promise<StarsPage> {
  const viewerId = ctx.userId;
  const cursor = input.cursor ? decodeCursor(input.cursor) : null;
  const target = assertCanView(await findTarget(ctx.db.read, input.profileId, false), viewerId);
  const [rows, summary] = await Promise.all([
    ctx.db.read
      .select({
        id: profileStars.id,
        userId: profileStars.userId,
        firstName: users.firstName,
        lastName: users.lastName,
        username: users.username,
        avatarUrl: users.imageUrl,
        starredAt: profileStars.createdAt,
        at: sql<string>`to_char(${profileStars.createdAt} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
      })
      .from(profileStars)
      .innerJoin(users, and(eq(users.id, profileStars.userId), isNull(users.deletedAt)))
      .where(
        and(
          eq(profileStars.profileId, target.id),
          cursor ? sql`(${profileStars.createdAt}, ${profileStars.id}) < (${cursor.at}::timestamptz, ${cursor.id}::uuid)` : undefined,
        ),
      )
      .orderBy(desc(profileStars.createdAt), desc(profileStars.id))
      .limit(input.limit + 1),
    starSummary(ctx, { profileId: target.id, viewerId }),
  ]);
  const page = rows.slice(0, input.limit);
  const last = page.at(-1);
  return {
    count: summary.count,
    hasStarred: summary.hasStarred,
    stargazers: page.map((r) => ({ userId: r.userId, name: displayName(r), avatarUrl: r.avatarUrl, starredAt: r.starredAt.toISOString() })),
    nextCursor: rows.length > input.limit && last ? encodeCursor({ at: last.at, id: last.id }) : null,
  };
}

/**
 * Queue side of `profile.starred`: a STAR notification to the profile's owner, naming only the starrer's
 * public name. Skipped when the starrer is gone, the owner turned star notifications off, or the owner
 * already heard about this person's star today (star, unstar, star again).
 */
export async function notifyStar(ctx: ServiceContext, input: { ownerId: string; starredBy: string; profileId: string }): Promise<void> {
  const { ownerId, starredBy, profileId } = input;
  const db = ctx.db.write;
  const [starrer] = await db
    .select({ firstName: users.firstName, lastName: users.lastName, username: users.username, deletedAt: users.deletedAt })
    .from(users)
    .where(eq(users.id, starredBy));
  if (!starrer || starrer.deletedAt) return;
  const [prefs] = await db.select({ settings: settings.settings }).from(settings).where(eq(settings.userId, ownerId));
  if (!resolveSettings(prefs?.settings).notifications.stars) return;
  const [recent] = await db
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
    actionUrl: frontendUrl(ctx, FRONTEND_PAGES.publicProfile(ownerId)),
    actionLabel: 'View profile',
    metadata: { profileId, starredBy },
  });
}
