import { eq } from 'drizzle-orm';
import { paymentDisputes, payments, users } from '../../db/schema';
import type { ServiceContext } from '../context';
import { sendEmail } from '../email/send';
import { templates } from '../email/templates';
import { createNotification } from '../notifications/create';
import { formatMoney } from './money';
import { receiptUrl } from './receipts';
import type { RefundNote } from './refunds';
import { FRONTEND_PAGES, frontendUrl } from '../../lib/frontend-pages';

// The queue side of the payment events: the buyer's mail and in-app notification for each. Each reads the
// payment at delivery time (payloads carry ids only) and re-checks that the message is still due; a deleted
// account still gets its notifications (they are kept with the account) but no mail.

interface PaymentMail {
  paymentId: string;
  idempotencyKey: string;
}

interface PaymentNotice {
  paymentId: string;
  userId: string;
}

/** The payment with its buyer's contact details. */
export async function paymentWithBuyer(ctx: ServiceContext, paymentId: string) {
  const [row] = await ctx.db.write
    .select({ payment: payments, email: users.email, firstName: users.firstName, lastName: users.lastName, deletedAt: users.deletedAt })
    .from(payments)
    .innerJoin(users, eq(users.id, payments.userId))
    .where(eq(payments.id, paymentId));
  return row;
}

export const creditsUrl = (ctx: ServiceContext): string => frontendUrl(ctx, FRONTEND_PAGES.credits);

export async function mailPaymentSucceeded(ctx: ServiceContext, input: PaymentMail): Promise<void> {
  const row = await paymentWithBuyer(ctx, input.paymentId);
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
      invoiceUrl: receiptUrl(ctx, p.id),
      creditsUrl: creditsUrl(ctx),
    }),
    idempotencyKey: input.idempotencyKey,
  });
}

export async function notifyPaymentSucceeded(ctx: ServiceContext, input: PaymentNotice): Promise<void> {
  const { paymentId, userId } = input;
  const row = await paymentWithBuyer(ctx, paymentId);
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
}

export async function mailPaymentFailed(ctx: ServiceContext, input: PaymentMail): Promise<void> {
  const row = await paymentWithBuyer(ctx, input.paymentId);
  if (!row || row.deletedAt || row.payment.status !== 'FAILED') return; // completed by a later attempt meanwhile
  await sendEmail(ctx, {
    to: row.email,
    email: templates.paymentFailed({
      name: row.firstName,
      planName: row.payment.planName,
      amount: formatMoney(row.payment.amount, row.payment.currency),
      reason: row.payment.failureReason,
      retryUrl: frontendUrl(ctx, FRONTEND_PAGES.pricing),
    }),
    idempotencyKey: input.idempotencyKey,
  });
}

export async function notifyPaymentFailed(ctx: ServiceContext, input: PaymentNotice): Promise<void> {
  const { paymentId, userId } = input;
  const row = await paymentWithBuyer(ctx, paymentId);
  if (!row || row.payment.status !== 'FAILED') return;
  await createNotification(ctx, {
    userId,
    type: 'ALERT',
    title: 'Payment failed',
    message: `Your payment for the ${row.payment.planName} plan failed${row.payment.failureReason ? `: ${row.payment.failureReason}` : '.'}`,
    actionUrl: frontendUrl(ctx, FRONTEND_PAGES.pricing),
    actionLabel: 'Try again',
    metadata: { paymentId },
  });
}

function refundNote(payment: { notes: Record<string, unknown> | null }, refundId: string): RefundNote | undefined {
  return (payment.notes?.refunds as Record<string, RefundNote> | undefined)?.[refundId];
}

export async function mailPaymentRefunded(ctx: ServiceContext, input: PaymentMail & { refundId: string }): Promise<void> {
  const row = await paymentWithBuyer(ctx, input.paymentId);
  if (!row || row.deletedAt) return;
  const note = refundNote(row.payment, input.refundId);
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
    idempotencyKey: input.idempotencyKey,
  });
}

export async function notifyPaymentRefunded(ctx: ServiceContext, input: PaymentNotice & { refundId: string }): Promise<void> {
  const { paymentId, userId, refundId } = input;
  const row = await paymentWithBuyer(ctx, paymentId);
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
}

export async function mailRefundFailed(ctx: ServiceContext, input: PaymentMail): Promise<void> {
  const row = await paymentWithBuyer(ctx, input.paymentId);
  if (!row || row.deletedAt) return;
  await sendEmail(ctx, {
    to: row.email,
    email: templates.refundFailed({ name: row.firstName, planName: row.payment.planName, supportUrl: frontendUrl(ctx, FRONTEND_PAGES.support) }),
    idempotencyKey: input.idempotencyKey,
  });
}

export async function notifyRefundFailed(ctx: ServiceContext, input: PaymentNotice & { refundId: string }): Promise<void> {
  const { paymentId, userId, refundId } = input;
  const row = await paymentWithBuyer(ctx, paymentId);
  if (!row) return;
  await createNotification(ctx, {
    userId,
    type: 'ALERT',
    title: 'Refund failed',
    message: `The refund for your ${row.payment.planName} plan purchase could not be processed. Contact support and we will sort it out.`,
    actionUrl: frontendUrl(ctx, FRONTEND_PAGES.support),
    actionLabel: 'Contact support',
    metadata: { paymentId, refundId },
  });
}

async function dispute(ctx: ServiceContext, disputeId: string) {
  const [row] = await ctx.db.write.select().from(paymentDisputes).where(eq(paymentDisputes.id, disputeId));
  return row;
}

export async function notifyDisputeLost(ctx: ServiceContext, input: PaymentNotice & { disputeId: string }): Promise<void> {
  const { paymentId, userId, disputeId } = input;
  const row = await paymentWithBuyer(ctx, paymentId);
  const lost = await dispute(ctx, disputeId);
  if (!row || !lost) return;
  const amount = formatMoney(lost.amountDeducted, lost.currency);
  await createNotification(ctx, {
    userId,
    type: 'ALERT',
    title: 'Payment reversed by your bank',
    message: `Your bank reversed ${amount} of your ${row.payment.planName} plan payment after a dispute; ${lost.creditsRemoved} credits were removed.`,
    actionUrl: frontendUrl(ctx, FRONTEND_PAGES.support),
    actionLabel: 'Contact support',
    metadata: { paymentId, disputeId },
  });
}

export async function mailDisputeLost(ctx: ServiceContext, input: PaymentMail & { disputeId: string }): Promise<void> {
  const row = await paymentWithBuyer(ctx, input.paymentId);
  const lost = await dispute(ctx, input.disputeId);
  if (!row || row.deletedAt || !lost) return;
  await sendEmail(ctx, {
    to: row.email,
    email: templates.disputeLost({
      name: row.firstName,
      planName: row.payment.planName,
      amount: formatMoney(lost.amountDeducted, lost.currency),
      creditsRemoved: lost.creditsRemoved,
      shortfall: lost.creditsShortfall,
      supportUrl: frontendUrl(ctx, FRONTEND_PAGES.support),
    }),
    idempotencyKey: input.idempotencyKey,
  });
}
