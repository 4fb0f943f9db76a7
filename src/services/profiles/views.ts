/** Payload types of the profile caches (filled in with the profile routes). */
export type OwnProfile = Record<string, unknown>;
export type PublicProfileBase = Record<string, unknown>;
