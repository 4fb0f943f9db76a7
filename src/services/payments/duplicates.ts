import { eq } from 'drizzle-orm';
import { payments, type Payment } from '../../db/schema';
import { emit } from '../../events/outbox';
import { createRazorpayRefund, fetchRazorpayPayment, RazorpayError } from '../../integrations/razorpay';
import { log } from '../../lib/log';
import { logActivity } from '../activity';
import { withTransaction, type ServiceContext } from '../context';
import { sendEmail } from '../email/send';
import { templates } from '../email/templates';
import { createNotification } from '../notifications/create';
import { creditsUrl, paymentWithBuyer } from './announce';
import type { ExtraCapture } from './complete';
import { formatMoney } from './money';

export type DuplicateRefundOutcome =
  /** Razorpay accepted the refund (refundId recorded). */
  | 'initiated'
  /** The extra payment was already refunded in full at Razorpay (by support, or an earlier attempt). */
  | 'already_refunded'
  /** Razorpay refused it for good (recorded and logged; support takes over). */
  | 'failed'
  /** An earlier run already recorded the outcome. */
  | 'already_recorded'
  /** No such extra capture on that payment. */
  | 'not_found';

export interface DuplicateRefundResult {
  outcome: DuplicateRefundOutcome;
  payment: Payment | null;
  extra: ExtraCapture | null;
}

/** X-Refund-Idempotency for the refund of one extra payment: the same key however often it is retried. */
export const duplicateRefundKey = (razorpayPaymentId: string) => `dup-refund-${razorpayPaymentId.replace(/[^A-Za-z0-9_-]/g, '')}`;

/**
 * Refund, in full, a payment captured on an order that another payment had already paid (recorded in
 * notes.extraCaptures by completePayment, never credited). Runs in the payment.duplicate_captured
 * handler's transaction with the payment row locked:
 *  - an extra capture whose refund is already recorded → nothing (a redelivery);
 *  - POST /v1/payments/:id/refund with an idempotency key derived from the pay_… id, so a retry after a
 *    lost answer or a rolled-back transaction gets the same refund back, never a second one;
 *  - a retryable provider error (network, 5xx, 429) is thrown: the queue retries with backoff;
 *  - a final refusal: if Razorpay shows the payment fully refunded already, that is recorded as such;
 *    otherwise the failure is recorded on the payment and logged at error level for support.
 * The outcome goes into notes.extraCaptures[i] and the buyer's activity log. Razorpay's own
 * refund.created / refund.processed webhooks for it later find no credited payment and take no credits.
 */
export async function refundExtraCapture(ctx: ServiceContext, input: { paymentId: string; razorpayPaymentId: string }): Promise<DuplicateRefundResult> {
  const { paymentId, razorpayPaymentId } = input;
  const config = ctx.config;
  return withTransaction(ctx, async (tx, ctx): Promise<DuplicateRefundResult> => {
    const [payment] = await tx.select().from(payments).where(eq(payments.id, paymentId)).for('update');
    if (!payment) return { outcome: 'not_found', payment: null, extra: null };
    const notes = { ...(payment.notes ?? {}) } as Record<string, unknown> & { extraCaptures?: ExtraCapture[] };
    const extras = [...(notes.extraCaptures ?? [])];
    const index = extras.findIndex((e) => e.razorpayPaymentId === razorpayPaymentId);
    if (index < 0) return { outcome: 'not_found', payment, extra: null };
    const current = extras[index]!;
    if (current.refundStatus) return { outcome: 'already_recorded', payment, extra: current };

    let amount = current.amount;
    if (amount === null) amount = (await fetchRazorpayPayment(config, razorpayPaymentId)).amount;

    let next: ExtraCapture;
    try {
      const refund = await createRazorpayRefund(config, razorpayPaymentId, {
        amount,
        receipt: `dup_${payment.id.replaceAll('-', '')}`.slice(0, 40),
        notes: { reason: 'duplicate_payment', order_id: payment.razorpayOrderId, credited_payment_id: payment.razorpayPaymentId ?? '' },
        idempotencyKey: duplicateRefundKey(razorpayPaymentId),
      });
      next = { ...current, refundId: refund.id, refundStatus: 'initiated', refundedAt: new Date().toISOString() };
    } catch (err) {
      if (!(err instanceof RazorpayError) || err.retryable) throw err;
      // Refused for good: maybe because it is refunded already (support was quicker). Ask before calling it a failure.
      const rp = await fetchRazorpayPayment(config, razorpayPaymentId);
      if ((rp.amount_refunded ?? 0) >= rp.amount) {
        next = { ...current, refundStatus: 'already_refunded', refundedAt: new Date().toISOString() };
      } else {
        next = { ...current, refundStatus: 'failed', refundError: `${err.status} ${err.code ?? ''}`.trim() };
        log('error', 'payment.duplicate_refund_failed', { paymentId, razorpayPaymentId, status: err.status, code: err.code });
      }
    }
    extras[index] = next;
    notes.extraCaptures = extras;
    const [updated] = await tx.update(payments).set({ notes }).where(eq(payments.id, paymentId)).returning();
    await logActivity(ctx, {
      userId: payment.userId,
      action: 'payment.duplicate_refunded',
      level: 'WARN',
      metadata: { paymentId, razorpayPaymentId, amount, refundId: next.refundId ?? null, status: next.refundStatus },
    });
    log('warn', 'payment.duplicate_refund', { paymentId, razorpayPaymentId, refundId: next.refundId ?? null, status: next.refundStatus });
    return { outcome: next.refundStatus!, payment: updated!, extra: next };
  });
}

/**
 * `payment.duplicate_captured`: refund the extra payment (refundExtraCapture), then tell the buyer — once,
 * when the refund is initiated or was found already done. The notification and the
 * `payment.duplicate_refunded` event (its mail) commit with the refund record: a mail provider outage
 * delays the mail, it never rolls back the record of a refund Razorpay has already made.
 */
export async function refundDuplicateCapture(ctx: ServiceContext, input: { paymentId: string; userId: string; razorpayPaymentId: string }): Promise<void> {
  const { paymentId, userId, razorpayPaymentId } = input;
  await withTransaction(ctx, async (tx, ctx) => {
    const r = await refundExtraCapture(ctx, { paymentId, razorpayPaymentId });
    if ((r.outcome !== 'initiated' && r.outcome !== 'already_refunded') || !r.payment) return;
    const p = r.payment;
    const amount = formatMoney(r.extra?.amount ?? p.amount, p.currency);
    await createNotification(ctx, {
      userId,
      type: 'UPDATE',
      title: 'Duplicate payment refunded',
      message: `Your order for the ${p.planName} plan was paid twice. Your credits were added once; the extra payment of ${amount} is being refunded.`,
      actionUrl: creditsUrl(ctx),
      actionLabel: 'View credits',
      metadata: { paymentId, razorpayPaymentId },
    });
    await emit(tx, ctx.events, 'payment.duplicate_refunded', { paymentId, userId, razorpayPaymentId });
  });
}

/** `payment.duplicate_refunded`: the buyer's mail about the refunded extra payment (none for a deleted account). */
export async function mailDuplicateRefunded(ctx: ServiceContext, input: { paymentId: string; razorpayPaymentId: string; idempotencyKey: string }): Promise<void> {
  const row = await paymentWithBuyer(ctx, input.paymentId);
  if (!row || row.deletedAt) return;
  const p = row.payment;
  const extra = ((p.notes?.extraCaptures ?? []) as ExtraCapture[]).find((e) => e.razorpayPaymentId === input.razorpayPaymentId);
  if (extra?.refundStatus !== 'initiated' && extra?.refundStatus !== 'already_refunded') return;
  await sendEmail(ctx, {
    to: row.email,
    email: templates.duplicatePaymentRefunded({
      name: row.firstName,
      planName: p.planName,
      amount: formatMoney(extra.amount ?? p.amount, p.currency),
      creditsUrl: creditsUrl(ctx),
    }),
    idempotencyKey: input.idempotencyKey,
  });
}
