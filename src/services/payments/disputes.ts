import { eq, sql } from 'drizzle-orm';
import type { Transaction } from '../../db/client';
import { paymentDisputes, payments } from '../../db/schema';
import { emit } from '../../events/outbox';
import type { RazorpayDispute } from '../../integrations/razorpay';
import { log } from '../../lib/log';
import { logActivity } from '../activity';
import { withTransaction, type ServiceContext } from '../context';
import { clawBack, type PaymentNotes } from './refunds';

/** The payment.dispute.* events we track, and the dispute status each one means. */
export const DISPUTE_EVENTS = {
  'payment.dispute.created': 'open',
  'payment.dispute.under_review': 'under_review',
  'payment.dispute.action_required': 'action_required',
  'payment.dispute.won': 'won',
  'payment.dispute.lost': 'lost',
  'payment.dispute.closed': 'closed',
} as const;
export type DisputeEvent = keyof typeof DISPUTE_EVENTS;
export const isDisputeEvent = (event: string): event is DisputeEvent => Object.hasOwn(DISPUTE_EVENTS, event);

/** Statuses a late "open / under review" event must not overwrite. */
const RESOLVED = new Set(['won', 'lost', 'closed']);

export type DisputeOutcome = { applied: true; paymentId: string; status: string } | { applied: false; paymentId: string | null; reason: string };

/**
 * Apply one dispute webhook, in the caller's transaction (`withTransaction`), with the payment row locked (the same lock
 * order as completions and refunds: payment, then balance):
 *  - the dispute row (payment_disputes, one per disp_… id) is created on the first event seen, whatever
 *    its type, and locked;
 *  - created / under_review / action_required / won / closed record the status (a resolved dispute is
 *    never reopened by a late event); opening one is logged and written to the buyer's activity log;
 *  - lost (once per dispute: the row's status, and the ledger's unique index on metadata.disputeId)
 *    takes the credits back: the chargeback amount joins the refunded amount, the cumulative claw-back
 *    target is floor(credits × (refunded + charged back) / amount), and the REFUND ledger row removes
 *    the difference — never more than the balance; what was already spent is the shortfall, recorded
 *    on the dispute, in the ledger row and on the payment. payment.dispute_lost tells the buyer.
 */
export async function applyDispute(ctx: ServiceContext, input: { dispute: RazorpayDispute; event: DisputeEvent }): Promise<DisputeOutcome> {
  return withTransaction(ctx, (tx, ctx) => apply(ctx, tx, input.dispute, input.event));
}

async function apply(ctx: ServiceContext, tx: Transaction, dispute: RazorpayDispute, event: DisputeEvent): Promise<DisputeOutcome> {
  const [payment] = await tx.select().from(payments).where(eq(payments.razorpayPaymentId, dispute.payment_id)).for('update');
  if (!payment) return { applied: false, paymentId: null, reason: 'unknown payment' };

  const status = DISPUTE_EVENTS[event];
  await tx
    .insert(paymentDisputes)
    .values({
      razorpayDisputeId: dispute.id,
      paymentId: payment.id,
      // A first sighting by its "lost" event starts open: the debit below is what makes it lost.
      status: status === 'lost' ? 'open' : status,
      phase: dispute.phase ?? null,
      reasonCode: dispute.reason_code ?? null,
      amount: dispute.amount,
      currency: dispute.currency,
    })
    .onConflictDoNothing({ target: paymentDisputes.razorpayDisputeId });
  const [row] = await tx.select().from(paymentDisputes).where(eq(paymentDisputes.razorpayDisputeId, dispute.id)).for('update');
  if (!row || row.paymentId !== payment.id) return { applied: false, paymentId: payment.id, reason: 'dispute belongs to another payment' };

  if (status !== 'lost') {
    if (RESOLVED.has(row.status) && !RESOLVED.has(status)) return { applied: false, paymentId: payment.id, reason: `dispute already ${row.status}` };
    await tx
      .update(paymentDisputes)
      .set({ status, phase: dispute.phase ?? row.phase, updatedAt: sql`now()`, resolvedAt: RESOLVED.has(status) ? sql`now()` : null })
      .where(eq(paymentDisputes.id, row.id));
    if (status === 'open') {
      await logActivity(ctx, { userId: payment.userId, action: 'payment.dispute_opened', level: 'WARN', metadata: { paymentId: payment.id, disputeId: dispute.id, amount: dispute.amount } });
    }
    if (status === 'won' && row.status === 'lost') log('warn', 'payment.dispute_won_after_lost', { paymentId: payment.id, disputeId: dispute.id });
    log('warn', 'payment.dispute_status', { paymentId: payment.id, disputeId: dispute.id, status, phase: dispute.phase ?? null });
    return { applied: true, paymentId: payment.id, status };
  }

  if (row.status === 'lost') return { applied: false, paymentId: payment.id, reason: 'dispute already lost' };
  const deducted = Math.min(payment.amount, dispute.amount_deducted || dispute.amount);
  const notes: PaymentNotes = { ...(payment.notes ?? {}) };
  notes.chargedBack = (notes.chargedBack ?? 0) + deducted;
  const { due, removed, shortfall } = await clawBack(ctx, {
    payment,
    refunded: payment.refundedAmount,
    notes,
    entry: {
      description: `Chargeback: ${payment.planName}`,
      metadata: { disputeId: dispute.id, reason: 'DISPUTE_LOST', amountDeducted: deducted, paymentAmount: payment.amount },
    },
  });
  await tx.update(payments).set({ notes }).where(eq(payments.id, payment.id));
  await tx
    .update(paymentDisputes)
    .set({
      status: 'lost',
      phase: dispute.phase ?? row.phase,
      amountDeducted: deducted,
      creditsRemoved: removed,
      creditsShortfall: shortfall,
      updatedAt: sql`now()`,
      resolvedAt: sql`now()`,
    })
    .where(eq(paymentDisputes.id, row.id));
  await emit(tx, ctx.events, 'payment.dispute_lost', { paymentId: payment.id, userId: payment.userId, disputeId: row.id });
  await logActivity(ctx, {
    userId: payment.userId,
    action: 'payment.dispute_lost',
    level: 'WARN',
    metadata: { paymentId: payment.id, disputeId: dispute.id, amountDeducted: deducted, creditsRemoved: removed, creditsShortfall: shortfall },
  });
  if (shortfall > 0) log('warn', 'payment.dispute_shortfall', { paymentId: payment.id, disputeId: dispute.id, due, removed, shortfall });
  log('warn', 'payment.dispute_lost', { paymentId: payment.id, disputeId: dispute.id, deducted, removed });
  return { applied: true, paymentId: payment.id, status: 'lost' };
}
