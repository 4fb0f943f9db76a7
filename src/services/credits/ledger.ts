import { eq, sql } from 'drizzle-orm';
import type { Transaction } from '../../db/client';
import { creditBalances, creditTransactions, type CreditTransaction } from '../../db/schema';
import { cacheDel } from '../../lib/cache';
import { cacheKeys } from '../../lib/cache-keys';
import { AppError } from '../../lib/errors';
import { withTransaction, type ServiceContext } from '../context';

/**
 * The credits ledger: the only code that writes credit_transactions and credit_balances.
 *
 * Every change is one append-only ledger row carrying the balance after it. The writer first makes
 * sure the user's credit_balances row exists (`insert … on conflict do nothing`), then locks it
 * (`SELECT … FOR UPDATE`): concurrent changes for one user serialise on that row, so none is lost,
 * and `balance_after` is always the previous balance plus the amount. The database refuses a negative
 * balance (CHECKs on both tables) even if code got it wrong.
 *
 * `grant`, `spend` and `refundCredits` run in the caller's transaction when `ctx` is inside one
 * (`withTransaction`), so a credit change commits or rolls back together with the state change that
 * causes it (a payment marked COMPLETED, a claim recorded…); alone, each opens its own. The cached
 * balance is deleted once that transaction has committed (`ctx.afterCommit`), never before: a read in
 * between would put the old balance back.
 */

export type CreditType = CreditTransaction['type'];
/** Types that add credits (amount > 0). ADJUSTMENT may go either way. */
export type GrantType = 'PURCHASE' | 'BONUS' | 'INITIAL_ALLOCATION' | 'TRANSFER_IN' | 'ADJUSTMENT';
/** Types that remove credits (amount < 0), other than REFUND (see `refundCredits`). */
export type SpendType = 'DEDUCTION' | 'EXPIRY' | 'TRANSFER_OUT' | 'ADJUSTMENT';

export interface LedgerEntryResult {
  transactionId: string;
  userId: string;
  /** Signed amount written to the ledger. */
  amount: number;
  /** The user's balance after this entry. */
  balance: number;
}

interface Entry {
  userId: string;
  type: CreditType;
  amount: number;
  description: string;
  paymentId?: string | null;
  metadata?: Record<string, unknown> | null;
}

/** Create the balance row when missing, then lock it for the rest of the transaction. */
async function lockBalance(tx: Transaction, userId: string): Promise<number> {
  await tx.insert(creditBalances).values({ userId, balance: 0 }).onConflictDoNothing({ target: creditBalances.userId });
  const [row] = await tx.select({ balance: creditBalances.balance }).from(creditBalances).where(eq(creditBalances.userId, userId)).for('update');
  return row!.balance;
}

/** Append one row and move the balance. The caller holds the lock (lockBalance) and checked the sign. */
async function append(ctx: ServiceContext, tx: Transaction, e: Entry, previous: number): Promise<LedgerEntryResult> {
  const balance = previous + e.amount;
  const [row] = await tx
    .insert(creditTransactions)
    .values({
      userId: e.userId,
      type: e.type,
      amount: e.amount,
      balanceAfter: balance,
      paymentId: e.paymentId ?? null,
      description: e.description,
      metadata: e.metadata ?? null,
    })
    .returning({ id: creditTransactions.id });
  await tx.update(creditBalances).set({ balance, updatedAt: sql`now()` }).where(eq(creditBalances.userId, e.userId));
  ctx.afterCommit(() => invalidateCredits(ctx, [e.userId]));
  return { transactionId: row!.id, userId: e.userId, amount: e.amount, balance };
}

const positiveInt = (n: number, what: string) => {
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${what} must be a positive integer, got ${n}`);
};

export interface GrantInput {
  userId: string;
  amount: number;
  type: GrantType;
  description: string;
  paymentId?: string | null;
  metadata?: Record<string, unknown> | null;
}

/**
 * Add `amount` (> 0) credits. A PURCHASE needs its paymentId; the database allows one PURCHASE per
 * payment and one INITIAL_ALLOCATION per user (a second one raises 23505 — see `isUniqueViolation` in db/errors.ts).
 */
export async function grant(ctx: ServiceContext, input: GrantInput): Promise<LedgerEntryResult> {
  positiveInt(input.amount, 'grant amount');
  return withTransaction(ctx, async (tx, ctx) => append(ctx, tx, { ...input }, await lockBalance(tx, input.userId)));
}

export interface SpendInput {
  userId: string;
  amount: number;
  type?: SpendType;
  description: string;
  paymentId?: string | null;
  metadata?: Record<string, unknown> | null;
}

/** Remove `amount` (> 0) credits, or 402 INSUFFICIENT_CREDITS (nothing written) when the balance is lower. */
export async function spend(ctx: ServiceContext, input: SpendInput): Promise<LedgerEntryResult> {
  positiveInt(input.amount, 'spend amount');
  return withTransaction(ctx, async (tx, ctx) => {
    const previous = await lockBalance(tx, input.userId);
    if (previous < input.amount) {
      throw new AppError('INSUFFICIENT_CREDITS', `This needs ${input.amount} credits; your balance is ${previous}`, {
        details: { required: input.amount, balance: previous },
      });
    }
    return append(ctx, tx, { ...input, type: input.type ?? 'DEDUCTION', amount: -input.amount }, previous);
  });
}

export interface RefundInput {
  userId: string;
  /** Credits to take back (> 0). */
  amount: number;
  paymentId: string;
  description: string;
  metadata?: Record<string, unknown> | null;
}

export interface RefundResult {
  /** The REFUND row, or null when the user had no credits left to take back. */
  entry: LedgerEntryResult | null;
  /** Credits actually removed (≤ requested, limited to the balance). */
  removed: number;
  /** Requested minus removed: credits already spent that could not be clawed back. */
  shortfall: number;
  balance: number;
}

/**
 * Claw back up to `amount` credits for a refunded payment: never more than the user still has (the
 * balance cannot go negative). The shortfall is returned and written into the row's metadata.
 */
export async function refundCredits(ctx: ServiceContext, input: RefundInput): Promise<RefundResult> {
  positiveInt(input.amount, 'refund amount');
  return withTransaction(ctx, async (tx, ctx) => {
    const previous = await lockBalance(tx, input.userId);
    const removed = Math.min(previous, input.amount);
    const shortfall = input.amount - removed;
    if (removed === 0) return { entry: null, removed: 0, shortfall, balance: previous };
    const entry = await append(
      ctx,
      tx,
      {
        userId: input.userId,
        type: 'REFUND',
        amount: -removed,
        paymentId: input.paymentId,
        description: input.description,
        metadata: { ...input.metadata, requested: input.amount, removed, shortfall },
      },
      previous,
    );
    return { entry, removed, shortfall, balance: entry.balance };
  });
}

/** Drop the cached balance of these users. The ledger does it after every commit that changed them. */
export async function invalidateCredits(ctx: ServiceContext, userIds: string[]): Promise<void> {
  const keys = cacheKeys(ctx.config);
  const unique = [...new Set(userIds)];
  if (unique.length) await cacheDel(ctx.config, ...unique.map((id) => keys.creditBalance(id)));
}
