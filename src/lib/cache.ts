import type { Config } from '../config';
import type { CacheKey } from './cache-keys';
import { describeError, log } from './log';
import { getRedis } from './redis';
import { noteCacheRead } from './trace';

/**
 * Read-through cache over Upstash. Redis is an optimisation: every operation fails open (a miss, or a
 * skipped write) and logs, so a route answers correctly from the database when Redis is down.
 *
 * Values are stored as {v, ver}: wrapping keeps Upstash's automatic JSON parsing from changing a
 * payload's type (a numeric-looking string would come back as a number), and `ver` closes the read/invalidate race. Invalidation bumps
 * a per-key version; a loader that read the database *before* an invalidation writes its value under
 * the old version, which readers then treat as a miss. So a stale value can never outlive the write
 * that made it stale.
 */
interface Stored<T> {
  v: T;
  ver: number;
}

const versionKey = (k: CacheKey<unknown>) => `${k.key}:ver`;
/** The version key outlives any value written under it (values live ttlSeconds from their write). */
const versionTtl = (k: CacheKey<unknown>) => k.ttlSeconds + 300;

async function read<T>(config: Config, k: CacheKey<T>): Promise<{ hit: T | undefined; version: number } | null> {
  const redis = getRedis(config);
  if (!redis) return null;
  try {
    const [stored, ver] = await redis.mget<[Stored<T> | null, number | null]>(k.key, versionKey(k));
    const version = Number(ver ?? 0);
    const fresh = stored && typeof stored === 'object' && 'v' in stored && stored.ver === version;
    return { hit: fresh ? stored.v : undefined, version };
  } catch (err) {
    log('warn', 'cache.unavailable', { op: 'get', error: describeError(err) });
    return null;
  }
}

async function write<T>(config: Config, k: CacheKey<T>, value: T, version: number): Promise<void> {
  try {
    await getRedis(config)?.set(k.key, { v: value, ver: version } satisfies Stored<T>, { ex: k.ttlSeconds });
  } catch (err) {
    log('warn', 'cache.unavailable', { op: 'set', error: describeError(err) });
  }
}

/** Cached value, or load it (from the primary, for keys invalidated by writes) and cache it. */
export async function cached<T>(config: Config, k: CacheKey<T>, load: () => Promise<T>): Promise<T> {
  const state = await read(config, k);
  noteCacheRead(state?.hit !== undefined);
  if (state?.hit !== undefined) return state.hit;
  const value = await load();
  if (state) await write(config, k, value, state.version);
  return value;
}

/** Like `cached`, for loads that may find nothing: null (and values `keep` rejects) are not cached. */
export async function cachedIfPresent<T>(config: Config, k: CacheKey<T>, load: () => Promise<T | null>, keep: (value: T) => boolean = () => true): Promise<T | null> {
  const state = await read(config, k);
  noteCacheRead(state?.hit !== undefined);
  if (state?.hit !== undefined) return state.hit;
  const value = await load();
  if (state && value !== null && keep(value)) await write(config, k, value, state.version);
  return value;
}

/**
 * Invalidate after a write. Call it after the transaction commits. False when Redis could not be reached: the
 * entries may still be served once it is back, until their TTL (a caller for whom that matters retries).
 */
export async function cacheDel(config: Config, ...keys: CacheKey<unknown>[]): Promise<boolean> {
  const redis = getRedis(config);
  if (!redis || keys.length === 0) return true;
  try {
    const p = redis.pipeline();
    for (const k of keys) p.incr(versionKey(k)).expire(versionKey(k), versionTtl(k)).del(k.key);
    await p.exec();
    return true;
  } catch (err) {
    log('warn', 'cache.unavailable', { op: 'del', error: describeError(err) });
    return false;
  }
}
