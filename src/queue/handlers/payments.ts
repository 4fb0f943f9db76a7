import { and, eq, isNull } from 'drizzle-orm';
import { paymentDisputes, payments, users } from '../../db/schema';
import { qstashPaths, QstashPublishError, publishToQstash } from '../../integrations/qstash';
import { describeError, log } from '../../lib/log';
import { sendEmail } from '../../services/email/send';
import { templates } from '../../services/email/templates';
import { createNotification } from '../../services/notifications/create';
import { ORDER_TTL_MS, paymentExpiryMessageId, refundExtraCapture } from '../../services/payments';
import type { RefundNote } from '../../services/payments/refunds';
import type { EventHandler, HandlerContext } from '../types';

/** The payment with its buyer's contact details, read inside the handler's transaction. */
async function load(ctx: HandlerContext, paymentId: string) {
  const [row] = await ctx.tx
    .select({ payment: payments, email: users.email, firstName: users.firstName, lastName: users.lastName, deletedAt: users.deletedAt })
    .from(payments)
    .innerJoin(users, eq(users.id, payments.userId))
    .where(eq(payments.id, paymentId));
  return row;
}

export const formatMoney = (amount: number, currency: string) => {
  try {
    return new Intl.NumberFormat('en-IN', { style: 'currency', currency }).format(amount / 100);
  } catch {
    return `${currency} ${(amount / 100).toFixed(2)}`;
  }
};

const creditsUrl = (ctx: HandlerContext) => `${ctx.config.FRONTEND_URL}/dashboard/credits`;

/** Schedule the 24 h expiry of a new order through QStash. Unconfigured or refused: logged; the daily job is the backstop. */
export const schedulePaymentExpiry: EventHandler<'payment.order_created'> = {
  name: 'payment-expiry-schedule',
  async run(ctx, { paymentId }) {
    const [p] = await ctx.tx.select({ status: payments.status, createdAt: payments.createdAt }).from(payments).where(eq(payments.id, paymentId));
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
      if (err instanceof QstashPublishError && err.retryable) throw err; // QStash down: the queue retries
      log('warn', 'payment.expiry_not_scheduled', { paymentId, error: describeError(err) });
    }
  },
};

/**
 * Our own receipt page for a payment. Deliberately NOT a Razorpay invoice: an invoice's short_url is a
 * payment page for an issued (unpaid) invoice — Razorpay's create-invoice API cannot mark it paid — so
 * linking it from the receipt of an order we already charged would invite the customer to pay twice.
 */
export const receiptUrl = (config: Pick<HandlerContext['config'], 'FRONTEND_URL'>, paymentId: string) =>
  `${config.FRONTEND_URL}/billing/payments/${encodeURIComponent(paymentId)}`;

/**
 * Record the receipt link on the payment (payments.invoice_url, listed by GET /payments/history and the
 * data export). No call to Razorpay. Kept under its old export name so the handler table is unchanged.
 */
export const paymentReceiptLink: EventHandler<'payment.completed'> = {
  name: 'payment-receipt-link',
  async run(ctx, { paymentId }) {
    await ctx.tx
      .update(payments)
      .set({ invoiceUrl: receiptUrl(ctx.config, paymentId) })
      .where(and(eq(payments.id, paymentId), isNull(payments.invoiceUrl)));
  },
};

export const paymentSuccessEmail: EventHandler<'payment.completed'> = {
  name: 'payment-success-email',
  async run(ctx, { paymentId }) {
    const row = await load(ctx, paymentId);
    if (!row || row.deletedAt) return;
    const p = row.payment;
    await sendEmail(ctx, {
      to: row.email,
      email: templates.paymentSuccess({
        name: row.firstName,
        planName: p.planName,
        credits: p.credits,
        amount: formatMoney(p.amount, p.currency),
        orderId: p.razorpayOrderId,
        paymentId: p.razorpayPaymentId ?? '',
        invoiceUrl: receiptUrl(ctx.config, p.id),
        creditsUrl: creditsUrl(ctx),
      }),
      idempotencyKey: ctx.idempotencyKey,
    });
  },
};

export const paymentSuccessNotification: EventHandler<'payment.completed'> = {
  name: 'payment-success-notification',
  async run(ctx, { paymentId, userId }) {
    const row = await load(ctx, paymentId);
    if (!row) return;
    await createNotification(ctx, {
      userId,
      type: 'UPDATE',
      title: 'Payment successful',
      message: `Your payment of ${formatMoney(row.payment.amount, row.payment.currency)} went through: ${row.payment.credits} credits were added.`,
      actionUrl: creditsUrl(ctx),
      actionLabel: 'View credits',
      metadata: { paymentId },
    });
  },
};

export const paymentFailedEmail: EventHandler<'payment.failed'> = {
  name: 'payment-failed-email',
  async run(ctx, { paymentId }) {
    const row = await load(ctx, paymentId);
    if (!row || row.deletedAt || row.payment.status !== 'FAILED') return; // completed by a later attempt meanwhile
    await sendEmail(ctx, {
      to: row.email,
      email: templates.paymentFailed({
        name: row.firstName,
        planName: row.payment.planName,
        amount: formatMoney(row.payment.amount, row.payment.currency),
        reason: row.payment.failureReason,
        retryUrl: `${ctx.config.FRONTEND_URL}/pricing`,
      }),
      idempotencyKey: ctx.idempotencyKey,
    });
  },
};

export const paymentFailedNotification: EventHandler<'payment.failed'> = {
  name: 'payment-failed-notification',
  async run(ctx, { paymentId, userId }) {
    const row = await load(ctx, paymentId);
    if (!row || row.payment.status !== 'FAILED') return;
    await createNotification(ctx, {
      userId,
      type: 'ALERT',
      title: 'Payment failed',
      message: `Your payment for the ${row.payment.planName} plan failed${row.payment.failureReason ? `: ${row.payment.failureReason}` : '.'}`,
      actionUrl: `${ctx.config.FRONTEND_URL}/pricing`,
      actionLabel: 'Try again',
      metadata: { paymentId },
    });
  },
};

function refundNote(payment: { notes: Record<string, unknown> | null }, refundId: string): RefundNote | undefined {
  return (payment.notes?.refunds as Record<string, RefundNote> | undefined)?.[refundId];
}

export const paymentRefundedEmail: EventHandler<'payment.refunded'> = {
  name: 'payment-refunded-email',
  async run(ctx, { paymentId, refundId }) {
    const row = await load(ctx, paymentId);
    if (!row || row.deletedAt) return;
    const note = refundNote(row.payment, refundId);
    await sendEmail(ctx, {
      to: row.email,
      email: templates.paymentRefunded({
        name: row.firstName,
        planName: row.payment.planName,
        refundAmount: formatMoney(note?.amount ?? row.payment.refundedAmount, row.payment.currency),
        creditsRemoved: note?.removed ?? 0,
        fullyRefunded: row.payment.status === 'REFUNDED',
        creditsUrl: creditsUrl(ctx),
      }),
      idempotencyKey: ctx.idempotencyKey,
    });
  },
};

export const paymentRefundedNotification: EventHandler<'payment.refunded'> = {
  name: 'payment-refunded-notification',
  async run(ctx, { paymentId, userId, refundId }) {
    const row = await load(ctx, paymentId);
    if (!row) return;
    const note = refundNote(row.payment, refundId);
    await createNotification(ctx, {
      userId,
      type: 'UPDATE',
      title: 'Refund initiated',
      message: `A refund of ${formatMoney(note?.amount ?? row.payment.refundedAmount, row.payment.currency)} for the ${row.payment.planName} plan is on its way${note?.removed ? `; ${note.removed} credits were removed` : ''}.`,
      actionUrl: creditsUrl(ctx),
      actionLabel: 'View credits',
      metadata: { paymentId, refundId },
    });
  },
};

export const refundFailedEmail: EventHandler<'refund.failed'> = {
  name: 'refund-failed-email',
  async run(ctx, { paymentId }) {
    const row = await load(ctx, paymentId);
    if (!row || row.deletedAt) return;
    await sendEmail(ctx, {
      to: row.email,
      email: templates.refundFailed({ name: row.firstName, planName: row.payment.planName, supportUrl: `${ctx.config.FRONTEND_URL}/support` }),
      idempotencyKey: ctx.idempotencyKey,
    });
  },
};

export const refundFailedNotification: EventHandler<'refund.failed'> = {
  name: 'refund-failed-notification',
  async run(ctx, { paymentId, userId, refundId }) {
    const row = await load(ctx, paymentId);
    if (!row) return;
    await createNotification(ctx, {
      userId,
      type: 'ALERT',
      title: 'Refund failed',
      message: `The refund for your ${row.payment.planName} plan purchase could not be processed. Contact support and we will sort it out.`,
      actionUrl: `${ctx.config.FRONTEND_URL}/support`,
      actionLabel: 'Contact support',
      metadata: { paymentId, refundId },
    });
  },
};

/**
 * The customer paid an order twice: refund the extra payment in full through Razorpay (idempotently;
 * see services/payments/duplicates.ts), then tell them — once, when the refund is initiated or was
 * found already done.
 */
export const duplicateCaptureRefund: EventHandler<'payment.duplicate_captured'> = {
  name: 'duplicate-capture-refund',
  async run(ctx, { paymentId, userId, razorpayPaymentId }) {
    const r = await refundExtraCapture(ctx, { paymentId, razorpayPaymentId });
    if ((r.outcome !== 'initiated' && r.outcome !== 'already_refunded') || !r.payment) return;
    const row = await load(ctx, paymentId);
    if (!row) return;
    const p = row.payment;
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
    if (row.deletedAt) return;
    await sendEmail(ctx, {
      to: row.email,
      email: templates.duplicatePaymentRefunded({ name: row.firstName, planName: p.planName, amount, creditsUrl: creditsUrl(ctx) }),
      idempotencyKey: ctx.idempotencyKey,
    });
  },
};

async function loadDispute(ctx: HandlerContext, disputeId: string) {
  const [row] = await ctx.tx.select().from(paymentDisputes).where(eq(paymentDisputes.id, disputeId));
  return row;
}

export const disputeLostNotification: EventHandler<'payment.dispute_lost'> = {
  name: 'dispute-lost-notification',
  async run(ctx, { paymentId, userId, disputeId }) {
    const row = await load(ctx, paymentId);
    const dispute = await loadDispute(ctx, disputeId);
    if (!row || !dispute) return;
    const amount = formatMoney(dispute.amountDeducted, dispute.currency);
    await createNotification(ctx, {
      userId,
      type: 'ALERT',
      title: 'Payment reversed by your bank',
      message: `Your bank reversed ${amount} of your ${row.payment.planName} plan payment after a dispute; ${dispute.creditsRemoved} credits were removed.`,
      actionUrl: `${ctx.config.FRONTEND_URL}/support`,
      actionLabel: 'Contact support',
      metadata: { paymentId, disputeId },
    });
  },
};

export const disputeLostEmail: EventHandler<'payment.dispute_lost'> = {
  name: 'dispute-lost-email',
  async run(ctx, { paymentId, disputeId }) {
    const row = await load(ctx, paymentId);
    const dispute = await loadDispute(ctx, disputeId);
    if (!row || row.deletedAt || !dispute) return;
    await sendEmail(ctx, {
      to: row.email,
      email: templates.disputeLost({
        name: row.firstName,
        planName: row.payment.planName,
        amount: formatMoney(dispute.amountDeducted, dispute.currency),
        creditsRemoved: dispute.creditsRemoved,
        shortfall: dispute.creditsShortfall,
        supportUrl: `${ctx.config.FRONTEND_URL}/support`,
      }),
      idempotencyKey: ctx.idempotencyKey,
    });
  },
};
