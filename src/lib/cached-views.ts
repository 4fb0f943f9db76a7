/**
 * Payload shapes that live in Redis under the keys of cache-keys.ts. They are declared here, below the
 * services that produce them, so the key registry can pin each key to its shape without importing a
 * service. They hold JSON-safe values only (timestamps as ISO strings) and never anything that changes
 * without the key being invalidated. The owning services re-export them.
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

/** A role as the caller holds it in an organization, team or project. */
export interface RoleRef {
  id: string;
  name: string;
  permissions: string[];
}

/** GET /organization entries and the `orgList(userId)` cache payload. */
export interface OrganizationView {
  id: string;
  name: string;
  slug: string;
  description: string | null;
  website: string | null;
  logoUrl: string | null;
  location: string | null;
  timezone: string | null;
  isPublic: boolean;
  joinEnabled: boolean;
  createdAt: string;
  updatedAt: string;
  memberCount: number;
  teamCount: number;
  /** The caller's role in the organization. */
  role: RoleRef;
}

/**
 * A user's settings document with every default merged in; the `settings(userId)` cache payload.
 * services/settings/schema.ts checks at compile time that its zod schema produces exactly this shape.
 */
export interface UserSettings {
  email: { weeklyFeedback: boolean; productUpdates: boolean };
  notifications: { stars: boolean; teamActivity: boolean; feedbackReminders: boolean };
  privacy: { showEmailToTeammates: boolean; searchable: boolean };
}
