import { and, eq } from 'drizzle-orm';
import type { Database, Transaction } from '../../db/client';
import { creditTransactions, users } from '../../db/schema';
import { CLAIM_POLICY, userState, type ClaimStart } from '../../durable/user-state';
import { emit } from '../../events/outbox';
import { AppError, tooMany } from '../../lib/errors';
import { describeError, log } from '../../lib/log';
import { logActivity } from '../activity';
import { isUniqueViolation } from '../../db/errors';
import { requireCaller, withTransaction, type ServiceContext } from '../context';
import { grant } from '../credits/ledger';
import { conflict, failClosed, userStateCall } from './strict';

/** The one-time welcome grant, claimable once a phone number is verified. */
export const FREE_CREDITS = 200;
const FREE_CREDITS_DESCRIPTION = 'Welcome bonus - Free credits for all users';

export interface Eligibility {
  canClaim: boolean;
  hasClaimed: boolean;
  phoneVerified: boolean;
  hasPhoneNumber: boolean;
}

async function readEligibility(db: Database | Transaction, userId: string): Promise<Eligibility> {
  const [row] = await db.select({ phoneNumber: users.phoneNumber, phoneVerifiedAt: users.phoneVerifiedAt }).from(users).where(eq(users.id, userId));
  if (!row) throw new AppError('NOT_FOUND', 'User not found');
  const grant = await db
    .select({ id: creditTransactions.id })
    .from(creditTransactions)
    .where(and(eq(creditTransactions.userId, userId), eq(creditTransactions.type, 'INITIAL_ALLOCATION')))
    .limit(1);
  const hasClaimed = grant.length > 0;
  const phoneVerified = row.phoneVerifiedAt !== null;
  return { canClaim: !hasClaimed && phoneVerified, hasClaimed, phoneVerified, hasPhoneNumber: row.phoneNumber !== null };
}

/**
 * GET /credits/eligibility: computed from the database on every call (no cached flag can go stale and
 * offer a grant twice or not at all), on the primary so it agrees with a claim or verification just made.
 */
export async function getEligibility(ctx: ServiceContext): Promise<Eligibility> {
  return readEligibility(ctx.db.write, requireCaller(ctx));
}

export interface ClaimResult {
  creditsAdded: number;
  balance: number;
  transactionId: string;
}

/**
 * POST /credits/claim. The UserState object lets one claim per user run at a time (a concurrent one is
 * 409) and counts attempts (3 per 24 h, 429). Inside that slot: already claimed → 409 (the attempt is
 * given back); no verified phone → 403; else one transaction grants 200 INITIAL_ALLOCATION credits
 * through the ledger with its activity row and event. The partial unique index (one INITIAL_ALLOCATION
 * per user) is the final guard: a violation is 409.
 */
export async function claimFreeCredits(ctx: ServiceContext, meta: { ip: string | null }): Promise<ClaimResult> {
  const userId = requireCaller(ctx);
  const state = userState(ctx.env, userId);
  const slot = await failClosed<ClaimStart>('beginClaim', () => state.beginClaim());
  if (!slot.ok) {
    if (slot.reason === 'in_progress') throw conflict('A claim is already being processed', 'CLAIM_IN_PROGRESS', slot.retryAfterMs);
    throw tooMany(`At most ${CLAIM_POLICY.attempts.limit} claim attempts per 24 hours`, slot.retryAfterMs, { reason: 'CLAIM_LIMIT' });
  }
  let refund = false;
  try {
    const now = await readEligibility(ctx.db.write, userId);
    if (now.hasClaimed) {
      refund = true;
      throw conflict('Free credits have already been claimed', 'ALREADY_CLAIMED');
    }
    if (!now.phoneVerified) {
      throw new AppError('FORBIDDEN', 'Verify your phone number before claiming free credits', { details: { reason: 'PHONE_NOT_VERIFIED', requiresVerification: true } });
    }
    return await withTransaction(ctx, async (tx, ctx) => {
      // Lock the user row: a phone change cannot slip in between this check and the grant.
      const [user] = await tx.select({ verified: users.phoneVerifiedAt }).from(users).where(eq(users.id, userId)).for('share');
      if (!user?.verified) throw new AppError('FORBIDDEN', 'Verify your phone number before claiming free credits', { details: { reason: 'PHONE_NOT_VERIFIED', requiresVerification: true } });
      const entry = await grant(ctx, {
        userId,
        type: 'INITIAL_ALLOCATION',
        amount: FREE_CREDITS,
        description: FREE_CREDITS_DESCRIPTION,
        metadata: { type: 'free_credits_claim' }, // no IP/user agent: the ledger is append-only and can never be erased
      });
      await logActivity(ctx, { userId, action: 'credits.claimed', level: 'INFO', metadata: { amount: FREE_CREDITS, transactionId: entry.transactionId } });
      await emit(tx, ctx.events, 'credits.free_claimed', { userId, transactionId: entry.transactionId });
      return { creditsAdded: FREE_CREDITS, balance: entry.balance, transactionId: entry.transactionId };
    });
  } catch (err) {
    if (isUniqueViolation(err, 'credit_transactions_one_initial_allocation_uq')) {
      refund = true;
      throw conflict('Free credits have already been claimed', 'ALREADY_CLAIMED');
    }
    throw err;
  } finally {
    await userStateCall('endClaim', () => state.endClaim({ refund })).catch((err: unknown) => log('warn', 'user_state.end_claim_failed', { error: describeError(err) }));
  }
}
