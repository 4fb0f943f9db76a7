import { and, count, desc, eq, type SQL } from 'drizzle-orm';
import { creditBalances, creditTransactions, payments } from '../../db/schema';
import { cached } from '../../lib/cache';
import { cacheKeys } from '../../lib/cache-keys';
import { requireCaller, type ServiceContext } from '../context';
import type { CreditType } from './ledger';

export * from './ledger';

/**
 * The caller's balance, cached under credits:balance:<userId> and deleted after every ledger write
 * commits, so a purchase shows on the very next read (a buyer who sees no credits pays twice). Filled from the primary:
 * a lagging replica must not put the pre-write balance back into the cache for a whole TTL.
 */
export async function getBalance(ctx: ServiceContext): Promise<{ balance: number }> {
  const userId = requireCaller(ctx);
  return cached(ctx.config, cacheKeys(ctx.config).creditBalance(userId), async () => {
    const [row] = await ctx.db.write.select({ balance: creditBalances.balance }).from(creditBalances).where(eq(creditBalances.userId, userId));
    return { balance: row?.balance ?? 0 };
  });
}

export interface CreditHistoryInput {
  limit: number;
  offset: number;
  type?: CreditType;
}

export interface CreditHistoryRow {
  id: string;
  type: CreditType;
  /** Signed: positive adds credits, negative removes them. */
  amount: number;
  balanceAfter: number;
  description: string;
  metadata: Record<string, unknown> | null;
  createdAt: string;
  payment: {
    id: string;
    razorpayOrderId: string;
    razorpayPaymentId: string | null;
    planId: string;
    planName: string;
    amount: number;
    currency: string;
    status: string;
  } | null;
}

/**
 * The caller's ledger rows, newest first (by `seq`, which is strictly ordered even inside one
 * transaction), each with a summary of its payment. Not cached: it is one indexed query on
 * (user_id, seq) and a per-shape cache would need versioned invalidation for little gain.
 */
export async function listCreditHistory(ctx: ServiceContext, input: CreditHistoryInput): Promise<{ items: CreditHistoryRow[]; total: number }> {
  const userId = requireCaller(ctx);
  const filters: SQL[] = [eq(creditTransactions.userId, userId)];
  if (input.type) filters.push(eq(creditTransactions.type, input.type));
  const where = and(...filters);
  // Primary: the history must agree with a balance that was just read after a write.
  const db = ctx.db.write;
  const [rows, [total]] = await Promise.all([
    db
      .select({
        t: creditTransactions,
        p: {
          id: payments.id,
          razorpayOrderId: payments.razorpayOrderId,
          razorpayPaymentId: payments.razorpayPaymentId,
          planId: payments.planId,
          planName: payments.planName,
          amount: payments.amount,
          currency: payments.currency,
          status: payments.status,
        },
      })
      .from(creditTransactions)
      .leftJoin(payments, eq(payments.id, creditTransactions.paymentId))
      .where(where)
      .orderBy(desc(creditTransactions.seq))
      .limit(input.limit)
      .offset(input.offset),
    db.select({ n: count() }).from(creditTransactions).where(where),
  ]);
  return {
    total: total?.n ?? 0,
    items: rows.map(({ t, p }) => ({
      id: t.id,
      type: t.type,
      amount: t.amount,
      balanceAfter: t.balanceAfter,
      description: t.description,
      metadata: t.metadata ?? null,
      createdAt: t.createdAt.toISOString(),
      payment: p && p.id ? p : null,
    })),
  };
}
