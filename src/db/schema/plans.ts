import { sql } from 'drizzle-orm';
import { boolean, check, integer, pgTable, text } from 'drizzle-orm/pg-core';
import { createdAt, updatedAt, uuidPk } from './columns';

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

export type Plan = typeof plans.$inferSelect;
