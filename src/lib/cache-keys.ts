import type { Config } from '../config';
import type { OrganizationView, OwnProfile, PublicProfileBase, UserSettings } from './cached-views';

/** A Redis key with its one payload shape (the type parameter) and its TTL. */
export interface CacheKey<T> {
  readonly key: string;
  readonly ttlSeconds: number;
  /** Type marker only: ties the payload shape to the key. */
  readonly __shape?: T;
}

const key = <T>(name: string, ttlSeconds: number): CacheKey<T> => ({ key: name, ttlSeconds });

/**
 * The one module that names Redis keys. Each key has one payload shape and one TTL, declared here,
 * so two features can never share a key with different shapes (a reader would otherwise trust a payload
 * another feature wrote). Payload types come from ./cached-views, types only: no runtime dependencies.
 */
export function cacheKeys(config: Pick<Config, 'CACHE_NAMESPACE'>) {
  const ns = config.CACHE_NAMESPACE;
  return {
    /** Prefix handed to @upstash/ratelimit; it appends its own suffixes. */
    rateLimit: (limiter: string) => `${ns}:rl:${limiter}`,
    /** A fail-closed abuse cap's counter (lib/quota.ts): a sorted set of timestamped entries. */
    quota: (cap: string, subject: string) => `${ns}:quota:${cap}:${subject}`,
    /** The user row exists and is active (skips the JIT-provisioning lookup on hot paths). */
    userActive: (userId: string) => key<{ active: true }>(`${ns}:user:active:${userId}`, 3600),
    ownProfile: (userId: string) => key<OwnProfile>(`${ns}:profile:own:${userId}`, 600),
    publicProfile: (userId: string) =>
      key<PublicProfileBase>(`${ns}:profile:public:${userId}`, 300),
    settings: (userId: string) => key<UserSettings>(`${ns}:settings:${userId}`, 3600),
    unreadCount: (userId: string) => key<{ count: number }>(`${ns}:notifications:unread:${userId}`, 300),
    /** Credits balance; deleted after every ledger write commits (services/credits/ledger.ts). */
    creditBalance: (userId: string) => key<{ balance: number }>(`${ns}:credits:balance:${userId}`, 300),
    /** The caller's organizations with their role and counts; deleted for every affected member after each
     * membership, role, team-count or organization change commits (services/membership). */
    orgList: (userId: string) => key<OrganizationView[]>(`${ns}:orgs:list:${userId}`, 300),
  };
}
