import { userState, type OtpPurpose } from '../../durable/user-state';
import { AppError } from '../../lib/errors';
import { withTimeout } from '../../lib/http';
import { describeError, log } from '../../lib/log';
import type { ServiceContext } from '../context';

/**
 * How long a call to the UserState object may take: its slowest calls hand a code to a provider, which gives
 * up after 10 s. An object that has not answered by then is treated as unreachable.
 */
export const USER_STATE_DEADLINE_MS = 15_000;

/** A call to the UserState object (or its per-number and global counters), bounded by USER_STATE_DEADLINE_MS. */
export function userStateCall<T>(what: string, call: () => PromiseLike<T>): Promise<T> {
  return withTimeout(Promise.resolve().then(call), USER_STATE_DEADLINE_MS, `UserState ${what}`);
}

/**
 * Every call to the UserState Durable Object goes through here: if the object cannot be reached, or does not
 * answer in time, the request fails CLOSED with 503 — a strict limit is never skipped.
 * `T` is the declared result type of the UserState method called.
 */
export async function failClosed<T>(what: string, call: () => PromiseLike<unknown>): Promise<T> {
  try {
    // RPC stubs widen union results (and add Disposable); T is the method's declared result type.
    return (await userStateCall(what, call)) as T;
  } catch (err) {
    log('error', 'user_state.unavailable', { what, error: describeError(err) });
    throw new AppError('SERVICE_UNAVAILABLE', 'Verification is temporarily unavailable, try again shortly', {
      details: { retryAfter: 5 },
      headers: { 'Retry-After': '5' },
    });
  }
}

/**
 * After a code verified, the write that records its effect failed with `error`: unless that was one of our
 * own refusals (an AppError: the code did its job), the code is put back so the user can retry with it
 * instead of paying for a new one. Never throws: the write's error is the answer.
 */
export async function restoreCodeAfter(ctx: ServiceContext, input: { userId: string; purpose: OtpPurpose; code: string; error: unknown }): Promise<void> {
  if (input.error instanceof AppError) return;
  try {
    await userStateCall('restoreOtp', () => userState(ctx.env, input.userId).restoreOtp({ userId: input.userId, purpose: input.purpose, code: input.code }));
  } catch (err) {
    log('warn', 'user_state.restore_failed', { purpose: input.purpose, error: describeError(err) });
  }
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));


/**
 * 503 for a code that did not reach the provider's hands. Refused by the provider (`delivery_failed`): nothing
 * was spent, retry at once. Unconfirmed (a timeout or an outage while sending): the code may still arrive and
 * stays valid, and the send stays counted, so the client waits for it (Retry-After) before asking again.
 */
export function deliveryError(r: { reason: 'delivery_failed' | 'delivery_unconfirmed'; retryAfterMs: number }): AppError {
  if (r.reason === 'delivery_failed') return new AppError('SERVICE_UNAVAILABLE', 'The code could not be sent; try again shortly', { details: { reason: 'DELIVERY_FAILED' } });
  const retryAfter = seconds(r.retryAfterMs);
  return new AppError('SERVICE_UNAVAILABLE', 'The code may not have been sent; if it does not arrive, request another later', {
    details: { reason: 'DELIVERY_UNCONFIRMED', retryAfter },
    headers: { 'Retry-After': String(retryAfter) },
  });
}

/** 409 CONFLICT, with `Retry-After` when waiting helps. */
export function conflict(message: string, reason: string, retryAfterMs?: number): AppError {
  if (retryAfterMs === undefined) return new AppError('CONFLICT', message, { details: { reason } });
  const retryAfter = seconds(retryAfterMs);
  return new AppError('CONFLICT', message, { details: { reason, retryAfter }, headers: { 'Retry-After': String(retryAfter) } });
}

/** `+91******3210`: enough for the owner to recognise, useless to anyone else. */
export function maskPhone(e164: string): string {
  if (e164.length <= 7) return e164.replace(/\d(?=\d{2})/g, '*');
  return `${e164.slice(0, 3)}${'*'.repeat(e164.length - 7)}${e164.slice(-4)}`;
}
