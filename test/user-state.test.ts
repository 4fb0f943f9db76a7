import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { Env } from '../src/config';
import { userState } from '../src/durable/user-state';

const stubFor = (id: string) => userState(env as unknown as Env, `${id}-${crypto.randomUUID()}`);

describe('UserState durable object: strict per-user limits', () => {
  it('holds under 10 concurrent hits: exactly `limit` are allowed', async () => {
    const stub = stubFor('concurrent');
    const results = await Promise.all(Array.from({ length: 10 }, () => stub.hit('otp-send', { limit: 3, windowMs: 60_000 })));
    expect(results.filter((r) => r.allowed)).toHaveLength(3);
    const refused = results.filter((r) => !r.allowed);
    expect(refused).toHaveLength(7);
    for (const r of refused) expect(r.retryAfterMs).toBeGreaterThan(0);
  });

  it('resets after the window, and keeps keys and users apart', async () => {
    const stub = stubFor('window');
    const spec = { limit: 1, windowMs: 1000 };
    const t = Date.now() + 3_600_000; // a controlled clock in the future, so the cleanup alarm stays pending
    expect((await stub.hit('a', spec, t)).allowed).toBe(true);
    expect((await stub.hit('a', spec, t + 500)).allowed).toBe(false);
    expect((await stub.hit('b', spec, t + 500)).allowed).toBe(true);
    expect((await stubFor('other').hit('a', spec, t + 500)).allowed).toBe(true);
    expect(await stub.peek('a', spec, t + 999)).toEqual({ allowed: false, remaining: 0, retryAfterMs: 1 });
    expect((await stub.hit('a', spec, t + 1000)).allowed).toBe(true);
  });

  it('an alarm removes expired counters', async () => {
    const stub = stubFor('alarm');
    const past = Date.now() - 60_000;
    await stub.hit('old', { limit: 5, windowMs: 1000 }, past);
    await stub.hit('live', { limit: 5, windowMs: 3_600_000 });
    await runDurableObjectAlarm(stub);
    const keys = await runInDurableObject(stub, (_instance, state) => [...state.storage.kv.list({ prefix: 'limit:' })].map(([k]) => k));
    expect(keys).toEqual(['limit:live']);
  });
});
