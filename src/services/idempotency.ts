import { and, eq, isNull, lte, or, sql } from 'drizzle-orm';
import { idempotencyKeys } from '../db/schema';
import { AppError } from '../lib/errors';
import { requireCaller, type ServiceContext } from './context';

/** How long a stored response answers replays of its key. */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;
/** An in-flight claim older than this is considered abandoned (crashed request): the same request may take it over. */
export const IN_FLIGHT_STALE_SECONDS = 60;

/** `fresh` carries the claim's token: storing or releasing the claim needs it. */
export type IdempotencyClaim = { kind: 'fresh'; token: string } | { kind: 'replay'; status: number; body: unknown };

interface KeyRef {
  userId: string;
  key: string;
}

/** Keys are per user: the caller's. */
const refOf = (ctx: ServiceContext, key: string): KeyRef => ({ userId: requireCaller(ctx), key });

/**
 * Claim the caller's `key` for a request whose hash is `requestHash`:
 *  - first use, an expired row, or an abandoned in-flight row of the same request → `fresh` (the caller
 *    runs the request) with a new random token;
 *  - same hash with a stored response → `replay` it;
 *  - same key, different request → 409 DUPLICATE_REQUEST;
 *  - same key still in flight → 409 DUPLICATE_REQUEST (with Retry-After).
 * Every step is one atomic statement, so two concurrent first uses cannot both run. A takeover gives the
 * claim a new token, so the request that was thought abandoned can no longer store or release it.
 */
export async function claimIdempotencyKey(ctx: ServiceContext, input: { key: string; requestHash: string }): Promise<IdempotencyClaim> {
  const ref = refOf(ctx, input.key);
  const { requestHash } = input;
  const db = ctx.db.write;
  const expiresAt = sql`now() + make_interval(secs => ${IDEMPOTENCY_TTL_SECONDS})`;
  const token = crypto.randomUUID();
  const inserted = await db
    .insert(idempotencyKeys)
    .values({ userId: ref.userId, key: ref.key, requestHash, claimToken: token, expiresAt })
    .onConflictDoNothing()
    .returning({ key: idempotencyKeys.key });
  if (inserted.length) return { kind: 'fresh', token };

  // Take over an expired row, or an abandoned claim for the same request: a different request under the
  // key is refused below however long the first has been running (the condition is evaluated atomically).
  const taken = await db
    .update(idempotencyKeys)
    .set({ requestHash, claimToken: token, responseStatus: null, responseBody: null, createdAt: sql`now()`, expiresAt })
    .where(
      and(
        match(ref),
        or(
          lte(idempotencyKeys.expiresAt, sql`now()`),
          and(
            isNull(idempotencyKeys.responseStatus),
            eq(idempotencyKeys.requestHash, requestHash),
            lte(idempotencyKeys.createdAt, sql`now() - make_interval(secs => ${IN_FLIGHT_STALE_SECONDS})`),
          ),
        ),
      ),
    )
    .returning({ key: idempotencyKeys.key });
  if (taken.length) return { kind: 'fresh', token };

  const [row] = await db.select().from(idempotencyKeys).where(match(ref));
  if (!row) return claimIdempotencyKey(ctx, input); // deleted in between: start over
  if (row.requestHash !== requestHash) {
    throw new AppError('DUPLICATE_REQUEST', 'This Idempotency-Key was already used for a different request', {
      details: { reason: 'KEY_REUSED' },
    });
  }
  if (row.responseStatus === null) {
    throw new AppError('DUPLICATE_REQUEST', 'A request with this Idempotency-Key is still being processed', {
      details: { reason: 'IN_PROGRESS' },
      headers: { 'Retry-After': '1' },
    });
  }
  return { kind: 'replay', status: row.responseStatus, body: row.responseBody };
}

/**
 * Store the response of a claimed key, for replays during the next 24 h. False when the claim is no longer
 * this request's (taken over as abandoned): the newer request's claim is left alone.
 */
export async function storeIdempotentResponse(
  ctx: ServiceContext,
  input: { key: string; token: string; status: number; body: unknown },
): Promise<boolean> {
  const stored = await ctx.db.write
    .update(idempotencyKeys)
    .set({ responseStatus: input.status, responseBody: input.body })
    .where(held(refOf(ctx, input.key), input.token))
    .returning({ key: idempotencyKeys.key });
  return stored.length > 0;
}

/** Forget a claim whose request failed, so a retry with the same key runs again; only the claim's holder can. */
export async function releaseIdempotencyKey(ctx: ServiceContext, input: { key: string; token: string }): Promise<void> {
  await ctx.db.write.delete(idempotencyKeys).where(held(refOf(ctx, input.key), input.token));
}

const match = (ref: KeyRef) => and(eq(idempotencyKeys.userId, ref.userId), eq(idempotencyKeys.key, ref.key));

/** The key's in-flight claim, if it is still the one `token` was given for. */
const held = (ref: KeyRef, token: string) =>
  and(match(ref), eq(idempotencyKeys.claimToken, token), isNull(idempotencyKeys.responseStatus));
