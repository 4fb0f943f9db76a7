import {
  mailDisputeLost,
  mailPaymentFailed,
  mailPaymentRefunded,
  mailPaymentSucceeded,
  mailRefundFailed,
  notifyDisputeLost,
  notifyPaymentFailed,
  notifyPaymentRefunded,
  notifyPaymentSucceeded,
  notifyRefundFailed,
} from '../../services/payments/announce';
import { mailDuplicateRefunded, refundDuplicateCapture } from '../../services/payments/duplicates';
import { scheduleExpiry } from '../../services/payments/expiry';
import { recordReceiptLink } from '../../services/payments/receipts';
import type { EventHandler } from '../types';

/** Schedule the 24 h expiry of a new order through QStash (the daily job is the backstop). */
export const schedulePaymentExpiry: EventHandler<'payment.order_created'> = {
  name: 'payment-expiry-schedule',
  run: (ctx, { paymentId }) => scheduleExpiry(ctx, paymentId),
};

/** Record our own receipt link on the payment. Kept under its old export name so the handler table is unchanged. */
export const paymentReceiptLink: EventHandler<'payment.completed'> = {
  name: 'payment-receipt-link',
  run: (ctx, { paymentId }) => recordReceiptLink(ctx, paymentId),
};

export const paymentSuccessEmail: EventHandler<'payment.completed'> = {
  name: 'payment-success-email',
  run: (ctx, { paymentId }) => mailPaymentSucceeded(ctx, { paymentId, idempotencyKey: ctx.idempotencyKey }),
};

export const paymentSuccessNotification: EventHandler<'payment.completed'> = {
  name: 'payment-success-notification',
  run: (ctx, { paymentId, userId }) => notifyPaymentSucceeded(ctx, { paymentId, userId }),
};

export const paymentFailedEmail: EventHandler<'payment.failed'> = {
  name: 'payment-failed-email',
  run: (ctx, { paymentId }) => mailPaymentFailed(ctx, { paymentId, idempotencyKey: ctx.idempotencyKey }),
};

export const paymentFailedNotification: EventHandler<'payment.failed'> = {
  name: 'payment-failed-notification',
  run: (ctx, { paymentId, userId }) => notifyPaymentFailed(ctx, { paymentId, userId }),
};

export const paymentRefundedEmail: EventHandler<'payment.refunded'> = {
  name: 'payment-refunded-email',
  run: (ctx, { paymentId, refundId }) => mailPaymentRefunded(ctx, { paymentId, refundId, idempotencyKey: ctx.idempotencyKey }),
};

export const paymentRefundedNotification: EventHandler<'payment.refunded'> = {
  name: 'payment-refunded-notification',
  run: (ctx, { paymentId, userId, refundId }) => notifyPaymentRefunded(ctx, { paymentId, userId, refundId }),
};

export const refundFailedEmail: EventHandler<'refund.failed'> = {
  name: 'refund-failed-email',
  run: (ctx, { paymentId }) => mailRefundFailed(ctx, { paymentId, idempotencyKey: ctx.idempotencyKey }),
};

export const refundFailedNotification: EventHandler<'refund.failed'> = {
  name: 'refund-failed-notification',
  run: (ctx, { paymentId, userId, refundId }) => notifyRefundFailed(ctx, { paymentId, userId, refundId }),
};

/** The customer paid an order twice: refund the extra payment in full and notify them once (the mail is its own event). */
export const duplicateCaptureRefund: EventHandler<'payment.duplicate_captured'> = {
  name: 'duplicate-capture-refund',
  run: (ctx, { paymentId, userId, razorpayPaymentId }) => refundDuplicateCapture(ctx, { paymentId, userId, razorpayPaymentId }),
};

export const duplicateRefundEmail: EventHandler<'payment.duplicate_refunded'> = {
  name: 'duplicate-refund-email',
  run: (ctx, { paymentId, razorpayPaymentId }) => mailDuplicateRefunded(ctx, { paymentId, razorpayPaymentId, idempotencyKey: ctx.idempotencyKey }),
};

export const disputeLostNotification: EventHandler<'payment.dispute_lost'> = {
  name: 'dispute-lost-notification',
  run: (ctx, { paymentId, userId, disputeId }) => notifyDisputeLost(ctx, { paymentId, userId, disputeId }),
};

export const disputeLostEmail: EventHandler<'payment.dispute_lost'> = {
  name: 'dispute-lost-email',
  run: (ctx, { paymentId, disputeId }) => mailDisputeLost(ctx, { paymentId, disputeId, idempotencyKey: ctx.idempotencyKey }),
};
