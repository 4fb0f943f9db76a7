import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './helpers/db';
import { call } from './helpers/http';

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
