import { and, count, desc, eq, isNull, sql } from 'drizzle-orm';
import type { Database, Transaction } from '../../db/client';
import { profiles, profileViews, users } from '../../db/schema';
import { cacheDel, cached, cachedIfPresent } from '../../lib/cache';
import { cacheKeys } from '../../lib/cache-keys';
import { AppError } from '../../lib/errors';
import { emit } from '../../events/outbox';
import { describeError, log } from '../../lib/log';
import { requireCaller, type ServiceContext, withTransaction } from '../context';
import { starSummary } from '../stars/summary';
import { assertCanView } from './access';
import type { ProfileUpdate } from './schema';
import { displayName, type OwnProfile, type ProfileViewer, type PublicProfile, type PublicProfileBase } from './views';
import { logActivity } from '../activity';

export type { ProfileUpdate } from './schema';

const content = {
  bio: profiles.bio,
  company: profiles.company,
  jobTitle: profiles.jobTitle,
  location: profiles.location,
  yearsOfExperience: profiles.yearsOfExperience,
  githubUsername: profiles.githubUsername,
  linkedinProfile: profiles.linkedinProfile,
  twitterHandle: profiles.twitterHandle,
  portfolioUrl: profiles.portfolioUrl,
  resumeUrl: profiles.resumeUrl,
  education: profiles.education,
  skills: profiles.skills,
  languages: profiles.languages,
  interests: profiles.interests,
  certifications: profiles.certifications,
  awards: profiles.awards,
  experiences: profiles.experiences,
};

const shared = {
  id: profiles.id,
  userId: profiles.userId,
  firstName: users.firstName,
  lastName: users.lastName,
  username: users.username,
  avatarUrl: users.imageUrl,
  ...content,
  isPublic: profiles.isPublic,
  requireAuth: profiles.requireAuth,
  trackViews: profiles.trackViews,
  createdAt: profiles.createdAt,
};

const ownColumns = {
  ...shared,
  email: users.email,
  phoneNumber: users.phoneNumber,
  phoneVerifiedAt: users.phoneVerifiedAt,
  dateOfBirth: profiles.dateOfBirth,
  gender: profiles.gender,
  updatedAt: profiles.updatedAt,
};

async function selectOwn(db: Database | Transaction, userId: string): Promise<OwnProfile | null> {
  const [row] = await db.select(ownColumns).from(profiles).innerJoin(users, eq(users.id, profiles.userId)).where(eq(profiles.userId, userId)).limit(1);
  if (!row) return null;
  const { phoneVerifiedAt, createdAt, updatedAt, ...rest } = row;
  return { ...rest, phoneVerified: phoneVerifiedAt !== null, createdAt: createdAt.toISOString(), updatedAt: updatedAt.toISOString() };
}

/** Every user gets a profile row at sign-up; create it if an older account has none (never touches `users`). */
async function ensureProfileRow(db: Database | Transaction, userId: string): Promise<void> {
  await db.insert(profiles).values({ userId }).onConflictDoNothing({ target: profiles.userId });
}

/**
 * GET /profile: the caller's full profile. Cached under `ownProfile(userId)`; a miss reads the primary
 * so a replica that lags behind a just-committed update can never be cached.
 */
export async function getOwnProfile(ctx: ServiceContext): Promise<OwnProfile> {
  const userId = requireCaller(ctx);
  return cached(ctx.config, cacheKeys(ctx.config).ownProfile(userId), async () => {
    let profile = await selectOwn(ctx.db.write, userId);
    if (!profile) {
      await ensureProfileRow(ctx.db.write, userId);
      profile = await selectOwn(ctx.db.write, userId);
    }
    if (!profile) throw new AppError('NOT_FOUND', 'Profile not found'); // the user row itself is gone
    return profile;
  });
}

const emptyToNull = (v: string | null | undefined) => (v === undefined ? undefined : v === '' || v === null ? null : v);
const listValue = (v: string[] | null | undefined) => (v === undefined ? undefined : v === null ? [] : [...new Set(v)]);

const TEXT_FIELDS = ['location', 'jobTitle', 'company', 'githubUsername', 'linkedinProfile', 'portfolioUrl', 'resumeUrl'] as const;
const LIST_FIELDS = ['experiences', 'education', 'skills', 'languages', 'interests', 'certifications', 'awards'] as const;

/**
 * PUT /profile: synchronous partial update in one transaction (profile row locked), with an activity
 * log row; returns the updated profile. `requireAuth: false` forces `trackViews: false` (views are only
 * recorded for signed-in viewers); asking for view tracking without requireAuth is a 400.
 */
export async function updateOwnProfile(ctx: ServiceContext, input: ProfileUpdate): Promise<OwnProfile> {
  const userId = requireCaller(ctx);
  const profile = await withTransaction(ctx, async (tx, ctx) => {
    const lock = () => tx.select({ requireAuth: profiles.requireAuth, trackViews: profiles.trackViews }).from(profiles).where(eq(profiles.userId, userId)).for('update');
    let [current] = await lock();
    if (!current) {
      await ensureProfileRow(tx, userId);
      [current] = await lock();
    }
    if (!current) throw new AppError('NOT_FOUND', 'Profile not found');

    const requireAuth = input.requireAuth ?? current.requireAuth;
    let trackViews = input.trackViews ?? current.trackViews;
    if (!requireAuth) {
      if (input.trackViews === true) {
        throw new AppError('VALIDATION_ERROR', 'Invalid request json', {
          details: { target: 'json', issues: [{ path: 'trackViews', message: 'view tracking needs requireAuth: only signed-in viewers can be recorded' }] },
        });
      }
      trackViews = false;
    }

    const patch: Partial<typeof profiles.$inferInsert> = {};
    if (input.bio !== undefined) patch.bio = input.bio ?? '';
    if (input.gender !== undefined) patch.gender = input.gender;
    if (input.dateOfBirth !== undefined) patch.dateOfBirth = input.dateOfBirth;
    if (input.yearsOfExperience !== undefined) patch.yearsOfExperience = input.yearsOfExperience;
    if (input.twitterHandle !== undefined) patch.twitterHandle = input.twitterHandle === null ? null : emptyToNull(input.twitterHandle.replace(/^@/, ''));
    for (const f of TEXT_FIELDS) if (input[f] !== undefined) patch[f] = emptyToNull(input[f]);
    for (const f of LIST_FIELDS) if (input[f] !== undefined) patch[f] = listValue(input[f]);
    if (input.isPublic !== undefined) patch.isPublic = input.isPublic;
    if (requireAuth !== current.requireAuth) patch.requireAuth = requireAuth;
    if (trackViews !== current.trackViews) patch.trackViews = trackViews;
    if (Object.keys(patch).length) await tx.update(profiles).set(patch).where(eq(profiles.userId, userId));

    const names: Partial<typeof users.$inferInsert> = {};
    if (input.firstName !== undefined) names.firstName = input.firstName;
    if (input.lastName !== undefined) names.lastName = emptyToNull(input.lastName);
    if (Object.keys(names).length) {
      await tx.update(users).set(names).where(eq(users.id, userId));
      // Clerk owns names: push the edit there, or its next user.updated webhook would undo it.
      await emit(tx, ctx.events, 'user.name_changed', { userId });
    }

    const fields = Object.keys(input);
    if (fields.length) await logActivity(ctx, { userId, action: 'profile.updated', metadata: { fields } });
    return selectOwn(tx, userId);
  });
  if (!profile) throw new AppError('NOT_FOUND', 'Profile not found');
  const keys = cacheKeys(ctx.config);
  await cacheDel(ctx.config, keys.ownProfile(userId), keys.publicProfile(userId));
  return profile;
}

async function loadPublicBase(db: Database, userId: string): Promise<PublicProfileBase | null> {
  const [row] = await db
    .select(shared)
    .from(profiles)
    .innerJoin(users, and(eq(users.id, profiles.userId), isNull(users.deletedAt)))
    .where(eq(profiles.userId, userId))
    .limit(1);
  return row ? { ...row, createdAt: row.createdAt.toISOString() } : null;
}

/**
 * GET /profile/view/:userId. Only public fields (never email, phone, date of birth, gender). The
 * viewer-independent part is cached for public profiles only; star count and hasStarred are live.
 */
export async function getPublicProfile(ctx: ServiceContext, userId: string): Promise<PublicProfile> {
  const viewerId = ctx.userId;
  // Only public profiles are cached: a private one is never stored where another viewer could hit it.
  const base = await cachedIfPresent(ctx.config, cacheKeys(ctx.config).publicProfile(userId), () => loadPublicBase(ctx.db.write, userId), (b) => b.isPublic);
  const profile = assertCanView(base, viewerId);
  const isOwner = viewerId === profile.userId;
  const stars = await starSummary(ctx, { profileId: profile.id, viewerId });
  if (viewerId && !isOwner && profile.requireAuth && profile.trackViews) await recordView(ctx, profile.id, viewerId);
  return { ...profile, starCount: stars.count, hasStarred: stars.hasStarred, isOwner };
}

/**
 * At most one row per viewer per UTC day (unique constraint + ON CONFLICT DO NOTHING). Only active
 * users are recorded (the public route does not provision callers). Never fails the read.
 */
async function recordView(ctx: ServiceContext, profileId: string, viewerId: string): Promise<void> {
  try {
    await ctx.db.write.execute(sql`
      insert into ${profileViews} (profile_id, viewer_user_id)
      select ${profileId}::uuid, ${viewerId}
      where exists (select 1 from ${users} where id = ${viewerId} and deleted_at is null)
      on conflict do nothing`);
  } catch (err) {
    log('warn', 'profile.view_not_recorded', { requestId: ctx.requestId, error: describeError(err) });
  }
}

/** GET /profile/views: who viewed the caller's profile, newest first (viewers' emails are never shown). */
export async function listProfileViews(ctx: ServiceContext, page: { limit: number; offset: number }): Promise<{ items: ProfileViewer[]; total: number }> {
  const userId = requireCaller(ctx);
  const mine = and(eq(profiles.id, profileViews.profileId), eq(profiles.userId, userId));
  const viewer = and(eq(users.id, profileViews.viewerUserId), isNull(users.deletedAt));
  const [rows, [totals]] = await Promise.all([
    ctx.db.read
      .select({
        viewerId: profileViews.viewerUserId,
        firstName: users.firstName,
        lastName: users.lastName,
        username: users.username,
        avatarUrl: users.imageUrl,
        viewedAt: profileViews.createdAt,
      })
      .from(profileViews)
      .innerJoin(profiles, mine)
      .innerJoin(users, viewer)
      .orderBy(desc(profileViews.createdAt), desc(profileViews.id))
      .limit(page.limit)
      .offset(page.offset),
    ctx.db.read.select({ total: count() }).from(profileViews).innerJoin(profiles, mine).innerJoin(users, viewer),
  ]);
  return {
    items: rows.map((r) => ({ viewerId: r.viewerId, name: displayName(r), avatarUrl: r.avatarUrl, viewedAt: r.viewedAt.toISOString() })),
    total: Number(totals?.total ?? 0),
  };
}
