import { sql } from 'drizzle-orm';
import { check, index, integer, jsonb, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { createdAt, timestamptz, updatedAt, uuidPk } from './columns';
import { paymentStatus } from './enums';
import { plans } from './plans';
import { users } from './users';

/**
 * One Razorpay order and its outcome. Rows are never deleted (trigger payments_no_delete).
 * Amounts in paise. plan_name/amount/credits are copied from the plan at order time.
 */
export const payments = pgTable(
  'payments',
  {
    id: uuidPk(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'restrict', onUpdate: 'cascade' }),
    razorpayOrderId: text('razorpay_order_id').notNull().unique('payments_razorpay_order_id_uq'),
    razorpayPaymentId: text('razorpay_payment_id').unique('payments_razorpay_payment_id_uq'),
    planId: text('plan_id')
      .notNull()
      .references(() => plans.planId, { onDelete: 'restrict' }),
    planName: text('plan_name').notNull(),
    amount: integer('amount').notNull(),
    currency: text('currency').notNull().default('INR'),
    credits: integer('credits').notNull(),
    status: paymentStatus('status').notNull().default('PENDING'),
    paymentMethod: text('payment_method'),
    failureReason: text('failure_reason'),
    /** Total refunded so far, in paise (refunds may be partial and several). */
    refundedAmount: integer('refunded_amount').notNull().default(0),
    refundedAt: timestamptz('refunded_at'),
    invoiceUrl: text('invoice_url'),
    razorpayInvoiceId: text('razorpay_invoice_id').unique('payments_razorpay_invoice_id_uq'),
    /** Client Idempotency-Key of the create-order call; unique per user when present. */
    idempotencyKey: text('idempotency_key'),
    ipAddress: text('ip_address'),
    userAgent: text('user_agent'),
    notes: jsonb('notes').$type<Record<string, unknown>>(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    completedAt: timestamptz('completed_at'),
  },
  (t) => [
    index('payments_user_created_idx').on(t.userId, t.createdAt),
    index('payments_status_created_idx').on(t.status, t.createdAt),
    index('payments_plan_idx').on(t.planId),
    uniqueIndex('payments_user_idempotency_key_uq')
      .on(t.userId, t.idempotencyKey)
      .where(sql`${t.idempotencyKey} is not null`),
    check('payments_amount_positive_chk', sql`${t.amount} > 0`),
    check('payments_credits_nonnegative_chk', sql`${t.credits} >= 0`),
    check('payments_currency_chk', sql`${t.currency} ~ '^[A-Z]{3}$'`),
    check('payments_refunded_amount_chk', sql`${t.refundedAmount} >= 0 and ${t.refundedAmount} <= ${t.amount}`),
    // A payment that was paid (and possibly refunded since) knows its Razorpay payment id and completion time.
    check(
      'payments_completed_fields_chk',
      sql`${t.status} not in ('COMPLETED', 'REFUNDED', 'PARTIALLY_REFUNDED') or (${t.razorpayPaymentId} is not null and ${t.completedAt} is not null)`,
    ),
  ],
);

/**
 * Every Razorpay webhook delivery we accepted, deduplicated on Razorpay's event id
 * (x-razorpay-event-id — not the event type) AND on the SHA-256 of the signed raw body: the same signed
 * body replayed under a new event id is the same event and has no second effect.
 */
export const paymentWebhookEvents = pgTable(
  'payment_webhook_events',
  {
    id: uuidPk(),
    razorpayEventId: text('razorpay_event_id').notNull().unique('payment_webhook_events_razorpay_event_id_uq'),
    eventType: text('event_type').notNull(),
    paymentId: uuid('payment_id').references(() => payments.id),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    signature: text('signature'),
    /** Hex SHA-256 of the raw body the signature covers (null on rows recorded before it was kept). */
    bodySha256: text('body_sha256').unique('payment_webhook_events_body_sha256_uq'),
    processedAt: timestamptz('processed_at'),
    errorMessage: text('error_message'),
    createdAt: createdAt(),
  },
  (t) => [
    index('payment_webhook_events_payment_idx').on(t.paymentId),
    index('payment_webhook_events_type_created_idx').on(t.eventType, t.createdAt),
  ],
);

/**
 * Razorpay disputes (chargebacks) raised against our payments, one row per disp_… id, kept current by
 * the payment.dispute.* webhooks. A lost dispute takes the payment's credits back through the ledger
 * (proportionally to the amount deducted; never below a zero balance): what was taken and what had
 * already been spent (the shortfall) are recorded here.
 */
export const paymentDisputes = pgTable(
  'payment_disputes',
  {
    id: uuidPk(),
    razorpayDisputeId: text('razorpay_dispute_id').notNull().unique('payment_disputes_razorpay_dispute_id_uq'),
    paymentId: uuid('payment_id')
      .notNull()
      .references(() => payments.id, { onDelete: 'restrict' }),
    /** open, under_review, action_required, won, lost or closed (Razorpay's dispute status). */
    status: text('status').notNull(),
    phase: text('phase'),
    reasonCode: text('reason_code'),
    /** Disputed amount and, once lost, the amount Razorpay deducted (minor units). */
    amount: integer('amount').notNull(),
    amountDeducted: integer('amount_deducted').notNull().default(0),
    currency: text('currency').notNull(),
    creditsRemoved: integer('credits_removed').notNull().default(0),
    /** Credits the lost dispute should have taken back but the user had already spent. */
    creditsShortfall: integer('credits_shortfall').notNull().default(0),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    resolvedAt: timestamptz('resolved_at'),
  },
  (t) => [
    index('payment_disputes_payment_idx').on(t.paymentId),
    check('payment_disputes_amounts_chk', sql`${t.amount} >= 0 and ${t.amountDeducted} >= 0`),
    check('payment_disputes_credits_chk', sql`${t.creditsRemoved} >= 0 and ${t.creditsShortfall} >= 0`),
  ],
);

export type Payment = typeof payments.$inferSelect;
export type NewPayment = typeof payments.$inferInsert;
export type PaymentWebhookEvent = typeof paymentWebhookEvents.$inferSelect;
export type PaymentDispute = typeof paymentDisputes.$inferSelect;
export type NewPaymentWebhookEvent = typeof paymentWebhookEvents.$inferInsert;
