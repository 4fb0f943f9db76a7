/**
 * Payload shapes of the profile feature. The cached ones (`OwnProfile`, `PublicProfileBase`) are declared
 * in src/lib/cached-views.ts, next to the cache keys that carry them, and re-exported here.
 */

import type { PublicProfileBase } from '../../lib/cached-views';

export type { Gender, OwnProfile, ProfileContent, ProfileIdentity, ProfileVisibility, PublicProfileBase } from '../../lib/cached-views';

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
