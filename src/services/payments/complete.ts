import { eq, sql } from 'drizzle-orm';
import type { Transaction } from '../../db/client';
import { isUniqueViolation } from '../../db/errors';
import { payments, type Payment } from '../../db/schema';
import { emit } from '../../events/outbox';
import { log } from '../../lib/log';
import { logActivity } from '../activity';
import { withSavepoint, withTransaction, type ServiceContext } from '../context';
import { grant } from '../credits/ledger';
import { allowTransition, PAID_STATUSES } from './state';

export interface CaptureFacts {
  /** Razorpay's pay_… id of the captured payment. */
  razorpayPaymentId: string;
  /** Amount Razorpay captured (paise), when known: recorded with an extra capture on an already-paid order. */
  amount?: number | null;
  method?: string | null;
  /** Who is completing it (verify, webhook:<event>…), for logs. */
  source: string;
}

export interface CompleteInput extends CaptureFacts {
  /** Our payment row's id. */
  paymentId: string;
}

export interface CompleteResult {
  /**
   * completed: this call granted the credits; already_completed: an earlier call did; ignored: illegal
   * transition; extra_capture: the order was already paid by ANOTHER payment — this one is not credited
   * and is refunded automatically (payment.duplicate_captured).
   */
  outcome: 'completed' | 'already_completed' | 'ignored' | 'extra_capture';
  payment: Payment;
  /** The user's balance after the grant (completed only). */
  balance: number | null;
}

/**
 * Mark a payment COMPLETED and grant its credits — exactly once, whichever of verify and the captured
 * webhook (or a replay of either) gets here first. In the caller's transaction (`withTransaction`):
 *  1. lock the payment row (FOR UPDATE) — concurrent completions of one payment serialise here;
 *  2. already paid → nothing to do (a different pay_… id is an extra capture: recorded in
 *     notes.extraCaptures, never credited, refunded through the outbox); otherwise check the transition
 *     against the state table;
 *  3. update status, Razorpay payment id, method, completed_at;
 *  4. append the PURCHASE row through the ledger (balance row locked there). The partial unique index
 *     "one PURCHASE per payment" is the last guard: should it fire anyway, that means "already
 *     credited" (inside a savepoint, so the transaction survives);
 *  5. emit payment.completed (receipt email, notification).
 * Lock order everywhere: payment row, then balance row — so completions and refunds never deadlock.
 */
export async function completePayment(ctx: ServiceContext, input: CompleteInput): Promise<CompleteResult> {
  return withTransaction(ctx, (tx, ctx) => complete(ctx, tx, input));
}

async function complete(ctx: ServiceContext, tx: Transaction, { paymentId, ...facts }: CompleteInput): Promise<CompleteResult> {
  const [payment] = await tx.select().from(payments).where(eq(payments.id, paymentId)).for('update');
  if (!payment) throw new Error(`payment ${paymentId} not found`);

  if (PAID_STATUSES.includes(payment.status)) {
    if (payment.razorpayPaymentId !== facts.razorpayPaymentId) return recordExtraCapture(ctx, tx, payment, facts);
    return { outcome: 'already_completed', payment, balance: null };
  }
  if (!allowTransition(payment, 'COMPLETED', facts.source)) return { outcome: 'ignored', payment, balance: null };

  const [updated] = await tx
    .update(payments)
    .set({
      status: 'COMPLETED',
      razorpayPaymentId: facts.razorpayPaymentId,
      paymentMethod: facts.method ?? payment.paymentMethod,
      failureReason: null,
      completedAt: sql`now()`,
    })
    .where(eq(payments.id, payment.id))
    .returning();

  let balance: number | null = null;
  if (payment.credits > 0) {
    try {
      // In a savepoint: a unique violation must leave the enclosing transaction usable.
      const entry = await withSavepoint(ctx, (_savepoint, ctx) =>
        grant(ctx, {
          userId: payment.userId,
          amount: payment.credits,
          type: 'PURCHASE',
          paymentId: payment.id,
          description: `Credits purchased: ${payment.planName}`,
          metadata: { planId: payment.planId, orderId: payment.razorpayOrderId, razorpayPaymentId: facts.razorpayPaymentId, amount: payment.amount },
        }),
      );
      balance = entry.balance;
    } catch (err) {
      if (!isUniqueViolation(err, 'credit_transactions_one_purchase_per_payment_uq')) throw err;
      log('warn', 'payment.purchase_already_credited', { paymentId: payment.id, source: facts.source });
      return { outcome: 'already_completed', payment: updated!, balance: null };
    }
  }
  await emit(tx, ctx.events, 'payment.completed', { paymentId: payment.id, userId: payment.userId });
  await logActivity(ctx, { userId: payment.userId, action: 'payment.completed', metadata: { paymentId: payment.id, planId: payment.planId, credits: payment.credits, amount: payment.amount } });
  log('info', 'payment.completed', { paymentId: payment.id, userId: payment.userId, credits: payment.credits, source: facts.source });
  return { outcome: 'completed', payment: updated!, balance };
}

/** What payments.notes.extraCaptures holds: successful payments on an order that was already paid (never credited). */
export interface ExtraCapture {
  razorpayPaymentId: string;
  amount: number | null;
  at: string;
  source: string;
  /** The automatic refund (services/payments/duplicates.ts), once Razorpay accepted it. */
  refundId?: string;
  refundStatus?: 'initiated' | 'already_refunded' | 'failed';
  refundError?: string;
  refundedAt?: string;
}

/**
 * A second successful payment for an order that is already paid: the customer paid twice. Never credit
 * twice; record it on the payment (notes.extraCaptures, once per pay_… id, so verify, webhook replays and
 * redeliveries add nothing) and emit payment.duplicate_captured in the same transaction: its handler
 * refunds the extra payment in full through Razorpay and records the refund here. The caller holds the
 * payment row lock.
 */
async function recordExtraCapture(ctx: ServiceContext, tx: Transaction, payment: Payment, facts: CaptureFacts): Promise<CompleteResult> {
  const notes = { ...(payment.notes ?? {}) } as Record<string, unknown> & { extraCaptures?: ExtraCapture[] };
  const extra = [...(notes.extraCaptures ?? [])];
  if (extra.some((e) => e.razorpayPaymentId === facts.razorpayPaymentId)) return { outcome: 'extra_capture', payment, balance: null };
  extra.push({ razorpayPaymentId: facts.razorpayPaymentId, amount: facts.amount ?? null, at: new Date().toISOString(), source: facts.source });
  notes.extraCaptures = extra;
  const [updated] = await tx.update(payments).set({ notes }).where(eq(payments.id, payment.id)).returning();
  await emit(tx, ctx.events, 'payment.duplicate_captured', { paymentId: payment.id, userId: payment.userId, razorpayPaymentId: facts.razorpayPaymentId });
  log('warn', 'payment.second_capture_for_order', {
    paymentId: payment.id,
    orderId: payment.razorpayOrderId,
    creditedRazorpayPaymentId: payment.razorpayPaymentId,
    otherRazorpayPaymentId: facts.razorpayPaymentId,
    amount: facts.amount ?? null,
    source: facts.source,
  });
  return { outcome: 'extra_capture', payment: updated!, balance: null };
}
