import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Env } from '../src/config';
import { loadConfig } from '../src/config';
import { Db } from '../src/db/client';
import { withLedger } from '../src/services/credits';
import { canTransition, PAYMENT_TRANSITIONS } from '../src/services/payments';
import { useTestDatabase } from './helpers/db';
import { call } from './helpers/http';
import { FakeRazorpay, razorpayVars, type FakeOrder, type FakePayment } from './helpers/razorpay';
import { signUp, type TestUser } from './helpers/users';

const db = useTestDatabase(razorpayVars);

let rzp: FakeRazorpay;
beforeEach(() => {
  rzp = new FakeRazorpay();
});
afterEach(() => vi.restoreAllMocks());

const post = (d: { raw: string; headers: Record<string, string> }, env: Env = db.env) =>
  call(env, '/webhooks/v1/razorpay', { method: 'POST', raw: d.raw, headers: d.headers });
const send = async (event: string, entities: { payment?: FakePayment; order?: FakeOrder; refund?: unknown }, options: { eventId?: string } = {}) =>
  post(await rzp.webhook(event, entities, options));

const balance = async (u: TestUser) => (await call(db.env, '/api/v1/credits/balance', { token: u.token })).body.data.balance as number;
const paymentRow = async (orderId: string) => (await db.sql<any>('select * from payments where razorpay_order_id = $1', [orderId])).rows[0];
const ledger = async (userId: string) =>
  (await db.sql<any>('select type, amount, balance_after, metadata from credit_transactions where user_id = $1 order by seq', [userId])).rows;
const storedEvent = async (eventId: string) => (await db.sql<any>('select * from payment_webhook_events where razorpay_event_id = $1', [eventId])).rows;

/** A user with a created order for the plan; pay it with rzp.pay(order.id). */
async function order(u: TestUser, planId = 'business_plan'): Promise<FakeOrder> {
  const r = await call(db.env, '/api/v1/payments/create-order', { method: 'POST', token: u.token, json: { planId } });
  expect(r.status).toBe(200);
  return rzp.orders.get(r.body.data.orderId)!;
}

async function spend(userId: string, amount: number) {
  const config = loadConfig(db.env);
  const database = new Db(config);
  try {
    await withLedger({ db: database, config }, (l) => l.spend({ userId, amount, description: 'used' }));
  } finally {
    await database.close();
  }
}

describe('webhook signature and envelope', () => {
  it('refuses missing, forged and tampered signatures (401), never processing them', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const u = await signUp(db);
    const o = await order(u);
    const p = rzp.pay(o.id);
    const good = await rzp.webhook('payment.captured', { payment: p });
    const { 'X-Razorpay-Signature': _sig, ...unsigned } = good.headers;
    expect((await post({ raw: good.raw, headers: unsigned })).status).toBe(401);
    const forged = await rzp.webhook('payment.captured', { payment: p }, { secret: 'whsec_attacker' });
    expect((await post(forged)).status).toBe(401);
    const tampered = good.raw.replace(`"amount":${p.amount}`, '"amount":1');
    expect(tampered).not.toBe(good.raw);
    expect((await post({ raw: tampered, headers: good.headers })).status).toBe(401);
    // re-serialised JSON (other whitespace) no longer matches: the HMAC is over the raw bytes
    expect((await post({ raw: JSON.stringify(JSON.parse(good.raw), null, 2), headers: good.headers })).status).toBe(401);
    const r = await post(forged);
    expect(r.body.error.code).toBe('AUTH_REQUIRED');
    expect((await paymentRow(o.id)).status).toBe('PENDING');
    expect(await storedEvent(good.eventId)).toEqual([]);
  });

  it('503 when the webhook secret is unset — never accepted unsigned', async () => {
    const d = await rzp.webhook('payment.captured', {});
    const r = await post(d, { ...db.env, RAZORPAY_WEBHOOK_SECRET: '' } as Env);
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('SERVICE_UNAVAILABLE');
  });

  it('400 without x-razorpay-event-id or with a body that is not an event', async () => {
    const d = await rzp.webhook('payment.captured', {});
    const { 'x-razorpay-event-id': _id, ...noId } = d.headers;
    expect((await post({ raw: d.raw, headers: noId })).status).toBe(400);
    const { hmacSha256Hex } = await import('../src/lib/crypto');
    for (const raw of ['not json', '{"entity":"event"}']) {
      const r = await post({ raw, headers: { ...d.headers, 'X-Razorpay-Signature': await hmacSha256Hex(razorpayVars.RAZORPAY_WEBHOOK_SECRET, raw) } });
      expect(r.status).toBe(400);
    }
  });

  it('unknown events are acknowledged, stored and ignored', async () => {
    const r = await send('invoice.paid', { order: undefined }, { eventId: 'evt_unknown_type_1' });
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({ status: 'ignored', event: 'invoice.paid' });
    const [row] = await storedEvent('evt_unknown_type_1');
    expect(row).toMatchObject({ event_type: 'invoice.paid', payment_id: null });
    expect(row.processed_at).not.toBeNull();
    expect(row.error_message).toContain('unhandled');
  });
});

describe('payment.captured / order.paid', () => {
  it('completes and credits once; replays and the sibling order.paid add nothing', async () => {
    const u = await signUp(db);
    const o = await order(u);
    const p = rzp.pay(o.id);
    const first = await send('payment.captured', { payment: p }, { eventId: 'evt_cap_1' });
    expect(first.status).toBe(200);
    expect(first.body.data).toEqual({ status: 'processed', event: 'payment.captured' });
    expect(await balance(u)).toBe(300);

    for (let i = 0; i < 3; i++) {
      const replay = await send('payment.captured', { payment: p }, { eventId: 'evt_cap_1' });
      expect(replay.body.data.status).toBe('duplicate');
    }
    const sibling = await send('order.paid', { payment: p, order: o }, { eventId: 'evt_paid_1' });
    expect(sibling.body.data).toMatchObject({ status: 'processed', reason: 'already completed' });
    expect(await balance(u)).toBe(300);
    expect((await ledger(u.id)).map((r: any) => [r.type, r.amount])).toEqual([['PURCHASE', 300]]);
    const row = await paymentRow(o.id);
    expect(row).toMatchObject({ status: 'COMPLETED', razorpay_payment_id: p.id });
    const [stored] = await storedEvent('evt_cap_1');
    expect(stored).toMatchObject({ event_type: 'payment.captured', payment_id: row.id });
    expect(stored.signature).toMatch(/^[0-9a-f]{64}$/);
  });

  it('Done-when: business_plan via create-order → verify, raced by webhooks and replays → exactly 300; a refund removes them', async () => {
    const u = await signUp(db);
    const o = await order(u);
    const p = rzp.pay(o.id);
    const checkout = await rzp.checkout(p);
    const captured = await rzp.webhook('payment.captured', { payment: p });
    const results = await Promise.all([
      call(db.env, '/api/v1/payments/verify', { method: 'POST', token: u.token, json: checkout }),
      post(captured),
      call(db.env, '/api/v1/payments/verify', { method: 'POST', token: u.token, json: checkout }),
      post(captured), // the same delivery replayed concurrently
      send('payment.captured', { payment: p }), // a redelivery with a new event id
      send('order.paid', { payment: p, order: o }),
      call(db.env, '/api/v1/payments/verify', { method: 'POST', token: u.token, json: checkout }),
      post(captured),
    ]);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200, 200, 200]);
    for (const i of [0, 2, 6]) expect(results[i]!.body.data).toMatchObject({ status: 'COMPLETED', creditsAdded: 300 });
    expect(results.filter((r) => r.body.data.status === 'duplicate')).toHaveLength(2);
    expect(await balance(u)).toBe(300);
    expect((await ledger(u.id)).map((r: any) => [r.type, r.amount, r.balance_after])).toEqual([['PURCHASE', 300, 300]]);
    expect((await db.sql<any>(`select count(*)::int as n from outbox where event_name = 'payment.completed' and payload->>'userId' = $1`, [u.id])).rows[0].n).toBe(1);

    const refund = rzp.refund(p);
    expect((await send('refund.processed', { payment: p, refund })).body.data.status).toBe('processed');
    expect(await balance(u)).toBe(0);
    expect((await paymentRow(o.id)).status).toBe('REFUNDED');
    // both money events are in the user's activity log, once each despite the races and replays
    const activity = (await db.sql<{ action: string }>(`select action from activity_logs where user_id = $1 and action like 'payment.%' order by created_at`, [u.id])).rows;
    expect(activity.map((r) => r.action)).toEqual(['payment.completed', 'payment.refunded']);
  });

  it('amount mismatch is refused (stored, not credited)', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const u = await signUp(db);
    const o = await order(u);
    const p = rzp.pay(o.id, { amount: 100 });
    const r = await send('payment.captured', { payment: p }, { eventId: 'evt_short' });
    expect(r.body.data).toMatchObject({ status: 'ignored', reason: 'amount mismatch' });
    expect((await paymentRow(o.id)).status).toBe('PENDING');
    expect(await ledger(u.id)).toEqual([]);
    expect((await storedEvent('evt_short'))[0].error_message).toBe('amount mismatch');
  });

  it('an event for an order we do not know is stored and ignored', async () => {
    const stranger = rzp.pay((await order(await signUp(db))).id);
    stranger.order_id = 'order_NotOurs0000001';
    const r = await send('payment.captured', { payment: stranger });
    expect(r.body.data).toMatchObject({ status: 'ignored', reason: 'unknown order' });
  });
});

describe('payment.failed and the state machine', () => {
  it('PENDING → FAILED with the reason; a later successful attempt on the order still completes it', async () => {
    const u = await signUp(db);
    const o = await order(u, 'basic_plan');
    const declined = rzp.pay(o.id, { status: 'failed' });
    const r = await send('payment.failed', { payment: declined });
    expect(r.body.data.status).toBe('processed');
    expect(await paymentRow(o.id)).toMatchObject({ status: 'FAILED', failure_reason: 'Payment was declined by the bank' });
    await db.events.drain();
    expect((await db.sql<any>(`select subject from dev_emails where "to" = $1`, [u.email])).rows).toEqual([{ subject: 'Your FairArena payment did not go through' }]);
    expect((await db.sql<any>('select type, title from notifications where user_id = $1', [u.id])).rows).toEqual([{ type: 'ALERT', title: 'Payment failed' }]);

    const retry = rzp.pay(o.id);
    expect((await send('payment.captured', { payment: retry })).body.data.status).toBe('processed');
    expect(await paymentRow(o.id)).toMatchObject({ status: 'COMPLETED', razorpay_payment_id: retry.id, failure_reason: null });
    expect(await balance(u)).toBe(50);
  });

  it('a payment.failed arriving after completion never downgrades it', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const u = await signUp(db);
    const o = await order(u, 'basic_plan');
    const declined = rzp.pay(o.id, { status: 'failed' });
    const paid = rzp.pay(o.id);
    await send('payment.captured', { payment: paid });
    const late = await send('payment.failed', { payment: declined });
    expect(late.body.data).toMatchObject({ status: 'ignored', reason: 'illegal transition COMPLETED → FAILED' });
    expect(await paymentRow(o.id)).toMatchObject({ status: 'COMPLETED', razorpay_payment_id: paid.id, failure_reason: null });
    expect(await balance(u)).toBe(50);
    const row = await paymentRow(o.id);
    expect((await db.sql(`select 1 from outbox where event_name = 'payment.failed' and payload->>'paymentId' = $1`, [row.id])).rows).toHaveLength(0);
  });

  it('the transition table is the only authority', () => {
    expect(PAYMENT_TRANSITIONS.PENDING).toEqual(['COMPLETED', 'FAILED', 'CANCELLED']);
    expect(canTransition('FAILED', 'COMPLETED')).toBe(true);
    expect(canTransition('COMPLETED', 'FAILED')).toBe(false);
    expect(canTransition('COMPLETED', 'PENDING')).toBe(false);
    expect(canTransition('REFUNDED', 'COMPLETED')).toBe(false);
    expect(canTransition('PARTIALLY_REFUNDED', 'REFUNDED')).toBe(true);
    expect(canTransition('CANCELLED', 'FAILED')).toBe(false);
  });
});

describe('refunds', () => {
  async function paidOrder(u: TestUser, planId = 'business_plan') {
    const o = await order(u, planId);
    const p = rzp.pay(o.id);
    expect((await send('payment.captured', { payment: p })).body.data.status).toBe('processed');
    return { o, p };
  }

  it('full refund: REFUNDED, all credits removed once even when created and processed both arrive', async () => {
    const u = await signUp(db, { firstName: 'Ada' });
    const { o, p } = await paidOrder(u);
    const refund = rzp.refund(p, p.amount, 'pending');
    expect((await send('refund.created', { payment: p, refund })).body.data.status).toBe('processed');
    const processed = await send('refund.processed', { payment: p, refund: { ...refund, status: 'processed' } });
    expect(processed.body.data).toMatchObject({ status: 'ignored', reason: 'refund already applied' });
    expect(await balance(u)).toBe(0);
    const row = await paymentRow(o.id);
    expect(row).toMatchObject({ status: 'REFUNDED', refunded_amount: 299900 });
    expect(row.refunded_at).not.toBeNull();
    expect((await ledger(u.id)).map((r: any) => [r.type, r.amount, r.balance_after])).toEqual([
      ['PURCHASE', 300, 300],
      ['REFUND', -300, 0],
    ]);
    await db.events.drain();
    const mail = (await db.sql<any>(`select subject, text from dev_emails where "to" = $1 and subject like '%refund%'`, [u.email])).rows;
    expect(mail).toHaveLength(1);
    expect(mail[0].text).toContain('₹2,999.00');
    expect(mail[0].text).toContain('300 credits were removed');
    // a refund of a fully refunded payment is an illegal transition: ignored
    const extra = await send('refund.processed', { payment: p, refund: rzp.refund(p, 1) });
    expect(extra.body.data).toMatchObject({ status: 'ignored', reason: 'illegal transition REFUNDED → REFUNDED' });
  });

  it('partial refunds take back proportional credits and add up exactly to a full refund', async () => {
    const u = await signUp(db);
    const { o, p } = await paidOrder(u);
    await send('refund.processed', { payment: p, refund: rzp.refund(p, 100000) }); // floor(300 × 100000 / 299900) = 100
    expect(await paymentRow(o.id)).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_amount: 100000 });
    expect(await balance(u)).toBe(200);
    await send('refund.processed', { payment: p, refund: rzp.refund(p, 99950) }); // total 199950 → 200 → 100 more
    expect(await balance(u)).toBe(100);
    await send('refund.processed', { payment: p, refund: rzp.refund(p, 99950) }); // total 299900 → 300 → the last 100
    expect(await paymentRow(o.id)).toMatchObject({ status: 'REFUNDED', refunded_amount: 299900 });
    expect(await balance(u)).toBe(0);
    expect((await ledger(u.id)).filter((r: any) => r.type === 'REFUND').map((r: any) => r.amount)).toEqual([-100, -100, -100]);
  });

  it('after credits were spent: removes only what is left and records the shortfall', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const u = await signUp(db);
    const { o, p } = await paidOrder(u);
    await spend(u.id, 250);
    expect(await balance(u)).toBe(50);
    await send('refund.processed', { payment: p, refund: rzp.refund(p) });
    expect(await balance(u)).toBe(0);
    const refundRow = (await ledger(u.id)).find((r: any) => r.type === 'REFUND');
    expect(refundRow).toMatchObject({ amount: -50, balance_after: 0 });
    expect(refundRow.metadata).toMatchObject({ requested: 300, removed: 50, shortfall: 250, refundAmount: 299900 });
    const row = await paymentRow(o.id);
    expect(row.status).toBe('REFUNDED');
    expect(row.notes).toMatchObject({ clawbackTarget: 300, clawbackShortfall: 250 });
  });

  it('a refund for a payment that never completed is ignored; refund.failed notifies', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const u = await signUp(db);
    const o = await order(u, 'basic_plan');
    const p = rzp.pay(o.id, { status: 'failed' });
    await send('payment.failed', { payment: p });
    const r = await send('refund.created', { payment: p, refund: rzp.refund(p) });
    expect(r.body.data).toMatchObject({ status: 'ignored', reason: 'illegal transition FAILED → REFUNDED' });
    expect(await ledger(u.id)).toEqual([]);

    const v = await signUp(db);
    const paid = rzp.pay((await order(v, 'basic_plan')).id);
    await send('payment.captured', { payment: paid });
    const failedRefund = { ...rzp.refund(paid), status: 'failed' };
    expect((await send('refund.failed', { payment: paid, refund: failedRefund })).body.data.status).toBe('processed');
    await db.events.drain();
    expect((await db.sql<any>(`select title from notifications where user_id = $1 order by created_at`, [v.id])).rows.map((n: any) => n.title)).toEqual([
      'Payment successful',
      'Refund failed',
    ]);
    expect((await db.sql<any>(`select subject from dev_emails where "to" = $1 and subject like '%refund%'`, [v.email])).rows).toEqual([
      { subject: 'Your FairArena refund could not be processed' },
    ]);
  });
});

describe('refund before capture', () => {
  type Delivery = { raw: string; headers: Record<string, string>; eventId: string };
  const outcome = async (u: TestUser, orderId: string) => ({
    status: (await paymentRow(orderId)).status,
    balance: await balance(u),
    ledger: (await ledger(u.id)).map((r: any) => [r.type, r.amount, r.balance_after]),
  });

  it('refund.processed before payment.captured: REFUNDED with net 0 credits in every delivery order; the late capture and verify add nothing; replays are no-ops', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const orders: [string, string, string][] = [
      ['refund.processed', 'payment.captured', 'refund.created'],
      ['refund.processed', 'refund.created', 'payment.captured'],
      ['refund.created', 'refund.processed', 'payment.captured'],
      ['refund.created', 'payment.captured', 'refund.processed'],
      ['payment.captured', 'refund.processed', 'refund.created'], // the usual order, for comparison
    ];
    for (const sequence of orders) {
      const u = await signUp(db);
      const o = await order(u);
      const p = rzp.pay(o.id);
      // Razorpay built the captured event when it captured; its delivery is delayed by retries.
      const captured = await rzp.webhook('payment.captured', { payment: p });
      const refund = rzp.refund(p, p.amount, 'pending');
      const deliveries: Record<string, Delivery> = {
        'payment.captured': captured,
        'refund.created': await rzp.webhook('refund.created', { payment: p, refund }),
        'refund.processed': await rzp.webhook('refund.processed', { payment: p, refund: { ...refund, status: 'processed' } }),
      };
      const answers = [];
      for (const name of sequence) answers.push((await post(deliveries[name]!)).body.data);
      const expected = sequence.map((name, i) => {
        const afterRefund = sequence.slice(0, i).some((n) => n.startsWith('refund.'));
        if (name === 'payment.captured') return afterRefund ? { status: 'processed', reason: 'already completed' } : { status: 'processed' };
        return afterRefund ? { status: 'ignored', reason: 'refund already applied' } : { status: 'processed' };
      });
      expect(answers.map(({ event: _e, ...rest }) => rest)).toEqual(expected);
      const settled = { status: 'REFUNDED', balance: 0, ledger: [['PURCHASE', 300, 300], ['REFUND', -300, 0]] };
      expect([sequence, await outcome(u, o.id)]).toEqual([sequence, settled]);
      const row = await paymentRow(o.id);
      expect(row).toMatchObject({ razorpay_payment_id: p.id, refunded_amount: 299900 });

      // every delivery replayed, a redelivery of the capture with a new event id, the sibling order.paid and the browser's verify: nothing more
      for (const d of Object.values(deliveries)) expect((await post(d)).body.data.status).toBe('duplicate');
      expect((await send('payment.captured', { payment: { ...p, status: 'captured', amount_refunded: 0, refund_status: null } })).body.data).toMatchObject({ status: 'processed', reason: 'already completed' });
      expect((await send('order.paid', { payment: { ...p, status: 'captured' }, order: o })).body.data.reason).toBe('already completed');
      const v = await call(db.env, '/api/v1/payments/verify', { method: 'POST', token: u.token, json: await rzp.checkout(p) });
      expect(v.status).toBe(409);
      expect(await outcome(u, o.id)).toEqual(settled);
      expect((await db.sql<any>(`select count(*)::int as n from outbox where event_name = 'payment.completed' and payload->>'paymentId' = $1`, [row.id])).rows[0].n).toBe(1);
    }
  });

  it('a partial refund before the capture leaves the proportional credits; the capture adds none', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const u = await signUp(db);
    const o = await order(u);
    const p = rzp.pay(o.id);
    const captured = await rzp.webhook('payment.captured', { payment: p });
    const r = await send('refund.processed', { payment: p, refund: rzp.refund(p, 100000) });
    expect(r.body.data).toEqual({ status: 'processed', event: 'refund.processed' });
    expect(await outcome(u, o.id)).toEqual({ status: 'PARTIALLY_REFUNDED', balance: 200, ledger: [['PURCHASE', 300, 300], ['REFUND', -100, 200]] });
    expect((await post(captured)).body.data.reason).toBe('already completed');
    expect(await balance(u)).toBe(200);
  });

  it('without a payment entity the refunded payment is fetched; Razorpay down → 503 with nothing recorded, and the redelivery settles it', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const u = await signUp(db);
    const o = await order(u);
    const p = rzp.pay(o.id);
    const refund = rzp.refund(p);
    const delivery = await rzp.webhook('refund.processed', { refund });
    rzp.failNext('GET /v1/payments', 503, 2);
    const down = await post(delivery);
    expect(down.status).toBe(503);
    expect(await storedEvent(delivery.eventId)).toEqual([]);
    expect(await outcome(u, o.id)).toEqual({ status: 'PENDING', balance: 0, ledger: [] });

    const retry = await post(delivery);
    expect(retry.body.data).toEqual({ status: 'processed', event: 'refund.processed' });
    expect(rzp.fetch.calls.some((c) => c.method === 'GET' && c.url.endsWith(`/v1/payments/${p.id}`))).toBe(true);
    expect(await outcome(u, o.id)).toEqual({ status: 'REFUNDED', balance: 0, ledger: [['PURCHASE', 300, 300], ['REFUND', -300, 0]] });
    expect((await storedEvent(delivery.eventId))[0]).toMatchObject({ event_type: 'refund.processed', payment_id: (await paymentRow(o.id)).id });
    expect((await post(delivery)).body.data.status).toBe('duplicate');
  });

  it('ours but not captured → 503 (retried, nothing recorded); an auto-refunded authorization and payments that are not ours are ignored', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const u = await signUp(db);
    const o = await order(u);
    const authorized = rzp.pay(o.id, { status: 'authorized' });
    const early = await rzp.webhook('refund.created', { payment: authorized, refund: rzp.refund(authorized, 100) });
    const r = await post(early);
    expect(r.status).toBe(503);
    expect(r.body.error.details).toMatchObject({ reason: 'PAYMENT_NOT_CAPTURED', status: 'authorized' });
    expect(await storedEvent(early.eventId)).toEqual([]);
    expect(await outcome(u, o.id)).toEqual({ status: 'PENDING', balance: 0, ledger: [] });

    // never captured, then auto-refunded by Razorpay (captured: false): no credits were or will be granted
    const voided = rzp.pay((await order(u, 'basic_plan')).id, { status: 'authorized' });
    const voidRefund = rzp.refund(voided);
    expect(voided).toMatchObject({ status: 'refunded', captured: false });
    expect((await send('refund.processed', { payment: voided, refund: voidRefund })).body.data).toMatchObject({
      status: 'ignored',
      reason: 'refund of a payment that was never captured',
    });

    // a payment of an order that is not ours, with and without its entity (Razorpay: "id does not exist")
    const stranger = rzp.pay((await order(await signUp(db))).id);
    stranger.order_id = 'order_NotOurs0000002';
    expect((await send('refund.processed', { payment: stranger, refund: rzp.refund(stranger) })).body.data).toMatchObject({ status: 'ignored', reason: 'unknown payment' });
    const orphan = { id: 'rfnd_NotOurs000001', entity: 'refund', amount: 100, currency: 'INR', payment_id: 'pay_NotOursAtAll01', status: 'processed' };
    expect((await send('refund.processed', { refund: orphan })).body.data).toMatchObject({ status: 'ignored', reason: 'unknown payment' });
    expect(await ledger(u.id)).toEqual([]);
  });
});

describe('a second capture on a paid order', () => {
  it('is recorded once in notes.extraCaptures and never credited; refunding it takes no credits', async () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const u = await signUp(db);
    const o = await order(u);
    const first = rzp.pay(o.id);
    expect((await send('payment.captured', { payment: first })).body.data.status).toBe('processed');
    const second = rzp.pay(o.id); // the customer paid the same order again (another tab)
    const again = await send('payment.captured', { payment: second });
    expect(again.body.data).toMatchObject({ status: 'processed', reason: 'already completed' });
    // redelivered with a new event id, and verified by the browser: still recorded once
    await send('payment.captured', { payment: second });
    const v = await call(db.env, '/api/v1/payments/verify', { method: 'POST', token: u.token, json: await rzp.checkout(second) });
    expect(v.status).toBe(200);

    const row = await paymentRow(o.id);
    expect(row).toMatchObject({ status: 'COMPLETED', razorpay_payment_id: first.id });
    expect(row.notes.extraCaptures).toEqual([{ razorpayPaymentId: second.id, amount: 299900, at: expect.any(String), source: 'webhook:payment.captured' }]);
    expect(error.mock.calls.some(([line]) => String(line).includes('payment.second_capture_for_order'))).toBe(true);
    expect(await balance(u)).toBe(300);
    expect((await ledger(u.id)).map((r: any) => [r.type, r.amount])).toEqual([['PURCHASE', 300]]);

    // support refunds the extra payment: the credits of the first one stay
    const r = await send('refund.processed', { payment: second, refund: rzp.refund(second) });
    expect(r.body.data).toMatchObject({ status: 'ignored', reason: 'refund of a payment that was not credited (another payment of this order was)' });
    expect(await balance(u)).toBe(300);
    expect((await paymentRow(o.id)).status).toBe('COMPLETED');
  });
});
