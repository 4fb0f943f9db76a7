import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { loadConfig, type Env } from '../src/config';
import { consumeLimit, LIMITS, type LimitSpec } from '../src/lib/rate-limit';
import { useTestDatabase } from './helpers/db';
import { call } from './helpers/http';

// Without redis-server, the local stack runs Redis in memory (scripts/stack/redis-memory.mjs). Every limit
// of the API must behave there exactly as on redis-server: same allow/deny sequence, same remaining counts.
const db = useTestDatabase();
const memoryEnv = () => ({ ...db.env, UPSTASH_REDIS_REST_URL: env.TEST_UPSTASH_MEMORY_URL as string }) as Env;

const specs: [string, LimitSpec][] = Object.entries(LIMITS).map(([name, spec]) =>
  // A limit whose size comes from config: a small one exercises the same script.
  [name, typeof spec === 'function' ? spec(5) : spec],
);
const capacity = (spec: LimitSpec) => spec.limit;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const durationMs = (d: string) => {
  const m = /^(\d+)\s*(ms|s|m|h|d)$/.exec(d);
  if (!m) throw new Error(`unparsed duration ${d}`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
};

/** Window limits count in windows aligned to the epoch: start a sequence well inside one, never across two. */
async function awayFromWindowEdge(spec: LimitSpec) {
  const window = durationMs(spec.window);
  const left = window - (Date.now() % window);
  if (left < 5000) await new Promise((r) => setTimeout(r, left + 50));
}

describe('rate limits on the in-memory Redis engine', () => {
  it.each(specs)('%s: same answers as redis-server', async (name, spec) => {
    const engines = { redis: loadConfig(db.env), memory: loadConfig(memoryEnv()) };
    const id = `engines-${crypto.randomUUID()}`;
    await awayFromWindowEdge(spec);
    const seen: Record<keyof typeof engines, { allowed: boolean; remaining: number; limit: number; resetAt: number }[]> = { redis: [], memory: [] };
    // Step by step on both at once, so both engines see (almost) the same clock.
    for (let i = 0; i < capacity(spec) + 2; i++) {
      const [redis, memory] = await Promise.all([consumeLimit(engines.redis, name, spec, id), consumeLimit(engines.memory, name, spec, id)]);
      seen.redis.push(redis);
      seen.memory.push(memory);
    }
    const shape = (rows: typeof seen.redis) => rows.map(({ allowed, remaining, limit }) => [allowed, remaining, limit]);
    const n = capacity(spec);
    const expected = [...Array.from({ length: n }, (_, i) => [true, n - 1 - i, n]), [false, 0, n], [false, 0, n]];
    expect(shape(seen.redis)).toEqual(expected);
    expect(shape(seen.memory)).toEqual(expected);
    seen.memory.forEach((r, i) => expect(Math.abs(r.resetAt - seen.redis[i]!.resetAt)).toBeLessThan(1000));
  });

  it('the worker answers 429 RATE_LIMITED with Retry-After on it (per-IP webhook limit)', async () => {
    const e = { ...memoryEnv(), WEBHOOK_RATE_LIMIT_PER_MINUTE: '2' } as Env;
    await awayFromWindowEdge(LIMITS.webhooks(2));
    const ip = '203.0.113.77';
    const statuses = [];
    // Unsigned deliveries: the limit is counted before the signature check.
    for (let i = 0; i < 3; i++) statuses.push(await call(e, '/webhooks/v1/razorpay', { method: 'POST', json: {}, ip }));
    expect(statuses.slice(0, 2).map((r) => r.status)).not.toContain(429);
    const limited = statuses[2]!;
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('RATE_LIMITED');
    expect(Number(limited.headers.get('Retry-After'))).toBeGreaterThanOrEqual(1);
    expect((await call(e, '/webhooks/v1/razorpay', { method: 'POST', json: {}, ip: '203.0.113.78' })).status).not.toBe(429);
  });

  it('a per-route limit holds on it too (anonymous support request: 1 per hour per IP)', async () => {
    const ip = '203.0.113.79';
    await awayFromWindowEdge(LIMITS.supportAnonymous);
    const ticket = { email: 'ada@example.test', subject: 'Cannot sign in', message: 'The sign-in page keeps loading forever.' };
    const first = await call(memoryEnv(), '/api/v1/support', { method: 'POST', json: ticket, ip });
    const second = await call(memoryEnv(), '/api/v1/support', { method: 'POST', json: { ...ticket, subject: 'Again' }, ip });
    expect([first.status, second.status]).toEqual([201, 429]);
    expect(second.body.error.code).toBe('RATE_LIMITED');
    expect((await db.sql('select count(*)::int as n from support_tickets')).rows[0]).toEqual({ n: 1 });
  });
});
