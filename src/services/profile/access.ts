import { AppError } from '../../lib/errors';

/** What decides who may see a profile (and its stars). */
export interface ProfileAccess {
  userId: string;
  isPublic: boolean;
  requireAuth: boolean;
}

/**
 * The one visibility rule for a profile and everything hanging off it (public view, stars).
 * Missing (or owner soft-deleted) and private-to-someone-else are the same 404, so existence is never
 * revealed; the owner always sees their own profile; `requireAuth` turns anonymous callers away (401).
 */
export function assertCanView<P extends ProfileAccess>(profile: P | null | undefined, viewerId: string | undefined): P {
  if (!profile) throw new AppError('NOT_FOUND', 'Profile not found');
  if (viewerId === profile.userId) return profile;
  if (!profile.isPublic) throw new AppError('NOT_FOUND', 'Profile not found');
  if (profile.requireAuth && !viewerId) throw new AppError('AUTH_REQUIRED', 'Sign in to view this profile');
  return profile;
}
