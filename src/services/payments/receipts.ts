import { and, eq, isNull } from 'drizzle-orm';
import { payments } from '../../db/schema';
import type { ServiceContext } from '../context';
import { FRONTEND_PAGES, frontendUrl } from '../../lib/frontend-pages';

/**
 * Our own receipt page for a payment. Deliberately NOT a Razorpay invoice: an invoice's short_url is a
 * payment page for an issued (unpaid) invoice — Razorpay's create-invoice API cannot mark it paid — so
 * linking it from the receipt of an order we already charged would invite the customer to pay twice.
 */
export const receiptUrl = (ctx: ServiceContext, paymentId: string): string => frontendUrl(ctx, FRONTEND_PAGES.payment(paymentId));

/**
 * `payment.completed`: record the receipt link on the payment (payments.invoice_url, listed by
 * GET /payments/history and the data export). No call to Razorpay; a link already set is kept.
 */
export async function recordReceiptLink(ctx: ServiceContext, paymentId: string): Promise<void> {
  await ctx.db.write
    .update(payments)
    .set({ invoiceUrl: receiptUrl(ctx, paymentId) })
    .where(and(eq(payments.id, paymentId), isNull(payments.invoiceUrl)));
}
