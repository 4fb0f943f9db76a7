import { sql } from 'drizzle-orm';
import { boolean, check, date, index, integer, jsonb, pgTable, text, unique, uniqueIndex, uuid, varchar } from 'drizzle-orm/pg-core';
import { createdAt, timestamptz, updatedAt, uuidPk } from './columns';
import { gender, logLevel } from './enums';

/**
 * One row per Clerk user, keyed by the Clerk user id (`user_2abc…`). Every user FK in the schema
 * references `users.id` — there is no second user key (two keys drift, and rows end up under the wrong one).
 * Users are never hard-deleted: `deleted_at` marks a soft delete and `anonymized_at` the later scrub of
 * personal data (email replaced by a placeholder such as `deleted+<id>@invalid`), so user FKs can stay
 * RESTRICT / NO ACTION on delete.
 * Every user FK is ON UPDATE CASCADE: a soft-deleted account (not yet anonymised) is *recovered* when a new
 * Clerk account signs up with its email, by re-keying it in one transaction
 * (`UPDATE users SET id = <new clerk id>, deleted_at = NULL … WHERE id = <old id>`); all its rows follow.
 * The append-only triggers let exactly that cascade through (migration 0004_allow_user_rekey).
 */
export const users = pgTable(
  'users',
  {
    id: text('id').primaryKey(),
    /** Lower-cased by the application. Unique among users that are not deleted. */
    email: text('email').notNull(),
    firstName: text('first_name'),
    lastName: text('last_name'),
    username: text('username'),
    imageUrl: text('image_url'),
    /** E.164 (`+919876543210`). Only a verified number is unique (see users_phone_verified_uq). */
    phoneNumber: text('phone_number'),
    phoneVerifiedAt: timestamptz('phone_verified_at'),
    deletedAt: timestamptz('deleted_at'),
    anonymizedAt: timestamptz('anonymized_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('users_email_active_uq').on(t.email).where(sql`${t.deletedAt} is null`),
    uniqueIndex('users_phone_verified_uq').on(t.phoneNumber).where(sql`${t.phoneVerifiedAt} is not null`),
    index('users_deleted_at_idx').on(t.deletedAt).where(sql`${t.deletedAt} is not null`),
    check('users_phone_e164_chk', sql`${t.phoneNumber} is null or ${t.phoneNumber} ~ '^\\+[1-9][0-9]{6,14}$'`),
    check('users_phone_verified_has_number_chk', sql`${t.phoneVerifiedAt} is null or ${t.phoneNumber} is not null`),
    check('users_anonymized_after_delete_chk', sql`${t.anonymizedAt} is null or ${t.deletedAt} is not null`),
  ],
);

/** Public profile of a user (1–1). The phone number lives on `users` only. */
export const profiles = pgTable(
  'profiles',
  {
    id: uuidPk(),
    userId: text('user_id')
      .notNull()
      .unique('profiles_user_id_uq')
      .references(() => users.id, { onDelete: 'cascade', onUpdate: 'cascade' }),
    bio: varchar('bio', { length: 500 }).notNull().default(''),
    company: text('company'),
    dateOfBirth: date('date_of_birth', { mode: 'string' }),
    gender: gender('gender'),
    jobTitle: text('job_title'),
    location: text('location'),
    yearsOfExperience: integer('years_of_experience'),
    githubUsername: text('github_username'),
    linkedinProfile: text('linkedin_profile'),
    twitterHandle: text('twitter_handle'),
    portfolioUrl: text('portfolio_url'),
    resumeUrl: text('resume_url'),
    education: text('education').array().notNull().default(sql`'{}'::text[]`),
    skills: text('skills').array().notNull().default(sql`'{}'::text[]`),
    languages: text('languages').array().notNull().default(sql`'{}'::text[]`),
    interests: text('interests').array().notNull().default(sql`'{}'::text[]`),
    certifications: text('certifications').array().notNull().default(sql`'{}'::text[]`),
    awards: text('awards').array().notNull().default(sql`'{}'::text[]`),
    experiences: text('experiences').array().notNull().default(sql`'{}'::text[]`),
    isPublic: boolean('is_public').notNull().default(false),
    /** Viewers must be signed in to see the profile. */
    requireAuth: boolean('require_auth').notNull().default(false),
    /** Record who viewed the profile (only meaningful with require_auth). */
    trackViews: boolean('track_views').notNull().default(false),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index('profiles_public_idx').on(t.isPublic),
    check(
      'profiles_years_of_experience_chk',
      sql`${t.yearsOfExperience} is null or ${t.yearsOfExperience} between 0 and 100`,
    ),
  ],
);

/**
 * A signed-in viewer's visit to a profile, at most once per viewer per UTC day
 * (profile_views_once_per_day_uq; insert with ON CONFLICT DO NOTHING).
 */
export const profileViews = pgTable(
  'profile_views',
  {
    id: uuidPk(),
    profileId: uuid('profile_id')
      .notNull()
      .references(() => profiles.id, { onDelete: 'cascade' }),
    viewerUserId: text('viewer_user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade', onUpdate: 'cascade' }),
    viewDate: date('view_date', { mode: 'string' })
      .notNull()
      .default(sql`((now() at time zone 'utc')::date)`),
    createdAt: createdAt(),
  },
  (t) => [
    unique('profile_views_once_per_day_uq').on(t.profileId, t.viewerUserId, t.viewDate),
    index('profile_views_profile_created_idx').on(t.profileId, t.createdAt),
    index('profile_views_viewer_idx').on(t.viewerUserId),
  ],
);

export const profileStars = pgTable(
  'profile_stars',
  {
    id: uuidPk(),
    profileId: uuid('profile_id')
      .notNull()
      .references(() => profiles.id, { onDelete: 'cascade' }),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade', onUpdate: 'cascade' }),
    createdAt: createdAt(),
  },
  (t) => [
    unique('profile_stars_profile_user_uq').on(t.profileId, t.userId),
    index('profile_stars_user_idx').on(t.userId, t.createdAt),
    index('profile_stars_profile_created_idx').on(t.profileId, t.createdAt),
  ],
);

/**
 * One settings document per user, holding only the keys the user changed; the shape, defaults and
 * validation live in src/services/settings/schema.ts.
 */
export const settings = pgTable('settings', {
  userId: text('user_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade', onUpdate: 'cascade' }),
  settings: jsonb('settings').$type<Record<string, unknown>>().notNull().default({}),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

/**
 * Per-user activity log (sign-ins to sensitive areas, exports, profile edits…). UPDATE is refused by
 * trigger activity_logs_no_update (except a user re-key cascading into user_id); DELETE is allowed for retention.
 */
export const activityLogs = pgTable(
  'activity_logs',
  {
    id: uuidPk(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'restrict', onUpdate: 'cascade' }),
    action: text('action').notNull(),
    level: logLevel('level').notNull().default('INFO'),
    metadata: jsonb('metadata').$type<Record<string, unknown>>(),
    createdAt: createdAt(),
  },
  (t) => [
    index('activity_logs_user_created_idx').on(t.userId, t.createdAt),
    index('activity_logs_action_created_idx').on(t.action, t.createdAt),
    index('activity_logs_created_idx').on(t.createdAt),
  ],
);

export type User = typeof users.$inferSelect;
export type NewUser = typeof users.$inferInsert;
export type Profile = typeof profiles.$inferSelect;
export type NewProfile = typeof profiles.$inferInsert;
export type ProfileView = typeof profileViews.$inferSelect;
export type ProfileStar = typeof profileStars.$inferSelect;
export type Settings = typeof settings.$inferSelect;
export type ActivityLog = typeof activityLogs.$inferSelect;
export type NewActivityLog = typeof activityLogs.$inferInsert;
