import { and, asc, eq, lt } from 'drizzle-orm';
import type { Config } from '../../config';
import type { Database } from '../../db/client';
import { payments } from '../../db/schema';
import { fetchRazorpayOrder, razorpayCredentials } from '../../integrations/razorpay';
import { describeError, log } from '../../lib/log';
import { allowTransition } from './state';

/** A PENDING order older than this is cancelled (QStash message at +24 h; the daily job as a backstop). */
export const ORDER_TTL_MS = 24 * 60 * 60 * 1000;

export type ExpiryOutcome = 'cancelled' | 'not_found' | 'not_pending' | 'not_due' | 'paid_at_provider';

export interface ExpiryDeps {
  /** A primary database handle (ctx.db.write, or db.write in a job). */
  db: Database;
  config: Config;
}

/**
 * Cancel one payment if it is still PENDING and older than 24 h. Razorpay is asked first (best effort):
 * an order it reports as `paid` is left alone for the captured webhook / verify to complete. If Razorpay
 * cannot be asked, the order is cancelled anyway — a later capture still completes it
 * (CANCELLED → COMPLETED is allowed, see state.ts), so no money is ever lost.
 */
export async function expireStalePayment(deps: ExpiryDeps, paymentId: string, now = new Date()): Promise<ExpiryOutcome> {
  const [row] = await deps.db
    .select({ id: payments.id, status: payments.status, createdAt: payments.createdAt, razorpayOrderId: payments.razorpayOrderId })
    .from(payments)
    .where(eq(payments.id, paymentId));
  if (!row) return 'not_found';
  if (row.status !== 'PENDING') return 'not_pending';
  if (row.createdAt.getTime() > now.getTime() - ORDER_TTL_MS) return 'not_due';

  if (razorpayCredentials(deps.config)) {
    try {
      const order = await fetchRazorpayOrder(deps.config, row.razorpayOrderId);
      if (order.status === 'paid') {
        log('warn', 'payment.expiry_skipped_paid', { paymentId, orderId: row.razorpayOrderId });
        return 'paid_at_provider';
      }
    } catch (err) {
      log('warn', 'payment.expiry_order_lookup_failed', { paymentId, error: describeError(err) });
    }
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

/**
 * Backstop for lost QStash messages: cancel PENDING payments older than 24 h, oldest first.
 * Meant for the daily cleanup job (src/jobs): `cancelStalePayments({ db: db.write, config })`.
 */
export async function cancelStalePayments(deps: ExpiryDeps, options: { limit?: number; now?: Date } = {}): Promise<{ examined: number; cancelled: number }> {
  const now = options.now ?? new Date();
  const stale = await deps.db
    .select({ id: payments.id })
    .from(payments)
    .where(and(eq(payments.status, 'PENDING'), lt(payments.createdAt, new Date(now.getTime() - ORDER_TTL_MS))))
    .orderBy(asc(payments.createdAt))
    .limit(options.limit ?? 200);
  let cancelled = 0;
  for (const { id } of stale) {
    try {
      if ((await expireStalePayment(deps, id, now)) === 'cancelled') cancelled++;
    } catch (err) {
      log('warn', 'payment.expiry_failed', { paymentId: id, error: describeError(err) });
    }
  }
  return { examined: stale.length, cancelled };
}
