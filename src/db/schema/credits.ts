import { sql } from 'drizzle-orm';
import { bigint, check, index, integer, jsonb, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { createdAt, updatedAt, uuidPk } from './columns';
import { creditTransactionType } from './enums';
import { payments } from './payments';
import { users } from './users';

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

export type CreditTransaction = typeof creditTransactions.$inferSelect;
export type NewCreditTransaction = typeof creditTransactions.$inferInsert;
export type CreditBalance = typeof creditBalances.$inferSelect;
