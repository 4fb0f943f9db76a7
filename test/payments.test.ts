import { Pool } from '@neondatabase/serverless';
import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Env } from '../src/config';
import { loadConfig } from '../src/config';
import { openServiceContext } from '../src/services/context';
import { hmacSha256Hex, sha256Hex, timingSafeEqual, verifyHmacSha256Hex } from '../src/lib/crypto';
import { cancelStalePayments } from '../src/services/payments';
import { createDatabaseFromTemplate, dropDatabase, useTestDatabase } from './helpers/db';
import { call } from './helpers/http';
import { stalledBody } from './helpers/fake-fetch';
import { FakeRazorpay, razorpayVars, RZP_BASE, RZP_KEY_ID, RZP_KEY_SECRET } from './helpers/razorpay';
import { signUp, type TestUser } from './helpers/users';

// PUBLIC_BASE_URL on loopback so the local QStash emulator accepts the expiry message.
const db = useTestDatabase({ ...razorpayVars, PUBLIC_BASE_URL: 'http://127.0.0.1:8787' });

let rzp: FakeRazorpay;
beforeEach(() => {
  rzp = new FakeRazorpay();
});
afterEach(() => vi.restoreAllMocks());

const createOrder = (u: TestUser, json: unknown = { planId: 'business_plan' }, options: { key?: string; env?: Env } = {}) =>
  call(options.env ?? db.env, '/api/v1/payments/create-order', {
    method: 'POST',
    token: u.token,
    json,
    headers: options.key === undefined ? {} : { 'Idempotency-Key': options.key },
  });
const verify = (u: TestUser, json: unknown) => call(db.env, '/api/v1/payments/verify', { method: 'POST', token: u.token, json });
const balance = async (u: TestUser) => (await call(db.env, '/api/v1/credits/balance', { token: u.token })).body.data.balance as number;
const paymentRow = async (orderId: string) => (await db.sql<any>('select * from payments where razorpay_order_id = $1', [orderId])).rows[0];
const purchases = async (userId: string) =>
  (await db.sql<any>(`select amount, balance_after from credit_transactions where user_id = $1 and type = 'PURCHASE'`, [userId])).rows;

describe('crypto (src/lib/crypto.ts)', () => {
  it('HMAC-SHA256 and SHA-256 test vectors (RFC 4231 #2, FIPS 180-2, Razorpay-style payloads)', async () => {
    expect(await hmacSha256Hex('Jefe', 'what do ya want for nothing?')).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
    expect(await hmacSha256Hex('rzp_test_secret_vector', 'order_IluGWxBm9U8zJ8|pay_IluGXfJ4dJw9Ve')).toBe(
      '96030b027b7985544eae6456ebe1f8b056e14dd60bb1afc736d47fd5032c5fb1',
    );
    expect(await hmacSha256Hex('whsec_vector', '{"entity":"event","event":"payment.captured"}')).toBe(
      '6cebb6942280fe8dd683e86c76bda85a12674262fcb52e4c5e8b57eff6959c7e',
    );
    expect(await sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('verifies in constant time and refuses missing, malformed and near-miss signatures', async () => {
    const good = '96030b027b7985544eae6456ebe1f8b056e14dd60bb1afc736d47fd5032c5fb1';
    const msg = 'order_IluGWxBm9U8zJ8|pay_IluGXfJ4dJw9Ve';
    expect(await verifyHmacSha256Hex('rzp_test_secret_vector', msg, good)).toBe(true);
    expect(await verifyHmacSha256Hex('rzp_test_secret_vector', msg, good.toUpperCase())).toBe(true);
    for (const bad of [undefined, null, '', 'zz', good.slice(0, -1), `${good.slice(0, -1)}0`, `${good}00`]) {
      expect(await verifyHmacSha256Hex('rzp_test_secret_vector', msg, bad)).toBe(false);
    }
    expect(await verifyHmacSha256Hex('another-secret', msg, good)).toBe(false);
    expect(timingSafeEqual('abc', 'abc')).toBe(true);
    expect(timingSafeEqual('abc', 'abd')).toBe(false);
    expect(timingSafeEqual('abc', 'abcd')).toBe(false);
    expect(timingSafeEqual('', '')).toBe(true);
  });
});

describe('POST /payments/create-order', () => {
  it('creates a Razorpay order from OUR plan table and stores a PENDING payment', async () => {
    const u = await signUp(db);
    const r = await createOrder(u, { planId: 'business_plan' });
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual({
      orderId: expect.stringMatching(/^order_/),
      amount: 299900,
      currency: 'INR',
      keyId: RZP_KEY_ID,
      plan: { planId: 'business_plan', name: 'Business', credits: 300 },
    });
    const sent = await rzp.fetch.calls[0]!.clone().json<any>();
    expect(rzp.fetch.calls[0]!.headers.get('Authorization')).toBe(`Basic ${btoa(`${RZP_KEY_ID}:${RZP_KEY_SECRET}`)}`);
    expect(sent).toMatchObject({ amount: 299900, currency: 'INR', receipt: expect.stringMatching(/^rcpt_[0-9a-f]{32}$/), notes: { userId: u.id, planId: 'business_plan', credits: '300' } });
    expect(sent.receipt.length).toBeLessThanOrEqual(40);
    const row = await paymentRow(r.body.data.orderId);
    expect(row).toMatchObject({ user_id: u.id, status: 'PENDING', plan_id: 'business_plan', plan_name: 'Business', amount: 299900, credits: 300, currency: 'INR' });
    expect(db.events.names()).toContain('payment.order_created');
  });

  it('schedules the 24 h expiry through QStash once the event is handled', async () => {
    const u = await signUp(db);
    const r = await createOrder(u, { planId: 'basic_plan' });
    const row = await paymentRow(r.body.data.orderId);
    await db.events.drain();
    const messages = (await (await fetch(`${db.env.QSTASH_URL}/v2/local/messages`, { headers: { Authorization: `Bearer ${db.env.QSTASH_TOKEN}` } })).json()) as any[];
    const mine = messages.filter((m) => JSON.parse(m.body).paymentId === row.id);
    expect(mine).toHaveLength(1);
    expect(mine[0].url).toBe('http://127.0.0.1:8787/webhooks/v1/qstash/payment-expiry');
    expect(mine[0].state).toBe('CREATED'); // not delivered yet: due in 24 h
  });

  it('404 for an unknown or inactive plan, 400 for a custom-pricing plan and for bad bodies', async () => {
    const u = await signUp(db);
    expect((await createOrder(u, { planId: 'no_such_plan' })).status).toBe(404);
    const enterprise = await createOrder(u, { planId: 'enterprise_plan' });
    expect(enterprise.status).toBe(400);
    expect(enterprise.body.error.details.reason).toBe('PLAN_NOT_PURCHASABLE');
    for (const body of [{}, { planId: '' }, { planId: 'Business Plan' }, { planId: 'basic_plan', amount: 1 }]) {
      const r = await createOrder(u, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe('VALIDATION_ERROR');
    }
    expect(rzp.fetch.calls).toHaveLength(0);
  });

  it('401 without a session; 503 when payments are disabled or Razorpay is not configured', async () => {
    expect((await call(db.env, '/api/v1/payments/create-order', { method: 'POST', json: { planId: 'basic_plan' } })).status).toBe(401);
    const u = await signUp(db);
    const disabled = await createOrder(u, { planId: 'basic_plan' }, { env: { ...db.env, PAYMENTS_ENABLED: 'false' } as Env });
    expect(disabled.status).toBe(503);
    expect(disabled.body.error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', message: 'Payments are currently disabled', details: { reason: 'PAYMENTS_DISABLED' } });
    const unconfigured = await createOrder(u, { planId: 'basic_plan' }, { env: { ...db.env, RAZORPAY_KEY_SECRET: '' } as Env });
    expect(unconfigured.status).toBe(503);
    expect(unconfigured.body.error.details.reason).toBe('PAYMENTS_NOT_CONFIGURED');
    expect(rzp.fetch.calls).toHaveLength(0);
  });

  it('retries Razorpay once on a 5xx; 503 (and no payment row) when it stays down', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const u = await signUp(db);
    rzp.failNext('POST /v1/orders', 502);
    const recovered = await createOrder(u, { planId: 'basic_plan' });
    expect(recovered.status).toBe(200);
    expect(rzp.fetch.calls).toHaveLength(2);

    rzp.failNext('POST /v1/orders', 503, 2);
    const down = await createOrder(u, { planId: 'basic_plan' });
    expect(down.status).toBe(503);
    expect(down.body.error.details.reason).toBe('PROVIDER_UNAVAILABLE');
    expect(rzp.fetch.calls).toHaveLength(4);
    expect((await db.sql('select 1 from payments where user_id = $1', [u.id])).rows).toHaveLength(1);
  });
});

describe('create-order with a lagging read replica', () => {
  let replica: { name: string; url: string };
  beforeAll(async () => {
    replica = await createDatabaseFromTemplate();
    // The replica has not caught up with a price change yet: it still shows the old, lower price.
    const pool = new Pool({ connectionString: replica.url, max: 1 });
    try {
      await pool.query(`update plans set amount = 100 where plan_id = 'business_plan'`);
    } finally {
      await pool.end();
    }
  });
  afterAll(async () => {
    if (replica) await dropDatabase(replica.name);
  });

  it('prices the order from the primary, never from the replica', async () => {
    const u = await signUp(db);
    // A first request caches the caller as active, so the checkout request below reads nothing from the primary
    // before it prices the order (a read after a write would be pinned to the primary anyway).
    await balance(u);
    const { amount } = (await db.sql<{ amount: number }>(`select amount from plans where plan_id = 'business_plan'`)).rows[0]!;
    expect(amount).not.toBe(100);
    const r = await createOrder(u, { planId: 'business_plan' }, { env: { ...db.env, DATABASE_REPLICA_URLS: replica.url } as Env });
    expect(r.status).toBe(200);
    expect(r.body.data.amount).toBe(amount);
    expect(rzp.orders.get(r.body.data.orderId)?.amount).toBe(amount);
    expect((await paymentRow(r.body.data.orderId)).amount).toBe(amount);
  });
});

describe('create-order: Razorpay stalls mid-answer', () => {
  it('headers then a body that never ends: 503 PROVIDER_UNAVAILABLE within the two 8 s attempts', { timeout: 60_000 }, async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const u = await signUp(db);
    rzp.fetch.on('POST https://api.razorpay.com/v1/orders', () => stalledBody());
    const started = Date.now();
    const r = await createOrder(u, { planId: 'basic_plan' });
    expect(r.status).toBe(503);
    expect(r.body.error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', details: { reason: 'PROVIDER_UNAVAILABLE' } });
    expect(Date.now() - started).toBeLessThan(25_000);
  });
});

describe('Idempotency-Key on create-order', () => {
  it('same key + same body → the same response, one Razorpay order, one payment', async () => {
    const u = await signUp(db);
    const first = await createOrder(u, { planId: 'business_plan' }, { key: 'order-attempt-1' });
    const again = await createOrder(u, { planId: 'business_plan' }, { key: 'order-attempt-1' });
    expect(first.status).toBe(200);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('Idempotent-Replayed')).toBe('true');
    expect(rzp.fetch.calls).toHaveLength(1);
    const rows = (await db.sql<any>('select idempotency_key from payments where user_id = $1', [u.id])).rows;
    expect(rows).toEqual([{ idempotency_key: 'order-attempt-1' }]);
    // the key is per user: another user with the same key gets their own order
    const other = await signUp(db);
    const theirs = await createOrder(other, { planId: 'business_plan' }, { key: 'order-attempt-1' });
    expect(theirs.body.data.orderId).not.toBe(first.body.data.orderId);
  });

  it('same key + different body → 409 DUPLICATE_REQUEST; a concurrent duplicate never creates two orders', async () => {
    const u = await signUp(db);
    await createOrder(u, { planId: 'business_plan' }, { key: 'k-2' });
    const mismatch = await createOrder(u, { planId: 'basic_plan' }, { key: 'k-2' });
    expect(mismatch.status).toBe(409);
    expect(mismatch.body.error).toMatchObject({ code: 'DUPLICATE_REQUEST', details: { reason: 'KEY_REUSED' } });

    const burst = await Promise.all(Array.from({ length: 4 }, () => createOrder(u, { planId: 'basic_plan' }, { key: 'k-burst' })));
    const ok = burst.filter((r) => r.status === 200);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    for (const r of burst.filter((x) => x.status !== 200)) expect([r.status, r.body.error.code]).toEqual([409, 'DUPLICATE_REQUEST']);
    expect(new Set(ok.map((r) => r.body.data.orderId)).size).toBe(1);
    expect((await db.sql(`select 1 from payments where user_id = $1 and plan_id = 'basic_plan'`, [u.id])).rows).toHaveLength(1);
  });

  it('an error is not stored (a retry runs again); invalid keys are 400; an expired key starts afresh', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const u = await signUp(db);
    rzp.failNext('POST /v1/orders', 500, 2);
    expect((await createOrder(u, { planId: 'basic_plan' }, { key: 'k-3' })).status).toBe(503);
    const retried = await createOrder(u, { planId: 'basic_plan' }, { key: 'k-3' });
    expect(retried.status).toBe(200);
    expect(retried.headers.get('Idempotent-Replayed')).toBeNull();

    for (const key of ['', 'x'.repeat(256), 'tab\there']) {
      const r = await createOrder(u, { planId: 'basic_plan' }, { key });
      expect([JSON.stringify(key).slice(0, 12), r.status]).toEqual([JSON.stringify(key).slice(0, 12), 400]);
    }

    await db.sql(`update idempotency_keys set expires_at = now() - interval '1 second' where user_id = $1 and key = 'k-3'`, [u.id]);
    const fresh = await createOrder(u, { planId: 'basic_plan' }, { key: 'k-3' });
    expect(fresh.status).toBe(200);
    expect(fresh.body.data.orderId).not.toBe(retried.body.data.orderId);
  });
});

describe('Idempotency-Key: a claim in flight past IN_FLIGHT_STALE_SECONDS', () => {
  const ORDERS = 'POST /v1/orders';
  /** Make the key's in-flight claim look abandoned (older than a minute). */
  const age = (u: TestUser, key: string) =>
    db.sql(`update idempotency_keys set created_at = now() - interval '61 seconds' where user_id = $1 and key = $2`, [u.id, key]);
  const claimRow = async (u: TestUser, key: string) =>
    (await db.sql<any>('select response_status from idempotency_keys where user_id = $1 and key = $2', [u.id, key])).rows[0];

  it('is never taken over by a different request under the same key', async () => {
    const u = await signUp(db);
    const slow = rzp.hold(ORDERS);
    const first = createOrder(u, { planId: 'business_plan' }, { key: 'k-stale' });
    await slow.arrived;
    await age(u, 'k-stale');

    const other = await createOrder(u, { planId: 'basic_plan' }, { key: 'k-stale' });
    expect(other.status).toBe(409);
    expect(other.body.error).toMatchObject({ code: 'DUPLICATE_REQUEST', details: { reason: 'KEY_REUSED' } });

    slow.open();
    const done = await first;
    expect(done.status).toBe(200);
    const replay = await createOrder(u, { planId: 'business_plan' }, { key: 'k-stale' });
    expect(replay.headers.get('Idempotent-Replayed')).toBe('true');
    expect(replay.body).toEqual(done.body);
    expect(rzp.fetch.calls).toHaveLength(1);
    expect((await db.sql('select 1 from payments where user_id = $1', [u.id])).rows).toHaveLength(1);
  });

  for (const outcome of ['succeeds', 'fails'] as const) {
    it(`taken over by a retry: the superseded request ${outcome === 'succeeds' ? 'succeeding' : 'failing'} neither stores over nor releases the new claim`, async () => {
      vi.spyOn(console, 'warn').mockImplementation(() => {});
      const u = await signUp(db);
      const key = `k-takeover-${outcome}`;
      const [slow, retry] = [rzp.hold(ORDERS), rzp.hold(ORDERS)];
      const first = createOrder(u, { planId: 'business_plan' }, { key });
      await slow.arrived;
      await age(u, key);
      const second = createOrder(u, { planId: 'business_plan' }, { key });
      await retry.arrived; // the retry took the claim over and is now running

      if (outcome === 'fails') rzp.failNext(ORDERS, 500, 2);
      slow.open();
      expect((await first).status).toBe(outcome === 'succeeds' ? 200 : 503);
      // The retry's claim is intact: still in flight, so a third attempt waits instead of running or replaying.
      expect(await claimRow(u, key)).toEqual({ response_status: null });
      const third = await createOrder(u, { planId: 'business_plan' }, { key });
      expect(third.status).toBe(409);
      expect(third.body.error).toMatchObject({ code: 'DUPLICATE_REQUEST', details: { reason: 'IN_PROGRESS' } });

      retry.open();
      const won = await second;
      expect(won.status).toBe(200);
      const replay = await createOrder(u, { planId: 'business_plan' }, { key });
      expect(replay.headers.get('Idempotent-Replayed')).toBe('true');
      expect(replay.body).toEqual(won.body);
    });
  }
});

/** create-order → the customer pays in Checkout → the browser posts the signed callback. */
async function buy(u: TestUser, planId = 'business_plan', pay: Parameters<FakeRazorpay['pay']>[1] = {}) {
  const order = await createOrder(u, { planId });
  expect(order.status).toBe(200);
  const payment = rzp.pay(order.body.data.orderId, pay);
  return { orderId: order.body.data.orderId as string, payment, checkout: await rzp.checkout(payment) };
}

describe('POST /payments/verify', () => {
  it('end to end: business_plan → exactly 300 credits, visible at once; repeated verify adds nothing', async () => {
    const u = await signUp(db);
    expect(await balance(u)).toBe(0); // caches 0
    const { orderId, payment, checkout } = await buy(u);
    const r = await verify(u, checkout);
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual({ status: 'COMPLETED', creditsAdded: 300, balance: 300 });
    expect(await balance(u)).toBe(300); // the cached 0 was invalidated
    const row = await paymentRow(orderId);
    expect(row).toMatchObject({ status: 'COMPLETED', razorpay_payment_id: payment.id, payment_method: 'upi' });
    expect(row.completed_at).not.toBeNull();

    const again = await verify(u, checkout);
    expect(again.body.data).toEqual({ status: 'COMPLETED', creditsAdded: 300, balance: 300 });
    expect(await purchases(u.id)).toEqual([{ amount: 300, balance_after: 300 }]);
    expect((await db.sql(`select 1 from outbox where event_name = 'payment.completed' and payload->>'userId' = $1`, [u.id])).rows).toHaveLength(1);
  });

  it('the success email links our own receipt page (never a payable Razorpay invoice); the notification follows', async () => {
    const u = await signUp(db, { firstName: 'Ada' });
    const { orderId, checkout } = await buy(u, 'basic_plan');
    await verify(u, checkout);
    const { retried } = await db.events.drain();
    expect(retried).toEqual([]);
    const row = await paymentRow(orderId);
    const receipt = `${loadConfig(db.env).FRONTEND_URL}/billing/payments/${row.id}`;
    // A Razorpay invoice's short_url is a page where an issued invoice can be paid: none is created.
    expect(rzp.fetch.calls.some((c) => new URL(c.url).pathname.startsWith('/v1/invoices'))).toBe(false);
    expect(row.razorpay_invoice_id).toBeNull();
    expect(row.invoice_url).toBe(receipt);
    const mail = (await db.sql<any>(`select subject, text from dev_emails where "to" = $1`, [u.email])).rows;
    expect(mail).toHaveLength(1);
    expect(mail[0].subject).toBe('Payment received: 50 credits added');
    expect(mail[0].text).toContain('₹899.00');
    expect(mail[0].text).toContain(receipt);
    expect(mail[0].text).not.toContain('rzp.io');
    const notes = (await db.sql<any>('select type, title from notifications where user_id = $1', [u.id])).rows;
    expect(notes).toEqual([{ type: 'UPDATE', title: 'Payment successful' }]);
    const history = await call(db.env, '/api/v1/payments/history', { token: u.token });
    expect(history.body.data[0].invoiceUrl).toBe(receipt);
  });

  it('wrong or missing signature → 402 PAYMENT_FAILED, nothing credited', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const u = await signUp(db);
    const { orderId, checkout, payment } = await buy(u);
    const forged = await rzp.checkout(payment, 'not-the-key-secret');
    for (const sig of [forged.razorpay_signature, checkout.razorpay_signature.replace(/.$/, (c) => (c === '0' ? '1' : '0')), 'garbage']) {
      const r = await verify(u, { ...checkout, razorpay_signature: sig });
      expect(r.status).toBe(402);
      expect(r.body.error).toMatchObject({ code: 'PAYMENT_FAILED', details: { reason: 'INVALID_SIGNATURE' } });
    }
    // a signature for another payment id
    const other = rzp.pay(orderId);
    const swapped = await verify(u, { ...checkout, razorpay_payment_id: other.id });
    expect(swapped.status).toBe(402);
    expect((await verify(u, { razorpay_order_id: orderId, razorpay_payment_id: payment.id })).status).toBe(400);
    expect((await paymentRow(orderId)).status).toBe('PENDING');
    expect(await purchases(u.id)).toEqual([]);
  });

  it("another user's order → 404, even with a valid signature", async () => {
    const owner = await signUp(db);
    const thief = await signUp(db);
    const { orderId, checkout } = await buy(owner);
    const r = await verify(thief, checkout);
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('NOT_FOUND');
    expect((await paymentRow(orderId)).status).toBe('PENDING');
    expect(await purchases(thief.id)).toEqual([]);
    expect(await purchases(owner.id)).toEqual([]);
  });

  it('amount mismatch, payment of another order, and failed payments are refused with 402', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const u = await signUp(db);
    const short = await buy(u, 'business_plan', { amount: 100 });
    const r1 = await verify(u, short.checkout);
    expect(r1.status).toBe(402);
    expect(r1.body.error.details).toMatchObject({ reason: 'AMOUNT_MISMATCH', expected: 299900, paid: 100 });
    expect((await paymentRow(short.orderId)).status).toBe('PENDING');

    // A genuine payment of order A replayed against order B: the signature binds the pair, and Razorpay says A.
    const a = await buy(u, 'basic_plan');
    const b = await createOrder(u, { planId: 'basic_plan' });
    const forgedPair = { razorpay_order_id: b.body.data.orderId, razorpay_payment_id: a.payment.id, razorpay_signature: await hmacSha256Hex(RZP_KEY_SECRET, `${b.body.data.orderId}|${a.payment.id}`) };
    const r2 = await verify(u, forgedPair);
    expect(r2.status).toBe(402);
    expect(r2.body.error.details.reason).toBe('ORDER_MISMATCH');

    const failed = await buy(u, 'basic_plan', { status: 'failed' });
    const r3 = await verify(u, failed.checkout);
    expect(r3.status).toBe(402);
    expect(r3.body.error.details).toMatchObject({ reason: 'NOT_CAPTURED', status: 'failed' });
    expect(await purchases(u.id)).toEqual([]);
  });

  it('an authorized (not auto-captured) payment is captured, then credited', async () => {
    const u = await signUp(db);
    const { payment, checkout } = await buy(u, 'basic_plan', { status: 'authorized' });
    const r = await verify(u, checkout);
    expect(r.status).toBe(200);
    expect(r.body.data.creditsAdded).toBe(50);
    expect(payment.status).toBe('captured');
    expect(rzp.fetch.calls.some((c) => c.method === 'POST' && c.url.endsWith(`/v1/payments/${payment.id}/capture`))).toBe(true);
  });

  it('503 when Razorpay cannot be asked (the client retries; the webhook completes it anyway)', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const u = await signUp(db);
    const { orderId, checkout } = await buy(u, 'basic_plan');
    rzp.failNext('GET /v1/payments', 504, 2);
    const r = await verify(u, checkout);
    expect(r.status).toBe(503);
    expect((await paymentRow(orderId)).status).toBe('PENDING');
    expect((await verify(u, checkout)).status).toBe(200);
  });
});

describe('GET /payments/history', () => {
  it("lists the caller's payments only, newest first, paginated and filtered", async () => {
    const u = await signUp(db);
    const other = await signUp(db);
    const first = await buy(u, 'basic_plan');
    await verify(u, first.checkout);
    await createOrder(u, { planId: 'business_plan' });
    await createOrder(other, { planId: 'basic_plan' });

    const all = await call(db.env, '/api/v1/payments/history', { token: u.token });
    expect(all.status).toBe(200);
    expect(all.body.meta).toEqual({ total: 2, limit: 20, offset: 0 });
    expect(all.body.data.map((p: any) => [p.planId, p.status])).toEqual([
      ['business_plan', 'PENDING'],
      ['basic_plan', 'COMPLETED'],
    ]);
    expect(all.body.data[1]).toMatchObject({ orderId: first.orderId, paymentId: first.payment.id, amount: 89900, credits: 50, currency: 'INR' });

    const page = await call(db.env, '/api/v1/payments/history?limit=1&offset=1', { token: u.token });
    expect(page.body.data.map((p: any) => p.planId)).toEqual(['basic_plan']);
    const completed = await call(db.env, '/api/v1/payments/history?status=COMPLETED', { token: u.token });
    expect(completed.body.meta.total).toBe(1);
    expect((await call(db.env, '/api/v1/payments/history?limit=0', { token: u.token })).status).toBe(400);
    expect((await call(db.env, '/api/v1/payments/history')).status).toBe(401);
  });
});

describe('order expiry', () => {
  const URL_PATH = '/webhooks/v1/qstash/payment-expiry';

  async function qstashSignature(body: string, options: { key?: string; url?: string } = {}) {
    const now = Math.floor(Date.now() / 1000);
    const hash = (await crypto.subtle.digest('SHA-256', new TextEncoder().encode(body))) as ArrayBuffer;
    const b64 = btoa(String.fromCharCode(...new Uint8Array(hash))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    return new SignJWT({ body: b64 })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer('Upstash')
      .setSubject(options.url ?? `http://127.0.0.1:8787${URL_PATH}`)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + 300)
      .setJti(`jwt_${crypto.randomUUID()}`)
      .sign(new TextEncoder().encode(options.key ?? (db.env.QSTASH_CURRENT_SIGNING_KEY as string)));
  }

  const deliver = async (body: string, signature?: string, env: Env = db.env) =>
    call(env, URL_PATH, { method: 'POST', raw: body, headers: { 'Content-Type': 'application/json', ...(signature ? { 'Upstash-Signature': signature } : {}) } });

  async function staleOrder(u: TestUser, hoursAgo = 25) {
    const r = await createOrder(u, { planId: 'basic_plan' });
    const row = await paymentRow(r.body.data.orderId);
    await db.sql(`update payments set created_at = now() - make_interval(hours => $2) where id = $1`, [row.id, hoursAgo]);
    return row.id as string;
  }

  it('a signed QStash message cancels a PENDING order older than 24 h; forged signatures are 401', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const u = await signUp(db);
    const id = await staleOrder(u);
    const body = JSON.stringify({ paymentId: id });

    expect((await deliver(body)).status).toBe(401);
    expect((await deliver(body, await qstashSignature(body, { key: 'not-the-signing-key' }))).status).toBe(401);
    expect((await deliver(body, await qstashSignature(body, { url: 'http://evil.example/webhooks/v1/qstash/payment-expiry' }))).status).toBe(401);
    const tampered = JSON.stringify({ paymentId: crypto.randomUUID() });
    expect((await deliver(tampered, await qstashSignature(body))).status).toBe(401);
    expect((await db.sql<any>('select status from payments where id = $1', [id])).rows[0].status).toBe('PENDING');

    const ok = await deliver(body, await qstashSignature(body));
    expect(ok.status).toBe(200);
    expect(ok.body.data.outcome).toBe('cancelled');
    const row = (await db.sql<any>('select status, failure_reason from payments where id = $1', [id])).rows[0];
    expect(row.status).toBe('CANCELLED');
    expect(row.failure_reason).toContain('24 hours');
    // the next-signing-key also verifies (key rotation)
    const again = await deliver(body, await qstashSignature(body, { key: db.env.QSTASH_NEXT_SIGNING_KEY as string }));
    expect(again.body.data.outcome).toBe('not_pending');
    expect((await deliver(body, await qstashSignature(body), { ...db.env, QSTASH_CURRENT_SIGNING_KEY: '' } as Env)).status).toBe(503);
  });

  it('a failure while applying claims nothing: the redelivered expiry message cancels the order, and its id is claimed once', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const u = await signUp(db);
    const id = await staleOrder(u);
    const body = JSON.stringify({ paymentId: id });
    const claims = async () => (await db.sql(`select 1 from webhook_deliveries where source = 'qstash' and delivery_id = $1`, [`payment-expiry-${id}`])).rows.length;
    // The cancellation is written after the message is claimed: refusing it fails the delivery mid-way.
    await db.sql(`create or replace function test_refuse_cancel() returns trigger language plpgsql as $$
      begin if new.id = '${id}' and new.status = 'CANCELLED' then raise exception 'cancel refused'; end if; return new; end $$`);
    await db.sql(`create trigger test_refuse_cancel before update on payments for each row execute function test_refuse_cancel()`);
    try {
      expect((await deliver(body, await qstashSignature(body))).status).toBe(500);
    } finally {
      await db.sql('drop trigger test_refuse_cancel on payments');
    }
    expect((await db.sql<any>('select status from payments where id = $1', [id])).rows[0].status).toBe('PENDING');
    expect(await claims()).toBe(0);

    const redelivered = await deliver(body, await qstashSignature(body));
    expect(redelivered.body.data.outcome).toBe('cancelled');
    expect(await claims()).toBe(1);
    expect((await deliver(body, await qstashSignature(body))).body.data.outcome).toBe('not_pending');
    expect((await db.sql<any>('select status from payments where id = $1', [id])).rows[0].status).toBe('CANCELLED');
  });

  it('an order Razorpay reports paid is completed (credited once), never cancelled — by QStash and by the daily backstop', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const u = await signUp(db);
    const paidId = await staleOrder(u);
    const orderId = (await db.sql<any>('select razorpay_order_id from payments where id = $1', [paidId])).rows[0].razorpay_order_id;
    rzp.pay(orderId, { status: 'failed' }); // an earlier declined attempt on the same order
    const p = rzp.pay(orderId);
    expect(await balance(u)).toBe(0); // caches 0
    const body = JSON.stringify({ paymentId: paidId });
    const r = await deliver(body, await qstashSignature(body));
    expect(r.status).toBe(200);
    expect(r.body.data.outcome).toBe('completed');
    expect(rzp.fetch.calls.some((c) => c.method === 'GET' && c.url.endsWith(`/v1/orders/${orderId}/payments`))).toBe(true);
    expect(await paymentRow(orderId)).toMatchObject({ status: 'COMPLETED', razorpay_payment_id: p.id });
    expect(await balance(u)).toBe(50); // the cached 0 was invalidated
    // a redelivery, the late verify and the backstop add nothing
    expect((await deliver(body, await qstashSignature(body))).body.data.outcome).toBe('not_pending');
    const v = await verify(u, await rzp.checkout(p));
    expect(v.body.data).toEqual({ status: 'COMPLETED', creditsAdded: 50, balance: 50 });
    expect(await purchases(u.id)).toEqual([{ amount: 50, balance_after: 50 }]);
    expect((await db.sql(`select 1 from outbox where event_name = 'payment.completed' and payload->>'paymentId' = $1`, [paidId])).rows).toHaveLength(1);

    // the daily backstop reconciles the same way
    const w = await signUp(db);
    const backstopId = await staleOrder(w);
    const backstopOrder = (await db.sql<any>('select razorpay_order_id from payments where id = $1', [backstopId])).rows[0].razorpay_order_id;
    const q = rzp.pay(backstopOrder);
    const run = await cancelWithBackstop();
    expect(run.completed).toBeGreaterThanOrEqual(1);
    expect(await paymentRow(backstopOrder)).toMatchObject({ status: 'COMPLETED', razorpay_payment_id: q.id });
    expect(await balance(w)).toBe(50);
    await cancelWithBackstop();
    expect(await purchases(w.id)).toEqual([{ amount: 50, balance_after: 50 }]);
  });

  it('leaves young orders alone; paid but unverifiable stays PENDING; Razorpay unreachable → cancelled, and a capture after cancellation still credits', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const u = await signUp(db);
    const young = await staleOrder(u, 2);
    const youngBody = JSON.stringify({ paymentId: young });
    expect((await deliver(youngBody, await qstashSignature(youngBody))).body.data.outcome).toBe('not_due');

    // paid at Razorpay, but its payments cannot be listed: neither cancelled nor completed
    const paidId = await staleOrder(u);
    const paidRow = (await db.sql<any>('select razorpay_order_id from payments where id = $1', [paidId])).rows[0];
    const p = rzp.pay(paidRow.razorpay_order_id);
    rzp.failNext('GET /v1/orders/payments', 503, 2);
    const paidBody = JSON.stringify({ paymentId: paidId });
    expect((await deliver(paidBody, await qstashSignature(paidBody))).body.data.outcome).toBe('paid_at_provider');
    expect((await db.sql<any>('select status from payments where id = $1', [paidId])).rows[0].status).toBe('PENDING');
    expect(await purchases(u.id)).toEqual([]);

    // Razorpay unreachable: cancelled anyway; a later capture still completes it (CANCELLED → COMPLETED)
    rzp.failNext('GET /v1/orders', 503, 50);
    const cancelled = await cancelWithBackstop();
    rzp.failures.clear();
    expect(cancelled.cancelled).toBeGreaterThanOrEqual(1);
    expect((await db.sql<any>('select status from payments where id = $1', [paidId])).rows[0].status).toBe('CANCELLED');
    const r = await verify(u, await rzp.checkout(p));
    expect(r.status).toBe(200);
    expect(r.body.data.creditsAdded).toBe(50);
  });

  it('the daily backstop stops at its time budget: a slow Razorpay leaves the newest orders PENDING for the next run', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    await cancelWithBackstop(); // nothing stale left over from other tests
    const u = await signUp(db);
    const ids = [await staleOrder(u, 28), await staleOrder(u, 27), await staleOrder(u, 26), await staleOrder(u, 25)]; // oldest first
    // Razorpay answers, but each order lookup takes a minute (on a clock the test moves, so no real waiting).
    let elapsed = 0;
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + elapsed);
    rzp.fetch.on(`GET ${RZP_BASE}/v1/orders/*`, (req) => {
      elapsed += 60_000;
      return Response.json(rzp.orders.get(new URL(req.url).pathname.split('/')[3]!));
    });
    const statuses = async () => (await db.sql<{ status: string }>(`select status from payments where id = any($1) order by created_at`, [ids])).rows.map((r) => r.status);

    // 2.5 minutes: the third lookup starts at 2:00 and ends past the budget, so the fourth is not started.
    const first = await cancelWithBackstop({ budgetMs: 150_000 });
    expect(first).toEqual({ examined: 3, cancelled: 3, completed: 0 });
    expect(await statuses()).toEqual(['CANCELLED', 'CANCELLED', 'CANCELLED', 'PENDING']);

    const next = await cancelWithBackstop({ budgetMs: 150_000 });
    expect(next).toEqual({ examined: 1, cancelled: 1, completed: 0 });
    expect(await statuses()).toEqual(['CANCELLED', 'CANCELLED', 'CANCELLED', 'CANCELLED']);
  });

  async function cancelWithBackstop(options: { budgetMs?: number } = {}) {
    const { ctx, finish } = openServiceContext(db.env, { actor: { kind: 'system', job: 'daily-cleanup' } });
    try {
      return await cancelStalePayments(ctx, options);
    } finally {
      await finish();
    }
  }
});
