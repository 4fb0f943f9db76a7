import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig, type Env } from '../src/config';
import { cacheDel, cached, cachedIfPresent } from '../src/lib/cache';
import type { CacheKey } from '../src/lib/cache-keys';
import { useTestDatabase } from './helpers/db';

const db = useTestDatabase();
const key = (): CacheKey<{ n: number }> => ({ key: `test:cache:${crypto.randomUUID()}`, ttlSeconds: 60 });
afterEach(() => vi.restoreAllMocks());

describe('read-through cache (src/lib/cache.ts)', () => {
  it('serves a hit without loading, and reloads after an invalidation', async () => {
    const config = loadConfig(db.env);
    const k = key();
    const load = vi.fn(async () => ({ n: load.mock.calls.length }));
    expect(await cached(config, k, load)).toEqual({ n: 1 });
    expect(await cached(config, k, load)).toEqual({ n: 1 });
    expect(load).toHaveBeenCalledTimes(1);
    await cacheDel(config, k);
    expect(await cached(config, k, load)).toEqual({ n: 2 });
  });

  it('a load that straddles an invalidation never leaves its stale value behind', async () => {
    const config = loadConfig(db.env);
    const k = key();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    // 1. a reader misses and loads the OLD state, slowly…
    const slow = cached(config, k, async () => {
      await gate;
      return { n: 1 };
    });
    await new Promise((r) => setTimeout(r, 50));
    // 2. …meanwhile a writer commits NEW state and invalidates…
    await cacheDel(config, k);
    // 3. …then the slow reader writes its old value to the cache.
    release();
    expect(await slow).toEqual({ n: 1 });
    // The next reader must not get the stale value.
    expect(await cached(config, k, async () => ({ n: 2 }))).toEqual({ n: 2 });
    expect(await cached(config, k, async () => ({ n: 3 }))).toEqual({ n: 2 });
  });

  it('cachedIfPresent stores neither null nor rejected values', async () => {
    const config = loadConfig(db.env);
    const k = key();
    const load = vi.fn(async (): Promise<{ n: number } | null> => null);
    expect(await cachedIfPresent(config, k, load)).toBeNull();
    expect(await cachedIfPresent(config, k, load)).toBeNull();
    expect(load).toHaveBeenCalledTimes(2);
    const odd = vi.fn(async () => ({ n: 7 }));
    await cachedIfPresent(config, k, odd, (v) => v.n % 2 === 0);
    await cachedIfPresent(config, k, odd, (v) => v.n % 2 === 0);
    expect(odd).toHaveBeenCalledTimes(2);
  });

  it('a load that throws caches nothing', async () => {
    const config = loadConfig(db.env);
    const k = key();
    await expect(cached(config, k, async () => Promise.reject(new Error('nope')))).rejects.toThrow('nope');
    expect(await cached(config, k, async () => ({ n: 5 }))).toEqual({ n: 5 });
  });

  it('with Redis down every call loads from the source and nothing throws', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const config = loadConfig({ ...db.env, UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9' } as Env);
    const k = key();
    const load = vi.fn(async () => ({ n: 1 }));
    await cached(config, k, load);
    await cached(config, k, load);
    await cacheDel(config, k);
    expect(load).toHaveBeenCalledTimes(2);
  });
});
