import type { Config } from '../config';
import type { CacheKey } from './cache-keys';
import { describeError, log } from './log';
import { getRedis } from './redis';

/**
 * Read-through cache over Upstash. Redis is an optimisation: every operation fails open (a miss, or
 * a skipped write) and logs, so a route answers correctly from the database when Redis is down.
 * Values are stored wrapped as {v: …} so Upstash's automatic JSON parsing can never change a
 * payload's type (original defect #24).
 */
export async function cacheGet<T>(config: Config, k: CacheKey<T>): Promise<T | null> {
  const redis = getRedis(config);
  if (!redis) return null;
  try {
    const hit = await redis.get<{ v: T }>(k.key);
    return hit && typeof hit === 'object' && 'v' in hit ? hit.v : null;
  } catch (err) {
    log('warn', 'cache.unavailable', { op: 'get', error: describeError(err) });
    return null;
  }
}

export async function cacheSet<T>(config: Config, k: CacheKey<T>, value: T): Promise<void> {
  const redis = getRedis(config);
  if (!redis) return;
  try {
    await redis.set(k.key, { v: value }, { ex: k.ttlSeconds });
  } catch (err) {
    log('warn', 'cache.unavailable', { op: 'set', error: describeError(err) });
  }
}

/** Invalidate after a write. Call it after the transaction commits. */
export async function cacheDel(config: Config, ...keys: CacheKey<unknown>[]): Promise<void> {
  const redis = getRedis(config);
  if (!redis || keys.length === 0) return;
  try {
    await redis.del(...keys.map((k) => k.key));
  } catch (err) {
    log('warn', 'cache.unavailable', { op: 'del', error: describeError(err) });
  }
}

/** Cached value, or load it from the database and cache it. */
export async function cached<T>(config: Config, k: CacheKey<T>, load: () => Promise<T>): Promise<T> {
  const hit = await cacheGet(config, k);
  if (hit !== null) return hit;
  const value = await load();
  await cacheSet(config, k, value);
  return value;
}
