import { and, eq } from 'drizzle-orm';
import { creditBalances, payments } from '../../db/schema';
import { captureRazorpayPayment, fetchRazorpayPayment, RazorpayError, type RazorpayPayment } from '../../integrations/razorpay';
import { verifyHmacSha256Hex } from '../../lib/crypto';
import { AppError } from '../../lib/errors';
import { log } from '../../lib/log';
import { enforceLimit, LIMITS } from '../../lib/rate-limit';
import { requireCaller, type ServiceContext } from '../context';
import { completePayment } from './complete';
import { requirePayments } from './orders';
import { providerUnavailable } from './provider-errors';
import { PAID_STATUSES } from './state';

export interface VerifyInput {
  razorpayOrderId: string;
  razorpayPaymentId: string;
  razorpaySignature: string;
}

export interface VerifyResult {
  status: 'COMPLETED';
  /** Credits this payment granted (exactly once, by whichever of verify and the webhook came first). */
  creditsAdded: number;
  balance: number;
}

const failed = (message: string, reason: string, details: Record<string, unknown> = {}) =>
  new AppError('PAYMENT_FAILED', message, { details: { reason, ...details } });

/**
 * Checkout callback. The order must be the caller's (404 otherwise: no one completes another's order); the checkout
 * signature HMAC-SHA256(`order_id|payment_id`, key secret) must match (constant-time; 402 otherwise);
 * Razorpay must confirm the payment belongs to that order, has our amount and currency, and is captured
 * (an authorized payment is captured here). Then the payment is completed and credited exactly once.
 * It answers "COMPLETED" only for the payment whose credits were granted: a second payment on an order
 * already paid is 409 DUPLICATE_PAYMENT (never captured here; refunded automatically if it was).
 */
export async function verifyPayment(ctx: ServiceContext, input: VerifyInput): Promise<VerifyResult> {
  const userId = requireCaller(ctx);
  // Money may already have been taken: verification keeps working while new orders are switched off.
  const creds = requirePayments(ctx, { allowWhenDisabled: true });
  await enforceLimit(ctx.config, 'payments', LIMITS.payments, userId);

  const [payment] = await ctx.db.write
    .select()
    .from(payments)
    .where(and(eq(payments.razorpayOrderId, input.razorpayOrderId), eq(payments.userId, userId)))
    .limit(1);
  if (!payment) throw new AppError('NOT_FOUND', 'Order not found');

  const signed = await verifyHmacSha256Hex(creds.keySecret, `${input.razorpayOrderId}|${input.razorpayPaymentId}`, input.razorpaySignature);
  if (!signed) {
    log('warn', 'payment.verify_bad_signature', { paymentId: payment.id, userId });
    throw failed('Payment verification failed', 'INVALID_SIGNATURE');
  }

  if (PAID_STATUSES.includes(payment.status) && payment.razorpayPaymentId === input.razorpayPaymentId) {
    if (payment.status !== 'COMPLETED') {
      throw new AppError('CONFLICT', `This payment has been ${payment.status.toLowerCase().replace('_', ' ')}`, { details: { status: payment.status } });
    }
    return { status: 'COMPLETED', creditsAdded: payment.credits, balance: await currentBalance(ctx, userId) };
  }

  let rp: RazorpayPayment;
  try {
    rp = await fetchRazorpayPayment(ctx.config, input.razorpayPaymentId);
  } catch (err) {
    if (err instanceof RazorpayError && err.status >= 400 && err.status < 500) throw failed('Payment not found at the payment provider', 'PAYMENT_NOT_FOUND');
    throw providerUnavailable(err, 'verify:fetch-payment');
  }
  if (rp.order_id !== input.razorpayOrderId) throw failed('The payment does not belong to this order', 'ORDER_MISMATCH');
  if (rp.amount !== payment.amount || rp.currency !== payment.currency) {
    log('error', 'payment.amount_mismatch', { paymentId: payment.id, expected: payment.amount, got: rp.amount, currency: rp.currency, source: 'verify' });
    throw failed('The paid amount does not match the order', 'AMOUNT_MISMATCH', { expected: payment.amount, paid: rp.amount });
  }
  const paidByAnother = PAID_STATUSES.includes(payment.status) && payment.razorpayPaymentId !== rp.id;
  if (paidByAnother && rp.status === 'authorized') {
    // Never capture money for an order that is already paid: an uncaptured authorization is released by the bank.
    throw duplicatePayment('This order was already paid by another payment; this one was not captured and its authorization will be released', 'NOT_CAPTURED');
  }
  if (rp.status === 'authorized') {
    try {
      rp = await captureRazorpayPayment(ctx.config, rp.id, { amount: payment.amount, currency: payment.currency });
    } catch (err) {
      // Already captured by auto-capture in the meantime: re-read; anything else is a provider problem.
      if (!(err instanceof RazorpayError) || err.status >= 500 || err.status === 0) throw providerUnavailable(err, 'verify:capture');
      rp = await fetchRazorpayPayment(ctx.config, rp.id).catch((e: unknown) => {
        throw providerUnavailable(e, 'verify:refetch');
      });
    }
  }
  if (rp.status !== 'captured') {
    throw failed(`The payment is ${rp.status}, not captured`, 'NOT_CAPTURED', { status: rp.status, ...(rp.error_description ? { providerMessage: rp.error_description } : {}) });
  }

  const result = await completePayment(ctx, { paymentId: payment.id, razorpayPaymentId: rp.id, amount: rp.amount, method: rp.method, source: 'verify' });
  if (result.outcome === 'ignored') {
    throw new AppError('CONFLICT', `This payment is ${result.payment.status} and cannot be completed`, { details: { status: result.payment.status } });
  }
  if (result.outcome === 'extra_capture') {
    throw duplicatePayment('This order was already paid by another payment; this payment was not credited and is being refunded in full', 'REFUND_INITIATED');
  }
  return { status: 'COMPLETED', creditsAdded: payment.credits, balance: result.balance ?? (await currentBalance(ctx, userId)) };
}

/** 409: the payment verified is not the one that paid (and credited) the order. */
const duplicatePayment = (message: string, refund: 'NOT_CAPTURED' | 'REFUND_INITIATED') =>
  new AppError('CONFLICT', message, { details: { reason: 'DUPLICATE_PAYMENT', refund, creditsAdded: 0 } });

async function currentBalance(ctx: ServiceContext, userId: string): Promise<number> {
  const [row] = await ctx.db.write.select({ balance: creditBalances.balance }).from(creditBalances).where(eq(creditBalances.userId, userId));
  return row?.balance ?? 0;
}
