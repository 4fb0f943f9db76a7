import { sql } from 'drizzle-orm';
import { bigint, boolean, check, index, integer, jsonb, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { createdAt, timestamptz, updatedAt, uuidPk } from './columns';
import { creditTransactionType, paymentStatus } from './enums';
import { users } from './users';

/**
 * Purchasable credit packs. Seeded by a migration (basic_plan, business_plan, enterprise_plan).
 * `amount` is in the currency's minor unit (paise); amount 0 means "custom pricing, not purchasable".
 * DELETE is refused by trigger plans_no_delete (deactivate with is_active = false instead).
 */
export const plans = pgTable(
  'plans',
  {
    id: uuidPk(),
    /** Business key used by the API and by payments.plan_id, e.g. 'basic_plan'. */
    planId: text('plan_id').notNull().unique('plans_plan_id_uq'),
    name: text('name').notNull().unique('plans_name_uq'),
    amount: integer('amount').notNull(),
    currency: text('currency').notNull().default('INR'),
    credits: integer('credits').notNull(),
    description: text('description'),
    features: text('features').array().notNull().default(sql`'{}'::text[]`),
    isActive: boolean('is_active').notNull().default(true),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('plans_amount_nonnegative_chk', sql`${t.amount} >= 0`),
    check('plans_credits_nonnegative_chk', sql`${t.credits} >= 0`),
    check('plans_currency_chk', sql`${t.currency} ~ '^[A-Z]{3}$'`),
  ],
);

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

/**
 * The credits ledger. Append-only: triggers credit_transactions_no_update / _no_delete (an UPDATE is let through
 * only when nothing but user_id changes, i.e. the ON UPDATE CASCADE of a user re-key).
 * `amount` is signed and never 0; `balance_after` is the user's balance after this row, written by the
 * service under `SELECT … FOR UPDATE` on credit_balances (balance_after = previous balance + amount).
 * `seq` gives a total order (created_at ties inside one transaction, so it cannot order a history).
 * payment_id is NOT unique: a purchase and its refunds all reference the payment;
 * only one PURCHASE row per payment (credit_transactions_one_purchase_per_payment_uq).
 */
export const creditTransactions = pgTable(
  'credit_transactions',
  {
    id: uuidPk(),
    seq: bigint('seq', { mode: 'number' }).notNull().generatedAlwaysAsIdentity(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'restrict', onUpdate: 'cascade' }),
    amount: integer('amount').notNull(),
    balanceAfter: integer('balance_after').notNull(),
    type: creditTransactionType('type').notNull(),
    paymentId: uuid('payment_id').references(() => payments.id, { onDelete: 'restrict' }),
    description: text('description').notNull(),
    metadata: jsonb('metadata').$type<Record<string, unknown>>(),
    createdAt: createdAt(),
  },
  (t) => [
    index('credit_transactions_user_seq_idx').on(t.userId, t.seq),
    index('credit_transactions_user_created_idx').on(t.userId, t.createdAt),
    index('credit_transactions_payment_idx').on(t.paymentId),
    uniqueIndex('credit_transactions_one_initial_allocation_uq')
      .on(t.userId)
      .where(sql`${t.type} = 'INITIAL_ALLOCATION'`),
    uniqueIndex('credit_transactions_one_purchase_per_payment_uq')
      .on(t.paymentId)
      .where(sql`${t.type} = 'PURCHASE'`),
    // A lost dispute takes its credits back once (services/payments/disputes.ts writes metadata.disputeId).
    uniqueIndex('credit_transactions_one_chargeback_per_dispute_uq')
      .on(sql`(${t.metadata} ->> 'disputeId')`)
      .where(sql`${t.type} = 'REFUND' and (${t.metadata} ->> 'disputeId') is not null`),
    check('credit_transactions_amount_nonzero_chk', sql`${t.amount} <> 0`),
    check('credit_transactions_balance_after_nonnegative_chk', sql`${t.balanceAfter} >= 0`),
    // Credits in: PURCHASE, BONUS, INITIAL_ALLOCATION, TRANSFER_IN. Credits out: REFUND (claw-back),
    // DEDUCTION, EXPIRY, TRANSFER_OUT. ADJUSTMENT either way.
    check(
      'credit_transactions_amount_sign_chk',
      sql`case
        when ${t.type} in ('PURCHASE', 'BONUS', 'INITIAL_ALLOCATION', 'TRANSFER_IN') then ${t.amount} > 0
        when ${t.type} in ('REFUND', 'DEDUCTION', 'EXPIRY', 'TRANSFER_OUT') then ${t.amount} < 0
        else true
      end`,
    ),
    check(
      'credit_transactions_payment_required_chk',
      sql`${t.type} not in ('PURCHASE', 'REFUND') or ${t.paymentId} is not null`,
    ),
  ],
);

/**
 * Current balance per user — the row services lock (`SELECT … FOR UPDATE`) before appending to the
 * ledger, so concurrent credit writes serialise. Never negative.
 */
export const creditBalances = pgTable(
  'credit_balances',
  {
    userId: text('user_id')
      .primaryKey()
      .references(() => users.id, { onDelete: 'restrict', onUpdate: 'cascade' }),
    balance: integer('balance').notNull().default(0),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [check('credit_balances_balance_nonnegative_chk', sql`${t.balance} >= 0`)],
);

export type Plan = typeof plans.$inferSelect;
export type Payment = typeof payments.$inferSelect;
export type NewPayment = typeof payments.$inferInsert;
export type PaymentWebhookEvent = typeof paymentWebhookEvents.$inferSelect;
export type PaymentDispute = typeof paymentDisputes.$inferSelect;
export type NewPaymentWebhookEvent = typeof paymentWebhookEvents.$inferInsert;
export type CreditTransaction = typeof creditTransactions.$inferSelect;
export type NewCreditTransaction = typeof creditTransactions.$inferInsert;
export type CreditBalance = typeof creditBalances.$inferSelect;
