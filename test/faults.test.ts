import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Env } from '../src/config';
import { useTestDatabase } from './helpers/db';
import { fakeFetch } from './helpers/fake-fetch';
import { call } from './helpers/http';
import { signUp } from './helpers/users';

const db = useTestDatabase();
afterEach(() => vi.restoreAllMocks());

const quiet = () => {
  vi.spyOn(console, 'warn').mockImplementation(() => {});
  vi.spyOn(console, 'error').mockImplementation(() => {});
};

async function timed<T>(work: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const started = Date.now();
  const result = await work();
  return { result, ms: Date.now() - started };
}

const REDIS_DOWN = [
  ['unreachable (nothing listens on the port)', () => 'http://127.0.0.1:9'],
  ['hanging (accepts connections, never answers)', () => `http://${env.TEST_HANGING_ADDR}`],
] as const;

const SID = 'AC00000000000000000000000000000000'; // TWILIO_ACCOUNT_SID in vitest.config.ts
let phones = 0;
const newPhone = () => `+9198${String(Date.now() % 1e5).padStart(5, '0')}${String(phones++ % 1000).padStart(3, '0')}`;

describe.each(REDIS_DOWN)('Redis %s', (_label, url) => {
  // Production's bound on one Redis call (the suite raises it for load; these tests measure the real one).
  const broken = (vars: Record<string, string> = {}) => ({ ...db.env, UPSTASH_REDIS_REST_URL: url(), REDIS_TIMEOUT_MS: '1500', ...vars }) as Env;

  it('reads are served from the database, each within a bound (every Redis call gives up after 1.5 s)', { timeout: 90_000 }, async () => {
    quiet();
    const user = await signUp(db);
    const e = broken();
    for (const [path, token] of [
      ['/api/v1/plans', undefined],
      ['/api/v1/notifications', user.token],
      ['/api/v1/credits/balance', user.token],
      ['/api/v1/profile', user.token],
    ] as const) {
      const { result: r, ms } = await timed(() => call(e, path, { token }));
      expect([path, r.status]).toEqual([path, 200]);
      expect(r.body.data).toBeTruthy();
      if (path === '/api/v1/plans') expect(r.body.data.map((p: { planId: string }) => p.planId)).toContain('basic_plan');
      // at most a rate-limit check, a session-cache read and write, a data-cache read and write
      expect(ms).toBeLessThan(10_000);
    }
    const health = await call(e, '/healthz');
    expect([health.status, health.body.data]).toEqual([200, { status: 'degraded', checks: { database: 'ok', cache: 'error' } }]);
  });

  it('per-feature limits on Redis fail open; the global per-client limit does not depend on Redis', { timeout: 90_000 }, async () => {
    quiet();
    const ip = `203.0.113.${Math.floor(Math.random() * 250) + 1}`;
    // The global limit is the rate-limit binding (3 per minute here): it keeps refusing with Redis down.
    const strict = broken({}) as Env & Record<string, unknown>;
    strict.GLOBAL_RATE_LIMITER = (env as unknown as { TEST_STRICT_RATE_LIMITER: RateLimit }).TEST_STRICT_RATE_LIMITER;
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await call(strict, '/api/v1/plans', { ip })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    // a per-feature limit too: a signed-in user's support requests, 3 per hour
    const e = broken();
    const user = await signUp(db);
    for (let i = 0; i < 4; i++) {
      const r = await call(e, '/api/v1/support', { method: 'POST', token: user.token, json: { subject: `Question ${i}`, message: 'How do teams work here?' } });
      expect(r.status).toBe(201);
    }
  });

  it('caps on mail to an address the caller names fail closed: 503, nothing stored, nothing queued', { timeout: 90_000 }, async () => {
    quiet();
    const e = broken();
    const user = await signUp(db);
    const before = db.events.messages.length;
    const [a, b, c] = [0, 1, 2].map(() => `someone-${crypto.randomUUID().slice(0, 8)}@example.test`);
    const ip = `198.51.100.${Math.floor(Math.random() * 250) + 1}`;
    const answers = [
      await call(e, '/api/v1/platform/invite', { method: 'POST', token: user.token, json: { email: a } }),
      await call(e, '/api/v1/newsletter/subscribe', { method: 'POST', ip, json: { email: b } }),
      await call(e, '/api/v1/support', { method: 'POST', ip, json: { email: c, subject: 'Question', message: 'How do teams work here?' } }),
    ];
    for (const r of answers) {
      expect([r.status, r.body.error?.code]).toEqual([503, 'SERVICE_UNAVAILABLE']);
      expect(Number(r.headers.get('Retry-After'))).toBeGreaterThan(0);
    }
    const stored = await db.sql(
      `select email from platform_invites where email = $1 union all select email from newsletter_subscribers where email = $2
       union all select email from support_tickets where email = $3`,
      [a, b, c],
    );
    expect(stored.rows).toEqual([]);
    expect(db.events.messages.slice(before).map((m) => m.name)).toEqual([]);
  });

  it('strict limits do not depend on Redis and still hold: the OTP resend cooldown answers 429', { timeout: 90_000 }, async () => {
    quiet();
    const twilio = fakeFetch({
      [`POST https://api.twilio.com/2010-04-01/Accounts/${SID}/Messages.json`]: () => Response.json({ sid: `SM${crypto.randomUUID().replaceAll('-', '')}`, status: 'queued' }, { status: 201 }),
    });
    const user = await signUp(db);
    const phone = newPhone();
    const e = broken();
    const send = () => call(e, '/api/v1/credits/send-otp', { method: 'POST', token: user.token, json: { phoneNumber: phone } });
    expect((await send()).status).toBe(200);
    const again = await send();
    expect([again.status, again.body.error.code]).toEqual([429, 'RATE_LIMITED']);
    expect(Number(again.headers.get('Retry-After'))).toBeGreaterThan(0);
    expect(twilio.calls).toHaveLength(1);
  });
});
