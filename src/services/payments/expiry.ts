import { and, asc, eq, lt } from 'drizzle-orm';
import { payments } from '../../db/schema';
import { qstashPaths, QstashPublishError, publishToQstash } from '../../integrations/qstash';
import { fetchRazorpayOrder, fetchRazorpayOrderPayments, razorpayCredentials, type RazorpayPayment } from '../../integrations/razorpay';
import { describeError, log } from '../../lib/log';
import { withTransaction, type ServiceContext } from '../context';
import { claimWebhookDelivery } from '../webhooks';
import { completePayment } from './complete';
import { allowTransition } from './state';

/** A PENDING order older than this is cancelled (QStash message at +24 h; the daily job as a backstop). */
export const ORDER_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * completed: Razorpay had captured a payment for the order, so it was completed (credited once) instead;
 * paid_at_provider: the order is paid at Razorpay but no captured payment of our amount could be found
 * (or asked for) — left PENDING for the webhook / verify / the next daily run.
 */
export type ExpiryOutcome = 'cancelled' | 'completed' | 'not_found' | 'not_pending' | 'not_due' | 'paid_at_provider';

/** The id QStash deduplicates the expiry message of a payment by (one message per payment). */
export const paymentExpiryMessageId = (paymentId: string) => `payment-expiry-${paymentId}`;

export interface ExpireInput {
  paymentId: string;
  /** The clock the 24 h are measured against (the cron's scheduled time). */
  now?: Date;
  /**
   * Set when QStash delivers the expiry: claimed in the transaction that cancels or completes the payment,
   * so a redelivery finds it (the payment is no longer PENDING either way).
   */
  deliveryId?: string;
}

/** Claim the delivery, if there is one, in the transaction that applies it. */
const claimed = (ctx: ServiceContext, deliveryId: string | undefined) =>
  deliveryId === undefined ? Promise.resolve(true) : claimWebhookDelivery(ctx, { source: 'qstash', deliveryId });

/**
 * Cancel one payment if it is still PENDING and older than 24 h. Razorpay is asked first (best effort):
 * an order it reports as `paid` is reconciled instead — its payments are fetched and one captured for our
 * amount and currency completes the payment through completePayment (credited exactly once, whatever
 * verify or the captured webhook do later). If Razorpay cannot be asked, the order is cancelled anyway —
 * a later capture still completes it (CANCELLED → COMPLETED is allowed, see state.ts), so no money is
 * ever lost.
 */
export async function expireStalePayment(ctx: ServiceContext, input: ExpireInput): Promise<ExpiryOutcome> {
  const { paymentId, now = new Date() } = input;
  const [row] = await ctx.db.write
    .select({ id: payments.id, status: payments.status, createdAt: payments.createdAt, razorpayOrderId: payments.razorpayOrderId, amount: payments.amount, currency: payments.currency })
    .from(payments)
    .where(eq(payments.id, paymentId));
  if (!row) return 'not_found';
  if (row.status !== 'PENDING') return 'not_pending';
  if (row.createdAt.getTime() > now.getTime() - ORDER_TTL_MS) return 'not_due';

  if (razorpayCredentials(ctx.config)) {
    let paid = false;
    try {
      paid = (await fetchRazorpayOrder(ctx.config, row.razorpayOrderId)).status === 'paid';
    } catch (err) {
      log('warn', 'payment.expiry_order_lookup_failed', { paymentId, error: describeError(err) });
    }
    if (paid) return reconcilePaidOrder(ctx, row, input.deliveryId);
  }

  return withTransaction(ctx, async (tx, ctx) => {
    const [locked] = await tx.select().from(payments).where(eq(payments.id, paymentId)).for('update');
    if (!locked || locked.status !== 'PENDING') return 'not_pending' as const;
    if (!allowTransition(locked, 'CANCELLED', 'expiry')) return 'not_pending' as const;
    if (!(await claimed(ctx, input.deliveryId))) return 'not_pending' as const;
    await tx
      .update(payments)
      .set({ status: 'CANCELLED', failureReason: 'Order expired: not paid within 24 hours' })
      .where(eq(payments.id, paymentId));
    log('info', 'payment.cancelled_stale', { paymentId });
    return 'cancelled' as const;
  });
}

/** The order is paid at Razorpay: complete the payment from its captured payment, never cancel it. */
async function reconcilePaidOrder(
  ctx: ServiceContext,
  row: { id: string; razorpayOrderId: string; amount: number; currency: string },
  deliveryId: string | undefined,
): Promise<ExpiryOutcome> {
  let captured: RazorpayPayment | undefined;
  try {
    const attempts = await fetchRazorpayOrderPayments(ctx.config, row.razorpayOrderId);
    captured = attempts.find((p) => p.status === 'captured' && p.amount === row.amount && p.currency === row.currency);
  } catch (err) {
    log('warn', 'payment.expiry_payments_lookup_failed', { paymentId: row.id, error: describeError(err) });
  }
  if (!captured) {
    // Refunded already (the refund webhook completes and refunds it), another amount, or Razorpay unreachable.
    log('warn', 'payment.expiry_skipped_paid', { paymentId: row.id, orderId: row.razorpayOrderId });
    return 'paid_at_provider';
  }
  const facts = { paymentId: row.id, razorpayPaymentId: captured.id, amount: captured.amount, method: captured.method, source: 'expiry-reconcile' };
  const outcome = await withTransaction(ctx, async (_tx, ctx) => {
    if (!(await claimed(ctx, deliveryId))) return 'already_claimed';
    return (await completePayment(ctx, facts)).outcome;
  });
  if (outcome === 'completed') log('warn', 'payment.completed_by_expiry', { paymentId: row.id, razorpayPaymentId: captured.id });
  return outcome === 'completed' ? 'completed' : 'not_pending';
}

/**
 * How long one backstop run may spend on payments. Each one may wait on Razorpay (two lookups with their
 * timeouts and a retry), so a slow Razorpay must not hold the daily cron past its limit.
 */
const STALE_PAYMENTS_BUDGET_MS = 5 * 60_000;

/**
 * Backstop for lost QStash messages: cancel PENDING payments older than 24 h, oldest first (or complete
 * those Razorpay reports paid, as above). No payment is started once `budgetMs` is spent; the ones left
 * stay PENDING for the next run. `examined`: the payments looked at this run.
 * Meant for the daily cleanup job (src/jobs), with the job's context.
 */
export async function cancelStalePayments(
  ctx: ServiceContext,
  options: { limit?: number; now?: Date; budgetMs?: number } = {},
): Promise<{ examined: number; cancelled: number; completed: number }> {
  const now = options.now ?? new Date();
  const deadline = Date.now() + (options.budgetMs ?? STALE_PAYMENTS_BUDGET_MS);
  const stale = await ctx.db.write
    .select({ id: payments.id })
    .from(payments)
    .where(and(eq(payments.status, 'PENDING'), lt(payments.createdAt, new Date(now.getTime() - ORDER_TTL_MS))))
    .orderBy(asc(payments.createdAt))
    .limit(options.limit ?? 200);
  let examined = 0;
  let cancelled = 0;
  let completed = 0;
  for (const { id } of stale) {
    if (Date.now() >= deadline) {
      log('warn', 'payment.expiry_budget_spent', { examined, left: stale.length - examined });
      break;
    }
    examined++;
    try {
      const outcome = await expireStalePayment(ctx, { paymentId: id, now });
      if (outcome === 'cancelled') cancelled++;
      if (outcome === 'completed') completed++;
    } catch (err) {
      log('warn', 'payment.expiry_failed', { paymentId: id, error: describeError(err) });
    }
  }
  return { examined, cancelled, completed };
}

/**
 * `payment.order_created`: schedule the 24 h expiry of a still-PENDING order through QStash. Unconfigured or
 * refused: logged; the daily job is the backstop. QStash unreachable: thrown, so the queue retries.
 */
export async function scheduleExpiry(ctx: ServiceContext, paymentId: string): Promise<void> {
  const [p] = await ctx.db.write.select({ status: payments.status, createdAt: payments.createdAt }).from(payments).where(eq(payments.id, paymentId));
  if (!p || p.status !== 'PENDING') return;
  try {
    const published = await publishToQstash(ctx.config, {
      path: qstashPaths.paymentExpiry,
      body: { paymentId },
      // A minute past the deadline, so the endpoint never finds it "not due yet".
      notBefore: Math.ceil((p.createdAt.getTime() + ORDER_TTL_MS) / 1000) + 60,
      deduplicationId: paymentExpiryMessageId(paymentId),
    });
    if (published) log('info', 'payment.expiry_scheduled', { paymentId, messageId: published.messageId });
    else log('warn', 'payment.expiry_not_scheduled', { paymentId, reason: 'QStash not configured' });
  } catch (err) {
    if (err instanceof QstashPublishError && err.retryable) throw err;
    log('warn', 'payment.expiry_not_scheduled', { paymentId, error: describeError(err) });
  }
}
