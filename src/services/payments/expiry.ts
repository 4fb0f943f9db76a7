import { and, asc, eq, lt } from 'drizzle-orm';
import type { Config } from '../../config';
import type { Database } from '../../db/client';
import { payments } from '../../db/schema';
import type { PendingEvents } from '../../events/outbox';
import { fetchRazorpayOrder, fetchRazorpayOrderPayments, razorpayCredentials, type RazorpayPayment } from '../../integrations/razorpay';
import { describeError, log } from '../../lib/log';
import { invalidateCredits, Ledger } from '../credits/ledger';
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

export interface ExpiryDeps {
  /** A primary database handle (ctx.db.write, or db.write in a job). */
  db: Database;
  config: Config;
  /** Where to collect emitted events (a request's ctx.events, relayed after it ends); without, the outbox sweeper relays them. */
  events?: PendingEvents;
}

/**
 * Cancel one payment if it is still PENDING and older than 24 h. Razorpay is asked first (best effort):
 * an order it reports as `paid` is reconciled instead — its payments are fetched and one captured for our
 * amount and currency completes the payment through completePayment (credited exactly once, whatever
 * verify or the captured webhook do later). If Razorpay cannot be asked, the order is cancelled anyway —
 * a later capture still completes it (CANCELLED → COMPLETED is allowed, see state.ts), so no money is
 * ever lost.
 */
export async function expireStalePayment(deps: ExpiryDeps, paymentId: string, now = new Date()): Promise<ExpiryOutcome> {
  const [row] = await deps.db
    .select({ id: payments.id, status: payments.status, createdAt: payments.createdAt, razorpayOrderId: payments.razorpayOrderId, amount: payments.amount, currency: payments.currency })
    .from(payments)
    .where(eq(payments.id, paymentId));
  if (!row) return 'not_found';
  if (row.status !== 'PENDING') return 'not_pending';
  if (row.createdAt.getTime() > now.getTime() - ORDER_TTL_MS) return 'not_due';

  if (razorpayCredentials(deps.config)) {
    let paid = false;
    try {
      paid = (await fetchRazorpayOrder(deps.config, row.razorpayOrderId)).status === 'paid';
    } catch (err) {
      log('warn', 'payment.expiry_order_lookup_failed', { paymentId, error: describeError(err) });
    }
    if (paid) return reconcilePaidOrder(deps, row);
  }

  return deps.db.transaction(async (tx) => {
    const [locked] = await tx.select().from(payments).where(eq(payments.id, paymentId)).for('update');
    if (!locked || locked.status !== 'PENDING') return 'not_pending' as const;
    if (!allowTransition(locked, 'CANCELLED', 'expiry')) return 'not_pending' as const;
    await tx
      .update(payments)
      .set({ status: 'CANCELLED', failureReason: 'Order expired: not paid within 24 hours' })
      .where(eq(payments.id, paymentId));
    log('info', 'payment.cancelled_stale', { paymentId });
    return 'cancelled' as const;
  });
}

/** The order is paid at Razorpay: complete the payment from its captured payment, never cancel it. */
async function reconcilePaidOrder(deps: ExpiryDeps, row: { id: string; razorpayOrderId: string; amount: number; currency: string }): Promise<ExpiryOutcome> {
  let captured: RazorpayPayment | undefined;
  try {
    const attempts = await fetchRazorpayOrderPayments(deps.config, row.razorpayOrderId);
    captured = attempts.find((p) => p.status === 'captured' && p.amount === row.amount && p.currency === row.currency);
  } catch (err) {
    log('warn', 'payment.expiry_payments_lookup_failed', { paymentId: row.id, error: describeError(err) });
  }
  if (!captured) {
    // Refunded already (the refund webhook completes and refunds it), another amount, or Razorpay unreachable.
    log('warn', 'payment.expiry_skipped_paid', { paymentId: row.id, orderId: row.razorpayOrderId });
    return 'paid_at_provider';
  }
  const facts = { razorpayPaymentId: captured.id, amount: captured.amount, method: captured.method, source: 'expiry-reconcile' };
  let ledger: Ledger | undefined;
  try {
    const result = await deps.db.transaction(async (tx) => {
      ledger = new Ledger(tx);
      return completePayment(ledger, deps.events ?? [], row.id, facts);
    });
    if (result.outcome === 'completed') log('warn', 'payment.completed_by_expiry', { paymentId: row.id, razorpayPaymentId: captured.id });
    return result.outcome === 'completed' ? 'completed' : 'not_pending';
  } finally {
    if (ledger?.touched.size) await invalidateCredits(deps.config, ...ledger.touched);
  }
}

/**
 * Backstop for lost QStash messages: cancel PENDING payments older than 24 h, oldest first (or complete
 * those Razorpay reports paid, as above).
 * Meant for the daily cleanup job (src/jobs): `cancelStalePayments({ db: db.write, config })`.
 */
export async function cancelStalePayments(
  deps: ExpiryDeps,
  options: { limit?: number; now?: Date } = {},
): Promise<{ examined: number; cancelled: number; completed: number }> {
  const now = options.now ?? new Date();
  const stale = await deps.db
    .select({ id: payments.id })
    .from(payments)
    .where(and(eq(payments.status, 'PENDING'), lt(payments.createdAt, new Date(now.getTime() - ORDER_TTL_MS))))
    .orderBy(asc(payments.createdAt))
    .limit(options.limit ?? 200);
  let cancelled = 0;
  let completed = 0;
  for (const { id } of stale) {
    try {
      const outcome = await expireStalePayment(deps, id, now);
      if (outcome === 'cancelled') cancelled++;
      if (outcome === 'completed') completed++;
    } catch (err) {
      log('warn', 'payment.expiry_failed', { paymentId: id, error: describeError(err) });
    }
  }
  return { examined: stale.length, cancelled, completed };
}
