import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Env } from '../src/config';
import { openServiceContext } from '../src/services/context';
import { spend as spendCredits } from '../src/services/credits';
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

type Delivery = { raw: string; headers: Record<string, string>; eventId?: string };
const post = (d: { raw: string; headers: Record<string, string> }, env: Env = db.env) =>
  call(env, '/webhooks/v1/razorpay', { method: 'POST', raw: d.raw, headers: d.headers });
const send = async (event: string, entities: { payment?: FakePayment; order?: FakeOrder; refund?: unknown; dispute?: unknown }, options: { eventId?: string } = {}) =>
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
  const { ctx, finish } = openServiceContext(db.env, { actor: { kind: 'system', job: 'test' } });
  try {
    await spendCredits(ctx, { userId, amount, description: 'used' });
  } finally {
    await finish();
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

  it('a NUL in buyer-controlled notes is stored without it and credited once (jsonb cannot hold U+0000)', async () => {
    const u = await signUp(db);
    const o = await order(u);
    const p = { ...rzp.pay(o.id), notes: { address: 'Flat 4\u0000B', 'gift\u0000': 'yes' } };
    const delivery = await rzp.webhook('payment.captured', { payment: p });
    expect(delivery.raw).toContain('\\u0000');
    const r = await post(delivery);
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual({ status: 'processed', event: 'payment.captured' });
    expect((await post(delivery)).body.data.status).toBe('duplicate');
    expect((await ledger(u.id)).map((row: any) => [row.type, row.amount])).toEqual([['PURCHASE', 300]]);
    const [stored] = await storedEvent(delivery.eventId);
    expect(stored.payload.payload.payment.entity.notes).toEqual({ address: 'Flat 4B', gift: 'yes' });
  });

  it('a NUL in a failed payment\'s description does not fail the event', async () => {
    const u = await signUp(db);
    const o = await order(u);
    const p = { ...rzp.pay(o.id, { status: 'failed' }), error_code: 'BAD_REQUEST_ERROR', error_description: 'Declined\u0000 by bank' };
    const r = await send('payment.failed', { payment: p });
    expect(r.status).toBe(200);
    expect(r.body.data.status).toBe('processed');
    expect(await paymentRow(o.id)).toMatchObject({ status: 'FAILED', failure_reason: 'Declined by bank' });
  });

  it('a failure while applying claims nothing: the redelivery of the same event id completes and credits it, once', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const u = await signUp(db);
    const o = await order(u);
    const p = rzp.pay(o.id);
    const delivery = await rzp.webhook('payment.captured', { payment: p });
    // The PURCHASE row is written after the event is claimed and the payment marked COMPLETED: refusing it fails the delivery mid-way.
    await db.sql(`create or replace function test_refuse_purchase() returns trigger language plpgsql as $$
      begin if new.user_id = '${u.id}' then raise exception 'ledger refused'; end if; return new; end $$`);
    await db.sql(`create trigger test_refuse_purchase before insert on credit_transactions for each row execute function test_refuse_purchase()`);
    try {
      expect((await post(delivery)).status).toBe(500);
    } finally {
      await db.sql('drop trigger test_refuse_purchase on credit_transactions');
    }
    expect(await storedEvent(delivery.eventId)).toEqual([]);
    expect((await paymentRow(o.id)).status).toBe('PENDING');
    expect(await balance(u)).toBe(0);

    expect((await post(delivery)).body.data).toEqual({ status: 'processed', event: 'payment.captured' });
    expect((await post(delivery)).body.data.status).toBe('duplicate');
    expect(await storedEvent(delivery.eventId)).toHaveLength(1);
    expect((await ledger(u.id)).map((r: any) => [r.type, r.amount])).toEqual([['PURCHASE', 300]]);
    expect(await balance(u)).toBe(300);
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
      post({ raw: captured.raw, headers: { ...captured.headers, 'x-razorpay-event-id': `evt_${crypto.randomUUID().slice(0, 14)}` } }), // the same signed body under a new event id
      send('order.paid', { payment: p, order: o }),
      call(db.env, '/api/v1/payments/verify', { method: 'POST', token: u.token, json: checkout }),
      post(captured),
    ]);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200, 200, 200]);
    for (const i of [0, 2, 6]) expect(results[i]!.body.data).toMatchObject({ status: 'COMPLETED', creditsAdded: 300 });
    expect(results.filter((r) => r.body.data.status === 'duplicate')).toHaveLength(3);
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
    expect(r.body.data).toMatchObject({ status: 'ignored', reason: 'refund of a payment that was never captured' });
    expect(await paymentRow(o.id)).toMatchObject({ status: 'FAILED' });
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
      const later = await rzp.webhook('payment.captured', { payment: { ...p, status: 'captured', amount_refunded: 0, refund_status: null } }, { createdAt: Math.floor(Date.now() / 1000) + 5 });
      expect((await post(later)).body.data).toMatchObject({ status: 'processed', reason: 'already completed' });
      expect((await post({ raw: captured.raw, headers: { ...captured.headers, 'x-razorpay-event-id': `evt_${crypto.randomUUID().slice(0, 14)}` } })).body.data.status).toBe('duplicate');
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

  it('failed first, then authorized late by the bank and refunded before its capture arrives: the refund takes back what the capture grants', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const u = await signUp(db);
    const o = await order(u);
    const p = rzp.pay(o.id, { status: 'failed' });
    expect((await send('payment.failed', { payment: p })).body.data.status).toBe('processed');
    expect(await paymentRow(o.id)).toMatchObject({ status: 'FAILED', razorpay_payment_id: p.id });

    // The bank confirms the same payment later; it is captured, its webhook is delayed, and support refunds it.
    Object.assign(p, { status: 'captured', captured: true, error_code: null, error_description: null, error_source: null, error_step: null, error_reason: null });
    const captured = await rzp.webhook('payment.captured', { payment: p });
    const r = await send('refund.processed', { payment: p, refund: rzp.refund(p) });
    expect(r.body.data).toEqual({ status: 'processed', event: 'refund.processed' });
    const settled = { status: 'REFUNDED', balance: 0, ledger: [['PURCHASE', 300, 300], ['REFUND', -300, 0]] };
    expect(await outcome(u, o.id)).toEqual(settled);
    expect((await post(captured)).body.data).toMatchObject({ status: 'processed', reason: 'already completed' });
    expect(await outcome(u, o.id)).toEqual(settled);
  });

  it('two refunds of one payment delivered at once, before its capture: both are applied', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    for (let i = 0; i < 4; i++) {
      const u = await signUp(db);
      const o = await order(u);
      const p = rzp.pay(o.id);
      const captured = await rzp.webhook('payment.captured', { payment: p });
      const first = await rzp.webhook('refund.processed', { payment: p, refund: rzp.refund(p, 100000) });
      const second = await rzp.webhook('refund.processed', { payment: p, refund: rzp.refund(p, 50000) });
      const answers = await Promise.all([post(first), post(second)]);
      expect(answers.map((a) => a.body.data)).toEqual([
        { status: 'processed', event: 'refund.processed' },
        { status: 'processed', event: 'refund.processed' },
      ]);
      const { ledger: rows, ...rest } = await outcome(u, o.id);
      expect(rest).toEqual({ status: 'PARTIALLY_REFUNDED', balance: 150 });
      expect(rows.map((row: unknown[]) => [row[0], row[1]]).sort()).toEqual([['PURCHASE', 300], ['REFUND', -100], ['REFUND', -50]].sort());
      expect(await paymentRow(o.id)).toMatchObject({ refunded_amount: 150000 });
      expect((await post(captured)).body.data.reason).toBe('already completed');
      expect(await balance(u)).toBe(150);
    }
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
  const extraRefunds = () => rzp.refundsCreated.map((r) => ({ payment: r.refund.payment_id, amount: r.refund.amount, key: r.idempotencyKey, speed: r.body.speed }));

  it('is never credited, is refunded in full through Razorpay (once, idempotently) and recorded; verify never says "credited"', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const u = await signUp(db);
    const o = await order(u);
    const first = rzp.pay(o.id);
    expect((await send('payment.captured', { payment: first })).body.data.status).toBe('processed');
    const second = rzp.pay(o.id); // the customer paid the same order again (another tab)
    const again = await send('payment.captured', { payment: second });
    expect(again.body.data).toMatchObject({ status: 'processed', reason: 'order already paid by another payment: this one is refunded' });
    // redelivered with a new event id, and verified by the browser: recorded once, and verify does not claim credits
    await send('payment.captured', { payment: second }, { eventId: 'evt_second_redelivery' });
    const v = await call(db.env, '/api/v1/payments/verify', { method: 'POST', token: u.token, json: await rzp.checkout(second) });
    expect(v.status).toBe(409);
    expect(v.body.error).toMatchObject({ code: 'CONFLICT', details: { reason: 'DUPLICATE_PAYMENT', refund: 'REFUND_INITIATED', creditsAdded: 0 } });
    expect((await call(db.env, '/api/v1/payments/verify', { method: 'POST', token: u.token, json: await rzp.checkout(first) })).body.data).toMatchObject({ status: 'COMPLETED', creditsAdded: 300 });
    expect(await balance(u)).toBe(300);
    expect((await ledger(u.id)).map((r: any) => [r.type, r.amount])).toEqual([['PURCHASE', 300]]);
    const paymentId = (await paymentRow(o.id)).id;
    expect(db.events.messages.filter((m) => m.name === 'payment.duplicate_captured' && (m.payload as { paymentId: string }).paymentId === paymentId)).toHaveLength(1);

    // the refund is a side effect of the outbox event: nothing went to Razorpay inside the request
    expect(rzp.refundsCreated).toHaveLength(0);
    await db.events.drain();
    expect(extraRefunds()).toEqual([{ payment: second.id, amount: 299900, key: `dup-refund-${second.id}`, speed: 'normal' }]);
    expect(rzp.refundsCreated[0]!.body.notes).toMatchObject({ reason: 'duplicate_payment', order_id: o.id, credited_payment_id: first.id });
    const row = await paymentRow(o.id);
    expect(row).toMatchObject({ status: 'COMPLETED', razorpay_payment_id: first.id });
    expect(row.notes.extraCaptures).toEqual([
      {
        razorpayPaymentId: second.id,
        amount: 299900,
        at: expect.any(String),
        source: 'webhook:payment.captured',
        refundId: rzp.refundsCreated[0]!.refund.id,
        refundStatus: 'initiated',
        refundedAt: expect.any(String),
      },
    ]);
    const activity = (await db.sql<any>(`select action, metadata from activity_logs where user_id = $1 and action = 'payment.duplicate_refunded'`, [u.id])).rows;
    expect(activity).toEqual([{ action: 'payment.duplicate_refunded', metadata: expect.objectContaining({ razorpayPaymentId: second.id, status: 'initiated' }) }]);
    const notes = (await db.sql<any>(`select title from notifications where user_id = $1`, [u.id])).rows.map((n) => n.title);
    expect(notes).toContain('Duplicate payment refunded');
    const mail = (await db.sql<any>(`select subject from dev_emails where "to" = $1`, [u.email])).rows.map((m) => m.subject);
    expect(mail).toContain('You paid twice: we are refunding the extra payment');

    // Razorpay's own refund webhooks for it take no credits; a second drain refunds nothing more
    const r = await send('refund.processed', { payment: second, refund: { ...rzp.refundsCreated[0]!.refund, status: 'processed' } });
    expect(r.body.data).toMatchObject({ status: 'ignored', reason: 'refund of a payment that was not credited (another payment of this order was)' });
    await db.events.drain();
    expect(rzp.refundsCreated).toHaveLength(1);
    expect(await balance(u)).toBe(300);
    expect((await paymentRow(o.id)).status).toBe('COMPLETED');
  });

  it('a lost answer from Razorpay is retried with the same idempotency key: one refund', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const u = await signUp(db);
    const o = await order(u);
    await send('payment.captured', { payment: rzp.pay(o.id) });
    const second = rzp.pay(o.id);
    await send('payment.captured', { payment: second });
    rzp.loseNextAnswers('POST /v1/payments/refund');
    await db.events.drain();
    expect(rzp.refundsCreated).toHaveLength(1);
    expect(second).toMatchObject({ amount_refunded: 299900, refund_status: 'full' });
    expect((await paymentRow(o.id)).notes.extraCaptures[0]).toMatchObject({ refundStatus: 'initiated', refundId: rzp.refundsCreated[0]!.refund.id });
  });

  it('already refunded at Razorpay (support was quicker): recorded as such, no second refund', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const u = await signUp(db);
    const o = await order(u);
    await send('payment.captured', { payment: rzp.pay(o.id) });
    const second = rzp.pay(o.id);
    await send('payment.captured', { payment: second });
    rzp.refund(second); // refunded from the dashboard before the handler ran
    await db.events.drain();
    expect(rzp.refundsCreated).toHaveLength(0);
    expect((await paymentRow(o.id)).notes.extraCaptures[0]).toMatchObject({ refundStatus: 'already_refunded' });
    expect(await balance(u)).toBe(300);
  });

  it('a mail outage never loses the refund record: the mail is its own event, sent once when Resend is back', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const SUBJECT = 'You paid twice: we are refunding the extra payment';
    let resendUp = false;
    const mailed: string[] = [];
    rzp.fetch.on('POST https://api.resend.com/emails', async (req) => {
      if (!resendUp) return Response.json({ statusCode: 500, name: 'application_error', message: 'resend down' }, { status: 500 });
      mailed.push(((await req.json()) as { subject: string }).subject);
      return Response.json({ id: crypto.randomUUID() });
    });
    const withResend = { ...db.env, RESEND_API_KEY: 're_test_123' } as Env;
    const u = await signUp(db);
    const o = await order(u);
    await send('payment.captured', { payment: rzp.pay(o.id) });
    const second = rzp.pay(o.id);
    await send('payment.captured', { payment: second });
    await db.events.drain(withResend);

    // refunded at Razorpay and recorded, although the mail could not go out
    expect(rzp.refundsCreated).toHaveLength(1);
    const paymentId = (await paymentRow(o.id)).id;
    expect((await paymentRow(o.id)).notes.extraCaptures[0]).toMatchObject({ refundStatus: 'initiated', refundId: rzp.refundsCreated[0]!.refund.id });
    const outbox = (await db.sql<any>(`select id, payload from outbox where event_name = 'payment.duplicate_refunded'`)).rows.filter((r) => r.payload.paymentId === paymentId);
    expect(outbox).toEqual([{ id: expect.any(String), payload: { paymentId, userId: u.id, razorpayPaymentId: second.id } }]);
    expect(mailed).toEqual([]);

    // the queue retries the mail event alone: one mail, and a redelivery sends nothing more
    const event = db.events.messages.find((m) => m.id === outbox[0].id)!;
    resendUp = true;
    expect(await db.events.deliver([event], withResend)).toEqual({ acked: 1, retried: [] });
    expect(await db.events.deliver([event, event], withResend)).toEqual({ acked: 2, retried: [] });
    expect(mailed.filter((m) => m === SUBJECT)).toEqual([SUBJECT]);
    expect(rzp.refundsCreated).toHaveLength(1);
    expect((await db.sql<any>(`select 1 from notifications where user_id = $1 and title = 'Duplicate payment refunded'`, [u.id])).rows).toHaveLength(1);
  });

  it('verify of a second payment still only authorized: 409 DUPLICATE_PAYMENT and it is never captured', async () => {
    const u = await signUp(db);
    const o = await order(u);
    const first = rzp.pay(o.id);
    expect((await call(db.env, '/api/v1/payments/verify', { method: 'POST', token: u.token, json: await rzp.checkout(first) })).status).toBe(200);
    const second = rzp.pay(o.id, { status: 'authorized' });
    const v = await call(db.env, '/api/v1/payments/verify', { method: 'POST', token: u.token, json: await rzp.checkout(second) });
    expect(v.status).toBe(409);
    expect(v.body.error.details).toMatchObject({ reason: 'DUPLICATE_PAYMENT', refund: 'NOT_CAPTURED', creditsAdded: 0 });
    expect(second.status).toBe('authorized');
    expect(rzp.fetch.calls.filter((c) => c.url.endsWith('/capture'))).toHaveLength(0);
    expect(await balance(u)).toBe(300);
  });
});

describe('replays under a new x-razorpay-event-id (the same signed body)', () => {
  const withNewId = (d: Delivery, id = `evt_${crypto.randomUUID().replaceAll('-', '').slice(0, 14)}`) => ({ raw: d.raw, headers: { ...d.headers, 'x-razorpay-event-id': id } });

  it('have no second effect: no second notification for refund.failed, one stored event', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const u = await signUp(db);
    const o = await order(u);
    const p = rzp.pay(o.id);
    await send('payment.captured', { payment: p });
    const failed = await rzp.webhook('refund.failed', { refund: rzp.refund(p, 1000, 'failed') });
    expect((await post(failed)).body.data.status).toBe('processed');
    for (let i = 0; i < 3; i++) expect((await post(withNewId(failed))).body.data).toEqual({ status: 'duplicate', event: 'refund.failed' });
    const paymentId = (await paymentRow(o.id)).id;
    expect(db.events.messages.filter((m) => m.name === 'refund.failed' && (m.payload as { paymentId: string }).paymentId === paymentId)).toHaveLength(1);
    const stored = (await db.sql<any>(`select body_sha256 from payment_webhook_events where event_type = 'refund.failed' and payment_id = (select id from payments where razorpay_order_id = $1)`, [o.id])).rows;
    expect(stored).toHaveLength(1);
    expect(stored[0].body_sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('concurrent deliveries of one body under different event ids: one processed, the rest duplicate', async () => {
    const u = await signUp(db);
    const o = await order(u);
    const p = rzp.pay(o.id);
    await send('payment.captured', { payment: p });
    const d = await rzp.webhook('refund.processed', { payment: p, refund: rzp.refund(p, 100_000) });
    const answers = await Promise.all(Array.from({ length: 4 }, () => post(withNewId(d))));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    expect(answers.map((a) => a.body.data.status).sort()).toEqual(['duplicate', 'duplicate', 'duplicate', 'processed']);
    expect((await ledger(u.id)).map((r: any) => [r.type, r.amount])).toEqual([['PURCHASE', 300], ['REFUND', -100]]);
  });
});

describe('disputes (payment.dispute.*)', () => {
  const disputeRow = async (disputeId: string) => (await db.sql<any>(`select * from payment_disputes where razorpay_dispute_id = $1`, [disputeId])).rows[0];

  async function paid(u: TestUser) {
    const o = await order(u);
    const p = rzp.pay(o.id);
    expect((await send('payment.captured', { payment: p })).body.data.status).toBe('processed');
    return { o, p };
  }

  it('created → tracked (no credits taken); lost → the credits go back through the ledger once and the buyer is told', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const u = await signUp(db);
    const { o, p } = await paid(u);
    const open = rzp.dispute(p);
    expect((await send('payment.dispute.created', { payment: p, dispute: open })).body.data.status).toBe('processed');
    expect(await disputeRow(open.id)).toMatchObject({ status: 'open', amount: 299900, amount_deducted: 0, phase: 'chargeback', reason_code: 'chargeback', resolved_at: null });
    expect(await balance(u)).toBe(300);

    const lost = { ...rzp.dispute(p, { status: 'lost', id: open.id }) };
    expect((await send('payment.dispute.lost', { payment: p, dispute: lost })).body.data.status).toBe('processed');
    expect(await balance(u)).toBe(0);
    const rows = await ledger(u.id);
    expect(rows.map((r: any) => [r.type, r.amount, r.balance_after])).toEqual([['PURCHASE', 300, 300], ['REFUND', -300, 0]]);
    expect(rows[1].metadata).toMatchObject({ disputeId: open.id, reason: 'DISPUTE_LOST', requested: 300, removed: 300, shortfall: 0 });
    const row = await disputeRow(open.id);
    expect(row).toMatchObject({ status: 'lost', amount_deducted: 299900, credits_removed: 300, credits_shortfall: 0 });
    expect(row.resolved_at).not.toBeNull();

    // a redelivery (another body, another event id) and a late "created" change nothing
    const again = await rzp.webhook('payment.dispute.lost', { payment: p, dispute: lost }, { createdAt: Math.floor(Date.now() / 1000) + 7 });
    expect((await post(again)).body.data).toMatchObject({ status: 'ignored', reason: 'dispute already lost' });
    const late = await rzp.webhook('payment.dispute.created', { payment: p, dispute: open }, { createdAt: Math.floor(Date.now() / 1000) + 9 });
    expect((await post(late)).body.data).toMatchObject({ status: 'ignored', reason: 'dispute already lost' });
    expect((await ledger(u.id))).toHaveLength(2);
    expect((await disputeRow(open.id)).status).toBe('lost');

    await db.events.drain();
    const notes = (await db.sql<any>(`select title, message from notifications where user_id = $1 and title = 'Payment reversed by your bank'`, [u.id])).rows;
    expect(notes).toHaveLength(1);
    expect(notes[0].message).toContain('300 credits were removed');
    const mail = (await db.sql<any>(`select subject, text from dev_emails where "to" = $1 and subject = 'A chargeback on your FairArena payment'`, [u.email])).rows;
    expect(mail).toHaveLength(1);
    expect((await paymentRow(o.id)).notes).toMatchObject({ chargedBack: 299900, clawbackTarget: 300, clawbackShortfall: 0 });
    const activity = (await db.sql<any>(`select action from activity_logs where user_id = $1 and action like 'payment.dispute%' order by created_at`, [u.id])).rows;
    expect(activity.map((a) => a.action)).toEqual(['payment.dispute_opened', 'payment.dispute_lost']);
  });

  it('lost after the credits were spent: removes what is left and records the shortfall', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const u = await signUp(db);
    const { o, p } = await paid(u);
    await spend(u.id, 250);
    // lost arrives without a "created" before it
    const lost = rzp.dispute(p, { status: 'lost' });
    expect((await send('payment.dispute.lost', { payment: p, dispute: lost })).body.data.status).toBe('processed');
    expect(await balance(u)).toBe(0);
    const rows = await ledger(u.id);
    expect(rows.at(-1)).toMatchObject({ type: 'REFUND', amount: -50, balance_after: 0, metadata: expect.objectContaining({ requested: 300, removed: 50, shortfall: 250 }) });
    expect(await disputeRow(lost.id)).toMatchObject({ status: 'lost', credits_removed: 50, credits_shortfall: 250 });
    expect((await paymentRow(o.id)).notes.clawbackShortfall).toBe(250);
    await db.events.drain();
    const mail = (await db.sql<any>(`select text from dev_emails where "to" = $1 and subject = 'A chargeback on your FairArena payment'`, [u.email])).rows;
    expect(mail[0].text).toContain('250 of those credits had already been used');
  });

  it('won → resolved, no credits taken; a partial refund and a lost dispute on the rest add up to the purchase exactly', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const u = await signUp(db);
    const { p } = await paid(u);
    const d = rzp.dispute(p);
    await send('payment.dispute.created', { payment: p, dispute: d });
    expect((await send('payment.dispute.won', { payment: p, dispute: { ...d, status: 'won' } })).body.data.status).toBe('processed');
    expect(await disputeRow(d.id)).toMatchObject({ status: 'won', credits_removed: 0 });
    expect(await balance(u)).toBe(300);

    const v = await signUp(db);
    const { p: q } = await paid(v);
    expect((await send('refund.processed', { payment: q, refund: rzp.refund(q, 149_950) })).body.data.status).toBe('processed');
    expect(await balance(v)).toBe(150);
    const rest = rzp.dispute(q, { status: 'lost', amount: 149_950 });
    expect((await send('payment.dispute.lost', { payment: q, dispute: rest })).body.data.status).toBe('processed');
    expect(await balance(v)).toBe(0);
    expect((await ledger(v.id)).map((r: any) => r.amount)).toEqual([300, -150, -150]);
  });

  it('a dispute on a payment we do not know is stored and ignored', async () => {
    const d = { id: 'disp_NotOurs000001', entity: 'dispute', payment_id: 'pay_NotOursAtAll02', amount: 10000, currency: 'INR', amount_deducted: 10000, reason_code: 'chargeback', respond_by: 1590604200, status: 'lost', phase: 'chargeback', created_at: 1590059211 };
    expect((await send('payment.dispute.lost', { dispute: d })).body.data).toMatchObject({ status: 'ignored', reason: 'unknown payment' });
    expect(await disputeRow(d.id)).toBeUndefined();
  });

  it('the ledger refuses a second chargeback row for one dispute (database guard)', async () => {
    const u = await signUp(db);
    const { o } = await paid(u);
    const paymentId = (await paymentRow(o.id)).id;
    const insert = () =>
      db.sql(
        `insert into credit_transactions (user_id, amount, balance_after, type, payment_id, description, metadata) values ($1, -1, 299, 'REFUND', $2, 'x', '{"disputeId":"disp_Guard0000001"}')`,
        [u.id, paymentId],
      );
    await insert();
    await expect(insert()).rejects.toThrow(/credit_transactions_one_chargeback_per_dispute_uq/);
  });
});
