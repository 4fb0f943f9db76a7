import { and, eq, isNotNull, isNull, ne } from 'drizzle-orm';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { users } from '../../db/schema';
import { phoneDeliveryFor } from '../../durable/otp-delivery';
import { OTP_POLICY, userState, type PhoneChannel, type SendCheck, type SendRefusal, type SendResult as OtpSendResult, type VerifyResult } from '../../durable/user-state';
import { emit } from '../../events/outbox';
import { checkDisposablePhone } from '../../integrations/sms';
import { cacheDel } from '../../lib/cache';
import { cacheKeys } from '../../lib/cache-keys';
import { AppError, tooMany } from '../../lib/errors';
import { logActivity } from '../activity';
import { requireCaller, type ServiceContext, withTransaction } from '../context';
import { isUniqueViolation } from '../../db/errors';
import { assertCountryAllowed, reservePhoneSend } from './caps';
import { conflict, deliveryError, failClosed, maskPhone, restoreCodeAfter } from './strict';

export { maskPhone } from './strict';

export interface PhoneInput {
  /** Full international number (`+919876543210`), or the national part with `countryCode`. */
  phoneNumber: string;
  /** `+91`. */
  countryCode?: string;
}

const invalidPhone = (reason: 'INVALID_PHONE' | 'NOT_MOBILE' | 'DISPOSABLE_PHONE', message: string) =>
  new AppError('VALIDATION_ERROR', message, { details: { reason } });

/** E.164 of a valid mobile number (libphonenumber metadata), or 400. */
function normalisePhone(input: PhoneInput): string {
  const national = input.phoneNumber.replace(/[\s().-]/g, '');
  const raw = input.countryCode ? `${input.countryCode}${national.replace(/^\+/, '')}` : national;
  if (!raw.startsWith('+')) throw invalidPhone('INVALID_PHONE', 'Give the number in international format (+<country code><number>) or add countryCode');
  const parsed = parsePhoneNumberFromString(raw);
  if (!parsed || !parsed.isValid()) throw invalidPhone('INVALID_PHONE', 'That is not a valid phone number');
  const type = parsed.getType();
  if (type !== 'MOBILE' && type !== 'FIXED_LINE_OR_MOBILE') throw invalidPhone('NOT_MOBILE', 'Use a mobile number');
  return parsed.number;
}

function sendRefused(r: { reason: SendRefusal; retryAfterMs: number }): AppError {
  switch (r.reason) {
    case 'cooldown':
      return tooMany('Wait before requesting another code', r.retryAfterMs, { reason: 'COOLDOWN' });
    case 'limit':
    case 'locked':
      return tooMany(`At most ${OTP_POLICY.phone.sends.limit} codes per 24 hours`, r.retryAfterMs, { reason: 'DAILY_LIMIT' });
    case 'delivery_failed':
    case 'delivery_unconfirmed':
      return deliveryError({ reason: r.reason, retryAfterMs: r.retryAfterMs });
  }
}

export interface SendResult {
  channel: PhoneChannel;
  phoneNumber: string;
  /** Seconds the code stays valid. */
  expiresIn: number;
  /** Seconds before another code can be requested. */
  resendAfter: number;
  sendsRemaining: number;
}

/**
 * POST /credits/send-otp and /send-voice-otp. Order: number format and country (PHONE_OTP_ALLOWED_COUNTRIES)
 * → the caller has no verified phone → the caller's own limits and lookup budget (429, nothing consumed but
 * the lookup) → no other account verified this number (409) → disposable check
 * (optional, fails open) → the caps shared by all accounts (per number, then deployment-wide; see
 * ./caps.ts) → the UserState object checks and consumes the caller's own limits, stores the hash and
 * calls the provider (the code never leaves it). When the caller's own limits refuse, or the provider
 * refuses the delivery, the shared caps are given back; a delivery that may have gone out keeps them. An unverified number is never held: several accounts may have
 * codes out for it at once, and the first to verify gets it (see verifyPhoneOtp).
 */
export async function sendPhoneOtp(ctx: ServiceContext, input: PhoneInput & { channel: PhoneChannel }): Promise<SendResult> {
  const userId = requireCaller(ctx);
  const phone = normalisePhone(input);
  assertCountryAllowed(ctx, phone);
  const db = ctx.db.write;
  const [me] = await db.select({ phoneVerifiedAt: users.phoneVerifiedAt }).from(users).where(eq(users.id, userId));
  if (me?.phoneVerifiedAt) throw conflict('Your phone number is already verified', 'ALREADY_VERIFIED');
  // The caller's limits come before the number is looked up: past them the answer is the same 429 for any
  // number, so an account cannot list which numbers are registered.
  const state = userState(ctx.env, userId);
  const allowed = await failClosed<SendCheck>('checkPhoneSend', () => state.checkPhoneSend({ userId }));
  if (!allowed.ok) throw sendRefused(allowed);
  // Soft-deleted accounts count: their number stays unique in the database until it is anonymised.
  const [taken] = await db
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.phoneNumber, phone), isNotNull(users.phoneVerifiedAt), ne(users.id, userId)))
    .limit(1);
  if (taken) throw conflict('This phone number is already verified on another account', 'PHONE_TAKEN');

  const verdict = await checkDisposablePhone(ctx.config, phone);
  if (verdict === 'disposable') throw invalidPhone('DISPOSABLE_PHONE', 'Disposable phone numbers cannot be used');
  if (verdict === 'invalid') throw invalidPhone('INVALID_PHONE', 'That is not a valid mobile number');

  const delivery = phoneDeliveryFor(ctx.config);
  const reservation = await reservePhoneSend(ctx, phone);
  // An unreachable UserState may or may not have sent the code: the shared caps keep the unit (fail closed).
  const r = await failClosed<OtpSendResult>('sendPhoneOtp', () => state.sendPhoneOtp({ userId, channel: input.channel, phone, delivery }));
  if (!r.ok) {
    // A delivery that may have gone out keeps its units: the caps count codes the provider may have sent.
    if (r.reason !== 'delivery_unconfirmed') await reservation.release();
    throw sendRefused(r);
  }
  await logActivity(ctx, {
    userId,
    action: 'otp.sent',
    level: 'INFO',
    metadata: { purpose: 'phone', channel: input.channel, phone: maskPhone(phone) },
  });
  return {
    channel: input.channel,
    phoneNumber: phone,
    expiresIn: Math.round(OTP_POLICY.phone.ttlMs / 1000),
    resendAfter: Math.round(r.resendAfterMs / 1000),
    sendsRemaining: r.sendsRemaining,
  };
}

/**
 * POST /credits/verify-otp and /verify-voice-otp. The UserState object checks the code (SMS: 3 verify
 * calls per hour; 5 wrong tries kill a code). On success the number becomes the caller's verified phone
 * in one transaction with the activity rows and the `phone.verified` event. The database's unique index
 * on verified numbers decides between accounts: the first to verify wins, a later one gets 409 PHONE_TAKEN.
 * When that transaction fails (the database down), the code is put back: the same code works on retry.
 */
export async function verifyPhoneOtp(ctx: ServiceContext, input: { channel: PhoneChannel; code: string }): Promise<{ phoneVerified: true; phoneNumber: string }> {
  const userId = requireCaller(ctx);
  const r = await failClosed<VerifyResult>('verifyPhoneOtp', () => userState(ctx.env, userId).verifyPhoneOtp({ userId, channel: input.channel, code: input.code }));
  if (!r.ok) {
    switch (r.reason) {
      case 'rate_limited':
      case 'locked':
        throw tooMany(`At most ${OTP_POLICY.phone.smsVerifyCalls.limit} verification attempts per hour`, r.retryAfterMs, { reason: 'VERIFY_LIMIT' });
      case 'no_code':
        throw new AppError('VALIDATION_ERROR', 'No valid code: request a new one', { details: { reason: 'OTP_EXPIRED' } });
      case 'invalid':
        throw new AppError('VALIDATION_ERROR', 'Wrong code', { details: { reason: 'OTP_INVALID', remainingAttempts: r.remainingAttempts } });
      case 'killed':
        await logActivity(ctx, {
          userId,
          action: 'otp.locked',
          level: 'WARN',
          metadata: { purpose: 'phone', channel: input.channel, ...(r.phone ? { phone: maskPhone(r.phone) } : {}) },
        });
        throw new AppError('VALIDATION_ERROR', 'Too many wrong codes: request a new one', { details: { reason: 'OTP_ATTEMPTS_EXHAUSTED' } });
    }
  }
  const phone = r.phone!;
  try {
    await withTransaction(ctx, async (tx, ctx) => {
      const updated = await tx
        .update(users)
        .set({ phoneNumber: phone, phoneVerifiedAt: new Date() })
        .where(and(eq(users.id, userId), isNull(users.phoneVerifiedAt)))
        .returning({ id: users.id });
      if (updated.length === 0) throw conflict('Your phone number is already verified', 'ALREADY_VERIFIED');
      const meta = { channel: input.channel, phone: maskPhone(phone) };
      await logActivity(ctx, { userId, action: 'otp.verified', level: 'INFO', metadata: { purpose: 'phone', ...meta } });
      await logActivity(ctx, { userId, action: 'phone.verified', level: 'CRITICAL', metadata: meta });
      await emit(tx, ctx.events, 'phone.verified', { userId });
    });
  } catch (err) {
    if (isUniqueViolation(err, 'users_phone_verified_uq')) throw conflict('This phone number is already verified on another account', 'PHONE_TAKEN');
    await restoreCodeAfter(ctx, { userId, purpose: 'phone', code: input.code, error: err });
    throw err;
  }
  await cacheDel(ctx.config, cacheKeys(ctx.config).ownProfile(userId));
  return { phoneVerified: true, phoneNumber: phone };
}
