import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { PHONE_NUMBER_CAPS, phoneNumberState, phoneSendsState, type NamedLimit, type StrictLimitResult } from '../../durable/user-state';
import { AppError, tooMany } from '../../lib/errors';
import { describeError, log } from '../../lib/log';
import type { ServiceContext } from '../context';
import { failClosed, maskPhone, userStateCall } from './strict';

/**
 * Caps on phone codes that hold across accounts, against SMS pumping (codes requested for premium or
 * attacker-owned numbers from many accounts): per number 3 an hour and 10 a day, and a deployment-wide
 * hourly total (PHONE_OTP_GLOBAL_HOURLY_CAP). Both counters live in Durable Objects and fail closed: an
 * unreachable counter refuses the send (503), it is never skipped.
 */

const HOUR_MS = 3_600_000;
export const NUMBER_LIMITS: NamedLimit[] = [
  { key: 'phone-sends:hour', spec: PHONE_NUMBER_CAPS.hour },
  { key: 'phone-sends:day', spec: PHONE_NUMBER_CAPS.day },
];
const GLOBAL_KEY = 'phone-sends:hour';

/** 400 when PHONE_OTP_ALLOWED_COUNTRIES is set and the number's country is not in it. */
export function assertCountryAllowed(ctx: ServiceContext, e164: string): void {
  const allowed = ctx.config.PHONE_OTP_ALLOWED_COUNTRIES;
  if (!allowed.length) return;
  const country = parsePhoneNumberFromString(e164)?.country;
  if (!country || !allowed.includes(country)) {
    throw new AppError('VALIDATION_ERROR', 'Verification codes cannot be sent to numbers of this country', {
      details: { reason: 'COUNTRY_NOT_ALLOWED', allowed },
    });
  }
}

export interface SendReservation {
  /** Give the reserved units back: the code was not sent after all. Never throws. */
  release(): Promise<void>;
}

/**
 * Count one code against the number's caps, then against the global hourly cap — or refuse:
 *  - number capped → 429 RATE_LIMITED (reason NUMBER_LIMIT) with Retry-After;
 *  - deployment capped → 503 SERVICE_UNAVAILABLE (reason SEND_CAPACITY) with Retry-After, logged at
 *    error level (an attack in progress, or a cap set too low: either way an operator should look);
 *  - a counter unreachable → 503 (failClosed).
 * The caller releases the reservation when its own checks refuse the send or the delivery fails.
 */
export async function reservePhoneSend(ctx: ServiceContext, e164: string): Promise<SendReservation> {
  const number = phoneNumberState(ctx.env, e164);
  const perNumber = await failClosed<StrictLimitResult>('phoneNumberCaps', () => number.hitAll(NUMBER_LIMITS));
  if (!perNumber.allowed) {
    log('warn', 'phone_otp.number_capped', { phone: maskPhone(e164), requestId: ctx.requestId });
    throw tooMany('Too many codes were sent to this number; try again later', perNumber.retryAfterMs, { reason: 'NUMBER_LIMIT' });
  }
  const releaseNumber = () => giveBack('phoneNumberCaps', () => number.refundAll(NUMBER_LIMITS.map((l) => l.key)));

  const cap = ctx.config.PHONE_OTP_GLOBAL_HOURLY_CAP;
  const global = phoneSendsState(ctx.env);
  let total: StrictLimitResult;
  try {
    total = await failClosed<StrictLimitResult>('phoneSendsCap', () => global.hitAll([{ key: GLOBAL_KEY, spec: { limit: cap, windowMs: HOUR_MS } }]));
  } catch (err) {
    await releaseNumber();
    throw err;
  }
  if (!total.allowed) {
    await releaseNumber();
    log('error', 'phone_otp.global_cap_reached', { cap, retryAfterMs: total.retryAfterMs, requestId: ctx.requestId });
    const retryAfter = Math.max(1, Math.ceil(total.retryAfterMs / 1000));
    throw new AppError('SERVICE_UNAVAILABLE', 'Verification codes cannot be sent right now; try again later', {
      details: { reason: 'SEND_CAPACITY', retryAfter },
      headers: { 'Retry-After': String(retryAfter) },
    });
  }
  return {
    release: async () => {
      await Promise.all([releaseNumber(), giveBack('phoneSendsCap', () => global.refundAll([GLOBAL_KEY]))]);
    },
  };
}

/** A failed give-back leaves the unit counted: the safe direction for a cap on spending. */
async function giveBack(what: string, call: () => PromiseLike<unknown>): Promise<void> {
  try {
    await userStateCall(what, call);
  } catch (err) {
    log('warn', 'phone_otp.cap_release_failed', { what, error: describeError(err) });
  }
}
