/**
 * Payload shapes of the profile feature. `OwnProfile` and `PublicProfileBase` are also the payloads of
 * the `ownProfile` / `publicProfile` cache keys (src/lib/cache-keys.ts), so they hold JSON-safe values
 * only (timestamps as ISO strings) and never anything that changes without invalidating them.
 */

export type Gender = 'MALE' | 'FEMALE' | 'OTHER' | 'PREFER_NOT_TO_SAY';

/** The profile fields anyone allowed to see the profile may see. */
export interface ProfileContent {
  bio: string;
  company: string | null;
  jobTitle: string | null;
  location: string | null;
  yearsOfExperience: number | null;
  githubUsername: string | null;
  linkedinProfile: string | null;
  twitterHandle: string | null;
  portfolioUrl: string | null;
  resumeUrl: string | null;
  education: string[];
  skills: string[];
  languages: string[];
  interests: string[];
  certifications: string[];
  awards: string[];
  experiences: string[];
}

export interface ProfileVisibility {
  isPublic: boolean;
  /** Viewers must be signed in. */
  requireAuth: boolean;
  /** Signed-in viewers are recorded (only ever true together with requireAuth). */
  trackViews: boolean;
}

/** Identity fields, synced from Clerk onto `users` (first/last name are also editable here). */
export interface ProfileIdentity {
  firstName: string | null;
  lastName: string | null;
  username: string | null;
  avatarUrl: string | null;
}

/** GET/PUT /profile: everything, for its owner only. Cache key `ownProfile(userId)`. */
export interface OwnProfile extends ProfileIdentity, ProfileContent, ProfileVisibility {
  /** Profile id (the id stars refer to). */
  id: string;
  userId: string;
  email: string;
  phoneNumber: string | null;
  phoneVerified: boolean;
  /** YYYY-MM-DD. */
  dateOfBirth: string | null;
  gender: Gender | null;
  createdAt: string;
  updatedAt: string;
}

/**
 * The cacheable part of a public profile: no email, phone, date of birth or gender, no star count
 * (it changes with every star) and nothing about the viewer. Cache key `publicProfile(userId)`,
 * written only for public profiles of active users.
 */
export interface PublicProfileBase extends ProfileIdentity, ProfileContent, ProfileVisibility {
  id: string;
  userId: string;
  createdAt: string;
}

/** GET /profile/view/:userId: the base plus live, viewer-dependent fields. */
export interface PublicProfile extends PublicProfileBase {
  starCount: number;
  hasStarred: boolean;
  isOwner: boolean;
}

/** One row of GET /profile/views. Never the viewer's email. */
export interface ProfileViewer {
  viewerId: string;
  name: string | null;
  avatarUrl: string | null;
  viewedAt: string;
}

/** Display name used wherever another user is shown. */
export function displayName(u: { firstName: string | null; lastName: string | null; username: string | null }): string | null {
  return [u.firstName, u.lastName].filter(Boolean).join(' ') || u.username || null;
}
