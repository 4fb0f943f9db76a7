import { eq } from 'drizzle-orm';
import { users } from '../../db/schema';
import { OTP_PLACEHOLDER, OTP_POLICY, userState, type SendResult, type VerifyResult } from '../../durable/user-state';
import { emailDeliveryFor } from '../../durable/otp-delivery';
import { AppError, tooMany } from '../../lib/errors';
import { logActivity } from '../activity';
import { requireCaller, type ServiceContext, withTransaction } from '../context';
import { isPlaceholderEmail } from '../email/send';
import { templates } from '../email/templates';
import { deliveryError, failClosed, restoreCodeAfter } from '../phone/strict';
import { signStepUpToken, verifyStepUpToken, type StepUpClient, type StepUpVerdict } from './token';

export * from './token';

export interface ClientInfo {
  ip: string | null;
  userAgent: string | null;
}

/** STEPUP_TOKEN_SECRET: required in staging/production by the config schema; a fixed stand-in on dev machines only. */
function stepUpSecret(ctx: ServiceContext): string {
  const { config } = ctx;
  if (config.STEPUP_TOKEN_SECRET) return config.STEPUP_TOKEN_SECRET;
  if (config.ENVIRONMENT === 'development' || config.ENVIRONMENT === 'test') return 'fairarena-development-only-step-up-token-secret';
  throw new Error('STEPUP_TOKEN_SECRET is not configured');
}

/**
 * POST /account-settings/send-otp: email an 8-character code (60 s cooldown, 5 sends per 30 min; refused
 * while verification is locked). The email is rendered here with a placeholder; the UserState object
 * generates the code, stores its HMAC and substitutes it into the mail right before sending it — the
 * code is never in an event, a log row or a response.
 */
export async function sendStepUpCode(ctx: ServiceContext, client: ClientInfo): Promise<{ sent: true; expiresIn: number; resendAfter: number; sendsRemaining: number }> {
  const userId = requireCaller(ctx);
  const [user] = await ctx.db.write.select({ email: users.email, firstName: users.firstName }).from(users).where(eq(users.id, userId));
  if (!user || isPlaceholderEmail(user.email)) throw new AppError('CONFLICT', 'Your account has no email address yet', { details: { reason: 'NO_EMAIL' } });
  const ttlMinutes = OTP_POLICY.stepUp.ttlMs / 60_000;
  const rendered = templates.stepUpCode({ name: user.firstName, code: OTP_PLACEHOLDER, ttlMinutes, ip: client.ip });
  const delivery = emailDeliveryFor(ctx.config);
  const r = await failClosed<SendResult>('sendStepUpOtp', () =>
    userState(ctx.env, userId).sendStepUpOtp({ userId, email: { to: user.email, ...rendered }, delivery }),
  );
  if (!r.ok) {
    switch (r.reason) {
      case 'cooldown':
        throw tooMany('Wait before requesting another code', r.retryAfterMs, { reason: 'COOLDOWN' });
      case 'limit':
        throw tooMany(`At most ${OTP_POLICY.stepUp.sends.limit} codes per 30 minutes`, r.retryAfterMs, { reason: 'SEND_LIMIT' });
      case 'locked':
        throw tooMany('Too many wrong codes: verification is locked for a while', r.retryAfterMs, { reason: 'LOCKED' });
      case 'delivery_failed':
      case 'delivery_unconfirmed':
        throw deliveryError({ reason: r.reason, retryAfterMs: r.retryAfterMs });
      default:
        throw new AppError('SERVICE_UNAVAILABLE', 'Verification is temporarily unavailable, try again shortly');
    }
  }
  await logActivity(ctx, { userId, action: 'otp.sent', level: 'WARN', metadata: { purpose: 'step-up', channel: 'email', ip: client.ip } });
  return { sent: true, expiresIn: Math.round(OTP_POLICY.stepUp.ttlMs / 1000), resendAfter: Math.round(r.resendAfterMs / 1000), sendsRemaining: r.sendsRemaining };
}

/**
 * POST /account-settings/verify-otp: check the code (case-insensitive; the 5th wrong try within 30 min
 * locks verification for 30 min) and issue a step-up token bound to this user, User-Agent and IP.
 */
export async function verifyStepUpCode(ctx: ServiceContext, input: { code: string } & ClientInfo): Promise<{ token: string; expiresAt: number }> {
  const userId = requireCaller(ctx);
  const r = await failClosed<VerifyResult>('verifyStepUpOtp', () => userState(ctx.env, userId).verifyStepUpOtp({ userId, code: input.code }));
  if (!r.ok) {
    switch (r.reason) {
      case 'locked':
      case 'rate_limited':
        if (r.justLocked) {
          await logActivity(ctx, { userId, action: 'otp.locked', level: 'CRITICAL', metadata: { purpose: 'step-up', ip: input.ip } });
        }
        throw tooMany('Too many wrong codes: verification is locked for a while', r.retryAfterMs, { reason: 'LOCKED' });
      case 'no_code':
        throw new AppError('VALIDATION_ERROR', 'No valid code: request a new one', { details: { reason: 'OTP_EXPIRED' } });
      case 'invalid':
        throw new AppError('VALIDATION_ERROR', 'Wrong code', { details: { reason: 'OTP_INVALID', remainingAttempts: r.remainingAttempts } });
      default:
        throw new AppError('VALIDATION_ERROR', 'No valid code: request a new one', { details: { reason: 'OTP_EXPIRED' } });
    }
  }
  try {
    const issued = await signStepUpToken({ secret: stepUpSecret(ctx), client: { userId, userAgent: input.userAgent, ip: input.ip } });
    await withTransaction(ctx, async (tx, ctx) => {
      await logActivity(ctx, { userId, action: 'otp.verified', level: 'INFO', metadata: { purpose: 'step-up' } });
      await logActivity(ctx, { userId, action: 'stepup.granted', level: 'CRITICAL', metadata: { ip: input.ip, userAgent: input.userAgent?.slice(0, 200) ?? null } });
    });
    return issued;
  } catch (err) {
    // No token without its audit rows; the code is put back so the same code works on retry.
    await restoreCodeAfter(ctx, { userId, purpose: 'stepup', code: input.code, error: err });
    throw err;
  }
}

/** Whether `token` is a valid step-up for the caller on this client right now (never throws for a bad token). */
export async function checkStepUp(ctx: ServiceContext, input: { token: string | null | undefined } & ClientInfo): Promise<StepUpVerdict> {
  const userId = requireCaller(ctx);
  const client: StepUpClient = { userId, userAgent: input.userAgent, ip: input.ip };
  return verifyStepUpToken({ secret: stepUpSecret(ctx), token: input.token, client });
}

/** GET /account-settings/status: whether the token presented by this client is valid right now. */
export async function stepUpStatus(ctx: ServiceContext, input: { token: string | null | undefined } & ClientInfo): Promise<{ verified: boolean; expiresAt: string | null }> {
  const v = await checkStepUp(ctx, input);
  return { verified: v.ok, expiresAt: v.ok ? new Date(v.expiresAt).toISOString() : null };
}
