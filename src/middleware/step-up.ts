import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { AppError } from '../lib/errors';
import { clientIp } from '../lib/http';
import { serviceContext, type AppEnv } from '../router';
import { checkStepUp, STEP_UP_COOKIE, STEP_UP_HEADER } from '../services/stepup';

/** The step-up token a request presents: the header (API clients) wins over the cookie (browsers). */
export function presentedStepUpToken(c: Context<AppEnv>): string | null {
  return c.req.header(STEP_UP_HEADER)?.trim() || getCookie(c, STEP_UP_COOKIE) || null;
}

export const clientInfo = (c: Context<AppEnv>) => ({ ip: clientIp(c), userAgent: c.req.header('User-Agent') ?? null });

/**
 * Route guard for sensitive reads and actions; use after `requireUser`. A missing, invalid, expired,
 * other-user or other-device token is 403 FORBIDDEN with `details.reason = 'STEP_UP_REQUIRED'` (never a
 * 500: a missing step-up is the client's to fix): the client sends the user through POST /account-settings/send-otp + verify-otp.
 */
export const requireStepUp: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!c.get('userId')) throw new AppError('AUTH_REQUIRED', 'Sign in to continue');
  const verdict = await checkStepUp(serviceContext(c), { token: presentedStepUpToken(c), ...clientInfo(c) });
  if (!verdict.ok) {
    throw new AppError('FORBIDDEN', 'Confirm it is you: verify the code we email you to continue', {
      details: { reason: 'STEP_UP_REQUIRED', cause: verdict.reason },
    });
  }
  await next();
};
