import { describe, expect, it } from 'vitest';
import { isUniqueViolation } from '../src/db/errors';
import { openServiceContext, withTransaction, type ServiceContext } from '../src/services/context';
import { grant, refundCredits, spend } from '../src/services/credits';
import { AppError } from '../src/lib/errors';
import { useTestDatabase } from './helpers/db';
import { call } from './helpers/http';
import { signUp, type TestUser } from './helpers/users';

const db = useTestDatabase();

/** A service context on this file's database, as a door would build it. */
async function withCtx<T>(work: (ctx: ServiceContext) => Promise<T>, userId?: string): Promise<T> {
  const { ctx, finish } = openServiceContext(db.env, { actor: userId ? { kind: 'user', userId } : { kind: 'anonymous' }, requestId: 'test' });
  try {
    return await work(ctx);
  } finally {
    await finish();
  }
}

const balance = (u: TestUser) => call(db.env, '/api/v1/credits/balance', { token: u.token });
const history = (u: TestUser, query = '') => call(db.env, `/api/v1/credits/history${query}`, { token: u.token });

async function ledgerRows(userId: string) {
  return (await db.sql<{ seq: string; type: string; amount: number; balance_after: number }>(
    'select seq, type, amount, balance_after from credit_transactions where user_id = $1 order by seq',
    [userId],
  )).rows;
}

/** Every row's balance_after is the previous one plus its amount, and the balance row agrees with the last. */
async function expectConsistentLedger(userId: string): Promise<number> {
  const rows = await ledgerRows(userId);
  let running = 0;
  for (const r of rows) {
    running += r.amount;
    expect(r.balance_after).toBe(running);
    expect(r.balance_after).toBeGreaterThanOrEqual(0);
  }
  const stored = (await db.sql<{ balance: number }>('select balance from credit_balances where user_id = $1', [userId])).rows[0]?.balance ?? 0;
  expect(stored).toBe(running);
  return running;
}

describe('credits: authentication and validation', () => {
  it('401 without a session', async () => {
    for (const path of ['/balance', '/history']) {
      const r = await call(db.env, `/api/v1/credits${path}`);
      expect(r.status, path).toBe(401);
      expect(r.body.error.code).toBe('AUTH_REQUIRED');
    }
  });

  it('400 VALIDATION_ERROR for a bad limit, offset or type', async () => {
    const u = await signUp(db);
    for (const q of ['?limit=0', '?limit=101', '?limit=abc', '?offset=-1', '?type=FREE_MONEY']) {
      const r = await history(u, q);
      expect([q, r.status, r.body.error?.code]).toEqual([q, 400, 'VALIDATION_ERROR']);
    }
  });
});

describe('credits: balance', () => {
  it('a new user has 0; a ledger write is visible on the very next read (cache invalidated after commit)', async () => {
    const u = await signUp(db);
    const first = await balance(u);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ data: { balance: 0 } });
    expect(first.headers.get('Cache-Control')).toContain('no-store');

    await withCtx((ctx) => grant(ctx, { userId: u.id, amount: 25, type: 'BONUS', description: 'Welcome bonus' }));
    expect((await balance(u)).body.data.balance).toBe(25);
    await withCtx((ctx) => spend(ctx, { userId: u.id, amount: 10, description: 'AI review' }));
    expect((await balance(u)).body.data.balance).toBe(15);
    await expectConsistentLedger(u.id);
  });

  it('still answers from the database when Redis is down', async () => {
    const u = await signUp(db);
    await withCtx((ctx) => grant(ctx, { userId: u.id, amount: 7, type: 'BONUS', description: 'x' }));
    const dead = { ...db.env, UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9' } as typeof db.env;
    const r = await call(dead, '/api/v1/credits/balance', { token: u.token });
    expect(r.status).toBe(200);
    expect(r.body.data.balance).toBe(7);
  });
});

describe('credits: ledger service', () => {
  it('spend beyond the balance is 402 INSUFFICIENT_CREDITS and writes nothing', async () => {
    const u = await signUp(db);
    await withCtx((ctx) => grant(ctx, { userId: u.id, amount: 5, type: 'BONUS', description: 'x' }));
    const err = await withCtx((ctx) => spend(ctx, { userId: u.id, amount: 6, description: 'too much' })).catch((e) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err.code).toBe('INSUFFICIENT_CREDITS');
    expect(err.status).toBe(402);
    expect(err.options.details).toEqual({ required: 6, balance: 5 });
    expect(await ledgerRows(u.id)).toHaveLength(1);
    expect(await expectConsistentLedger(u.id)).toBe(5);
  });

  it('refund takes back at most what the user still has and reports the shortfall', async () => {
    const u = await signUp(db);
    const { rows } = await db.sql<{ id: string }>(
      `insert into payments (user_id, razorpay_order_id, plan_id, plan_name, amount, credits) values ($1, $2, 'basic_plan', 'Basic Plan', 89900, 50) returning id`,
      [u.id, `order_${crypto.randomUUID().slice(0, 14)}`],
    );
    const paymentId = rows[0]!.id;
    await withCtx((ctx) => grant(ctx, { userId: u.id, amount: 50, type: 'PURCHASE', paymentId, description: 'Basic Plan' }));
    await withCtx((ctx) => spend(ctx, { userId: u.id, amount: 30, description: 'used' }));
    const r = await withCtx((ctx) => refundCredits(ctx, { userId: u.id, amount: 50, paymentId, description: 'Refund' }));
    expect(r).toMatchObject({ removed: 20, shortfall: 30, balance: 0 });
    const none = await withCtx((ctx) => refundCredits(ctx, { userId: u.id, amount: 5, paymentId, description: 'Refund' }));
    expect(none).toMatchObject({ entry: null, removed: 0, shortfall: 5, balance: 0 });
    const refundRow = (await db.sql<any>(`select amount, metadata from credit_transactions where user_id = $1 and type = 'REFUND'`, [u.id])).rows;
    expect(refundRow).toEqual([{ amount: -20, metadata: { requested: 50, removed: 20, shortfall: 30 } }]);
    expect(await expectConsistentLedger(u.id)).toBe(0);
  });

  it('the database allows one INITIAL_ALLOCATION per user and one PURCHASE per payment', async () => {
    const u = await signUp(db);
    await withCtx((ctx) => grant(ctx, { userId: u.id, amount: 200, type: 'INITIAL_ALLOCATION', description: 'Free credits' }));
    const again = await withCtx((ctx) => grant(ctx, { userId: u.id, amount: 200, type: 'INITIAL_ALLOCATION', description: 'Free credits' })).catch((e) => e);
    expect(isUniqueViolation(again, 'credit_transactions_one_initial_allocation_uq')).toBe(true);
    expect(await expectConsistentLedger(u.id)).toBe(200);
  });

  it('20 concurrent grants and spends lose no update: balance = sum of rows, never negative', async () => {
    const u = await signUp(db);
    const results = await withCtx((ctx) =>
      Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          i % 2 === 0
            ? grant(ctx, { userId: u.id, amount: 5, type: 'BONUS', description: `grant ${i}` })
            : spend(ctx, { userId: u.id, amount: 4, description: `spend ${i}` }),
        ),
      ),
    );
    const rejected = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    for (const r of rejected) expect((r.reason as AppError).code).toBe('INSUFFICIENT_CREDITS');
    const spends = 10 - rejected.length;
    const final = await expectConsistentLedger(u.id);
    expect(final).toBe(10 * 5 - spends * 4);
    expect(await ledgerRows(u.id)).toHaveLength(20 - rejected.length);
    expect((await balance(u)).body.data.balance).toBe(final);
  });
});

describe('credits: history', () => {
  it('newest first, paginated, filtered by type, with the payment summary; never another user\'s rows', async () => {
    const u = await signUp(db);
    const other = await signUp(db);
    const orderId = `order_${crypto.randomUUID().replaceAll('-', '').slice(0, 14)}`;
    const { rows } = await db.sql<{ id: string }>(
      `insert into payments (user_id, razorpay_order_id, razorpay_payment_id, plan_id, plan_name, amount, credits, status, completed_at)
       values ($1, $2, $3, 'business_plan', 'Business Plan', 299900, 300, 'COMPLETED', now()) returning id`,
      [u.id, orderId, `pay_${crypto.randomUUID().replaceAll('-', '').slice(0, 14)}`],
    );
    await withCtx((ctx) =>
      withTransaction(ctx, async (_tx, ctx) => {
        await grant(ctx, { userId: u.id, amount: 300, type: 'PURCHASE', paymentId: rows[0]!.id, description: 'Business Plan' });
        await spend(ctx, { userId: u.id, amount: 10, description: 'first' });
        await spend(ctx, { userId: u.id, amount: 20, description: 'second' });
        await grant(ctx, { userId: other.id, amount: 99, type: 'BONUS', description: 'not yours' });
      }),
    );

    const all = await history(u);
    expect(all.status).toBe(200);
    expect(all.body.meta).toEqual({ total: 3, limit: 50, offset: 0 });
    expect(all.body.data.map((r: any) => [r.type, r.amount, r.balanceAfter])).toEqual([
      ['DEDUCTION', -20, 270],
      ['DEDUCTION', -10, 290],
      ['PURCHASE', 300, 300],
    ]);
    expect(all.body.data[0].payment).toBeNull();
    expect(all.body.data[2].payment).toMatchObject({ razorpayOrderId: orderId, planId: 'business_plan', planName: 'Business Plan', amount: 299900, status: 'COMPLETED' });

    const page = await history(u, '?limit=1&offset=1');
    expect(page.body.meta).toEqual({ total: 3, limit: 1, offset: 1 });
    expect(page.body.data.map((r: any) => r.description)).toEqual(['first']);

    const purchases = await history(u, '?type=PURCHASE');
    expect(purchases.body.meta.total).toBe(1);
    expect(purchases.body.data[0].type).toBe('PURCHASE');

    const theirs = await history(other);
    expect(theirs.body.data.map((r: any) => r.description)).toEqual(['not yours']);
  });
});
