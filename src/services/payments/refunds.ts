import { eq, sql } from 'drizzle-orm';
import type { Transaction } from '../../db/client';
import { payments, type Payment } from '../../db/schema';
import { emit } from '../../events/outbox';
import type { RazorpayRefund } from '../../integrations/razorpay';
import { log } from '../../lib/log';
import { logActivity } from '../activity';
import { withTransaction, type ServiceContext } from '../context';
import { refundCredits } from '../credits/ledger';
import { allowTransition } from './state';

/** What we remember per applied refund, in payments.notes.refunds[<rfnd id>]. */
export interface RefundNote {
  amount: number;
  /** Credits this refund should take back (proportional share). */
  creditsDue: number;
  removed: number;
  shortfall: number;
  at: string;
}

export interface PaymentNotes {
  refunds?: Record<string, RefundNote>;
  /** Lost disputes: total amount Razorpay deducted (minor units); it counts like a refund for the claw-back. */
  chargedBack?: number;
  /** Cumulative credits to claw back for the money returned so far: floor(credits × (refunded + charged back) / amount). */
  clawbackTarget?: number;
  /** Credits already spent that refunds could not take back. */
  clawbackShortfall?: number;
  [k: string]: unknown;
}

/** Credits due back, in total, once `refunded` (plus any lost disputes) has gone back to the buyer. */
function clawbackTarget(payment: Pick<Payment, 'credits' | 'amount'>, refunded: number, notes: PaymentNotes): number {
  const returned = Math.min(payment.amount, refunded + (notes.chargedBack ?? 0));
  return Math.floor((payment.credits * returned) / payment.amount);
}

export interface ClawBackInput {
  payment: Pick<Payment, 'id' | 'userId' | 'credits' | 'amount'>;
  /** The payment's refunded amount, this refund included. */
  refunded: number;
  notes: PaymentNotes;
  entry: { description: string; metadata: Record<string, unknown> };
}

/**
 * Take back the credits a payment owes now that `refunded` (plus any chargeback in `notes`) has gone back to the
 * buyer: the cumulative target minus what earlier refunds and disputes already took, through the ledger (never
 * below zero; the rest is a shortfall). Updates the target and shortfall in `notes`; the caller stores them.
 */
export async function clawBack(ctx: ServiceContext, { payment, refunded, notes, entry }: ClawBackInput): Promise<{ due: number; removed: number; shortfall: number }> {
  const previous = notes.clawbackTarget ?? 0;
  const target = Math.max(previous, clawbackTarget(payment, refunded, notes));
  const due = target - previous;
  let removed = 0;
  let shortfall = 0;
  if (due > 0) {
    ({ removed, shortfall } = await refundCredits(ctx, { userId: payment.userId, amount: due, paymentId: payment.id, ...entry }));
  }
  notes.clawbackTarget = target;
  notes.clawbackShortfall = (notes.clawbackShortfall ?? 0) + shortfall;
  return { due, removed, shortfall };
}

export type RefundOutcome = { applied: true; paymentId: string; removed: number; shortfall: number } | { applied: false; paymentId: string | null; reason: string };

/**
 * Apply one Razorpay refund (refund.created or refund.processed — whichever comes first; the refund id
 * makes the second a no-op). In the caller's transaction (`withTransaction`):
 *  - lock the payment (found by its pay_… id) and skip a refund id already applied;
 *  - refunded_amount += refund amount (capped at the payment amount); status PARTIALLY_REFUNDED or
 *    REFUNDED via the state table (a payment that was never completed is not "refunded" — ignored, logged);
 *  - claw back credits proportionally and cumulatively: the target for the new refunded total is
 *    floor(credits × (refunded_total + charged back) / amount) (see disputes.ts); this refund takes
 *    target − previous target, so several partial refunds add up to exactly the credits of a full refund;
 *  - the REFUND ledger row removes at most the user's current balance (never negative); the shortfall
 *    (credits already spent) is kept in the row's metadata and on the payment;
 *  - emit payment.refunded.
 */
export async function applyRefund(ctx: ServiceContext, input: { refund: RazorpayRefund; source: string }): Promise<RefundOutcome> {
  return withTransaction(ctx, (tx, ctx) => apply(ctx, tx, input.refund, input.source));
}

async function apply(ctx: ServiceContext, tx: Transaction, refund: RazorpayRefund, source: string): Promise<RefundOutcome> {
  const [payment] = await tx.select().from(payments).where(eq(payments.razorpayPaymentId, refund.payment_id)).for('update');
  if (!payment) return { applied: false, paymentId: null, reason: 'unknown payment' };
  if (refund.amount <= 0) return { applied: false, paymentId: payment.id, reason: 'refund amount is not positive' };
  const notes: PaymentNotes = { ...(payment.notes ?? {}) };
  const refunds = { ...(notes.refunds ?? {}) };
  if (refunds[refund.id]) return { applied: false, paymentId: payment.id, reason: 'refund already applied' };

  if (payment.refundedAmount + refund.amount > payment.amount) {
    log('error', 'payment.refund_exceeds_amount', { paymentId: payment.id, refundId: refund.id, refunded: payment.refundedAmount, refund: refund.amount, amount: payment.amount });
  }
  const refundedTotal = Math.min(payment.amount, payment.refundedAmount + refund.amount);
  const to = refundedTotal >= payment.amount ? 'REFUNDED' : 'PARTIALLY_REFUNDED';
  if (!allowTransition(payment, to, source)) return { applied: false, paymentId: payment.id, reason: `illegal transition ${payment.status} → ${to}` };

  const { due, removed, shortfall } = await clawBack(ctx, {
    payment,
    refunded: refundedTotal,
    notes,
    entry: {
      description: `Refund: ${payment.planName}`,
      metadata: { refundId: refund.id, refundAmount: refund.amount, refundedTotal, paymentAmount: payment.amount },
    },
  });
  refunds[refund.id] = { amount: refund.amount, creditsDue: due, removed, shortfall, at: new Date().toISOString() };
  notes.refunds = refunds;

  await tx
    .update(payments)
    .set({ status: to, refundedAmount: refundedTotal, refundedAt: sql`now()`, notes })
    .where(eq(payments.id, payment.id));
  await emit(tx, ctx.events, 'payment.refunded', { paymentId: payment.id, userId: payment.userId, refundId: refund.id });
  await logActivity(ctx, { userId: payment.userId, action: 'payment.refunded', level: 'WARN', metadata: { paymentId: payment.id, refundId: refund.id, amount: refund.amount, creditsRemoved: removed, status: to } });
  if (shortfall > 0) log('warn', 'payment.refund_shortfall', { paymentId: payment.id, refundId: refund.id, due, removed, shortfall });
  log('info', 'payment.refunded', { paymentId: payment.id, refundId: refund.id, status: to, refundedTotal, removed, source });
  return { applied: true, paymentId: payment.id, removed, shortfall };
}
