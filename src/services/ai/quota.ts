import { and, count, eq, sql } from 'drizzle-orm';
import { activityLogs } from '../../db/schema';
import { AppError } from '../../lib/errors';
import { describeError, log } from '../../lib/log';
import { withTransaction, type ServiceContext } from '../context';
import { grant, spend } from '../credits';
import { claimSession } from './sessions';

/**
 * Daily AI quota and paid overflow, counted in PostgreSQL (a money path: it fails closed).
 *
 * Every admitted request appends an `ai.request` row to the user's activity log in the same transaction
 * that decides free vs paid, so the count survives session deletion and is visible in the user's log.
 * The transaction first takes a per-user advisory lock: two concurrent requests at the boundary are
 * decided one after the other, so they can never both be free (nor both see the last credit).
 *
 * Beyond AI_DAILY_FREE_REQUESTS a request costs 1 credit (a DEDUCTION through the ledger) when
 * AI_PAID_OVERFLOW is on and the balance allows it; otherwise 429 until the next UTC midnight. A charged
 * request whose model call fails is refunded with a compensating ADJUSTMENT (+1) — the ledger's REFUND
 * type is reserved for payment refunds. Free requests stay counted when the model fails: the upstream
 * call was attempted, and it keeps a reliably-failing prompt from being an unlimited loop.
 */

export const AI_REQUEST_ACTION = 'ai.request';
export const AI_REQUEST_COST = 1;

export interface Reservation {
  userId: string;
  sessionId: string;
  /** The DEDUCTION row when the request is paid; null when it is free. */
  charge: { transactionId: string } | null;
  /** X-RateLimit-* for every answer of this request. */
  headers: Record<string, string>;
}

/** Start of the current UTC day and of the next one (epoch ms). */
function utcDay(now = Date.now()): { start: number; reset: number } {
  const d = new Date(now);
  const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  return { start, reset: start + 86_400_000 };
}

function quotaHeaders(limit: number, remaining: number, reset: number): Record<string, string> {
  return {
    'X-RateLimit-Limit': String(limit),
    'X-RateLimit-Remaining': String(Math.max(0, remaining)),
    'X-RateLimit-Reset': String(Math.floor(reset / 1000)),
  };
}

/**
 * Claim the session for the caller and admit the request (free or paid) in one transaction, or throw
 * 404 (someone else's session) / 429 RATE_LIMITED (quota used, no overflow possible). Nothing is
 * written when it throws.
 */
export async function reserveRequest(ctx: ServiceContext, input: { userId: string; sessionId: string; title: string }): Promise<Reservation> {
  const { userId, sessionId, title } = input;
  const limit = ctx.config.AI_DAILY_FREE_REQUESTS;
  const { reset } = utcDay();
  return withTransaction(ctx, async (tx, ctx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`ai-quota:${userId}`}, 0))`);
    // The UTC day of the database clock, which also stamps the row inserted below.
    const [row] = await tx
      .select({ n: count() })
      .from(activityLogs)
      .where(
        and(
          eq(activityLogs.userId, userId),
          eq(activityLogs.action, AI_REQUEST_ACTION),
          sql`${activityLogs.createdAt} >= date_trunc('day', now() at time zone 'UTC') at time zone 'UTC'`,
        ),
      );
    const used = row?.n ?? 0;
    try {
      await claimSession(ctx, { userId, sessionId, title });
    } catch (err) {
      if (err instanceof AppError) throw new AppError(err.code, err.message, { headers: quotaHeaders(limit, limit - used, reset) });
      throw err;
    }

    if (used < limit) {
      await tx.insert(activityLogs).values({ userId, action: AI_REQUEST_ACTION, metadata: { sessionId, paid: false } });
      return { userId, sessionId, charge: null, headers: quotaHeaders(limit, limit - used - 1, reset) };
    }

    const headers = quotaHeaders(limit, 0, reset);
    const refuse = (message: string) => {
      const retryAfter = Math.max(1, Math.ceil((reset - Date.now()) / 1000));
      return new AppError('RATE_LIMITED', message, {
        details: { limit, remaining: 0, reset: new Date(reset).toISOString(), retryAfter },
        headers: { ...headers, 'Retry-After': String(retryAfter) },
      });
    };
    const exhausted = `You have used all ${limit} free AI assistant requests for today (resets at midnight UTC).`;
    if (!ctx.config.AI_PAID_OVERFLOW) throw refuse(exhausted);
    let transactionId: string;
    try {
      const entry = await spend(ctx, { userId, amount: AI_REQUEST_COST, description: 'AI assistant request', metadata: { sessionId } });
      transactionId = entry.transactionId;
    } catch (err) {
      // spend() checks the balance before writing anything, so the transaction is still usable; we roll it back anyway.
      if (err instanceof AppError && err.code === 'INSUFFICIENT_CREDITS') {
        throw refuse(`${exhausted} Further requests cost ${AI_REQUEST_COST} credit each and your balance is too low.`);
      }
      throw err;
    }
    await tx.insert(activityLogs).values({ userId, action: AI_REQUEST_ACTION, metadata: { sessionId, paid: true, transactionId } });
    return { userId, sessionId, charge: { transactionId }, headers };
  });
}

/** Give back the credit of a paid request whose answer failed. Never throws (the caller is already failing). */
export async function refundRequest(ctx: ServiceContext, input: { reservation: Reservation; reason: string }): Promise<boolean> {
  const { reservation, reason } = input;
  if (!reservation.charge) return false;
  try {
    await grant(ctx, {
      userId: reservation.userId,
      amount: AI_REQUEST_COST,
      type: 'ADJUSTMENT',
      description: 'AI assistant request refund',
      metadata: { sessionId: reservation.sessionId, refundOf: reservation.charge!.transactionId, reason },
    });
    return true;
  } catch (err) {
    log('error', 'ai.refund_failed', { requestId: ctx.requestId, transactionId: reservation.charge.transactionId, error: describeError(err) });
    return false;
  }
}
