import { eq, or, sql } from 'drizzle-orm';
import type { Transaction } from '../../db/client';
import { z } from 'zod';
import { payments, paymentWebhookEvents } from '../../db/schema';
import { emit } from '../../events/outbox';
import { fetchRazorpayPayment, RazorpayDispute, RazorpayError, RazorpayOrder, RazorpayPayment, RazorpayRefund, wasCaptured } from '../../integrations/razorpay';
import { sha256Hex } from '../../lib/crypto';
import { AppError } from '../../lib/errors';
import { describeError, log } from '../../lib/log';
import { withoutNul } from '../../lib/text';
import { withTransaction, type ServiceContext } from '../context';
import { completePayment } from './complete';
import { applyDispute, isDisputeEvent } from './disputes';
import { applyRefund } from './refunds';
import { allowTransition, PAID_STATUSES } from './state';

/** The Razorpay webhook envelope; entities are parsed per event type. */
export const RazorpayWebhookBody = z.looseObject({
  entity: z.string().optional(),
  account_id: z.string().optional(),
  event: z.string().min(1).max(100),
  contains: z.array(z.string()).optional(),
  payload: z.record(z.string(), z.unknown()).default({}),
  created_at: z.number().optional(),
});
export type RazorpayWebhookBody = z.infer<typeof RazorpayWebhookBody>;

export interface WebhookInput {
  /** x-razorpay-event-id: unique per event (not the event type). */
  deliveryId: string;
  signature: string;
  /** The raw body the signature was verified over: its hash identifies the event whatever header it came with. */
  raw: Uint8Array;
  body: RazorpayWebhookBody;
}

export type WebhookStatus = 'processed' | 'ignored' | 'duplicate';

export interface WebhookResult {
  status: WebhookStatus;
  event: string;
  /** Why an event was ignored (unknown type, unknown order, illegal transition…). */
  reason?: string;
}

interface Handled {
  status: 'processed' | 'ignored';
  paymentId: string | null;
  reason?: string;
}

const entity = <T>(schema: z.ZodType<T>, payload: Record<string, unknown>, name: string): T | null => {
  const parsed = schema.safeParse((payload[name] as { entity?: unknown } | undefined)?.entity);
  return parsed.success ? parsed.data : null;
};

const ignored = (reason: string, paymentId: string | null = null): Handled => ({ status: 'ignored', paymentId, reason });

/**
 * Process one verified Razorpay webhook. The event is recorded in payment_webhook_events in the SAME
 * transaction as its effect, under two unique keys: Razorpay's event id and the SHA-256 of the signed
 * raw body. A replay — the same event id, or the same signed body sent again under a new event id — (or
 * a concurrent duplicate, which waits on the unique indexes) finds it and has no second effect; a
 * failure rolls both back so Razorpay's retry is processed. Unknown events are stored and acknowledged.
 */
export async function processRazorpayWebhook(ctx: ServiceContext, input: WebhookInput): Promise<WebhookResult> {
  // Buyer-controlled strings (checkout notes, a bank's message) may hold U+0000, which neither the jsonb copy
  // nor the payment's columns can store; the event is kept and applied without it (the hash is of the raw bytes).
  const body = withoutNul(input.body);
  const bodySha256 = await sha256Hex(input.raw);
  // A replay is answered from one plain read, without a transaction; the unique keys below decide.
  const [seen] = await ctx.db.write
    .select({ id: paymentWebhookEvents.id })
    .from(paymentWebhookEvents)
    .where(or(eq(paymentWebhookEvents.razorpayEventId, input.deliveryId), eq(paymentWebhookEvents.bodySha256, bodySha256)))
    .limit(1);
  if (seen) {
    log('info', 'webhook.razorpay.duplicate', { eventId: input.deliveryId, event: body.event });
    return { status: 'duplicate', event: body.event };
  }
  return withTransaction(ctx, async (tx, ctx) => {
    const [row] = await tx
      .insert(paymentWebhookEvents)
      .values({ razorpayEventId: input.deliveryId, eventType: body.event, payload: body as Record<string, unknown>, signature: input.signature, bodySha256 })
      .onConflictDoNothing() // either key: the event id or the body hash
      .returning({ id: paymentWebhookEvents.id });
    if (!row) {
      log('info', 'webhook.razorpay.duplicate', { eventId: input.deliveryId, event: body.event });
      return { status: 'duplicate' as const, event: body.event };
    }
    const handled = await dispatch(ctx, tx, body);
    await tx
      .update(paymentWebhookEvents)
      .set({ paymentId: handled.paymentId, processedAt: sql`now()`, errorMessage: handled.reason ?? null })
      .where(eq(paymentWebhookEvents.id, row.id));
    log('info', 'webhook.razorpay.handled', { eventId: input.deliveryId, event: body.event, status: handled.status, reason: handled.reason, paymentId: handled.paymentId });
    return { status: handled.status, event: body.event, ...(handled.reason ? { reason: handled.reason } : {}) };
  });
}

async function dispatch(ctx: ServiceContext, tx: Transaction, body: RazorpayWebhookBody): Promise<Handled> {
  const source = `webhook:${body.event}`;
  switch (body.event) {
    case 'payment.captured':
    case 'order.paid': {
      const payment = entity(RazorpayPayment, body.payload, 'payment');
      const order = entity(RazorpayOrder, body.payload, 'order');
      if (!payment) return ignored('no payment entity');
      const orderId = payment.order_id ?? order?.id;
      if (!orderId) return ignored('payment without order');
      if (payment.status !== 'captured') return ignored(`payment status is ${payment.status}`);
      return capture(ctx, tx, orderId, payment, source);
    }
    case 'payment.failed': {
      const payment = entity(RazorpayPayment, body.payload, 'payment');
      if (!payment?.order_id) return ignored('no payment entity with an order');
      return fail(ctx, tx, payment);
    }
    case 'refund.created':
    case 'refund.processed': {
      const refund = entity(RazorpayRefund, body.payload, 'refund');
      if (!refund) return ignored('no refund entity');
      const early = await completeBeforeRefund(ctx, tx, refund, entity(RazorpayPayment, body.payload, 'payment'));
      if (early) return early;
      const r = await applyRefund(ctx, { refund, source });
      return r.applied ? { status: 'processed', paymentId: r.paymentId } : ignored(r.reason, r.paymentId);
    }
    case 'refund.failed': {
      const refund = entity(RazorpayRefund, body.payload, 'refund');
      if (!refund) return ignored('no refund entity');
      const [payment] = await tx
        .select({ id: payments.id, userId: payments.userId })
        .from(payments)
        .where(eq(payments.razorpayPaymentId, refund.payment_id));
      if (!payment) return ignored('unknown payment');
      log('warn', 'payment.refund_failed', { paymentId: payment.id, refundId: refund.id });
      await emit(tx, ctx.events, 'refund.failed', { paymentId: payment.id, userId: payment.userId, refundId: refund.id });
      return { status: 'processed', paymentId: payment.id };
    }
    default: {
      if (!isDisputeEvent(body.event)) return ignored(`unhandled event type ${body.event}`);
      const dispute = entity(RazorpayDispute, body.payload, 'dispute');
      if (!dispute) return ignored('no dispute entity');
      const r = await applyDispute(ctx, { dispute, event: body.event });
      return r.applied ? { status: 'processed', paymentId: r.paymentId } : ignored(r.reason, r.paymentId);
    }
  }
}

async function capture(ctx: ServiceContext, tx: Transaction, orderId: string, rp: RazorpayPayment, source: string): Promise<Handled> {
  const [payment] = await tx
    .select({ id: payments.id, amount: payments.amount, currency: payments.currency })
    .from(payments)
    .where(eq(payments.razorpayOrderId, orderId));
  if (!payment) return ignored('unknown order');
  if (rp.amount !== payment.amount || rp.currency !== payment.currency) {
    log('error', 'payment.amount_mismatch', { paymentId: payment.id, expected: payment.amount, got: rp.amount, currency: rp.currency, source });
    return ignored('amount mismatch', payment.id);
  }
  const r = await completePayment(ctx, { paymentId: payment.id, razorpayPaymentId: rp.id, amount: rp.amount, method: rp.method, source });
  if (r.outcome === 'ignored') return ignored(`illegal transition ${r.payment.status} → COMPLETED`, payment.id);
  if (r.outcome === 'extra_capture') return { status: 'processed', paymentId: payment.id, reason: 'order already paid by another payment: this one is refunded' };
  return { status: 'processed', paymentId: payment.id, ...(r.outcome === 'already_completed' ? { reason: 'already completed' } : {}) };
}

/**
 * A refund can arrive before the capture it refunds is known to us (the captured webhook is still in
 * Razorpay's retry backoff and verify never ran): no payment row carries its pay_… id yet, or the row that does
 * is not paid (payment.failed came first and the bank authorized the payment late). Acknowledging
 * it as "unknown" would lose it for good — the later capture would then grant the full credits. So:
 *  - find the payment entity (the webhook carries it; otherwise GET /v1/payments/:id) and, through its
 *    order id, our payment row (locked);
 *  - not one of our orders → null, and applyRefund reports it "unknown payment" as before;
 *  - our order, already paid with another pay_… id → the refund is for an extra payment that was never
 *    credited (see complete.ts, notes.extraCaptures): ignored, no credits taken; paid with this one (a
 *    concurrent refund of it completed it meanwhile) → applyRefund;
 *  - our order, not paid yet, and the entity shows the money was captured → complete it here (the same
 *    completePayment path, credits granted once) so that applyRefund then takes them back, all in this
 *    webhook's transaction. The later captured webhook / verify find it paid and add nothing;
 *  - our order but not captured (or Razorpay cannot be asked) → throw: the whole transaction, including
 *    the event-id row, rolls back and the route answers 5xx, so Razorpay redelivers the refund later.
 * Returns a result to answer with, or null to go on with applyRefund.
 */
async function completeBeforeRefund(ctx: ServiceContext, tx: Transaction, refund: RazorpayRefund, sent: RazorpayPayment | null): Promise<Handled | null> {
  // Known and paid: the credits were granted, applyRefund takes them back. A row that carries the id but is not
  // paid (FAILED by an earlier payment.failed, then captured late by the bank) goes the completing way below.
  const [known] = await tx.select({ status: payments.status }).from(payments).where(eq(payments.razorpayPaymentId, refund.payment_id)).limit(1);
  if (known && PAID_STATUSES.includes(known.status)) return null;

  let rp = sent?.id === refund.payment_id ? sent : null;
  if (!rp) {
    try {
      rp = await fetchRazorpayPayment(ctx.config, refund.payment_id);
    } catch (err) {
      // 400 "The id provided does not exist": not a payment of this account.
      if (err instanceof RazorpayError && (err.status === 400 || err.status === 404)) return null;
      log('warn', 'payment.refund_payment_lookup_failed', { refundId: refund.id, razorpayPaymentId: refund.payment_id, error: describeError(err) });
      throw new AppError('SERVICE_UNAVAILABLE', 'The payment provider could not be asked about this refund; retry later', {
        details: { reason: 'PROVIDER_UNAVAILABLE' },
        cause: err,
      });
    }
  }
  if (!rp.order_id) return null;
  const [payment] = await tx.select().from(payments).where(eq(payments.razorpayOrderId, rp.order_id)).for('update');
  if (!payment) return null;

  if (PAID_STATUSES.includes(payment.status)) {
    // Paid with this very payment since the lookup above (a concurrent refund of it completed it): apply.
    if (payment.razorpayPaymentId === rp.id) return null;
    log('warn', 'payment.refund_of_uncredited_payment', { paymentId: payment.id, refundId: refund.id, razorpayPaymentId: rp.id, creditedRazorpayPaymentId: payment.razorpayPaymentId });
    return ignored('refund of a payment that was not credited (another payment of this order was)', payment.id);
  }
  if (rp.amount !== payment.amount || rp.currency !== payment.currency) {
    // The captured webhook refuses it for the same reason: it never grants credits, so there are none to take back.
    log('error', 'payment.amount_mismatch', { paymentId: payment.id, expected: payment.amount, got: rp.amount, currency: rp.currency, source: 'refund-webhook' });
    return ignored('amount mismatch', payment.id);
  }
  if (!wasCaptured(rp)) {
    // An authorization that was never captured and was auto-refunded: no credits were, or ever will be, granted.
    if (rp.status === 'refunded') return ignored('refund of a payment that was never captured', payment.id);
    log('warn', 'payment.refund_before_capture_retry', { paymentId: payment.id, refundId: refund.id, razorpayPaymentId: rp.id, status: rp.status });
    throw new AppError('SERVICE_UNAVAILABLE', 'Refund for a payment that is not captured yet; retry later', {
      details: { reason: 'PAYMENT_NOT_CAPTURED', status: rp.status },
    });
  }
  const r = await completePayment(ctx, { paymentId: payment.id, razorpayPaymentId: rp.id, amount: rp.amount, method: rp.method, source: 'refund-webhook' });
  if (r.outcome !== 'completed') {
    throw new AppError('SERVICE_UNAVAILABLE', `The payment (${r.payment.status}) could not be completed before its refund; retry later`, {
      details: { reason: 'PAYMENT_NOT_COMPLETABLE', status: r.payment.status },
    });
  }
  log('warn', 'payment.completed_by_refund', { paymentId: payment.id, refundId: refund.id, razorpayPaymentId: rp.id });
  return null;
}

/** PENDING → FAILED with the provider's reason. Never downgrades a completed payment (a late failure of an earlier attempt is stale). */
async function fail(ctx: ServiceContext, tx: Transaction, rp: RazorpayPayment): Promise<Handled> {
  const [payment] = await tx.select().from(payments).where(eq(payments.razorpayOrderId, rp.order_id!)).for('update');
  if (!payment) return ignored('unknown order');
  if (!allowTransition(payment, 'FAILED', 'webhook:payment.failed')) return ignored(`illegal transition ${payment.status} → FAILED`, payment.id);
  const reason = (rp.error_description || rp.error_code || 'Payment failed').slice(0, 500);
  await tx
    .update(payments)
    .set({ status: 'FAILED', failureReason: reason, razorpayPaymentId: rp.id, paymentMethod: rp.method ?? payment.paymentMethod })
    .where(eq(payments.id, payment.id));
  await emit(tx, ctx.events, 'payment.failed', { paymentId: payment.id, userId: payment.userId });
  return { status: 'processed', paymentId: payment.id };
}
