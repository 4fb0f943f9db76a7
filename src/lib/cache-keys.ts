import type { Config } from '../config';

/**
 * The one module that names Redis keys. Each key has one payload shape and one TTL, declared here,
 * so two features can never share a key with different shapes (original defect #23).
 */
export function cacheKeys(config: Pick<Config, 'CACHE_NAMESPACE'>) {
  const ns = config.CACHE_NAMESPACE;
  return {
    /** Prefix handed to @upstash/ratelimit; it appends its own suffixes. */
    rateLimit: (limiter: string) => `${ns}:rl:${limiter}`,
  };
}
