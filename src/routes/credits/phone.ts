import { clientIp } from '../../lib/http';
import { createRouter, serviceContext } from '../../router';
import { sendPhoneOtp, verifyPhoneOtp } from '../../services/phone';
import { claimFreeCredits, getEligibility } from '../../services/phone/free-credits';
import { body, data, errors, json, route, z } from '../kit';

const PhoneOtpRequest = z
  .object({
    phoneNumber: z
      .string()
      .trim()
      .min(4)
      .max(32)
      .regex(/^\+?[0-9 ().-]+$/, 'digits, optionally with a leading +')
      .openapi({ example: '+919876543210', description: 'International number, or the national part with countryCode' }),
    countryCode: z
      .string()
      .regex(/^\+\d{1,4}$/, 'like +91')
      .optional()
      .openapi({ example: '+91' }),
    /** Accepted for compatibility with older clients; the cooldown always applies. */
    isResend: z.boolean().optional(),
  })
  .strict()
  .openapi('PhoneOtpRequest');

const PhoneVerifyRequest = z
  .object({ otp: z.string().trim().regex(/^\d{6}$/, '6 digits').openapi({ example: '123456' }) })
  .strict()
  .openapi('PhoneVerifyRequest');

const PhoneOtpSent = z
  .object({
    channel: z.enum(['sms', 'voice']),
    phoneNumber: z.string().openapi({ description: 'The number in E.164' }),
    expiresIn: z.number().int().openapi({ description: 'Seconds the code stays valid (900)' }),
    resendAfter: z.number().int().openapi({ description: 'Seconds before another code can be requested' }),
    sendsRemaining: z.number().int().openapi({ description: 'Codes left in the current 24 h window' }),
  })
  .openapi('PhoneOtpSent');

const PhoneVerified = z.object({ phoneVerified: z.literal(true), phoneNumber: z.string() }).openapi('PhoneVerified');

const Eligibility = z
  .object({ canClaim: z.boolean(), hasClaimed: z.boolean(), phoneVerified: z.boolean(), hasPhoneNumber: z.boolean() })
  .openapi('FreeCreditEligibility');

const Claimed = z
  .object({ creditsAdded: z.number().int(), balance: z.number().int(), transactionId: z.uuid() })
  .openapi('FreeCreditsClaimed');

const sendRoute = (path: string, channel: 'sms' | 'voice') =>
  route({
    method: 'post',
    path,
    operationId: channel === 'sms' ? 'credit.phone.sendSmsCode' : 'credit.phone.sendVoiceCode',
    auth: 'session',
    tags: ['credits'],
    summary: channel === 'sms' ? 'Text a verification code to a phone number' : 'Call a phone number and read out a verification code',
    description:
      'One flow, two channels: 120 s between sends, 3 sends per 24 h per account (SMS and voice together), code valid 15 minutes. ' +
      'Whether the number is verified on another account (409) is answered only within the account\'s limits, 10 requests per 24 h. ' +
      'Per number, across all accounts: at most 3 codes per hour and 10 per 24 h (429, reason NUMBER_LIMIT). The deployment sends at most ' +
      'PHONE_OTP_GLOBAL_HOURLY_CAP codes an hour (503, reason SEND_CAPACITY); PHONE_OTP_ALLOWED_COUNTRIES may restrict the countries served. ' +
      'Requesting a code never blocks the number for anyone else: the first account to verify it owns it.',
    request: body(PhoneOtpRequest, { phoneNumber: '9876543210', countryCode: '+91' }),
    responses: {
      200: json(data(PhoneOtpSent), 'Code sent', { data: { channel, phoneNumber: '+919876543210', expiresIn: 900, resendAfter: 120, sendsRemaining: 2 } }),
      ...errors({
        400: 'Invalid, non-mobile or disposable number, a country not served (COUNTRY_NOT_ALLOWED); unknown key',
        401: 'Not signed in',
        409: 'Already verified, or the number is verified by another account',
        429: 'Cooldown, daily limit of the account (DAILY_LIMIT: 3 codes, or 10 requests, per 24 h), or the number capped (NUMBER_LIMIT); Retry-After',
        503:
          'Provider refused (DELIVERY_FAILED) or did not confirm the send (DELIVERY_UNCONFIRMED: the code may still arrive and counts, Retry-After), ' +
          'verification state unavailable, or the hourly send capacity reached (SEND_CAPACITY, Retry-After)',
      }),
    },
  });

const verifyRoute = (path: string, channel: 'sms' | 'voice') =>
  route({
    method: 'post',
    path,
    operationId: channel === 'sms' ? 'credit.phone.verifySmsCode' : 'credit.phone.verifyVoiceCode',
    auth: 'session',
    tags: ['credits'],
    summary: channel === 'sms' ? 'Verify the code received by SMS' : 'Verify the code read out by the voice call',
    description:
      channel === 'sms'
        ? 'At most 3 verify calls per hour; 5 wrong codes kill the code. Success makes the number the caller’s verified phone.'
        : '5 wrong codes kill the code. Success makes the number the caller’s verified phone.',
    request: body(PhoneVerifyRequest),
    responses: {
      200: json(data(PhoneVerified), 'Phone verified'),
      ...errors({
        400: 'Malformed, wrong (details.remainingAttempts), expired or exhausted code',
        401: 'Not signed in',
        409: 'Already verified, or the number was verified by another account meanwhile',
        429: 'Too many verify calls (Retry-After)',
        503: 'Verification state unavailable',
      }),
    },
  });

/** Phone verification (SMS and voice OTP) and the free-credit claim, mounted at /api/v1/credits. */
export const phoneVerificationRoutes = createRouter()
  .openapi(sendRoute('/send-otp', 'sms'), async (c) => c.json({ data: await sendPhoneOtp(serviceContext(c), { ...c.req.valid('json'), channel: 'sms' }) }, 200))
  .openapi(sendRoute('/send-voice-otp', 'voice'), async (c) =>
    c.json({ data: await sendPhoneOtp(serviceContext(c), { ...c.req.valid('json'), channel: 'voice' }) }, 200),
  )
  .openapi(verifyRoute('/verify-otp', 'sms'), async (c) =>
    c.json({ data: await verifyPhoneOtp(serviceContext(c), { channel: 'sms', code: c.req.valid('json').otp }) }, 200),
  )
  .openapi(verifyRoute('/verify-voice-otp', 'voice'), async (c) =>
    c.json({ data: await verifyPhoneOtp(serviceContext(c), { channel: 'voice', code: c.req.valid('json').otp }) }, 200),
  )
  .openapi(
    route({
      method: 'get',
      path: '/eligibility',
      operationId: 'credit.freeCredits.eligibility',
      tags: ['credits'],
      summary: 'Whether the caller can claim the free credits',
      description: 'Computed from the database on every call: hasClaimed = an INITIAL_ALLOCATION exists; canClaim = !hasClaimed && phoneVerified.',
      auth: 'session',
      responses: {
        200: json(data(Eligibility), 'Eligibility'),
        ...errors({ 401: 'Not signed in' }),
      },
    }),
    async (c) => {
      c.header('Cache-Control', 'private, no-store');
      return c.json({ data: await getEligibility(serviceContext(c)) }, 200);
    },
  )
  .openapi(
    route({
      method: 'post',
      path: '/claim',
      operationId: 'credit.freeCredits.claim',
      tags: ['credits'],
      summary: 'Claim the 200 free credits (once per account, verified phone required)',
      description: 'At most 3 attempts per 24 h. Concurrent claims: one grant, the others 409.',
      auth: 'session',
      responses: {
        200: json(data(Claimed), 'Credits granted'),
        ...errors({
          401: 'Not signed in',
          403: 'Phone not verified (details.reason PHONE_NOT_VERIFIED)',
          409: 'Already claimed, or a claim is in progress',
          429: 'Too many claim attempts (Retry-After)',
          503: 'Claim state unavailable',
        }),
      },
    }),
    async (c) => c.json({ data: await claimFreeCredits(serviceContext(c), { ip: clientIp(c) }) }, 200),
  );
