import type { Payment } from '../../db/schema';
import { log } from '../../lib/log';

export type PaymentStatus = Payment['status'];

/**
 * Every status change a payment may make, in one table. Anything else is ignored and logged, never
 * applied: a late `payment.failed` for an earlier attempt can never downgrade a COMPLETED payment
 * (webhooks arrive late and out of order), and a refund can never "un-refund".
 *
 * - PENDING → COMPLETED (verify / captured webhook) | FAILED (payment.failed) | CANCELLED (24 h expiry)
 * - FAILED → COMPLETED: the customer retried on the same order and a later attempt was captured.
 * - CANCELLED → COMPLETED: we expired the order but Razorpay still captured a payment for it; we hold
 *   the customer's money, so the credits are due (the alternative is a silent loss for the customer).
 * - COMPLETED → PARTIALLY_REFUNDED | REFUNDED; PARTIALLY_REFUNDED → PARTIALLY_REFUNDED (another
 *   partial refund) | REFUNDED.
 */
export const PAYMENT_TRANSITIONS: Readonly<Record<PaymentStatus, readonly PaymentStatus[]>> = {
  PENDING: ['COMPLETED', 'FAILED', 'CANCELLED'],
  PROCESSING: ['COMPLETED', 'FAILED', 'CANCELLED'],
  FAILED: ['COMPLETED'],
  CANCELLED: ['COMPLETED'],
  COMPLETED: ['PARTIALLY_REFUNDED', 'REFUNDED'],
  PARTIALLY_REFUNDED: ['PARTIALLY_REFUNDED', 'REFUNDED'],
  REFUNDED: [],
};

export const canTransition = (from: PaymentStatus, to: PaymentStatus): boolean => PAYMENT_TRANSITIONS[from].includes(to);

/** Statuses in which the credits of the payment were granted. */
export const PAID_STATUSES: readonly PaymentStatus[] = ['COMPLETED', 'PARTIALLY_REFUNDED', 'REFUNDED'];

/** Check a transition; an illegal one is logged (with why it was attempted) and reported as false. */
export function allowTransition(payment: Pick<Payment, 'id' | 'status'>, to: PaymentStatus, cause: string): boolean {
  if (canTransition(payment.status, to)) return true;
  log('warn', 'payment.illegal_transition_ignored', { paymentId: payment.id, from: payment.status, to, cause });
  return false;
}
