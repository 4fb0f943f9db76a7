import { and, count, desc, eq, type SQL } from 'drizzle-orm';
import { payments } from '../../db/schema';
import { requireCaller, type ServiceContext } from '../context';
import type { PaymentStatus } from './state';

export interface PaymentView {
  id: string;
  orderId: string;
  paymentId: string | null;
  planId: string;
  planName: string;
  /** Paise. */
  amount: number;
  currency: string;
  credits: number;
  status: PaymentStatus;
  paymentMethod: string | null;
  failureReason: string | null;
  refundedAmount: number;
  invoiceUrl: string | null;
  createdAt: string;
  completedAt: string | null;
  refundedAt: string | null;
}

/** The caller's payments, newest first. */
export async function listPayments(ctx: ServiceContext, input: { limit: number; offset: number; status?: PaymentStatus }): Promise<{ items: PaymentView[]; total: number }> {
  const userId = requireCaller(ctx);
  const filters: SQL[] = [eq(payments.userId, userId)];
  if (input.status) filters.push(eq(payments.status, input.status));
  const where = and(...filters);
  const db = ctx.db.write; // a payment just verified must be listed as COMPLETED
  const [rows, [total]] = await Promise.all([
    db.select().from(payments).where(where).orderBy(desc(payments.createdAt), desc(payments.id)).limit(input.limit).offset(input.offset),
    db.select({ n: count() }).from(payments).where(where),
  ]);
  return {
    total: total?.n ?? 0,
    items: rows.map((p) => ({
      id: p.id,
      orderId: p.razorpayOrderId,
      paymentId: p.razorpayPaymentId,
      planId: p.planId,
      planName: p.planName,
      amount: p.amount,
      currency: p.currency,
      credits: p.credits,
      status: p.status,
      paymentMethod: p.paymentMethod,
      failureReason: p.failureReason,
      refundedAmount: p.refundedAmount,
      invoiceUrl: p.invoiceUrl,
      createdAt: p.createdAt.toISOString(),
      completedAt: p.completedAt?.toISOString() ?? null,
      refundedAt: p.refundedAt?.toISOString() ?? null,
    })),
  };
}
