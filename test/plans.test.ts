import { afterEach, describe, expect, it, vi } from 'vitest';
import { useTestDatabase } from './helpers/db';
import { call } from './helpers/http';
import { signUp } from './helpers/users';

const db = useTestDatabase();

describe('GET /api/v1/plans', () => {
  it('lists active plans cheapest first, public and cacheable', async () => {
    const r = await call(db.env, '/api/v1/plans');
    expect(r.status).toBe(200);
    expect(r.headers.get('Cache-Control')).toBe('public, max-age=300');
    expect(r.body.data.map((p: { planId: string }) => p.planId)).toEqual(['enterprise_plan', 'basic_plan', 'business_plan']);
    const business = r.body.data.find((p: { planId: string }) => p.planId === 'business_plan');
    expect(business).toMatchObject({ amount: 299900, currency: 'INR', credits: 300, purchasable: true });
    expect(r.body.data[0]).toMatchObject({ amount: 0, purchasable: false });
  });

  it('hides a deactivated plan', async () => {
    await db.sql(`update plans set is_active = false where plan_id = 'basic_plan'`);
    try {
      const r = await call(db.env, '/api/v1/plans');
      expect(r.body.data.map((p: { planId: string }) => p.planId)).not.toContain('basic_plan');
      expect((await call(db.env, '/api/v1/plans/basic_plan')).status).toBe(404);
    } finally {
      await db.sql(`update plans set is_active = true where plan_id = 'basic_plan'`);
    }
  });
});

describe('GET /api/v1/plans/:planId', () => {
  it('returns one plan', async () => {
    const r = await call(db.env, '/api/v1/plans/basic_plan');
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({ planId: 'basic_plan', amount: 89900, credits: 50, purchasable: true });
  });

  it('404 NOT_FOUND for an unknown plan, 400 for a malformed id', async () => {
    const missing = await call(db.env, '/api/v1/plans/gold_plan');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('NOT_FOUND');
    const bad = await call(db.env, '/api/v1/plans/DROP%20TABLE');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('VALIDATION_ERROR');
  });
});

describe('isolate-level plan cache (PLANS_CACHE_SECONDS)', () => {
  afterEach(() => vi.restoreAllMocks());
  const sqlFetches = (spy: { mock: { calls: unknown[][] } }) =>
    spy.mock.calls.filter(([input]) => String(input instanceof Request ? input.url : input).endsWith('/sql')).length;

  it('serves the list and single plans from the isolate without a database query until it expires', async () => {
    const env = { ...db.env, PLANS_CACHE_SECONDS: '60' };
    expect((await call(env, '/api/v1/plans')).status).toBe(200);
    const spy = vi.spyOn(globalThis, 'fetch');
    expect((await call(env, '/api/v1/plans')).body.data).toHaveLength(3);
    expect((await call(env, '/api/v1/plans/business_plan')).body.data).toMatchObject({ credits: 300 });
    expect((await call(env, '/api/v1/plans/gold_plan')).status).toBe(404);
    expect(sqlFetches(spy)).toBe(0);
    // Time passes beyond the TTL: the next read goes to the database again.
    const now = Date.now();
    vi.spyOn(Date, 'now').mockReturnValue(now + 61_000);
    expect((await call(env, '/api/v1/plans')).status).toBe(200);
    expect(sqlFetches(spy)).toBe(1);
  });

  it('checkout never prices from the cache: a deactivated plan cannot be bought while the list still shows it', async () => {
    const env = { ...db.env, PLANS_CACHE_SECONDS: '60', PAYMENTS_ENABLED: 'true' };
    expect((await call(env, '/api/v1/plans/basic_plan')).status).toBe(200);
    await db.sql(`update plans set is_active = false where plan_id = 'basic_plan'`);
    try {
      const user = await signUp(db);
      const order = await call({ ...env, RAZORPAY_KEY_ID: 'rzp_test_x', RAZORPAY_KEY_SECRET: 'secret' }, '/api/v1/payments/create-order', {
        method: 'POST', token: user.token, json: { planId: 'basic_plan' }, headers: { 'Idempotency-Key': crypto.randomUUID() },
      });
      expect(order.status).toBe(404);
    } finally {
      await db.sql(`update plans set is_active = true where plan_id = 'basic_plan'`);
    }
  });
});

