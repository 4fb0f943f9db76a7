/** Payments: Razorpay orders, checkout verification, webhooks, refunds, expiry. See state.ts for the state machine. */
export { completePayment, type CaptureFacts, type CompleteInput, type CompleteResult } from './complete';
export { cancelStalePayments, expireStalePayment, ORDER_TTL_MS, paymentExpiryMessageId, type ExpireInput, type ExpiryOutcome } from './expiry';
export { listPayments, type PaymentView } from './history';
export { createOrder, requirePayments, type CreatedOrder, type CreateOrderInput } from './orders';
export { applyRefund, type RefundOutcome } from './refunds';
export { canTransition, PAID_STATUSES, PAYMENT_TRANSITIONS, type PaymentStatus } from './state';
export { verifyPayment, type VerifyInput, type VerifyResult } from './verify';
export { refundExtraCapture, type DuplicateRefundResult } from './duplicates';
export { processRazorpayWebhook, RazorpayWebhookBody, type WebhookInput, type WebhookResult } from './webhook';
